//! Pad (opset 13 form: the pads are a constant int64 input, then an optional scalar fill value), with
//! non-negative pads. `constant` mode is `Pad` (Slice's gradient is written with it); `reflect` and
//! `edge` are `BorderPad`, whose border copies the input's own values.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, Slice, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{DType, Dim, Tensor, TensorType, ValueId};

#[derive(Clone, Debug, PartialEq)]
pub struct Pad;

impl Pad {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        match a.string("mode")?.as_deref() {
            None | Some("constant") => Ok(Arc::new(Pad)),
            Some("reflect") => Ok(Arc::new(BorderPad { mode: BorderMode::Reflect })),
            Some("edge") => Ok(Arc::new(BorderPad { mode: BorderMode::Edge })),
            Some(mode) => Err(OpError::Attribute {
                op: "Pad".into(),
                name: "mode".into(),
                message: format!("`{mode}` is not supported; only `constant`, `reflect` and `edge`"),
            }),
        }
    }
}

/// The constant pads of a Pad node over an input of `rank`: begins, then ends.
fn const_pads(pads: Option<&Tensor>, rank: usize) -> Result<Vec<usize>, OpError> {
    let values = pads
        .filter(|t| t.dtype == DType::I64 && t.dims.len() == 1)
        .and_then(|t| t.as_i64())
        .ok_or_else(|| shape_error("Pad", "the pads must be a constant 1-D int64 tensor"))?;
    if values.len() != 2 * rank {
        return Err(shape_error("Pad", format!("{} pads for rank {rank}", values.len())));
    }
    values.iter().map(|&p| usize::try_from(p).map_err(|_| shape_error("Pad", format!("negative pad {p} is not supported")))).collect()
}

impl Op for Pad {
    fn op_type(&self) -> &'static str {
        "Pad"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("Pad", inputs, 0)?.ty;
        let pads = const_pads(inputs.get(1).copied().flatten().and_then(|f| f.value), x.rank())?;
        if let Some(value) = inputs.get(2).copied().flatten()
            && (value.ty.dtype != x.dtype || value.ty.rank() > 1)
        {
            return Err(shape_error("Pad", format!("the fill value {} must be a scalar of {}", value.ty, x.dtype)));
        }
        let rank = x.rank();
        let shape = x
            .shape
            .iter()
            .enumerate()
            .map(|(i, d)| match d {
                Dim::Fixed(n) => Ok(Dim::Fixed(n + pads[i] + pads[rank + i])),
                Dim::Sym(_) if pads[i] == 0 && pads[rank + i] == 0 => Ok(d.clone()),
                Dim::Sym(s) => Err(shape_error("Pad", format!("cannot pad the symbolic dimension `{s}`"))),
            })
            .collect::<Result<_, _>>()?;
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }

    /// The gradient is the padded gradient's middle: one Slice.
    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let no_more = vec![None; cx.node.inputs.len().saturating_sub(1)];
        let Some(g) = output_grads.first().copied().flatten() else { return Ok([vec![None], no_more].concat()) };
        let tx = cx.ty(cx.x(0)?);
        let pads = const_pads(cx.x_const(1), tx.rank())?;
        let rank = tx.rank();
        let (mut starts, mut ends, mut axes) = (vec![], vec![], vec![]);
        for (i, d) in tx.shape.iter().enumerate() {
            if let (Dim::Fixed(n), true) = (d, pads[i] + pads[rank + i] > 0) {
                starts.push(pads[i] as i64);
                ends.push((pads[i] + n) as i64);
                axes.push(i as i64);
            }
        }
        if axes.is_empty() {
            return Ok([vec![Some(g)], no_more].concat());
        }
        let (starts, ends, axes) = (cx.ints(&starts), cx.ints(&ends), cx.ints(&axes));
        Ok([vec![Some(cx.op(Slice, &[g, starts, ends, axes])?)], no_more].concat())
    }
}

/// How a `BorderPad` fills its border.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BorderMode {
    /// The input mirrored about its first and last element, which are not repeated (`[1 2 3]` padded
    /// by 2 on both sides is `[3 2 1 2 3 2 1]`); a pad must be smaller than its dimension.
    Reflect,
    /// The first and last element repeated.
    Edge,
}

/// Pad in `reflect` or `edge` mode.
#[derive(Clone, Debug, PartialEq)]
pub struct BorderPad {
    pub mode: BorderMode,
}

