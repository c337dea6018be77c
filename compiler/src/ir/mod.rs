//! The graph IR: a small typed graph that mirrors ONNX, so that a compiled model and an imported one
//! are the same kind of object and ONNX is its serialization.
mod dtype;
mod graph;
mod shape;
mod tensor;

pub use dtype::DType;
pub use graph::{Graph, Node, ParamInfo, Regularizer, Value, ValueId};
pub use shape::{BATCH, Dim, MAX_ELEMENTS, TensorType, batch_multiple};
pub use tensor::Tensor;
