//! The spec as serde reads it: every field a layer may have, each checked for its type here and for
//! its meaning by the layer that uses it.
use serde::Deserialize;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawSpec {
    pub model: RawModel,
    #[serde(default)]
    pub layer: Vec<RawLayer>,
    pub train: Option<RawTrain>,
}

/// A file of training settings only: a `[train]` table.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawTrainFile {
    pub train: RawTrain,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub name: String,
    pub description: Option<String>,
    pub input: Option<RawInput>,
    pub inputs: Option<Vec<RawInput>>,
    /// Layer names whose outputs are the model's outputs; the last layer by default.
    pub outputs: Option<Vec<String>>,
    pub seed: Option<u64>,
    /// A pretrained ONNX model, cut at a tensor, in place of the input.
    pub base: Option<RawBase>,
    /// `(x − mean) / std` per input channel, as the model's first nodes.
    pub normalize: Option<RawNormalize>,
    /// `nchw` or `nhwc`: the image input's layout, where its shape does not show it.
    pub layout: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawNormalize {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    /// `rgb` (the default) or `bgr`: the order the model takes the color channels in.
    pub channels: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawBase {
    pub onnx: String,
    pub cut: Option<String>,
    pub trainable: Option<bool>,
    pub trainable_from: Option<String>,
    pub name: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    pub name: String,
    pub shape: Vec<u64>,
    pub dtype: Option<String>,
}

/// One integer for every axis, or one per axis.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged, expecting = "an integer or a list of integers")]
pub enum IntOrList {
    One(u64),
    Many(Vec<u64>),
}

/// An initializer by name (`"he_normal"`) or with arguments (`{ kind = "random_normal", stddev = 0.1 }`).
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged, expecting = "an initializer name or a table with `kind`")]
pub enum RawInit {
    Name(String),
    Table(RawInitTable),
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawInitTable {
    pub kind: String,
    pub value: Option<f64>,
    pub minval: Option<f64>,
    pub maxval: Option<f64>,
    pub mean: Option<f64>,
    pub stddev: Option<f64>,
    pub gain: Option<f64>,
}

#[derive(Deserialize, Debug, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct RawRegularizer {
    pub l1: Option<f64>,
    pub l2: Option<f64>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLayer {
    pub kind: String,
    pub name: Option<String>,
    pub inputs: Option<Vec<String>>,
    pub units: Option<u64>,
    pub activation: Option<String>,
    pub recurrent_activation: Option<String>,
    pub use_bias: Option<bool>,
    pub init: Option<RawInit>,
    pub bias_init: Option<RawInit>,
    pub recurrent_init: Option<RawInit>,
    pub regularizer: Option<RawRegularizer>,
    pub filters: Option<u64>,
    pub kernel: Option<IntOrList>,
    pub stride: Option<IntOrList>,
    pub dilation: Option<IntOrList>,
    pub padding: Option<String>,
    pub groups: Option<u64>,
    pub size: Option<IntOrList>,
    pub rate: Option<f64>,
    pub epsilon: Option<f64>,
    pub momentum: Option<f64>,
    pub center: Option<bool>,
    pub scale: Option<bool>,
    pub alpha: Option<f64>,
    pub axis: Option<i64>,
    pub shape: Option<Vec<i64>>,
    pub return_sequences: Option<bool>,
    pub unit_forget_bias: Option<bool>,
    pub reset_after: Option<bool>,
    pub input_dim: Option<u64>,
    pub output_dim: Option<u64>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawTrain {
    pub loss: Option<String>,
    pub optimizer: Option<RawOptimizer>,
    pub lr_schedule: Option<RawSchedule>,
    pub batch_size: Option<u64>,
    pub epochs: Option<u64>,
    pub metrics: Option<Vec<String>>,
    pub validation_split: Option<f64>,
    pub shuffle: Option<bool>,
    pub early_stopping: Option<RawEarlyStopping>,
    pub solver: Option<String>,
    pub standardize: Option<bool>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawOptimizer {
    pub kind: String,
    pub lr: Option<f64>,
    pub momentum: Option<f64>,
    pub nesterov: Option<bool>,
    pub beta_1: Option<f64>,
    pub beta_2: Option<f64>,
    pub epsilon: Option<f64>,
    pub weight_decay: Option<f64>,
    pub rho: Option<f64>,
    pub initial_accumulator_value: Option<f64>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub kind: String,
    pub step_size: Option<u64>,
    pub gamma: Option<f64>,
    pub decay_steps: Option<u64>,
    pub decay_rate: Option<f64>,
    pub alpha: Option<f64>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawEarlyStopping {
    pub monitor: Option<String>,
    pub patience: Option<u64>,
    pub min_delta: Option<f64>,
    pub restore_best_weights: Option<bool>,
}
