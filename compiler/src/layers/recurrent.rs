//! `lstm`, `gru` and `simple_rnn`: Keras' recurrent layers on (timesteps, features) samples, lowered
//! to the native ONNX LSTM / GRU / RNN ops.
//!
//! Weights are drawn in Keras' layout and gate order — kernel (features, gates·units), recurrent
//! kernel (units, gates·units), LSTM gates i, f, c, o — so their distribution is Keras' (orthogonal is
//! taken over the whole recurrent kernel), then moved to ONNX's W, R, B with its gate order i, o, f, c.
//! ONNX keeps two biases (input and recurrent); Keras counts one, except GRU with `reset_after`, which
//! has both. The second bias is stored as zeros and reported as ONNX-only in the summary.
use std::sync::Arc;

use super::{Activation, Layer, LayerCx, LayerError, parse};
use crate::init::Init;
use crate::ir::{Dim, Regularizer, Tensor, ValueId};
use crate::ops::{Direction, Op, Recurrent as RecurrentOp, RecurrentKind, Squeeze, Transpose};
use crate::spec::raw::RawLayer;

pub const LSTM_FIELDS: &[&str] = &[
    "units",
    "activation",
    "recurrent_activation",
    "return_sequences",
    "use_bias",
    "init",
    "recurrent_init",
    "bias_init",
    "regularizer",
    "unit_forget_bias",
];
pub const GRU_FIELDS: &[&str] = &[
    "units",
    "activation",
    "recurrent_activation",
    "return_sequences",
    "use_bias",
    "init",
    "recurrent_init",
    "bias_init",
    "regularizer",
    "reset_after",
];
pub const RNN_FIELDS: &[&str] = &["units", "activation", "return_sequences", "use_bias", "init", "recurrent_init", "bias_init", "regularizer"];

/// For each ONNX gate slot, the Keras gate it holds. LSTM: ONNX i,o,f,c ← Keras i,f,c,o; GRU and RNN
/// share Keras' order.
fn keras_gate_of(kind: RecurrentKind, onnx_gate: usize) -> usize {
    match kind {
        RecurrentKind::Lstm => [0, 3, 1, 2][onnx_gate],
        _ => onnx_gate,
    }
}

#[derive(Debug)]
pub struct Recurrent {
    kind: RecurrentKind,
    units: usize,
    /// ONNX's names for Keras' `activation` and `recurrent_activation`.
    activation: &'static str,
    recurrent_activation: &'static str,
    return_sequences: bool,
    use_bias: bool,
    init: Init,
    recurrent_init: Init,
    bias_init: Init,
    unit_forget_bias: bool,
    reset_after: bool,
    regularizer: Option<Regularizer>,
}

