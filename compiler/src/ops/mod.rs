//! The op table. Each ONNX op the IR knows is defined once, in one file of this folder: its typed
//! attributes (with ONNX's defaults), its shape rule and its ONNX form, side by side. `REGISTRY` lists
//! every op by its ONNX name; import, shape inference and export all go through it, and the gradient
//! rule of each op will sit in the same file.
use std::fmt::Debug;
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use crate::autodiff::GradCx;
use crate::ir::{Tensor, TensorType, ValueId};

mod argmax;
pub mod attrs;
mod batch_norm;
mod binary;
mod cast;
mod clip;
mod compare;
mod concat;
mod conv;
mod conv_transpose;
mod cumsum;
mod dropout;
mod expand;
mod gather;
mod gemm;
mod lrn;
mod norm;
mod pad;
mod pool;
mod quantize;
mod reduce;
mod reshape;
mod resize;
mod rnn;
mod select;
mod shape_op;
mod slice;
mod softmax;
mod split;
mod topk;
mod unary;

pub use argmax::ArgMax;
pub use attrs::Attrs;
pub use batch_norm::BatchNormalization;
pub use binary::{Binary, BinaryKind, BitShift, Mod, broadcast};
pub use cast::Cast;
pub use clip::Clip;
pub use compare::{Compare, CompareKind};
pub use concat::Concat;
pub use conv::Conv;
pub use conv_transpose::ConvTranspose;
pub use cumsum::CumSum;
pub use dropout::{Dropout, DropoutWithMask};
pub use expand::{Expand, Tile};
pub use gather::Gather;
pub use gemm::{Gemm, MatMul};
pub use lrn::Lrn;
pub use norm::{InstanceNormalization, LayerNormalization};
pub use pad::{BorderMode, BorderPad, Pad};
pub use pool::{GlobalAveragePool, GlobalMaxPool, Pool, PoolKind};
pub use quantize::{ConvInteger, DynamicQuantizeLinear, MatMulInteger};
pub use reduce::{Reduce, ReduceKind};
pub use reshape::{Flatten, Reshape, Squeeze, Transpose, Unsqueeze};
pub use resize::Resize;
pub use rnn::{Direction, Recurrent, RecurrentKind};
pub use select::Where;
pub use shape_op::{Shape, Size};
pub use slice::{Slice, slice_len};
pub use softmax::{Softmax, SoftmaxKind};
pub use split::Split;
pub use topk::TopK;
pub use unary::{IsInf, Unary, UnaryKind};

/// What the shape rule of an op sees of one input: its type, and its value when it is a constant.
#[derive(Clone, Copy, Debug)]
pub struct Fact<'a> {
    pub ty: &'a TensorType,
    pub value: Option<&'a Tensor>,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum OpError {
    #[error("{op}: {message}")]
    Shape { op: String, message: String },
    #[error("{op}: attribute `{name}`: {message}")]
    Attribute { op: String, name: String, message: String },
    #[error("op `{op}` is not supported by onyx")]
    Unsupported { op: String },
    #[error("op `{op}` has no gradient rule")]
    NoGradient { op: String },
}

pub fn shape_error(op: &str, message: impl Into<String>) -> OpError {
    OpError::Shape { op: op.to_string(), message: message.into() }
}

/// One ONNX op with its attributes.
pub trait Op: Debug + Send + Sync {
    /// The ONNX op type, e.g. `Conv`.
    fn op_type(&self) -> &'static str;

    /// The shape rule: the types of the outputs from the facts about the inputs (`None` for an
    /// omitted optional input).
    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError>;

    /// The ONNX form: the node's attributes.
    fn attributes(&self) -> Vec<AttributeProto>;

    /// The gradient rule: given the gradients of the node's outputs (`None` for an output the loss
    /// does not depend on), appends the nodes that compute the gradients of its inputs (`None` for
    /// inputs that take none, such as shapes and indices).
    fn gradient(&self, _cx: &mut GradCx, _output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        Err(OpError::NoGradient { op: self.op_type().to_string() })
    }

    /// The op for a node that names `count` outputs where this one gives fewer: ops whose optional
    /// outputs exist only when asked for (Dropout's mask). `None`: it has no more.
    fn with_outputs(&self, _count: usize) -> Option<Arc<dyn Op>> {
        None
    }
}

type FromAttrs = fn(&Attrs) -> Result<Arc<dyn Op>, OpError>;

