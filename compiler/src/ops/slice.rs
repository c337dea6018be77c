//! Slice (opset 13 form: starts, ends and the optional axes and steps are constant int64 inputs).
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, normalize_axis, required, shape_error};
use crate::ir::{DType, Dim, TensorType};

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
            return Err(shape_error(
                "Slice",
                format!("starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} differ in length"),
            ));
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
                    return Err(shape_error(
                        "Slice",
                        format!("cannot slice the symbolic dimension `{s}` on axis {axis}"),
                    ));
                }
            };
        }
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }
}
