//! ONNX protobuf messages and reading/writing `.onnx` files, with external data and sanity limits.

mod atomic;
mod check;
pub mod dtype;
mod error;
mod external;
mod externalize;
pub mod io;
mod limits;
pub mod onnx;
mod tensor;
pub mod validate;
mod walk;

pub use error::ProtoError;
pub use io::{atomic_write, decode_model, encode_model, read_model, read_model_with, write_model, write_model_with_external_data};
pub use limits::{Limits, MAX_TENSOR_BYTES};
pub use tensor::{f32_tensor, i64_tensor, tensor_byte_size, tensor_f32_values, tensor_num_elements};
