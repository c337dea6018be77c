//! Dropout: identity at inference (training_mode absent or false). The ratio is the optional second
//! input, so the rate survives export and import; the training graph replaces the node with a mask.
//! The optional second output, the mask (all true at inference), exists only where an imported node
//! names it and something reads it: `DropoutWithMask`.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, required};
use crate::autodiff::GradCx;
use crate::ir::{DType, TensorType, ValueId};

#[derive(Clone, Debug, PartialEq)]
pub struct Dropout;

impl Dropout {
    pub fn from_attrs(_: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Dropout))
    }
}

impl Op for Dropout {
    fn op_type(&self) -> &'static str {
        "Dropout"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        Ok(vec![required("Dropout", inputs, 0)?.ty.clone()])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }

    fn with_outputs(&self, count: usize) -> Option<Arc<dyn Op>> {
        (count == 2).then(|| Arc::new(DropoutWithMask) as Arc<dyn Op>)
    }

    fn gradient(&self, _cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        // Inference form: the identity. Training graphs replace the node with a mask first.
        Ok(vec![output_grads.first().copied().flatten(), None])
    }
}

/// Dropout with its mask output: the same as `Dropout`, plus a boolean tensor of the input's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct DropoutWithMask;

impl Op for DropoutWithMask {
    fn op_type(&self) -> &'static str {
        "Dropout"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("Dropout", inputs, 0)?.ty;
        Ok(vec![x.clone(), TensorType::new(DType::Bool, x.shape.clone())])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        Dropout.gradient(cx, output_grads)
    }
}
