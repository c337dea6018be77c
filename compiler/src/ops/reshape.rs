//! Ops that move elements without computing: Flatten, Reshape, Squeeze, Unsqueeze, Transpose.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, attrs, normalize_axis, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{DType, Dim, TensorType, ValueId};

/// The product of dims, with the symbols collected apart.
fn split_product(dims: &[Dim]) -> (usize, Vec<String>) {
    let mut fixed = 1usize;
    let mut syms = vec![];
    for d in dims {
        match d {
            // Shapes are bounded (`MAX_ELEMENTS`) before any op sees them; saturating keeps a
            // product of constants that are not from overflowing on the way to being refused.
            Dim::Fixed(n) => fixed = fixed.saturating_mul(*n),
            // `merge` writes a product as `N*100`: its factors count one by one.
            Dim::Sym(s) => {
                for factor in s.split('*') {
                    match factor.parse::<usize>() {
                        Ok(n) => fixed = fixed.saturating_mul(n),
                        Err(_) => syms.push(factor.to_string()),
                    }
                }
            }
        }
    }
    syms.sort();
    (fixed, syms)
}

#[derive(Clone, Debug, PartialEq)]
pub struct Flatten {
    pub axis: i64,
}

impl Flatten {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Flatten { axis: a.int("axis", 1)? }))
    }
}

pub(crate) fn merge(dims: &[Dim]) -> Dim {
    let (n, syms) = split_product(dims);
    product(n, &syms)
}

/// The dimension `n · syms…`, written as `merge` writes products.
fn product(n: usize, syms: &[String]) -> Dim {
    match (n, syms) {
        (n, []) => Dim::Fixed(n),
        (1, [sym]) => Dim::Sym(sym.clone()),
        (1, syms) => Dim::Sym(syms.join("*")),
        (n, syms) => Dim::Sym(format!("{}*{n}", syms.join("*"))),
    }
}

impl Op for Flatten {
    fn op_type(&self) -> &'static str {
        "Flatten"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("Flatten", inputs, 0)?.ty;
        // Flatten's axis may equal the rank (everything in the first dimension).
        let axis = if self.axis == x.rank() as i64 { x.rank() } else { normalize_axis("Flatten", self.axis, x.rank())? };
        Ok(vec![TensorType::new(x.dtype, vec![merge(&x.shape[..axis]), merge(&x.shape[axis..])])])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::int("axis", self.axis)]
    }

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None]) };
        let tx = cx.ty(cx.x(0)?);
        Ok(vec![Some(cx.reshape_to(g, &tx)?)])
    }
}

/// Reshape to the shape held by the constant second input (0 copies a dimension, -1 is inferred).
#[derive(Clone, Debug, PartialEq)]
pub struct Reshape;

impl Reshape {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        if a.int("allowzero", 0)? != 0 {
            return Err(OpError::Attribute { op: "Reshape".into(), name: "allowzero".into(), message: "only 0 is supported".into() });
        }
        Ok(Arc::new(Reshape))
    }
}

impl Op for Reshape {
    fn op_type(&self) -> &'static str {
        "Reshape"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("Reshape", inputs, 0)?.ty;
        let target = required("Reshape", inputs, 1)?
            .value
            .and_then(|t| t.as_i64())
            .ok_or_else(|| shape_error("Reshape", "the target shape must be a constant int64 tensor"))?;
        let mut out: Vec<Option<Dim>> = Vec::with_capacity(target.len());
        for (i, &t) in target.iter().enumerate() {
            out.push(match t {
                0 => {
                    Some(x.shape.get(i).cloned().ok_or_else(|| shape_error("Reshape", format!("0 at axis {i} copies a dimension the input lacks")))?)
                }
                -1 => None,
                n if n > 0 => Some(Dim::Fixed(n as usize)),
                n => return Err(shape_error("Reshape", format!("invalid target dimension {n}"))),
            });
        }
        let known: Vec<Dim> = out.iter().flatten().cloned().collect();
        let (in_n, mut in_syms) = split_product(&x.shape);
        let (out_n, out_syms) = split_product(&known);
        for s in &out_syms {
            match in_syms.iter().position(|x| x == s) {
                Some(p) => {
                    in_syms.remove(p);
                }
                None => return Err(shape_error("Reshape", format!("dimension `{s}` does not come from the input"))),
            }
        }
        let holes = out.iter().filter(|d| d.is_none()).count();
        let fill = match holes {
            0 if in_syms.is_empty() && in_n == out_n => None,
            // The hole takes what the input has beyond the known dimensions, symbols included
            // ([N*100, 200] to [-1, 20000] makes [N, 20000]).
            1 if out_n > 0 && in_n % out_n == 0 => Some(product(in_n / out_n, &in_syms)),
            0 | 1 => return Err(shape_error("Reshape", format!("cannot reshape {x} to {target:?}"))),
            _ => return Err(shape_error("Reshape", "at most one dimension may be -1")),
        };
        let shape = out.into_iter().map(|d| d.or_else(|| fill.clone()).unwrap_or(Dim::Fixed(1))).collect();
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None, None]) };
        let tx = cx.ty(cx.x(0)?);
        Ok(vec![Some(cx.reshape_to(g, &tx)?), None])
    }
}

/// Squeeze (opset 13 form: the axes are a constant int64 second input).
#[derive(Clone, Debug, PartialEq)]
pub struct Squeeze;

impl Squeeze {
    pub fn from_attrs(_: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Squeeze))
    }
}

