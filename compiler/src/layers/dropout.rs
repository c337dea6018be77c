//! `dropout`: identity at inference; its rate rides along as the Dropout node's ratio input.
use std::sync::Arc;

use super::{Layer, LayerCx, LayerError, parse};
use crate::ir::{Tensor, ValueId};
use crate::ops::Dropout as DropoutOp;
use crate::spec::raw::RawLayer;

#[derive(Debug)]
pub struct Dropout {
    pub rate: f32,
}

pub fn parse(raw: &RawLayer) -> Result<Box<dyn Layer>, LayerError> {
    Ok(Box::new(Dropout { rate: parse::fraction(parse::required(&raw.rate, "rate")?, "rate")? }))
}

impl Layer for Dropout {
    fn keras_type(&self) -> &'static str {
        "Dropout"
    }

    fn lower(&self, cx: &mut LayerCx, inputs: &[ValueId]) -> Result<ValueId, LayerError> {
        let ratio = cx.constant("ratio", Tensor::scalar_f32(self.rate));
        cx.node(Arc::new(DropoutOp), &[inputs[0], ratio])
    }
}