impl Op for BorderPad {
    fn op_type(&self) -> &'static str {
        "Pad"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("Pad", inputs, 0)?.ty;
        let pads = const_pads(inputs.get(1).copied().flatten().and_then(|f| f.value), x.rank())?;
        let rank = x.rank();
        let shape = x
            .shape
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let (b, e) = (pads[i], pads[rank + i]);
                match d {
                    Dim::Fixed(0) if b + e > 0 => Err(shape_error("Pad", format!("cannot pad the empty dimension {i} from its own values"))),
                    Dim::Fixed(n) if self.mode == BorderMode::Reflect && (b >= *n || e >= *n) => {
                        Err(shape_error("Pad", format!("reflect pads {b} and {e} of dimension {i} must be smaller than its size {n}")))
                    }
                    Dim::Fixed(n) => Ok(Dim::Fixed(n + b + e)),
                    Dim::Sym(_) if b == 0 && e == 0 => Ok(d.clone()),
                    Dim::Sym(s) => Err(shape_error("Pad", format!("cannot pad the symbolic dimension `{s}`"))),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![super::attrs::string("mode", if self.mode == BorderMode::Reflect { "reflect" } else { "edge" })]
    }

    /// Padding every axis at once is padding one axis after another, so the gradient undoes one axis
    /// at a time: the middle of the gradient, plus each border folded back onto the elements it
    /// copied (edge: the border's sum onto the first or last element; reflect: the border reversed
    /// onto the elements next to the first or last). Slices and zero Pads line each part up.
    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let no_more = vec![None; cx.node.inputs.len().saturating_sub(1)];
        let Some(mut g) = output_grads.first().copied().flatten() else { return Ok([vec![None], no_more].concat()) };
        let tx = cx.ty(cx.x(0)?);
        let rank = tx.rank();
        let pads = const_pads(cx.x_const(1), rank)?;
        for (axis, d) in tx.shape.iter().enumerate() {
            let (b, e) = (pads[axis] as i64, pads[rank + axis] as i64);
            if b == 0 && e == 0 {
                continue;
            }
            let n = d.fixed().ok_or_else(|| shape_error("Pad", "the gradient needs the padded sizes known"))? as i64;
            // `g[start..end by step]` along this axis.
            let part = |cx: &mut GradCx, g: ValueId, start: i64, end: i64, step: i64| -> Result<ValueId, OpError> {
                let (s, e, a, st) = (cx.ints(&[start]), cx.ints(&[end]), cx.ints(&[axis as i64]), cx.ints(&[step]));
                cx.op(Slice, &[g, s, e, a, st])
            };
            // `v` with `before` and `after` zeros along this axis.
            let zeros = |cx: &mut GradCx, v: ValueId, before: i64, after: i64| -> Result<ValueId, OpError> {
                if before == 0 && after == 0 {
                    return Ok(v);
                }
                let mut p = vec![0i64; 2 * rank];
                (p[axis], p[rank + axis]) = (before, after);
                let p = cx.ints(&p);
                cx.op(Pad, &[v, p])
            };
            let mut sum = part(cx, g, b, b + n, 1)?;
            for (lo, len, at_start) in [(0, b, true), (b + n, e, false)] {
                if len == 0 {
                    continue;
                }
                let folded = match self.mode {
                    BorderMode::Edge => {
                        let border = part(cx, g, lo, lo + len, 1)?;
                        let axes = cx.ints(&[axis as i64]);
                        let total = cx.op(super::Reduce { kind: super::ReduceKind::Sum, axes: None, keepdims: true }, &[border, axes])?;
                        if at_start { zeros(cx, total, 0, n - 1)? } else { zeros(cx, total, n - 1, 0)? }
                    }
                    // The left border holds x[len], ..., x[1]; the right one x[n-2], ..., x[n-1-len].
                    BorderMode::Reflect => {
                        let reversed = part(cx, g, lo + len - 1, if lo == 0 { i64::MIN } else { lo - 1 }, -1)?;
                        if at_start { zeros(cx, reversed, 1, n - 1 - len)? } else { zeros(cx, reversed, n - 1 - len, 1)? }
                    }
                };
                sum = cx.binary(super::BinaryKind::Add, sum, folded)?;
            }
            g = sum;
        }
        Ok([vec![Some(g)], no_more].concat())
    }
}