/// The ONNX name of an activation the native recurrent ops take.
fn recurrent_activation(value: &Option<String>, default: &str, field: &'static str) -> Result<&'static str, LayerError> {
    Activation::parse(value.as_deref().unwrap_or(default), None, field)?
        .onnx_recurrent_name()
        .ok_or_else(|| LayerError::field(field, "the native recurrent ops take relu, tanh or sigmoid here"))
}

pub fn parse(raw: &RawLayer, kind: RecurrentKind) -> Result<Box<dyn Layer>, LayerError> {
    Ok(Box::new(Recurrent {
        kind,
        units: parse::positive(parse::required(&raw.units, "units")?, "units")?,
        activation: recurrent_activation(&raw.activation, "tanh", "activation")?,
        recurrent_activation: recurrent_activation(&raw.recurrent_activation, "sigmoid", "recurrent_activation")?,
        return_sequences: raw.return_sequences.unwrap_or(false),
        use_bias: raw.use_bias.unwrap_or(true),
        init: parse::init(&raw.init, "glorot_uniform", "init")?,
        recurrent_init: parse::init(&raw.recurrent_init, "orthogonal", "recurrent_init")?,
        bias_init: parse::init(&raw.bias_init, "zeros", "bias_init")?,
        unit_forget_bias: raw.unit_forget_bias.unwrap_or(true),
        reset_after: raw.reset_after.unwrap_or(true),
        regularizer: parse::regularizer(&raw.regularizer)?,
    }))
}

impl Recurrent {
    /// Moves a Keras-layout matrix (rows, gates·units) into ONNX's (gates·units, rows), reordering gates.
    fn to_onnx(&self, keras: &[f32], rows: usize) -> Vec<f32> {
        let (g, u) = (self.kind.gates(), self.units);
        let mut out = vec![0.0; keras.len()];
        for gate in 0..g {
            let kg = keras_gate_of(self.kind, gate);
            for j in 0..u {
                for r in 0..rows {
                    out[(gate * u + j) * rows + r] = keras[r * g * u + kg * u + j];
                }
            }
        }
        out
    }

    /// Keras' bias in Keras gate order: (input bias, recurrent bias if Keras has one).
    fn keras_bias(&self, cx: &LayerCx) -> Result<(Vec<f32>, Option<Vec<f32>>), LayerError> {
        let (g, u) = (self.kind.gates(), self.units);
        Ok(match self.kind {
            RecurrentKind::Lstm if self.unit_forget_bias => {
                let mut b = cx.draw("bias_i", &self.bias_init, &[u])?;
                b.extend(vec![1.0; u]);
                b.extend(cx.draw("bias_co", &self.bias_init, &[2 * u])?);
                (b, None)
            }
            RecurrentKind::Gru if self.reset_after => {
                let both = cx.draw("bias", &self.bias_init, &[2, g * u])?;
                (both[..g * u].to_vec(), Some(both[g * u..].to_vec()))
            }
            _ => (cx.draw("bias", &self.bias_init, &[g * u])?, None),
        })
    }
}

impl Layer for Recurrent {
    fn keras_type(&self) -> &'static str {
        match self.kind {
            RecurrentKind::Lstm => "LSTM",
            RecurrentKind::Gru => "GRU",
            RecurrentKind::Rnn => "SimpleRNN",
        }
    }

    fn lower(&self, cx: &mut LayerCx, inputs: &[ValueId]) -> Result<ValueId, LayerError> {
        let x = inputs[0];
        let ty = cx.b.ty(x).clone();
        let features = match (ty.rank(), ty.shape.get(2)) {
            (3, Some(Dim::Fixed(f))) => *f,
            _ => return Err(LayerError { field: None, message: format!("needs inputs shaped (timesteps, features), got {}", ty.keras_shape()) }),
        };
        let (g, u) = (self.kind.gates(), self.units);
        let kernel = cx.draw("kernel", &self.init, &[features, g * u])?;
        let recurrent = cx.draw("recurrent_kernel", &self.recurrent_init, &[u, g * u])?;
        let w = cx.param("W", vec![1, g * u, features], &self.to_onnx(&kernel, features), true, self.regularizer);
        let r = cx.param("R", vec![1, g * u, u], &self.to_onnx(&recurrent, u), true, None);
        let keras_bias = if self.use_bias { Some(self.keras_bias(cx)?) } else { None };
        let b = keras_bias.map(|(input_bias, recurrent_bias)| {
            let reorder = |keras: &[f32]| self.to_onnx(keras, 1);
            let mut bias = reorder(&input_bias);
            match recurrent_bias {
                Some(rb) => bias.extend(reorder(&rb)),
                None => {
                    bias.extend(vec![0.0; g * u]);
                    cx.onnx_only_params += g * u;
                }
            }
            cx.param("B", vec![1, 2 * g * u], &bias, true, None)
        });
        // ONNX's recurrent ops read [timesteps, batch, features]; Keras' samples are batch-first.
        let seq_major = cx.node(Arc::new(Transpose { perm: vec![1, 0, 2] }), &[x])?;
        let (f, g) = (self.recurrent_activation, self.activation);
        let activations: Vec<String> = match self.kind {
            RecurrentKind::Lstm => vec![f, g, g],
            RecurrentKind::Gru => vec![f, g],
            RecurrentKind::Rnn => vec![g],
        }
        .into_iter()
        .map(str::to_string)
        .collect();
        let op = RecurrentOp {
            kind: self.kind,
            hidden_size: u,
            direction: Direction::Forward,
            activations,
            linear_before_reset: self.kind == RecurrentKind::Gru && self.reset_after,
        };
        let name = format!("{}/{}", cx.name, op.op_type());
        let outputs = cx.b.node(&name, Arc::new(op), &[Some(seq_major), Some(w), Some(r), b])?;
        if self.return_sequences {
            // Y: [timesteps, 1, batch, units] → [batch, timesteps, units].
            let axes = cx.constant("axes_dir", Tensor::from_i64(vec![1], &[1]));
            let y = cx.node(Arc::new(Squeeze), &[outputs[0], axes])?;
            cx.node(Arc::new(Transpose { perm: vec![1, 0, 2] }), &[y])
        } else {
            // Y_h: [1, batch, units] → [batch, units].
            let axes = cx.constant("axes_dir", Tensor::from_i64(vec![1], &[0]));
            cx.node(Arc::new(Squeeze), &[outputs[1], axes])
        }
    }
}
