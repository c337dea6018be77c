//! Reverse-mode differentiation on the IR: one walk from the loss back to the parameters, each op's
//! rule (`Op::gradient`, in the op's own file) appending the nodes that compute its inputs'
//! gradients. Gradients of a value read by several nodes are summed; where many of those terms are
//! products aᵀ·g (a weight shared by the steps of an unrolled recurrence), the sum is one product of
//! the terms' operands laid side by side.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::builder::Builder;
use crate::ir::{Dim, Node, Tensor, TensorType, ValueId};
use crate::ops::{Binary, BinaryKind, Concat, MatMul, Op, OpError, Reduce, ReduceKind, Reshape, Squeeze, Transpose, Unary, UnaryKind};
use crate::train::Tuning;

#[derive(Debug, thiserror::Error)]
pub enum AutodiffError {
    #[error("{}op `{op}` (node `{node}`) has no gradient rule; freeze the layer or use another", layer.as_ref().map(|l| format!("layer `{l}`: ")).unwrap_or_default())]
    NoGradient { op: String, node: String, layer: Option<String> },
    #[error("{}node `{node}`: {source}", layer.as_ref().map(|l| format!("layer `{l}`: ")).unwrap_or_default())]
    Rule { node: String, layer: Option<String>, source: OpError },
    #[error("the loss must be a float scalar, got {0}")]
    NotScalar(TensorType),
    #[error("`{0}` does not affect the loss")]
    Unreachable(String),
}

/// What a gradient rule works with: the node being differentiated and the graph being extended.
pub struct GradCx<'a> {
    pub b: &'a mut Builder,
    pub node: &'a Node,
    /// Gradient terms known to be aᵀ·g of 2-D a and g, by value: (a, g).
    products: &'a mut HashMap<ValueId, (ValueId, ValueId)>,
    /// Which faster forms the gradient rules may choose.
    pub tuning: Tuning,
}

