//! The `onyx.*` keys of a model's `metadata_props`: what onyx writes into the files it makes and
//! reads back from them. Every key is defined here, once.

/// The name of the spec the model was compiled from.
pub const SPEC_KEY: &str = "onyx.spec";
/// The spec's seed, which training shuffles and drops out with.
pub const SEED_KEY: &str = "onyx.seed";
/// The onyx version that compiled the model.
pub const VERSION_KEY: &str = "onyx.version";
/// The spec's `[train]` table as JSON, so that the settings come along as Keras keeps a model's
/// compile settings.
pub const TRAIN_KEY: &str = "onyx.train";
/// When the model was trained (RFC 3339, UTC).
pub const TRAINED_AT_KEY: &str = "onyx.trained_at";
/// The float initializers that are constants, not weights (a standardization's mean and scale):
/// importing the file keeps them out of training.
pub const CONSTANTS_KEY: &str = "onyx.constants";
/// The weights that stay frozen when the model trains again (a base's).
pub const FROZEN_KEY: &str = "onyx.frozen";
/// The tensor where a model's pretrained base ends (the trainer caches the base's output there
/// when nothing before it trains).
pub const BASE_CUT_KEY: &str = "onyx.base_cut";
/// The batch normalizations of a base, which stay in inference mode while training.
pub const INFERENCE_MODE_KEY: &str = "onyx.inference_mode";
/// The image input's layout (`nchw` or `nhwc`), written when a spec sets it.
pub const LAYOUT_KEY: &str = "onyx.layout";
/// The image input's channel order (`rgb` or `bgr`), written when a spec sets it.
pub const CHANNELS_KEY: &str = "onyx.channels";
/// The class names (a JSON array, in label order), as training on a folder of class folders
/// writes them.
pub const CLASSES_KEY: &str = "onyx.classes";
/// The graph outputs the importer dropped, and why.
pub const DROPPED_KEY: &str = "onyx.import.dropped_outputs";
