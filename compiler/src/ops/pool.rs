//! Pooling: MaxPool and AveragePool over windows, GlobalAveragePool over whole maps.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::conv::{positive_ints, window_dims};
use super::{Attrs, Fact, Op, OpError, attrs, required, shape_error};
use crate::ir::{Dim, TensorType};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Average,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub kind: PoolKind,
    pub kernel_shape: Vec<usize>,
    pub strides: Vec<usize>,
    /// ONNX order: all begins, then all ends.
    pub pads: Vec<usize>,
    /// Average only: whether padded cells count in the divisor (Keras: they don't, ONNX's default).
    pub count_include_pad: bool,
}

impl Pool {
    pub fn from_attrs(kind: PoolKind, a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        let op = a.op;
        let kernel_shape = positive_ints(a, "kernel_shape", 0, 1)?;
        if kernel_shape.is_empty() {
            return Err(OpError::Attribute { op: op.into(), name: "kernel_shape".into(), message: "is required".into() });
        }
        if let Some(pad) = a.string("auto_pad")? {
            if pad != "NOTSET" {
                return Err(OpError::Attribute { op: op.into(), name: "auto_pad".into(), message: format!("`{pad}` is not supported; use explicit pads") });
            }
        }
        if a.int("ceil_mode", 0)? != 0 {
            return Err(OpError::Attribute { op: op.into(), name: "ceil_mode".into(), message: "only 0 is supported".into() });
        }
        let rank = kernel_shape.len();
        Ok(Arc::new(Pool {
            kind,
            strides: positive_ints(a, "strides", rank, 1)?,
            pads: positive_ints(a, "pads", 2 * rank, 0)?,
            count_include_pad: a.int("count_include_pad", 0)? != 0,
            kernel_shape,
        }))
    }
}

impl Op for Pool {
    fn op_type(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "MaxPool",
            PoolKind::Average => "AveragePool",
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(self.op_type(), inputs, 0)?.ty;
        let ones = vec![1; self.kernel_shape.len()];
        let mut shape = x.shape[..2.min(x.rank())].to_vec();
        shape.extend(window_dims(self.op_type(), x, &self.kernel_shape, &self.strides, &ones, &self.pads)?);
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        let ints = |v: &[usize]| v.iter().map(|&x| x as i64).collect::<Vec<_>>();
        let mut out = vec![
            attrs::ints("kernel_shape", &ints(&self.kernel_shape)),
            attrs::ints("strides", &ints(&self.strides)),
            attrs::ints("pads", &ints(&self.pads)),
        ];
        if self.kind == PoolKind::Average && self.count_include_pad {
            out.push(attrs::int("count_include_pad", 1));
        }
        out
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct GlobalAveragePool;

impl GlobalAveragePool {
    pub fn from_attrs(_: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(GlobalAveragePool))
    }
}

impl Op for GlobalAveragePool {
    fn op_type(&self) -> &'static str {
        "GlobalAveragePool"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("GlobalAveragePool", inputs, 0)?.ty;
        if x.rank() < 3 {
            return Err(shape_error("GlobalAveragePool", format!("needs (N, C, spatial...), got {x}")));
        }
        let mut shape = x.shape[..2].to_vec();
        shape.extend(std::iter::repeat_n(Dim::Fixed(1), x.rank() - 2));
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }
}
