//! CumSum: running sums along one axis (given as a constant scalar input), optionally exclusive of
//! the element itself and/or from the end.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, attrs, normalize_axis, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{TensorType, ValueId};

#[derive(Clone, Debug, PartialEq)]
pub struct CumSum {
    pub exclusive: bool,
    pub reverse: bool,
}

impl CumSum {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(CumSum { exclusive: a.int("exclusive", 0)? != 0, reverse: a.int("reverse", 0)? != 0 }))
    }
}

impl Op for CumSum {
    fn op_type(&self) -> &'static str {
        "CumSum"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("CumSum", inputs, 0)?.ty;
        let axis = required("CumSum", inputs, 1)?;
        if axis.ty.rank() > 1 || axis.ty.dtype.is_float() {
            return Err(shape_error("CumSum", format!("the axis must be an integer scalar, got {}", axis.ty)));
        }
        if let Some(a) = axis.value.and_then(|t| t.as_i64()).and_then(|v| v.first().copied()) {
            normalize_axis("CumSum", a, x.rank())?;
        }
        Ok(vec![x.clone()])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::int("exclusive", self.exclusive as i64), attrs::int("reverse", self.reverse as i64)]
    }

    /// Each input element is counted in the sums after it (before it, reversed): the gradient is the
    /// same running sum of dY in the other direction.
    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None, None]) };
        let axis = cx.x(1)?;
        let back = CumSum { exclusive: self.exclusive, reverse: !self.reverse };
        Ok(vec![Some(cx.op(back, &[g, axis])?), None])
    }
}
