//! Matrix products: Gemm (`alpha·A'·B' + beta·C`, 2-D) and MatMul (NumPy matmul, any rank).
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::binary::broadcast;
use super::{Attrs, BinaryKind, Fact, Op, OpError, Transpose, attrs, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{TensorType, ValueId};

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

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None, None, None]) };
        let (a, b) = (cx.x(0)?, cx.x(1)?);
        let gemm = |trans_a, trans_b| Gemm { alpha: self.alpha, beta: 0.0, trans_a, trans_b };
        // With A' = op(A), B' = op(B): dA' = α·dY·B'ᵀ and dB' = α·A'ᵀ·dY, transposed back where op
        // transposed. Each is one Gemm with the transposes folded into its flags.
        let ga = if self.trans_a { cx.op(gemm(self.trans_b, true), &[b, g])? } else { cx.op(gemm(false, !self.trans_b), &[g, b])? };
        let gb = if self.trans_b { cx.op(gemm(true, self.trans_a), &[g, a])? } else { cx.op(gemm(!self.trans_a, false), &[a, g])? };
        let gc = match cx.x_opt(2) {
            Some(c) => {
                let scaled = if self.beta == 1.0 {
                    g
                } else {
                    let beta = cx.scalar(self.beta);
                    cx.binary(BinaryKind::Mul, g, beta)?
                };
                let tc = cx.ty(c);
                Some(cx.unbroadcast(scaled, &tc)?)
            }
            None => None,
        };
        Ok(vec![Some(ga), Some(gb), gc])
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

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None, None]) };
        let (a, b) = (cx.x(0)?, cx.x(1)?);
        let (ta, tb) = (cx.ty(a), cx.ty(b));
        // dA = dY·Bᵀ and dB = Aᵀ·dY over the last two axes, then summed over broadcast batch axes.
        let swap_last = |rank: usize| {
            let mut perm: Vec<usize> = (0..rank).collect();
            perm.swap(rank - 2, rank - 1);
            Transpose { perm }
        };
        let bt = cx.op(swap_last(tb.rank()), &[b])?;
        let ga = cx.op(MatMul, &[g, bt])?;
        let gb = if ta.rank() == 2 && tb.rank() == 2 {
            cx.transposed_product(a, g)?
        } else {
            let at = cx.op(swap_last(ta.rank()), &[a])?;
            cx.op(MatMul, &[at, g])?
        };
        Ok(vec![Some(cx.unbroadcast(ga, &ta)?), Some(cx.unbroadcast(gb, &tb)?)])
    }
}
