//! `add` and `concat`: layers that join two or more inputs (residual blocks, branches).
use std::sync::Arc;

use super::{Arity, Layer, LayerCx, LayerError};
use crate::ir::ValueId;
use crate::ops::{Binary, BinaryKind, Concat as ConcatOp};
use crate::spec::raw::RawLayer;

#[derive(Debug)]
pub struct Add;

impl Layer for Add {
    fn keras_type(&self) -> &'static str {
        "Add"
    }

    fn arity(&self) -> Arity {
        Arity::Many
    }

    fn lower(&self, cx: &mut LayerCx, inputs: &[ValueId]) -> Result<ValueId, LayerError> {
        let first = cx.b.ty(inputs[0]).clone();
        for &other in &inputs[1..] {
            let ty = cx.b.ty(other);
            if ty.shape != first.shape {
                // Keras' Add takes equal shapes only; broadcasting would hide a wiring mistake.
                return Err(LayerError::field("inputs", format!("shapes differ: {} and {}", first.keras_shape(), ty.keras_shape())));
            }
        }
        let mut sum = inputs[0];
        for &other in &inputs[1..] {
            sum = cx.node(Arc::new(Binary { kind: BinaryKind::Add }), &[sum, other])?;
        }
        Ok(sum)
    }
}

#[derive(Debug)]
pub struct Concat {
    /// Counted with the batch axis, as Keras counts it; -1 (the last) by default.
    axis: i64,
}

pub fn parse_concat(raw: &RawLayer) -> Result<Box<dyn Layer>, LayerError> {
    let axis = raw.axis.unwrap_or(-1);
    if axis == 0 {
        return Err(LayerError::field("axis", "cannot concatenate along the batch axis"));
    }
    Ok(Box::new(Concat { axis }))
}

impl Layer for Concat {
    fn keras_type(&self) -> &'static str {
        "Concatenate"
    }

    fn arity(&self) -> Arity {
        Arity::Many
    }

    fn lower(&self, cx: &mut LayerCx, inputs: &[ValueId]) -> Result<ValueId, LayerError> {
        cx.node(Arc::new(ConcatOp { axis: self.axis }), inputs).map_err(|e| LayerError::field("axis", e.message))
    }
}
