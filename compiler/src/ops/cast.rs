//! Cast to another element type.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, attrs, required};
use crate::autodiff::GradCx;
use crate::ir::{DType, TensorType, ValueId};

#[derive(Clone, Debug, PartialEq)]
pub struct Cast {
    pub to: DType,
}

impl Cast {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        let code = a.required_int("to")?;
        let to = i32::try_from(code).ok().and_then(DType::from_onnx_code).ok_or_else(|| OpError::Attribute {
            op: "Cast".into(),
            name: "to".into(),
            message: format!("element type {code} is not supported"),
        })?;
        Ok(Arc::new(Cast { to }))
    }
}

impl Op for Cast {
    fn op_type(&self) -> &'static str {
        "Cast"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        Ok(vec![TensorType::new(self.to, required("Cast", inputs, 0)?.ty.shape.clone())])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::int("to", self.to.onnx_code() as i64)]
    }
    /// Between float types the gradient is cast back; from or to any other type there is none.
    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None]) };
        let from = cx.ty(cx.x(0)?).dtype;
        if !from.is_float() || !self.to.is_float() {
            return Ok(vec![None]);
        }
        Ok(vec![Some(if from == self.to { g } else { cx.op(Cast { to: from }, &[g])? })])
    }
}
