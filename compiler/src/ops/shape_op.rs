//! Shape and Size: a tensor's dimensions (or their product) as int64, for quantities that depend on the
//! symbolic batch size.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, required};
use crate::ir::{DType, Dim, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Shape;

impl Shape {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        if a.ints("start").is_some() || a.ints("end").is_some() || a.int("start", 0)? != 0 || a.int("end", i64::MAX)? != i64::MAX {
            return Err(OpError::Attribute { op: "Shape".into(), name: "start".into(), message: "start and end are not supported".into() });
        }
        Ok(Arc::new(Shape))
    }
}

impl Op for Shape {
    fn op_type(&self) -> &'static str {
        "Shape"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("Shape", inputs, 0)?.ty;
        Ok(vec![TensorType::new(DType::I64, vec![Dim::Fixed(x.rank())])])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }
}

/// Size: the number of elements of a tensor, as an int64 scalar.
#[derive(Clone, Debug, PartialEq)]
pub struct Size;

impl Size {
    pub fn from_attrs(_: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Size))
    }
}

impl Op for Size {
    fn op_type(&self) -> &'static str {
        "Size"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        required("Size", inputs, 0)?;
        Ok(vec![TensorType::new(DType::I64, vec![])])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }
}
