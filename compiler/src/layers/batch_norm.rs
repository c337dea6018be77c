//! `batch_norm`: Keras' BatchNormalization over the channel axis (axis 1, channels first).
//! gamma and beta train; the moving mean and variance are non-trainable state, as in Keras.
use std::sync::Arc;

use super::{Layer, LayerCx, LayerError};
use crate::ir::{Dim, Tensor, ValueId};
use crate::ops::BatchNormalization;
use crate::spec::raw::RawLayer;

#[derive(Debug)]
pub struct BatchNorm {
    epsilon: f32,
    momentum: f32,
    center: bool,
    scale: bool,
}

pub fn parse(raw: &RawLayer) -> Result<Box<dyn Layer>, LayerError> {
    let epsilon = raw.epsilon.unwrap_or(1e-3);
    if epsilon.is_nan() || epsilon <= 0.0 {
        return Err(LayerError::field("epsilon", "must be positive"));
    }
    let momentum = raw.momentum.unwrap_or(0.99);
    if !(0.0..1.0).contains(&momentum) {
        return Err(LayerError::field("momentum", format!("{momentum} is not in [0, 1)")));
    }
    Ok(Box::new(BatchNorm {
        epsilon: epsilon as f32,
        momentum: momentum as f32,
        center: raw.center.unwrap_or(true),
        scale: raw.scale.unwrap_or(true),
    }))
}

impl Layer for BatchNorm {
    fn keras_type(&self) -> &'static str {
        "BatchNormalization"
    }

    fn lower(&self, cx: &mut LayerCx, inputs: &[ValueId]) -> Result<ValueId, LayerError> {
        let x = inputs[0];
        let ty = cx.b.ty(x).clone();
        let channels = match ty.shape.get(1) {
            Some(Dim::Fixed(c)) => *c,
            _ => return Err(LayerError { field: None, message: format!("needs a known channel axis, got {}", ty.keras_shape()) }),
        };
        let (ones, zeros) = (vec![1.0; channels], vec![0.0; channels]);
        // ONNX always takes scale and bias; without `scale`/`center` they are fixed constants.
        let gamma = if self.scale {
            cx.param("gamma", vec![channels], &ones, true, None)
        } else {
            cx.constant("gamma", Tensor::from_f32(vec![channels], &ones))
        };
        let beta = if self.center {
            cx.param("beta", vec![channels], &zeros, true, None)
        } else {
            cx.constant("beta", Tensor::from_f32(vec![channels], &zeros))
        };
        let mean = cx.param("moving_mean", vec![channels], &zeros, false, None);
        let var = cx.param("moving_variance", vec![channels], &ones, false, None);
        cx.node(Arc::new(BatchNormalization { epsilon: self.epsilon, momentum: self.momentum }), &[x, gamma, beta, mean, var])
    }
}
