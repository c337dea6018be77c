//! `dense`: `activation(x·W + b)` over the last axis (Gemm on 2-D inputs, MatMul + Add beyond).
use std::sync::Arc;

use super::{Activation, Layer, LayerCx, LayerError, parse};
use crate::init::Init;
use crate::ir::{Dim, Regularizer, ValueId};
use crate::ops::{Binary, BinaryKind, Gemm, MatMul};
use crate::spec::raw::RawLayer;

#[derive(Debug)]
pub struct Dense {
    units: usize,
    activation: Activation,
    use_bias: bool,
    init: Init,
    bias_init: Init,
    regularizer: Option<Regularizer>,
}

pub fn parse(raw: &RawLayer) -> Result<Box<dyn Layer>, LayerError> {
    Ok(Box::new(Dense {
        units: parse::positive(parse::required(&raw.units, "units")?, "units")?,
        activation: Activation::field(&raw.activation)?,
        use_bias: raw.use_bias.unwrap_or(true),
        init: parse::init(&raw.init, "glorot_uniform", "init")?,
        bias_init: parse::init(&raw.bias_init, "zeros", "bias_init")?,
        regularizer: parse::regularizer(&raw.regularizer)?,
    }))
}

impl Layer for Dense {
    fn keras_type(&self) -> &'static str {
        "Dense"
    }

    fn lower(&self, cx: &mut LayerCx, inputs: &[ValueId]) -> Result<ValueId, LayerError> {
        let x = inputs[0];
        let ty = cx.b.ty(x).clone();
        let features = match ty.shape.last() {
            Some(Dim::Fixed(n)) if ty.rank() >= 2 => *n,
            _ => return Err(LayerError { field: None, message: format!("needs an input with a known last axis, got {}", ty.keras_shape()) }),
        };
        let kernel = cx.draw("kernel", &self.init, &[features, self.units])?;
        let w = cx.param("kernel", vec![features, self.units], &kernel, true, self.regularizer);
        let b = match self.use_bias {
            true => {
                let bias = cx.draw("bias", &self.bias_init, &[self.units])?;
                Some(cx.param("bias", vec![self.units], &bias, true, None))
            }
            false => None,
        };
        let y = match (ty.rank(), b) {
            (2, Some(b)) => cx.node(Arc::new(Gemm::default()), &[x, w, b])?,
            (2, None) => cx.node(Arc::new(Gemm::default()), &[x, w])?,
            (_, b) => {
                let y = cx.node(Arc::new(MatMul), &[x, w])?;
                match b {
                    Some(b) => cx.node(Arc::new(Binary { kind: BinaryKind::Add }), &[y, b])?,
                    None => y,
                }
            }
        };
        self.activation.lower(cx, y)
    }
}