impl GradCx<'_> {
    /// The node's input `i`, which the rule needs.
    pub fn x(&self, i: usize) -> Result<ValueId, OpError> {
        self.node.inputs.get(i).copied().flatten().ok_or_else(|| crate::ops::shape_error(self.node.op.op_type(), format!("input {i} is missing")))
    }

    /// The node's input `i`, when given.
    pub fn x_opt(&self, i: usize) -> Option<ValueId> {
        self.node.inputs.get(i).copied().flatten()
    }

    /// The value of input `i`, when it is a constant (axes, shapes, pads).
    pub fn x_const(&self, i: usize) -> Option<&Tensor> {
        self.x_opt(i).and_then(|v| self.b.graph.value(v).init.as_ref())
    }

    /// The node's output `i`.
    pub fn y(&self, i: usize) -> ValueId {
        self.node.outputs[i]
    }

    pub fn ty(&self, v: ValueId) -> TensorType {
        self.b.ty(v).clone()
    }

    /// Appends a one-output node named after the node being differentiated.
    pub fn op(&mut self, op: impl Op + 'static, inputs: &[ValueId]) -> Result<ValueId, OpError> {
        let name = format!("{}/grad/{}", self.node.name, op.op_type());
        self.b.node1(&name, Arc::new(op), inputs)
    }

    /// aᵀ·g for 2-D `a` and `g`: the gradient of a product's right operand. The walk may sum many
    /// such terms of one value as a single product.
    pub fn transposed_product(&mut self, a: ValueId, g: ValueId) -> Result<ValueId, OpError> {
        let at = self.op(Transpose { perm: vec![1, 0] }, &[a])?;
        let product = self.op(MatMul, &[at, g])?;
        self.products.insert(product, (a, g));
        Ok(product)
    }

    pub fn scalar(&mut self, value: f32) -> ValueId {
        self.b.constant(&format!("{}/grad/c", self.node.name), Tensor::scalar_f32(value))
    }

    pub fn ints(&mut self, values: &[i64]) -> ValueId {
        self.b.constant(&format!("{}/grad/i", self.node.name), Tensor::from_i64(vec![values.len()], values))
    }

    pub fn unary(&mut self, kind: UnaryKind, x: ValueId) -> Result<ValueId, OpError> {
        self.op(Unary::new(kind), &[x])
    }

    pub fn binary(&mut self, kind: BinaryKind, a: ValueId, b: ValueId) -> Result<ValueId, OpError> {
        self.op(Binary { kind }, &[a, b])
    }

    /// Σ of (N, C, spatial…) over every axis but C: a convolution's bias gradient, as one ReduceSum.
    /// (Not a spatial MatMul with a column of ones and a sum over the batch: the MatMul packs its
    /// whole operand first, which made it several times slower on tract and slower on ONNX Runtime
    /// in `cargo bench --bench train_step`.)
    pub fn channel_sum(&mut self, g: ValueId) -> Result<ValueId, OpError> {
        let rank = self.ty(g).rank() as i64;
        let axes: Vec<i64> = std::iter::once(0).chain(2..rank).collect();
        let axes = self.ints(&axes);
        self.op(Reduce { kind: ReduceKind::Sum, axes: None, keepdims: false }, &[g, axes])
    }

    /// Reshapes `g` to `target`'s shape; a symbolic leading dimension is copied from `g`'s own, and
    /// one other symbolic dimension (a product such as `N*100`) is inferred.
    pub fn reshape_to(&mut self, g: ValueId, target: &TensorType) -> Result<ValueId, OpError> {
        let first = self.ty(g).shape.first().cloned();
        let mut inferred = 0;
        let dims: Vec<i64> = target
            .shape
            .iter()
            .enumerate()
            .map(|(i, d)| match d {
                Dim::Fixed(n) => *n as i64,
                Dim::Sym(_) if i == 0 && first.as_ref() == Some(d) => 0,
                Dim::Sym(_) => {
                    inferred += 1;
                    -1
                }
            })
            .collect();
        if inferred > 1 {
            return Err(crate::ops::shape_error(self.node.op.op_type(), format!("cannot reshape a gradient back to {target}")));
        }
        let shape = self.ints(&dims);
        self.op(Reshape, &[g, shape])
    }

    /// Sums `g` down to `target`'s shape, undoing NumPy broadcasting: over the leading axes `target`
    /// lacks, and over the axes where `target` has 1 and `g` does not.
    pub fn unbroadcast(&mut self, g: ValueId, target: &TensorType) -> Result<ValueId, OpError> {
        let shape = self.ty(g).shape;
        if shape == target.shape {
            return Ok(g);
        }
        let lead = shape.len().checked_sub(target.rank()).ok_or_else(|| {
            crate::ops::shape_error(self.node.op.op_type(), format!("a gradient of rank {} for an input of rank {}", shape.len(), target.rank()))
        })?;
        let mut axes: Vec<i64> = (0..lead as i64).collect();
        for (i, d) in target.shape.iter().enumerate() {
            if *d == Dim::Fixed(1) && shape[lead + i] != Dim::Fixed(1) {
                axes.push((lead + i) as i64);
            }
        }
        let mut out = g;
        if !axes.is_empty() {
            let axes_v = self.ints(&axes);
            out = self.op(Reduce { kind: ReduceKind::Sum, axes: None, keepdims: true }, &[g, axes_v])?;
        }
        if lead > 0 {
            let lead_axes = self.ints(&(0..lead as i64).collect::<Vec<_>>());
            out = self.op(Squeeze, &[out, lead_axes])?;
        }
        Ok(out)
    }
}

/// Appends to `b` the gradient of the scalar `loss` with respect to each of `wrt`, in order, in the
/// forms training uses ([`Tuning::TUNED`]).
pub fn backward(b: &mut Builder, loss: ValueId, wrt: &[ValueId]) -> Result<Vec<ValueId>, AutodiffError> {
    backward_with(b, loss, wrt, Tuning::TUNED)
}

