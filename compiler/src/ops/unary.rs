//! Element-wise ops of one input: the activations and their building blocks.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, attrs, required};
use crate::ir::TensorType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryKind {
    Identity,
    Relu,
    Sigmoid,
    Tanh,
    Erf,
    /// `alpha·x` below zero; ONNX's default alpha is 0.01.
    LeakyRelu,
    /// `alpha·(eˣ−1)` below zero; ONNX's default alpha is 1.
    Elu,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Unary {
    pub kind: UnaryKind,
    /// Only LeakyRelu and Elu have one.
    pub alpha: Option<f32>,
}

impl Unary {
    pub fn new(kind: UnaryKind) -> Unary {
        Unary { kind, alpha: None }
    }

    pub fn with_alpha(kind: UnaryKind, alpha: f32) -> Unary {
        Unary { kind, alpha: Some(alpha) }
    }

    pub fn from_attrs(kind: UnaryKind, a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        let alpha = match kind {
            UnaryKind::LeakyRelu => Some(a.float("alpha", 0.01)?),
            UnaryKind::Elu => Some(a.float("alpha", 1.0)?),
            _ => None,
        };
        Ok(Arc::new(Unary { kind, alpha }))
    }
}

impl Op for Unary {
    fn op_type(&self) -> &'static str {
        match self.kind {
            UnaryKind::Identity => "Identity",
            UnaryKind::Relu => "Relu",
            UnaryKind::Sigmoid => "Sigmoid",
            UnaryKind::Tanh => "Tanh",
            UnaryKind::Erf => "Erf",
            UnaryKind::LeakyRelu => "LeakyRelu",
            UnaryKind::Elu => "Elu",
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        Ok(vec![required(self.op_type(), inputs, 0)?.ty.clone()])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        self.alpha.map(|alpha| attrs::float("alpha", alpha)).into_iter().collect()
    }
}
