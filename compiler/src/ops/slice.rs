//! Slice (opset 13 form: starts, ends and the optional axes and steps are constant int64 inputs).
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, Pad, Reshape, Unsqueeze, normalize_axis, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{DType, Dim, Tensor, TensorType, ValueId};

#[derive(Clone, Debug, PartialEq)]
pub struct Slice;

impl Slice {
    pub fn from_attrs(_: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Slice))
    }
}

/// The constant int64 input at `index`, or `None` when the optional input is omitted.
fn const_ints(inputs: &[Option<Fact>], index: usize, name: &str) -> Result<Option<Vec<i64>>, OpError> {
    match inputs.get(index).copied().flatten() {
        None => Ok(None),
        Some(f) => {
            let values = f
                .value
                .filter(|t| t.dtype == DType::I64 && t.dims.len() == 1)
                .and_then(|t| t.as_i64())
                .ok_or_else(|| shape_error("Slice", format!("`{name}` must be a constant 1-D int64 tensor")))?;
            Ok(Some(values))
        }
    }
}

/// The number of elements `start..end` by `step` takes from a dimension of `len`, with ONNX's
/// clamping: negative indices count from the end, then starts and ends are clamped into range.
pub fn slice_len(len: usize, start: i64, end: i64, step: i64) -> usize {
    let d = len as i64;
    if d == 0 {
        return 0;
    }
    let resolve = |i: i64| if i < 0 { i.saturating_add(d) } else { i };
    let (start, end) = (resolve(start), resolve(end));
    // `span` elements lie between the first taken and the bound; every `stride`-th is taken.
    let (span, stride) = if step > 0 {
        (end.clamp(0, d) - start.clamp(0, d), step.unsigned_abs())
    } else {
        (start.clamp(0, d - 1) - end.clamp(-1, d - 1), step.unsigned_abs())
    };
    if span <= 0 { 0 } else { ((span as u64 - 1) / stride + 1) as usize }
}

/// The first position `start..` by `step` takes from a dimension of `len`, with ONNX's clamping (when
/// `slice_len` is not zero).
fn slice_first(len: usize, start: i64, step: i64) -> i64 {
    let d = len as i64;
    let start = if start < 0 { start.saturating_add(d) } else { start };
    if step > 0 { start.clamp(0, d) } else { start.clamp(0, d - 1) }
}

impl Op for Slice {
    fn op_type(&self) -> &'static str {
        "Slice"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("Slice", inputs, 0)?.ty;
        required("Slice", inputs, 1)?;
        required("Slice", inputs, 2)?;
        let starts = const_ints(inputs, 1, "starts")?.unwrap_or_default();
        let ends = const_ints(inputs, 2, "ends")?.unwrap_or_default();
        let axes = const_ints(inputs, 3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = const_ints(inputs, 4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err(shape_error("Slice", format!("starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} differ in length")));
        }
        let mut shape = x.shape.clone();
        let mut seen = vec![false; x.rank()];
        for i in 0..starts.len() {
            let axis = normalize_axis("Slice", axes[i], x.rank())?;
            if std::mem::replace(&mut seen[axis], true) {
                return Err(shape_error("Slice", format!("axis {axis} is sliced twice")));
            }
            let (start, end, step) = (starts[i], ends[i], steps[i]);
            if step == 0 {
                return Err(shape_error("Slice", format!("step 0 on axis {axis}")));
            }
            shape[axis] = match &x.shape[axis] {
                Dim::Fixed(n) => Dim::Fixed(slice_len(*n, start, end, step)),
                // A symbolic dimension can only be kept whole.
                Dim::Sym(s) if start == 0 && step == 1 && end >= i32::MAX as i64 => Dim::Sym(s.clone()),
                Dim::Sym(s) => {
                    return Err(shape_error("Slice", format!("cannot slice the symbolic dimension `{s}` on axis {axis}")));
                }
            };
        }
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }
    /// The gradient puts dY back where the slice took it and zeros elsewhere: one Pad, after reversing
    /// the axes taken backwards and spacing out the ones taken with a stride (Unsqueeze, Pad, Reshape).
    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let no_more = vec![None; cx.node.inputs.len().saturating_sub(1)];
        let Some(g) = output_grads.first().copied().flatten() else { return Ok([vec![None], no_more].concat()) };
        let tx = cx.ty(cx.x(0)?);
        let rank = tx.rank();
        let read = |cx: &GradCx, i: usize| cx.x_const(i).and_then(Tensor::as_i64);
        let starts = read(cx, 1).ok_or_else(|| shape_error("Slice", "`starts` must be a constant"))?;
        let ends = read(cx, 2).ok_or_else(|| shape_error("Slice", "`ends` must be a constant"))?;
        let axes = read(cx, 3).unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = read(cx, 4).unwrap_or_else(|| vec![1; starts.len()]);
        let mut pads = vec![0i64; 2 * rank];
        let mut out = g;
        for i in 0..starts.len() {
            let axis = normalize_axis("Slice", axes[i], rank)?;
            // A symbolic axis can only have been kept whole.
            let Dim::Fixed(len) = tx.shape[axis] else { continue };
            let step = steps[i];
            let count = slice_len(len, starts[i], ends[i], step);
            let stride = step.unsigned_abs() as usize;
            let mut low = if count == 0 { 0 } else { slice_first(len, starts[i], step) };
            if step < 0 && count > 0 {
                low += (count as i64 - 1) * step;
                if count > 1 {
                    let (s, e, a, st) = (cx.ints(&[-1]), cx.ints(&[i64::MIN]), cx.ints(&[axis as i64]), cx.ints(&[-1]));
                    out = cx.op(Slice, &[out, s, e, a, st])?;
                }
            }
            let mut extent = count;
            if stride > 1 && count > 0 {
                // Follow each taken cell with stride − 1 zeros, then drop those past the end.
                let target: Vec<i64> = cx
                    .ty(out)
                    .shape
                    .iter()
                    .enumerate()
                    .map(|(j, d)| match d {
                        _ if j == axis => Ok((count * stride) as i64),
                        Dim::Fixed(n) => Ok(*n as i64),
                        Dim::Sym(_) if j < axis => Ok(0),
                        Dim::Sym(s) => Err(shape_error("Slice", format!("its gradient cannot regroup past the symbolic dimension `{s}`"))),
                    })
                    .collect::<Result<_, _>>()?;
                let after = cx.ints(&[axis as i64 + 1]);
                let split = cx.op(Unsqueeze, &[out, after])?;
                let mut spacing = vec![0i64; 2 * (rank + 1)];
                spacing[rank + 1 + axis + 1] = stride as i64 - 1;
                let spacing = cx.ints(&spacing);
                let spaced = cx.op(Pad, &[split, spacing])?;
                let target = cx.ints(&target);
                out = cx.op(Reshape, &[spaced, target])?;
                extent = count * stride;
                let over = (low as usize + extent).saturating_sub(len);
                if over > 0 {
                    extent -= over;
                    let (s, e, a) = (cx.ints(&[0]), cx.ints(&[extent as i64]), cx.ints(&[axis as i64]));
                    out = cx.op(Slice, &[out, s, e, a])?;
                }
            }
            pads[axis] = low;
            pads[rank + axis] = (len - low as usize - extent) as i64;
        }
        if pads.iter().any(|&p| p != 0) {
            let pads = cx.ints(&pads);
            out = cx.op(Pad, &[out, pads])?;
        }
        Ok([vec![Some(out)], no_more].concat())
    }
}
