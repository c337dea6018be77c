//! Expand and Tile: a tensor repeated to a larger shape, by broadcasting (Expand) or by whole copies
//! along each axis (Tile). Both take the target as a constant int64 input; a symbolic dimension may
//! be kept (Expand's 1, Tile's repeat of 1) or, for Tile, multiplied (`N*2`).
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::reshape::merge;
use super::{Attrs, Fact, Op, OpError, Reduce, ReduceKind, Reshape, broadcast, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{DType, Dim, TensorType, ValueId};

/// The constant int64 vector at input `index`.
fn constant_ints(op: &str, inputs: &[Option<Fact>], index: usize, what: &str) -> Result<Vec<i64>, OpError> {
    required(op, inputs, index)?
        .value
        .filter(|t| t.dtype == DType::I64 && t.dims.len() == 1)
        .and_then(|t| t.as_i64())
        .ok_or_else(|| shape_error(op, format!("{what} must be a constant int64 vector")))
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expand;

impl Expand {
    pub fn from_attrs(_: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Expand))
    }
}

impl Op for Expand {
    fn op_type(&self) -> &'static str {
        "Expand"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("Expand", inputs, 0)?.ty;
        let shape = constant_ints("Expand", inputs, 1, "the shape")?;
        let dims: Vec<Dim> = shape
            .iter()
            .map(|&d| usize::try_from(d).map(Dim::Fixed).map_err(|_| shape_error("Expand", format!("shape {shape:?} has a negative size"))))
            .collect::<Result<_, _>>()?;
        Ok(vec![TensorType::new(x.dtype, broadcast("Expand", &x.shape, &dims)?)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None, None]) };
        let tx = cx.ty(cx.x(0)?);
        Ok(vec![Some(cx.unbroadcast(g, &tx)?), None])
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tile;

impl Tile {
    pub fn from_attrs(_: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Tile))
    }
}

impl Op for Tile {
    fn op_type(&self) -> &'static str {
        "Tile"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("Tile", inputs, 0)?.ty;
        let repeats = constant_ints("Tile", inputs, 1, "the repeats")?;
        if repeats.len() != x.rank() || repeats.iter().any(|&r| r < 0) {
            return Err(shape_error("Tile", format!("repeats {repeats:?} do not fit {x}")));
        }
        let shape = x
            .shape
            .iter()
            .zip(&repeats)
            .map(|(d, &r)| match d {
                Dim::Fixed(n) => Dim::Fixed(n.saturating_mul(r as usize)),
                Dim::Sym(_) if r == 1 => d.clone(),
                Dim::Sym(_) => merge(&[d.clone(), Dim::Fixed(r as usize)]),
            })
            .collect();
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }

    /// The copies summed: dY as (r₀, d₀, r₁, d₁, …), summed over the r axes.
    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None, None]) };
        let x = cx.x(0)?;
        let tx = cx.ty(x);
        let repeats = cx.x_const(1).and_then(|t| t.as_i64()).ok_or_else(|| shape_error("Tile", "its gradient needs constant repeats"))?;
        if repeats.iter().all(|&r| r == 1) {
            return Ok(vec![Some(g), None]);
        }
        if tx.shape.iter().filter(|d| d.fixed().is_none()).count() > 1 {
            return Err(shape_error("Tile", format!("its gradient needs at most one symbolic dimension in {tx}")));
        }
        let split: Vec<i64> = tx.shape.iter().zip(&repeats).flat_map(|(d, &r)| [r, d.fixed().map_or(-1, |n| n as i64)]).collect();
        let split = cx.ints(&split);
        let copies = cx.op(Reshape, &[g, split])?;
        let axes: Vec<i64> = (0..tx.rank() as i64).map(|i| 2 * i).collect();
        let axes = cx.ints(&axes);
        Ok(vec![Some(cx.op(Reduce { kind: ReduceKind::Sum, axes: None, keepdims: false }, &[copies, axes])?), None])
    }
}
