//! Sanity limits applied while reading a model, so that a hostile or corrupt file is refused before
//! it makes us allocate or recurse without bound.

/// The largest tensor onyx holds (4 GiB of element data): read from a model, folded from one, or
/// read from a data file.
pub const MAX_TENSOR_BYTES: u64 = 4 << 30;

/// Upper bounds checked by [`crate::read_model_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest single tensor, in bytes of element data (inline or external).
    pub max_tensor_bytes: u64,
    /// Largest `.onnx` file. Protobuf cannot represent a message of 2 GiB or more, so larger
    /// files cannot be valid models whatever this says.
    pub max_model_bytes: u64,
    /// How deeply graphs may nest inside attributes (an `If` inside a `Loop` body is depth 2).
    pub max_nesting: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_tensor_bytes: MAX_TENSOR_BYTES, max_model_bytes: (2 << 30) - 1, max_nesting: 64 }
    }
}
