//! `flatten` and `reshape`: per-sample reshapes that keep the batch dimension.
use std::sync::Arc;

use super::{Layer, LayerCx, LayerError, parse};
use crate::ir::{Tensor, ValueId};
use crate::ops::{Flatten as FlattenOp, Reshape as ReshapeOp};
use crate::spec::raw::RawLayer;

#[derive(Debug)]
pub struct Flatten;

impl Layer for Flatten {
    fn keras_type(&self) -> &'static str {
        "Flatten"
    }

    fn lower(&self, cx: &mut LayerCx, inputs: &[ValueId]) -> Result<ValueId, LayerError> {
        cx.node(Arc::new(FlattenOp { axis: 1 }), &[inputs[0]])
    }
}

#[derive(Debug)]
pub struct Reshape {
    /// Per sample; one entry may be -1.
    shape: Vec<i64>,
}

pub fn parse(raw: &RawLayer) -> Result<Box<dyn Layer>, LayerError> {
    let shape = parse::required(&raw.shape, "shape")?;
    if shape.is_empty() || shape.iter().any(|&d| d == 0 || d < -1) || shape.iter().filter(|&&d| d == -1).count() > 1 {
        return Err(LayerError::field("shape", "needs positive sizes, with at most one -1"));
    }
    if let Some(d) = shape.iter().find(|&&d| d > parse::MAX_SIZE as i64) {
        return Err(LayerError::field("shape", format!("{d} is beyond onyx's bound on a spec's sizes, {}", parse::MAX_SIZE)));
    }
    Ok(Box::new(Reshape { shape }))
}

impl Layer for Reshape {
    fn keras_type(&self) -> &'static str {
        "Reshape"
    }

    fn lower(&self, cx: &mut LayerCx, inputs: &[ValueId]) -> Result<ValueId, LayerError> {
        // 0 copies the batch dimension through.
        let mut target = vec![0];
        target.extend(&self.shape);
        let shape = cx.constant("shape", Tensor::from_i64(vec![target.len()], &target));
        cx.node(Arc::new(ReshapeOp), &[inputs[0], shape]).map_err(|e| LayerError::field("shape", e.message))
    }
}
