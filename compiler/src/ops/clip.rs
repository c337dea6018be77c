//! Clip: `min(max(x, lo), hi)` with optional scalar bounds (opset 11+ takes them as inputs), as
//! ReLU6 in MobileNets.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Compare, CompareKind, Fact, Op, OpError, Where, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{TensorType, ValueId};

#[derive(Clone, Debug, PartialEq)]
pub struct Clip;

impl Clip {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        if a.list.iter().any(|at| matches!(at.name.as_deref(), Some("min" | "max"))) {
            return Err(OpError::Attribute { op: "Clip".into(), name: "min".into(), message: "opset 11+ takes the bounds as inputs".into() });
        }
        Ok(Arc::new(Clip))
    }
}

impl Op for Clip {
    fn op_type(&self) -> &'static str {
        "Clip"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("Clip", inputs, 0)?.ty;
        for bound in inputs.iter().skip(1).flatten() {
            if !bound.ty.shape.is_empty() || bound.ty.dtype != x.dtype {
                return Err(shape_error("Clip", format!("a bound must be a {} scalar, got {}", x.dtype, bound.ty)));
            }
        }
        Ok(vec![x.clone()])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }

    /// The gradient passes where x lies within the bounds (both ends included, as PyTorch's
    /// clamp) and is zero where a bound clipped it.
    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(mut g) = output_grads.first().copied().flatten() else { return Ok(vec![None; 3]) };
        let x = cx.x(0)?;
        let zero = cx.scalar(0.0);
        for (i, outside) in [(1, CompareKind::Less), (2, CompareKind::Greater)] {
            if let Some(bound) = cx.x_opt(i) {
                let clipped = cx.op(Compare { kind: outside }, &[x, bound])?;
                g = cx.op(Where, &[clipped, zero, g])?;
            }
        }
        Ok(vec![Some(g), None, None])
    }
}
