//! Pad (opset 13 form: the pads are a constant int64 input, then an optional scalar fill value). Only
//! `constant` mode with non-negative pads; Slice's gradient is written with it.
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
            Some(mode) => Err(OpError::Attribute { op: "Pad".into(), name: "mode".into(), message: format!("`{mode}` is not supported; only `constant`") }),
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
