//! Matrix products: Gemm (`alpha·A'·B' + beta·C`, 2-D) and MatMul (NumPy matmul, any rank).
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::binary::broadcast;
use super::{Attrs, Fact, Op, OpError, attrs, required, shape_error};
use crate::ir::TensorType;

#[derive(Clone, Debug, PartialEq)]
pub struct Gemm {
    pub alpha: f32,
    pub beta: f32,
    pub trans_a: bool,
    pub trans_b: bool,
}

impl Default for Gemm {
    fn default() -> Gemm {
        Gemm { alpha: 1.0, beta: 1.0, trans_a: false, trans_b: false }
    }
}

impl Gemm {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Gemm {
            alpha: a.float("alpha", 1.0)?,
            beta: a.float("beta", 1.0)?,
            trans_a: a.int("transA", 0)? != 0,
            trans_b: a.int("transB", 0)? != 0,
        }))
    }
}

impl Op for Gemm {
    fn op_type(&self) -> &'static str {
        "Gemm"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let (a, b) = (required("Gemm", inputs, 0)?.ty, required("Gemm", inputs, 1)?.ty);
        if a.rank() != 2 || b.rank() != 2 {
            return Err(shape_error("Gemm", format!("needs 2-D inputs, got {a} and {b}")));
        }
        let (m, ka) = if self.trans_a { (&a.shape[1], &a.shape[0]) } else { (&a.shape[0], &a.shape[1]) };
        let (kb, n) = if self.trans_b { (&b.shape[1], &b.shape[0]) } else { (&b.shape[0], &b.shape[1]) };
        if ka != kb && ka.fixed().is_some() && kb.fixed().is_some() {
            return Err(shape_error("Gemm", format!("inner dimensions differ: {ka} and {kb}")));
        }
        let out = vec![m.clone(), n.clone()];
        if let Some(c) = inputs.get(2).copied().flatten() {
            broadcast("Gemm", &out, &c.ty.shape)?;
        }
        Ok(vec![TensorType::new(a.dtype, out)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        let mut out = vec![];
        if self.alpha != 1.0 {
            out.push(attrs::float("alpha", self.alpha));
        }
        if self.beta != 1.0 {
            out.push(attrs::float("beta", self.beta));
        }
        if self.trans_a {
            out.push(attrs::int("transA", 1));
        }
        if self.trans_b {
            out.push(attrs::int("transB", 1));
        }
        out
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct MatMul;

impl MatMul {
    pub fn from_attrs(_: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(MatMul))
    }
}

impl Op for MatMul {
    fn op_type(&self) -> &'static str {
        "MatMul"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let (a, b) = (required("MatMul", inputs, 0)?.ty, required("MatMul", inputs, 1)?.ty);
        if a.rank() < 2 || b.rank() < 2 {
            // Rank-1 operands are promoted and demoted again; the models onyx builds never need it.
            return Err(shape_error("MatMul", "onyx supports MatMul on operands of rank 2 or more"));
        }
        let (ka, kb) = (&a.shape[a.rank() - 1], &b.shape[b.rank() - 2]);
        if ka != kb && ka.fixed().is_some() && kb.fixed().is_some() {
            return Err(shape_error("MatMul", format!("inner dimensions differ: {ka} and {kb}")));
        }
        let mut out = broadcast("MatMul", &a.shape[..a.rank() - 2], &b.shape[..b.rank() - 2])?;
        out.push(a.shape[a.rank() - 2].clone());
        out.push(b.shape[b.rank() - 1].clone());
        Ok(vec![TensorType::new(a.dtype, out)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }
}
