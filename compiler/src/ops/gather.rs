//! Gather along one axis: the embedding lookup.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{
    Attrs, BinaryKind, Cast, Compare, CompareKind, Fact, MatMul, Op, OpError, Reduce, ReduceKind, Reshape, Transpose, Unsqueeze, Where, attrs,
    normalize_axis, required, shape_error,
};
use crate::autodiff::GradCx;
use crate::ir::{DType, Dim, Tensor, TensorType, ValueId};

#[derive(Clone, Debug, PartialEq)]
pub struct Gather {
    pub axis: i64,
}

impl Gather {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Gather { axis: a.int("axis", 0)? }))
    }
}

impl Op for Gather {
    fn op_type(&self) -> &'static str {
        "Gather"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let (data, indices) = (required("Gather", inputs, 0)?.ty, required("Gather", inputs, 1)?.ty);
        if !matches!(indices.dtype, DType::I64 | DType::I32) {
            return Err(shape_error("Gather", format!("indices must be int32 or int64, got {}", indices.dtype)));
        }
        let axis = normalize_axis("Gather", self.axis, data.rank())?;
        let mut shape = data.shape[..axis].to_vec();
        shape.extend(indices.shape.iter().cloned());
        shape.extend(data.shape[axis + 1..].iter().cloned());
        Ok(vec![TensorType::new(data.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::int("axis", self.axis)]
    }

    /// Along axis 0 (the embedding table): dData = one_hot(indices, V)ᵀ · dY, summed over every index
    /// position. Indices take no gradient.
    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None, None]) };
        let (data, indices) = (cx.x(0)?, cx.x(1)?);
        let (td, ti) = (cx.ty(data), cx.ty(indices));
        if normalize_axis("Gather", self.axis, td.rank())? != 0 {
            return Err(shape_error("Gather", "its gradient is defined along axis 0 only"));
        }
        let rows = td.shape[0].fixed().ok_or_else(|| shape_error("Gather", format!("its gradient needs the rows of {td}")))?;
        let name = format!("{}/grad", cx.node.name);
        let int = |cx: &mut GradCx, what: &str, dims: Vec<usize>, values: &[i64]| {
            cx.b.constant(&format!("{name}/{what}"), int_tensor(ti.dtype, dims, values))
        };
        // Negative indices count from the end.
        let zero = int(cx, "zero", vec![], &[0]);
        let count = int(cx, "rows", vec![], &[rows as i64]);
        let negative = cx.op(Compare { kind: CompareKind::Less }, &[indices, zero])?;
        let wrapped = cx.binary(BinaryKind::Add, indices, count)?;
        let indices = cx.op(Where, &[negative, wrapped, indices])?;
        let row_ids = int(cx, "row_ids", vec![rows], &(0..rows as i64).collect::<Vec<_>>());
        let r = ti.rank();
        if r == 0 {
            // One row: dData = one_hot (V, 1, ...) · dY (1, ...), which keeps a symbolic dY axis.
            let hit = cx.op(Compare { kind: CompareKind::Equal }, &[indices, row_ids])?;
            let hit = cx.op(Cast { to: td.dtype }, &[hit])?;
            let column: Vec<i64> = std::iter::once(rows as i64).chain(std::iter::repeat_n(1, td.rank() - 1)).collect();
            let column = cx.ints(&column);
            let hit = cx.op(Reshape, &[hit, column])?;
            let axis = cx.ints(&[0]);
            let row = cx.op(Unsqueeze, &[g, axis])?;
            return Ok(vec![Some(cx.binary(BinaryKind::Mul, hit, row)?), None]);
        }
        let width = td.shape[1..]
            .iter()
            .map(Dim::fixed)
            .product::<Option<usize>>()
            .ok_or_else(|| shape_error("Gather", format!("its gradient needs the row shape of {td}")))?;
        let last = cx.ints(&[-1]);
        let expanded = cx.op(Unsqueeze, &[indices, last])?;
        let hit = cx.op(Compare { kind: CompareKind::Equal }, &[expanded, row_ids])?;
        let one_hot = cx.op(Cast { to: td.dtype }, &[hit])?;
        let mut perm: Vec<usize> = (0..r + 1).collect();
        perm.swap(r - 1, r);
        let one_hot_t = cx.op(Transpose { perm }, &[one_hot])?;
        // dY as (index dims..., row width); the leading index dims batch the MatMul and are summed.
        let flat_rows = td.rank() != 2;
        let g = if flat_rows {
            let dims: Vec<i64> = std::iter::repeat_n(0, r).chain([width as i64]).collect();
            let dims = cx.ints(&dims);
            cx.op(Reshape, &[g, dims])?
        } else {
            g
        };
        let mut gd = cx.op(MatMul, &[one_hot_t, g])?;
        if r > 1 {
            let axes = cx.ints(&(0..r as i64 - 1).collect::<Vec<_>>());
            gd = cx.op(Reduce { kind: ReduceKind::Sum, axes: None, keepdims: false }, &[gd, axes])?;
        }
        if flat_rows {
            gd = cx.reshape_to(gd, &td)?;
        }
        Ok(vec![Some(gd), None])
    }
}

/// An integer constant of the indices' type.
fn int_tensor(dtype: DType, dims: Vec<usize>, values: &[i64]) -> Tensor {
    match dtype {
        DType::I32 => Tensor { dtype, dims, data: values.iter().flat_map(|&v| (v as i32).to_le_bytes()).collect() },
        _ => Tensor::from_i64(dims, values),
    }
}