/// Every op the IR knows, keyed by its ONNX name (default domain, opset 17 semantics).
pub static REGISTRY: &[(&str, FromAttrs)] = &[
    ("Abs", |a| Unary::from_attrs(UnaryKind::Abs, a)),
    ("Acos", |a| Unary::from_attrs(UnaryKind::Acos, a)),
    ("Acosh", |a| Unary::from_attrs(UnaryKind::Acosh, a)),
    ("Add", |a| Binary::from_attrs(BinaryKind::Add, a)),
    ("And", |a| Compare::from_attrs(CompareKind::And, a)),
    ("ArgMax", ArgMax::from_attrs),
    ("Asin", |a| Unary::from_attrs(UnaryKind::Asin, a)),
    ("Asinh", |a| Unary::from_attrs(UnaryKind::Asinh, a)),
    ("Atan", |a| Unary::from_attrs(UnaryKind::Atan, a)),
    ("Atanh", |a| Unary::from_attrs(UnaryKind::Atanh, a)),
    ("AveragePool", |a| Pool::from_attrs(PoolKind::Average, a)),
    ("BatchNormalization", BatchNormalization::from_attrs),
    ("Cast", Cast::from_attrs),
    ("Ceil", |a| Unary::from_attrs(UnaryKind::Ceil, a)),
    ("Celu", |a| Unary::from_attrs(UnaryKind::Celu, a)),
    ("Clip", Clip::from_attrs),
    ("Concat", Concat::from_attrs),
    ("Conv", Conv::from_attrs),
    ("ConvInteger", ConvInteger::from_attrs),
    ("DynamicQuantizeLinear", DynamicQuantizeLinear::from_attrs),
    ("MatMulInteger", MatMulInteger::from_attrs),
    ("ConvTranspose", ConvTranspose::from_attrs),
    ("Cos", |a| Unary::from_attrs(UnaryKind::Cos, a)),
    ("Cosh", |a| Unary::from_attrs(UnaryKind::Cosh, a)),
    ("CumSum", CumSum::from_attrs),
    ("Div", |a| Binary::from_attrs(BinaryKind::Div, a)),
    ("Dropout", Dropout::from_attrs),
    ("Elu", |a| Unary::from_attrs(UnaryKind::Elu, a)),
    ("Equal", |a| Compare::from_attrs(CompareKind::Equal, a)),
    ("Erf", |a| Unary::from_attrs(UnaryKind::Erf, a)),
    ("Exp", |a| Unary::from_attrs(UnaryKind::Exp, a)),
    ("Expand", Expand::from_attrs),
    ("Flatten", Flatten::from_attrs),
    ("Floor", |a| Unary::from_attrs(UnaryKind::Floor, a)),
    ("GRU", |a| Recurrent::from_attrs(RecurrentKind::Gru, a)),
    ("Gather", Gather::from_attrs),
    ("Gemm", Gemm::from_attrs),
    ("GlobalAveragePool", GlobalAveragePool::from_attrs),
    ("GlobalMaxPool", GlobalMaxPool::from_attrs),
    ("Greater", |a| Compare::from_attrs(CompareKind::Greater, a)),
    ("GreaterOrEqual", |a| Compare::from_attrs(CompareKind::GreaterOrEqual, a)),
    ("HardSigmoid", |a| Unary::from_attrs(UnaryKind::HardSigmoid, a)),
    ("HardSwish", |a| Unary::from_attrs(UnaryKind::HardSwish, a)),
    ("Identity", |a| Unary::from_attrs(UnaryKind::Identity, a)),
    ("InstanceNormalization", InstanceNormalization::from_attrs),
    ("IsInf", IsInf::from_attrs),
    ("IsNaN", |a| Unary::from_attrs(UnaryKind::IsNaN, a)),
    ("LRN", Lrn::from_attrs),
    ("LSTM", |a| Recurrent::from_attrs(RecurrentKind::Lstm, a)),
    ("LayerNormalization", LayerNormalization::from_attrs),
    ("LeakyRelu", |a| Unary::from_attrs(UnaryKind::LeakyRelu, a)),
    ("Less", |a| Compare::from_attrs(CompareKind::Less, a)),
    ("LessOrEqual", |a| Compare::from_attrs(CompareKind::LessOrEqual, a)),
    ("Log", |a| Unary::from_attrs(UnaryKind::Log, a)),
    ("LogSoftmax", |a| Softmax::from_attrs(SoftmaxKind::LogSoftmax, a)),
    ("MatMul", MatMul::from_attrs),
    ("Max", |a| Binary::from_attrs(BinaryKind::Max, a)),
    ("MaxPool", |a| Pool::from_attrs(PoolKind::Max, a)),
    ("Min", |a| Binary::from_attrs(BinaryKind::Min, a)),
    ("Mod", Mod::from_attrs),
    ("BitShift", BitShift::from_attrs),
    ("Mul", |a| Binary::from_attrs(BinaryKind::Mul, a)),
    ("Neg", |a| Unary::from_attrs(UnaryKind::Neg, a)),
    ("Not", |a| Unary::from_attrs(UnaryKind::Not, a)),
    ("Or", |a| Compare::from_attrs(CompareKind::Or, a)),
    ("PRelu", |a| Binary::from_attrs(BinaryKind::PRelu, a)),
    ("Pad", Pad::from_attrs),
    ("Pow", |a| Binary::from_attrs(BinaryKind::Pow, a)),
    ("RNN", |a| Recurrent::from_attrs(RecurrentKind::Rnn, a)),
    ("Reciprocal", |a| Unary::from_attrs(UnaryKind::Reciprocal, a)),
    ("ReduceL1", |a| Reduce::from_attrs(ReduceKind::L1, a)),
    ("ReduceL2", |a| Reduce::from_attrs(ReduceKind::L2, a)),
    ("ReduceLogSum", |a| Reduce::from_attrs(ReduceKind::LogSum, a)),
    ("ReduceLogSumExp", |a| Reduce::from_attrs(ReduceKind::LogSumExp, a)),
    ("ReduceMax", |a| Reduce::from_attrs(ReduceKind::Max, a)),
    ("ReduceMean", |a| Reduce::from_attrs(ReduceKind::Mean, a)),
    ("ReduceMin", |a| Reduce::from_attrs(ReduceKind::Min, a)),
    ("ReduceProd", |a| Reduce::from_attrs(ReduceKind::Prod, a)),
    ("ReduceSum", |a| Reduce::from_attrs(ReduceKind::Sum, a)),
    ("ReduceSumSquare", |a| Reduce::from_attrs(ReduceKind::SumSquare, a)),
    ("Relu", |a| Unary::from_attrs(UnaryKind::Relu, a)),
    ("Reshape", Reshape::from_attrs),
    ("Resize", Resize::from_attrs),
    ("Round", |a| Unary::from_attrs(UnaryKind::Round, a)),
    ("Selu", |a| Unary::from_attrs(UnaryKind::Selu, a)),
    ("Shape", Shape::from_attrs),
    ("Shrink", |a| Unary::from_attrs(UnaryKind::Shrink, a)),
    ("Sigmoid", |a| Unary::from_attrs(UnaryKind::Sigmoid, a)),
    ("Sign", |a| Unary::from_attrs(UnaryKind::Sign, a)),
    ("Sin", |a| Unary::from_attrs(UnaryKind::Sin, a)),
    ("Sinh", |a| Unary::from_attrs(UnaryKind::Sinh, a)),
    ("Size", Size::from_attrs),
    ("Slice", Slice::from_attrs),
    ("Softmax", |a| Softmax::from_attrs(SoftmaxKind::Softmax, a)),
    ("Softplus", |a| Unary::from_attrs(UnaryKind::Softplus, a)),
    ("Softsign", |a| Unary::from_attrs(UnaryKind::Softsign, a)),
    ("Split", Split::from_attrs),
    ("Sqrt", |a| Unary::from_attrs(UnaryKind::Sqrt, a)),
    ("Squeeze", Squeeze::from_attrs),
    ("Sub", |a| Binary::from_attrs(BinaryKind::Sub, a)),
    ("Tan", |a| Unary::from_attrs(UnaryKind::Tan, a)),
    ("Tanh", |a| Unary::from_attrs(UnaryKind::Tanh, a)),
    ("ThresholdedRelu", |a| Unary::from_attrs(UnaryKind::ThresholdedRelu, a)),
    ("Tile", Tile::from_attrs),
    ("TopK", TopK::from_attrs),
    ("Transpose", Transpose::from_attrs),
    ("Unsqueeze", Unsqueeze::from_attrs),
    ("Where", Where::from_attrs),
    ("Xor", |a| Compare::from_attrs(CompareKind::Xor, a)),
];

/// Builds the op for an ONNX node from its type and attributes.
pub fn from_onnx(op_type: &str, attributes: &[AttributeProto]) -> Result<Arc<dyn Op>, OpError> {
    let (_, make) = REGISTRY.iter().find(|(name, _)| *name == op_type).ok_or_else(|| OpError::Unsupported { op: op_type.to_string() })?;
    make(&Attrs { op: op_type, list: attributes })
}

/// The input at `index`, which the op requires.
pub(crate) fn required<'a>(op: &str, inputs: &'a [Option<Fact<'a>>], index: usize) -> Result<Fact<'a>, OpError> {
    inputs.get(index).copied().flatten().ok_or_else(|| shape_error(op, format!("input {index} is missing")))
}

/// Resolves a possibly negative axis against a rank.
pub(crate) fn normalize_axis(op: &str, axis: i64, rank: usize) -> Result<usize, OpError> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) { Ok(a as usize) } else { Err(shape_error(op, format!("axis {axis} is out of range for rank {rank}"))) }
}