/// [`backward`], with the faster forms `tuning` allows.
pub fn backward_with(b: &mut Builder, loss: ValueId, wrt: &[ValueId], tuning: Tuning) -> Result<Vec<ValueId>, AutodiffError> {
    let loss_ty = b.ty(loss).clone();
    if !loss_ty.shape.is_empty() || !loss_ty.dtype.is_float() {
        return Err(AutodiffError::NotScalar(loss_ty));
    }
    let forward: Vec<Node> = b.graph.nodes.clone();
    // Values that depend on something in `wrt`: only they carry gradients.
    let mut live: HashSet<ValueId> = wrt.iter().copied().collect();
    for n in &forward {
        if n.inputs.iter().flatten().any(|i| live.contains(i)) {
            live.extend(n.outputs.iter().copied());
        }
    }
    // Each value's gradient terms, summed when the walk reaches the node that computes the value.
    let mut terms: HashMap<ValueId, Vec<ValueId>> = HashMap::new();
    let mut products: HashMap<ValueId, (ValueId, ValueId)> = HashMap::new();
    let one = b.constant("grad/seed", Tensor::scalar_f32(1.0));
    terms.insert(loss, vec![one]);
    for node in forward.iter().rev() {
        if !node.outputs.iter().any(|o| terms.contains_key(o)) || !node.inputs.iter().flatten().any(|i| live.contains(i)) {
            continue;
        }
        let layer = node.layer.clone();
        let rule_error = |source| match source {
            OpError::NoGradient { op } => AutodiffError::NoGradient { op, node: node.name.clone(), layer: layer.clone() },
            source => AutodiffError::Rule { node: node.name.clone(), layer: layer.clone(), source },
        };
        let output_grads: Vec<Option<ValueId>> = node
            .outputs
            .iter()
            .map(|o| terms.remove(o).map(|t| sum_terms(b, &products, *o, t)).transpose())
            .collect::<Result<_, _>>()
            .map_err(rule_error)?;
        let mut cx = GradCx { b, node, products: &mut products, tuning };
        let input_grads = node.op.gradient(&mut cx, &output_grads).map_err(rule_error)?;
        for (input, g) in node.inputs.iter().zip(input_grads) {
            let (Some(input), Some(g)) = (input, g) else { continue };
            if live.contains(input) && b.ty(*input).dtype.is_float() {
                terms.entry(*input).or_default().push(g);
            }
        }
    }
    wrt.iter()
        .map(|w| match terms.remove(w) {
            Some(t) => {
                sum_terms(b, &products, *w, t).map_err(|source| AutodiffError::Rule { node: b.graph.value(*w).name.clone(), layer: None, source })
            }
            None => Err(AutodiffError::Unreachable(b.graph.value(*w).name.clone())),
        })
        .collect()
}

/// The sum of `value`'s gradient terms, in the order they came. Terms aᵀ·g (more than two, with the
/// same shapes and known widths) become one product: Σₜ aₜᵀ·gₜ = Aᵀ·G, with A and G the aₜ and gₜ
/// stacked by rows. For the recurrent weight of a 100-step LSTM that is one GEMM over N·99 rows in
/// place of 99 small ones each added to the last, which were a quarter of its training step on
/// tract (`cargo bench --bench train_step`, lstm_forecast).
fn sum_terms(b: &mut Builder, products: &HashMap<ValueId, (ValueId, ValueId)>, value: ValueId, terms: Vec<ValueId>) -> Result<ValueId, OpError> {
    if let [only] = terms[..] {
        return Ok(only);
    }
    let name = format!("{}/grad/sum", b.graph.value(value).name);
    let width = |b: &Builder, v: ValueId| match b.ty(v).shape[..] {
        [_, Dim::Fixed(w)] => Some(w),
        _ => None,
    };
    let stackable: Vec<(ValueId, ValueId)> = terms.iter().filter_map(|t| products.get(t).copied()).collect();
    let same = stackable.first().is_some_and(|&(a0, g0)| {
        width(b, a0).is_some() && width(b, g0).is_some() && stackable.iter().all(|&(a, g)| b.ty(a) == b.ty(a0) && b.ty(g) == b.ty(g0))
    });
    let mut rest = terms;
    if stackable.len() > 2 && same {
        rest.retain(|t| !products.contains_key(t));
        let stack = |b: &mut Builder, what: &str, parts: Vec<ValueId>| -> Result<ValueId, OpError> {
            let w = width(b, parts[0]).unwrap_or(1) as i64;
            let side_by_side = b.node1(&format!("{name}/{what}"), Arc::new(Concat { axis: 1 }), &parts)?;
            let rows = b.constant(&format!("{name}/{what}_rows"), Tensor::from_i64(vec![2], &[-1, w]));
            b.node1(&format!("{name}/{what}_stacked"), Arc::new(Reshape), &[side_by_side, rows])
        };
        let a = stack(b, "A", stackable.iter().map(|p| p.0).collect())?;
        let g = stack(b, "G", stackable.iter().map(|p| p.1).collect())?;
        let at = b.node1(&format!("{name}/At"), Arc::new(Transpose { perm: vec![1, 0] }), &[a])?;
        rest.push(b.node1(&format!("{name}/AtG"), Arc::new(MatMul), &[at, g])?);
    }
    let mut total = rest[0];
    for &t in &rest[1..] {
        total = b.node1(&name, Arc::new(Binary { kind: BinaryKind::Add }), &[total, t])?;
    }
    Ok(total)
}
