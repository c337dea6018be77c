//! Element-wise ops of two inputs with NumPy broadcasting.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, required, shape_error};
use crate::ir::{Dim, TensorType};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryKind {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Binary {
    pub kind: BinaryKind,
}

impl Binary {
    pub fn from_attrs(kind: BinaryKind, _: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Binary { kind }))
    }
}

/// NumPy broadcasting of two shapes; a symbol meets 1 or itself.
pub fn broadcast(op: &str, a: &[Dim], b: &[Dim]) -> Result<Vec<Dim>, OpError> {
    let rank = a.len().max(b.len());
    let at = |s: &[Dim], i: usize| -> Dim {
        let pad = rank - s.len();
        if i < pad { Dim::Fixed(1) } else { s[i - pad].clone() }
    };
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Ok(x),
            (Dim::Fixed(1), y) => Ok(y),
            (x, Dim::Fixed(1)) => Ok(x),
            (x, y) => Err(shape_error(op, format!("shapes {a:?} and {b:?} do not broadcast: {x} against {y}"))),
        })
        .collect()
}

impl Op for Binary {
    fn op_type(&self) -> &'static str {
        match self.kind {
            BinaryKind::Add => "Add",
            BinaryKind::Sub => "Sub",
            BinaryKind::Mul => "Mul",
            BinaryKind::Div => "Div",
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let op = self.op_type();
        let (a, b) = (required(op, inputs, 0)?.ty, required(op, inputs, 1)?.ty);
        if a.dtype != b.dtype {
            return Err(shape_error(op, format!("element types differ: {} and {}", a.dtype, b.dtype)));
        }
        Ok(vec![TensorType::new(a.dtype, broadcast(op, &a.shape, &b.shape)?)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }
}
