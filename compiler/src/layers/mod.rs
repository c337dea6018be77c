//! Spec layers (Keras' vocabulary) and their lowering to IR ops. Each layer kind lives in one file
//! with its fields, defaults, checks and lowering; `LAYERS` lists every kind once.
use std::fmt::Debug;

use crate::builder::Builder;
use crate::init::{self, Init};
use crate::ir::{ParamInfo, Regularizer, Tensor, ValueId};
use crate::ops::{OpError, PoolKind, RecurrentKind};
use crate::spec::raw::RawLayer;

mod activation;
mod batch_norm;
mod conv;
mod dense;
mod dropout;
mod embedding;
mod merge;
mod parse;
pub use parse::MAX_SIZE;
mod pool;
mod recurrent;
mod reshape;

pub use activation::Activation;

/// An error inside one layer, naming the field at fault when there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerError {
    pub field: Option<&'static str>,
    pub message: String,
}

impl LayerError {
    pub fn field(field: &'static str, message: impl Into<String>) -> LayerError {
        LayerError { field: Some(field), message: message.into() }
    }
}

impl From<OpError> for LayerError {
    fn from(e: OpError) -> LayerError {
        LayerError { field: None, message: e.to_string() }
    }
}

/// How many inputs a layer takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    One,
    /// Two or more (add, concat).
    Many,
}

/// A spec layer, parsed and ready to lower.
pub trait Layer: Debug + Send + Sync {
    /// The Keras class it matches, shown by `summary`: `Dense`, `Conv2D`, ...
    fn keras_type(&self) -> &'static str;

    fn arity(&self) -> Arity {
        Arity::One
    }

    /// Appends the layer's nodes and parameters; returns its output.
    fn lower(&self, cx: &mut LayerCx, inputs: &[ValueId]) -> Result<ValueId, LayerError>;
}

/// The most values one weight may hold (2³⁰, 4 GiB of float32): a spec asking for more is a typo,
/// and drawing it would exhaust the machine.
pub const MAX_WEIGHT_ELEMENTS: usize = 1 << 30;

/// What a layer's lowering works with: the graph being built, its name and the model's seed.
pub struct LayerCx<'a> {
    pub b: &'a mut Builder,
    pub name: String,
    pub seed: u64,
    /// Elements stored in the ONNX file that Keras does not count (the recurrent ops' second bias).
    pub onnx_only_params: usize,
}

impl LayerCx<'_> {
    /// Draws a weight in Keras layout, seeded by the model seed and the parameter's name; a weight
    /// beyond [`MAX_WEIGHT_ELEMENTS`] is refused before anything is allocated.
    pub fn draw(&self, suffix: &str, init: &Init, keras_shape: &[usize]) -> Result<Vec<f32>, LayerError> {
        let elements = keras_shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).filter(|&n| n <= MAX_WEIGHT_ELEMENTS);
        if elements.is_none() {
            let shape = keras_shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(" × ");
            return Err(LayerError {
                field: None,
                message: format!("its {suffix} of {shape} values is beyond onyx's bound of {MAX_WEIGHT_ELEMENTS} per weight"),
            });
        }
        Ok(init::generate(init, keras_shape, init::param_seed(self.seed, &format!("{}/{suffix}", self.name))))
    }

    /// Adds a parameter named `<layer>/<suffix>`.
    pub fn param(&mut self, suffix: &str, dims: Vec<usize>, values: &[f32], trainable: bool, regularizer: Option<Regularizer>) -> ValueId {
        let info = ParamInfo { trainable, regularizer, layer: self.name.clone() };
        let name = format!("{}/{suffix}", self.name);
        self.b.param(&name, Tensor::from_f32(dims, values), info)
    }

    /// Adds a constant named `<layer>/<suffix>`.
    pub fn constant(&mut self, suffix: &str, tensor: Tensor) -> ValueId {
        let name = format!("{}/{suffix}", self.name);
        self.b.constant(&name, tensor)
    }

    /// Adds a one-output node named `<layer>/<op>`.
    pub fn node(&mut self, op: std::sync::Arc<dyn crate::ops::Op>, inputs: &[ValueId]) -> Result<ValueId, LayerError> {
        let name = format!("{}/{}", self.name, op.op_type());
        Ok(self.b.node1(&name, op, inputs)?)
    }
}

type Parse = fn(&RawLayer) -> Result<Box<dyn Layer>, LayerError>;

/// A layer kind: its spec name, the fields it takes beyond `kind`, `name` and `inputs`, and its parser.
pub struct LayerDef {
    pub kind: &'static str,
    pub fields: &'static [&'static str],
    pub parse: Parse,
}

/// Every layer kind a spec may use.
pub static LAYERS: &[LayerDef] = &[
    LayerDef { kind: "dense", fields: &["units", "activation", "use_bias", "init", "bias_init", "regularizer"], parse: dense::parse },
    LayerDef { kind: "conv1d", fields: conv::FIELDS, parse: |r| conv::parse(r, 1) },
    LayerDef { kind: "conv2d", fields: conv::FIELDS, parse: |r| conv::parse(r, 2) },
    LayerDef { kind: "maxpool2d", fields: pool::FIELDS, parse: |r| pool::parse(r, PoolKind::Max) },
    LayerDef { kind: "avgpool2d", fields: pool::FIELDS, parse: |r| pool::parse(r, PoolKind::Average) },
    LayerDef { kind: "global_avg_pool", fields: &[], parse: |_| Ok(Box::new(pool::GlobalAvgPool)) },
    LayerDef { kind: "flatten", fields: &[], parse: |_| Ok(Box::new(reshape::Flatten)) },
    LayerDef { kind: "reshape", fields: &["shape"], parse: reshape::parse },
    LayerDef { kind: "dropout", fields: &["rate"], parse: dropout::parse },
    LayerDef { kind: "batch_norm", fields: &["epsilon", "momentum", "center", "scale"], parse: batch_norm::parse },
    LayerDef { kind: "activation", fields: &["activation", "alpha"], parse: activation::parse_layer },
    LayerDef { kind: "lstm", fields: recurrent::LSTM_FIELDS, parse: |r| recurrent::parse(r, RecurrentKind::Lstm) },
    LayerDef { kind: "gru", fields: recurrent::GRU_FIELDS, parse: |r| recurrent::parse(r, RecurrentKind::Gru) },
    LayerDef { kind: "simple_rnn", fields: recurrent::RNN_FIELDS, parse: |r| recurrent::parse(r, RecurrentKind::Rnn) },
    LayerDef { kind: "embedding", fields: &["input_dim", "output_dim", "init"], parse: embedding::parse },
    LayerDef { kind: "add", fields: &[], parse: |_| Ok(Box::new(merge::Add)) },
    LayerDef { kind: "concat", fields: &["axis"], parse: merge::parse_concat },
];

pub fn find(kind: &str) -> Option<&'static LayerDef> {
    LAYERS.iter().find(|d| d.kind == kind)
}
