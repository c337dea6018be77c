//! Dropout: identity at inference (training_mode absent or false). The ratio is the optional second
//! input, so the rate survives export and import; the training graph replaces the node with a mask.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, required};
use crate::autodiff::GradCx;
use crate::ir::{TensorType, ValueId};

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

    fn gradient(&self, _cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        // Inference form: the identity. Training graphs replace the node with a mask first.
        Ok(vec![output_grads.first().copied().flatten(), None])
    }
}
