//! The integer ops of quantized models, as ONNX Runtime's dynamic quantizer writes them: an input
//! quantized per call (DynamicQuantizeLinear) feeds integer products (ConvInteger, MatMulInteger)
//! whose int32 results are scaled back to float by ordinary Mul and Cast nodes. Their shape rules
//! are those of the float ops; none has a gradient, since nothing differentiable flows through an
//! integer: such a model runs, packs and serves, and trains only above its quantized part.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Conv, Fact, MatMul, Op, OpError, required, shape_error};
use crate::ir::{DType, TensorType};

/// The 8-bit element types the integer products take.
fn eight_bit(op: &str, t: &TensorType) -> Result<(), OpError> {
    match t.dtype {
        DType::U8 | DType::I8 => Ok(()),
        other => Err(shape_error(op, format!("takes 8-bit integers, got {}", other.name()))),
    }
}

/// A zero point (optional input `index`): a scalar, or one per row or filter, of 8 bits.
fn zero_point(op: &str, inputs: &[Option<Fact>], index: usize) -> Result<(), OpError> {
    match inputs.get(index).copied().flatten() {
        Some(z) if z.ty.rank() > 1 => Err(shape_error(op, format!("zero point {} must be a scalar or a vector", z.ty))),
        Some(z) => eight_bit(op, z.ty),
        None => Ok(()),
    }
}

/// `y = saturate(round(x / scale) + zero_point)` into uint8, with the scale and zero point that map
/// the range of `x` (widened to hold 0) onto 0..255; outputs y, scale and zero point.
#[derive(Clone, Debug, PartialEq)]
pub struct DynamicQuantizeLinear;

impl DynamicQuantizeLinear {
    pub fn from_attrs(_: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(DynamicQuantizeLinear))
    }
}

impl Op for DynamicQuantizeLinear {
    fn op_type(&self) -> &'static str {
        "DynamicQuantizeLinear"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("DynamicQuantizeLinear", inputs, 0)?.ty;
        if x.dtype != DType::F32 {
            return Err(shape_error("DynamicQuantizeLinear", format!("quantizes float32, got {x}")));
        }
        Ok(vec![TensorType::new(DType::U8, x.shape.clone()), TensorType::new(DType::F32, vec![]), TensorType::new(DType::U8, vec![])])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }
}

/// Conv of 8-bit integers less their zero points, accumulated in int32; no bias.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvInteger(pub Conv);

impl ConvInteger {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(ConvInteger(Conv::parse(a)?)))
    }
}

impl Op for ConvInteger {
    fn op_type(&self) -> &'static str {
        "ConvInteger"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        eight_bit("ConvInteger", required("ConvInteger", inputs, 0)?.ty)?;
        eight_bit("ConvInteger", required("ConvInteger", inputs, 1)?.ty)?;
        zero_point("ConvInteger", inputs, 2)?;
        zero_point("ConvInteger", inputs, 3)?;
        let mut out = self.0.infer(&inputs[..2])?;
        out[0].dtype = DType::I32;
        Ok(out)
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        self.0.attributes()
    }
}

/// MatMul of 8-bit integers less their zero points, accumulated in int32.
#[derive(Clone, Debug, PartialEq)]
pub struct MatMulInteger;

impl MatMulInteger {
    pub fn from_attrs(_: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(MatMulInteger))
    }
}

impl Op for MatMulInteger {
    fn op_type(&self) -> &'static str {
        "MatMulInteger"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        eight_bit("MatMulInteger", required("MatMulInteger", inputs, 0)?.ty)?;
        eight_bit("MatMulInteger", required("MatMulInteger", inputs, 1)?.ty)?;
        zero_point("MatMulInteger", inputs, 2)?;
        zero_point("MatMulInteger", inputs, 3)?;
        let mut out = MatMul.infer(&inputs[..2])?;
        out[0].dtype = DType::I32;
        Ok(out)
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }
}
