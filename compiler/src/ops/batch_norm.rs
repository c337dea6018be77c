//! BatchNormalization in inference form: `scale·(x−mean)/√(var+ε) + B` per channel (axis 1).
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, attrs, required, shape_error};
use crate::ir::{Dim, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormalization {
    pub epsilon: f32,
    /// The running statistics' decay, used by training only: `running = momentum·running + (1−momentum)·batch`.
    pub momentum: f32,
}

impl BatchNormalization {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        if a.int("training_mode", 0)? != 0 {
            return Err(OpError::Attribute {
                op: "BatchNormalization".into(),
                name: "training_mode".into(),
                message: "inference models must not set it".into(),
            });
        }
        Ok(Arc::new(BatchNormalization { epsilon: a.float("epsilon", 1e-5)?, momentum: a.float("momentum", 0.9)? }))
    }
}

impl Op for BatchNormalization {
    fn op_type(&self) -> &'static str {
        "BatchNormalization"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("BatchNormalization", inputs, 0)?.ty;
        let channels = x.shape.get(1).ok_or_else(|| shape_error("BatchNormalization", format!("needs (N, C, ...), got {x}")))?;
        for i in 1..5 {
            let p = required("BatchNormalization", inputs, i)?.ty;
            if p.shape.len() != 1 || (&p.shape[0] != channels && matches!(channels, Dim::Fixed(_))) {
                return Err(shape_error("BatchNormalization", format!("input {i} is {p}, expected [{channels}]")));
            }
        }
        Ok(vec![x.clone()])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::float("epsilon", self.epsilon), attrs::float("momentum", self.momentum)]
    }
}
