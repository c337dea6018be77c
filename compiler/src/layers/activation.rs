//! Activations: the `activation` layer, and the `activation` field of dense, conv and recurrent layers.
use std::sync::Arc;

use super::{Layer, LayerCx, LayerError, parse};
use crate::ir::{Tensor, ValueId};
use crate::ops::{Binary, BinaryKind, Softmax, SoftmaxKind, Unary, UnaryKind};
use crate::spec::raw::RawLayer;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Linear,
    Relu,
    LeakyRelu {
        alpha: f32,
    },
    Elu {
        alpha: f32,
    },
    Sigmoid,
    Tanh,
    Softmax,
    /// The exact (erf) form, Keras' default.
    Gelu,
}

pub const NAMES: &str = "linear, relu, leaky_relu, elu, sigmoid, tanh, softmax, gelu";

impl Activation {
    /// Keras' defaults: leaky_relu's negative slope 0.2 (`keras.activations.leaky_relu`), elu's alpha 1.
    pub fn parse(name: &str, alpha: Option<f64>, field: &'static str) -> Result<Activation, LayerError> {
        let act = match name {
            "linear" => Activation::Linear,
            "relu" => Activation::Relu,
            "leaky_relu" => Activation::LeakyRelu { alpha: alpha.unwrap_or(0.2) as f32 },
            "elu" => Activation::Elu { alpha: alpha.unwrap_or(1.0) as f32 },
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "softmax" => Activation::Softmax,
            "gelu" => Activation::Gelu,
            other => return Err(LayerError::field(field, format!("unknown activation `{other}`; expected one of: {NAMES}"))),
        };
        if alpha.is_some() && !matches!(act, Activation::LeakyRelu { .. } | Activation::Elu { .. }) {
            return Err(LayerError::field("alpha", format!("activation `{name}` takes no alpha")));
        }
        Ok(act)
    }

    /// The field of a weighted layer; `linear` when absent, as in Keras.
    pub fn field(value: &Option<String>) -> Result<Activation, LayerError> {
        value.as_deref().map_or(Ok(Activation::Linear), |name| Activation::parse(name, None, "activation"))
    }

    /// The name the native recurrent ops use, for the activations they support.
    pub fn onnx_recurrent_name(self) -> Option<&'static str> {
        match self {
            Activation::Relu => Some("Relu"),
            Activation::Sigmoid => Some("Sigmoid"),
            Activation::Tanh => Some("Tanh"),
            _ => None,
        }
    }

    /// Appends the activation after `x`.
    pub fn lower(self, cx: &mut LayerCx, x: ValueId) -> Result<ValueId, LayerError> {
        let unary = |kind| -> Arc<dyn crate::ops::Op> { Arc::new(Unary::new(kind)) };
        match self {
            Activation::Linear => Ok(x),
            Activation::Relu => cx.node(unary(UnaryKind::Relu), &[x]),
            Activation::Sigmoid => cx.node(unary(UnaryKind::Sigmoid), &[x]),
            Activation::Tanh => cx.node(unary(UnaryKind::Tanh), &[x]),
            Activation::LeakyRelu { alpha } => cx.node(Arc::new(Unary::with_alpha(UnaryKind::LeakyRelu, alpha)), &[x]),
            Activation::Elu { alpha } => cx.node(Arc::new(Unary::with_alpha(UnaryKind::Elu, alpha)), &[x]),
            Activation::Softmax => cx.node(Arc::new(Softmax { kind: SoftmaxKind::Softmax, axis: -1 }), &[x]),
            Activation::Gelu => {
                // Opset 17 has no Gelu: x·½·(1 + erf(x/√2)).
                let binary = |kind| -> Arc<dyn crate::ops::Op> { Arc::new(Binary { kind }) };
                let sqrt2 = cx.constant("sqrt2", Tensor::scalar_f32(std::f32::consts::SQRT_2));
                let one = cx.constant("one", Tensor::scalar_f32(1.0));
                let half = cx.constant("half", Tensor::scalar_f32(0.5));
                let scaled = cx.node(binary(BinaryKind::Div), &[x, sqrt2])?;
                let erf = cx.node(unary(UnaryKind::Erf), &[scaled])?;
                let shifted = cx.node(binary(BinaryKind::Add), &[erf, one])?;
                let gated = cx.node(binary(BinaryKind::Mul), &[x, shifted])?;
                cx.node(binary(BinaryKind::Mul), &[gated, half])
            }
        }
    }
}

/// The `activation` layer.
#[derive(Debug)]
pub struct ActivationLayer(pub Activation);

pub fn parse_layer(raw: &RawLayer) -> Result<Box<dyn Layer>, LayerError> {
    let name = parse::required(&raw.activation, "activation")?;
    Ok(Box::new(ActivationLayer(Activation::parse(&name, raw.alpha, "activation")?)))
}

impl Layer for ActivationLayer {
    fn keras_type(&self) -> &'static str {
        "Activation"
    }

    fn lower(&self, cx: &mut LayerCx, inputs: &[ValueId]) -> Result<ValueId, LayerError> {
        let x = inputs[0];
        match self.0 {
            // Keep a node so the layer has an output of its own name.
            Activation::Linear => cx.node(Arc::new(Unary::new(UnaryKind::Identity)), &[x]),
            act => act.lower(cx, x),
        }
    }
}
