//! Where: `condition ? x : y` element-wise, all three broadcast together.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::binary::broadcast;
use super::{Attrs, Fact, Op, OpError, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{DType, TensorType, ValueId};

#[derive(Clone, Debug, PartialEq)]
pub struct Where;

impl Where {
    pub fn from_attrs(_: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Where))
    }
}

impl Op for Where {
    fn op_type(&self) -> &'static str {
        "Where"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let (c, x, y) = (required("Where", inputs, 0)?.ty, required("Where", inputs, 1)?.ty, required("Where", inputs, 2)?.ty);
        if c.dtype != DType::Bool {
            return Err(shape_error("Where", format!("the condition must be bool, got {}", c.dtype)));
        }
        if x.dtype != y.dtype {
            return Err(shape_error("Where", format!("element types differ: {} and {}", x.dtype, y.dtype)));
        }
        let shape = broadcast("Where", &broadcast("Where", &c.shape, &x.shape)?, &y.shape)?;
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }

    /// Each branch takes the gradient where it was chosen, summed back over its broadcast axes.
    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None, None, None]) };
        let (c, x, y) = (cx.x(0)?, cx.x(1)?, cx.x(2)?);
        let zero = cx.scalar(0.0);
        let gx = cx.op(Where, &[c, g, zero])?;
        let gy = cx.op(Where, &[c, zero, g])?;
        let (tx, ty) = (cx.ty(x), cx.ty(y));
        Ok(vec![None, Some(cx.unbroadcast(gx, &tx)?), Some(cx.unbroadcast(gy, &ty)?)])
    }
}