impl Op for Squeeze {
    fn op_type(&self) -> &'static str {
        "Squeeze"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("Squeeze", inputs, 0)?.ty;
        let axes = const_axes("Squeeze", inputs, 1)?;
        let axes: Vec<usize> = axes.iter().map(|&a| normalize_axis("Squeeze", a, x.rank())).collect::<Result<_, _>>()?;
        for &a in &axes {
            if x.shape[a] != Dim::Fixed(1) {
                return Err(shape_error("Squeeze", format!("axis {a} of {x} is not 1")));
            }
        }
        let shape = x.shape.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, d)| d.clone()).collect();
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        // Unsqueeze at the same axes puts the removed 1s back.
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None, None]) };
        let axes = cx.x(1)?;
        Ok(vec![Some(cx.op(Unsqueeze, &[g, axes])?), None])
    }
}

/// The constant int64 axes input of Squeeze and Unsqueeze (opset 13 form).
fn const_axes(op: &str, inputs: &[Option<Fact>], index: usize) -> Result<Vec<i64>, OpError> {
    required(op, inputs, index)?
        .value
        .filter(|t| t.dtype == DType::I64)
        .and_then(|t| t.as_i64())
        .ok_or_else(|| shape_error(op, "the axes must be a constant int64 tensor"))
}

/// Unsqueeze (opset 13 form: the axes are a constant int64 second input, counted in the output's rank).
#[derive(Clone, Debug, PartialEq)]
pub struct Unsqueeze;

impl Unsqueeze {
    pub fn from_attrs(_: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Unsqueeze))
    }
}

impl Op for Unsqueeze {
    fn op_type(&self) -> &'static str {
        "Unsqueeze"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("Unsqueeze", inputs, 0)?.ty;
        let axes = const_axes("Unsqueeze", inputs, 1)?;
        let rank = x.rank() + axes.len();
        let mut inserted = vec![false; rank];
        for &a in &axes {
            let a = normalize_axis("Unsqueeze", a, rank)?;
            if std::mem::replace(&mut inserted[a], true) {
                return Err(shape_error("Unsqueeze", format!("axis {a} is given twice in {axes:?}")));
            }
        }
        let mut rest = x.shape.iter();
        let shape = inserted.iter().map(|&new| if new { Dim::Fixed(1) } else { rest.next().cloned().unwrap_or(Dim::Fixed(1)) }).collect();
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None, None]) };
        let axes = cx.x(1)?;
        Ok(vec![Some(cx.op(Squeeze, &[g, axes])?), None])
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Transpose {
    pub perm: Vec<usize>,
}

impl Transpose {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        let perm = a.ints("perm").ok_or_else(|| OpError::Attribute {
            op: "Transpose".into(),
            name: "perm".into(),
            message: "onyx needs it written out".into(),
        })?;
        let perm = perm.into_iter().map(|p| usize::try_from(p).unwrap_or(usize::MAX)).collect();
        Ok(Arc::new(Transpose { perm }))
    }
}

impl Op for Transpose {
    fn op_type(&self) -> &'static str {
        "Transpose"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("Transpose", inputs, 0)?.ty;
        let mut seen = vec![false; x.rank()];
        for &p in &self.perm {
            if p >= x.rank() || std::mem::replace(&mut seen[p], true) {
                return Err(shape_error("Transpose", format!("perm {:?} is not a permutation of rank {}", self.perm, x.rank())));
            }
        }
        if self.perm.len() != x.rank() {
            return Err(shape_error("Transpose", format!("perm {:?} does not match rank {}", self.perm, x.rank())));
        }
        Ok(vec![TensorType::new(x.dtype, self.perm.iter().map(|&p| x.shape[p].clone()).collect())])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::ints("perm", &self.perm.iter().map(|&p| p as i64).collect::<Vec<_>>())]
    }

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None]) };
        let mut inverse = vec![0; self.perm.len()];
        for (i, &p) in self.perm.iter().enumerate() {
            inverse[p] = i;
        }
        Ok(vec![Some(cx.op(Transpose { perm: inverse }, &[g])?)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Tensor;

    fn reshape(x: Vec<Dim>, target: &[i64]) -> Result<Vec<Dim>, OpError> {
        let (x, target) = (TensorType::f32(x), Tensor::from_i64(vec![target.len()], target));
        let target_ty = target.ty();
        let facts = [Some(Fact { ty: &x, value: None }), Some(Fact { ty: &target_ty, value: Some(&target) })];
        Ok(Reshape.infer(&facts)?.remove(0).shape)
    }

    /// Flatten writes the rows of [N, 100, F] as `N*100`; reshaping them back finds N again, and a
    /// product that does not divide is refused.
    #[test]
    fn symbolic_products_reshape_both_ways() {
        let (n, f) = (Dim::batch(), Dim::Fixed);
        let rows = Flatten { axis: 2 }.infer(&[Some(Fact { ty: &TensorType::f32(vec![n.clone(), f(100), f(3)]), value: None })]).unwrap().remove(0);
        assert_eq!(rows.shape, [Dim::Sym("N*100".into()), f(3)]);
        assert_eq!(reshape(rows.shape.clone(), &[-1, 300]).unwrap(), [n.clone(), f(300)]);
        assert_eq!(reshape(rows.shape.clone(), &[-1, 100, 3]).unwrap(), [n.clone(), f(100), f(3)]);
        assert_eq!(reshape(vec![n.clone(), f(300)], &[-1, 3]).unwrap(), [Dim::Sym("N*100".into()), f(3)]);
        assert!(reshape(rows.shape, &[-1, 7]).is_err());
    }
}
