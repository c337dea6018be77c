//! Every gradient rule against central finite differences, in f64 on the test interpreter.
//!
//! Each case builds a tiny graph, takes `loss = ReduceSum(output · R)` for a fixed random R (so that
//! every output element matters), appends the gradient with `autodiff::backward` and runs it; each
//! gradient entry must agree with `(f(x+h) − f(x−h)) / 2h` to a relative error of 1e-4 (denominator
//! `max(|a|, |b|, 1e-8)`). Inputs keep away from kinks: from 0 for Relu and Abs, from ties for MaxPool.
//! The compiled example models are checked the same way on a few entries of each trainable parameter.
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use onyx_compiler::autodiff::{AutodiffError, backward};
use onyx_compiler::builder::Builder;
use onyx_compiler::ir::{DType, Dim, ParamInfo, Tensor, TensorType, ValueId};
use onyx_compiler::ops::{
    ArgMax, BatchNormalization, Binary, BinaryKind, Cast, Clip, Concat, Conv, ConvTranspose, Dropout, Flatten, Gather, Gemm, GlobalAveragePool,
    MatMul, Op, Pad, Pool, PoolKind, Recurrent, RecurrentKind, Reduce, ReduceKind, Reshape, Slice, Softmax, SoftmaxKind, Squeeze, Transpose, Unary,
    UnaryKind, Unsqueeze, Where,
};
use onyx_compiler::passes::unroll_recurrent;
use support::interp::{Arr, erf, eval, run_graph};

const TOLERANCE: f64 = 1e-4;

/// Deterministic numbers.
struct Rng(u64);

impl Rng {
    /// Uniform in [-1, 1).
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    fn below(&mut self, n: usize) -> usize {
        (((self.next() + 1.0) / 2.0) * n as f64) as usize % n
    }

    /// Uniform in [-1, 1).
    fn uniform(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.next()).collect()
    }

    /// Magnitudes in [0.3, 1.3) with random signs: away from the kink at 0.
    fn away(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| (0.8 + 0.5 * self.next()).copysign(self.next())).collect()
    }

    /// In [lo, hi).
    fn between(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| lo + (hi - lo) * (self.next() + 1.0) / 2.0).collect()
    }

    /// Evenly spaced in [-1, 1], shuffled: no two within 1e-2 of each other.
    fn distinct(&mut self, n: usize) -> Vec<f64> {
        let mut v: Vec<f64> = (0..n).map(|i| -1.0 + 2.0 * i as f64 / (n.max(2) - 1) as f64).collect();
        for i in (1..n).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
        v
    }
}

/// How a case fills a tensor.
enum Fill {
    Uniform,
    Away,
    Between(f64, f64),
    Values(Vec<f64>),
}
use Fill::{Away, Between, Uniform, Values};

/// A graph under construction, with the values of its inputs and what to differentiate.
struct Case {
    b: Builder,
    feeds: HashMap<ValueId, Arr>,
    wrt: Vec<ValueId>,
    rng: Rng,
}

fn param_info() -> ParamInfo {
    ParamInfo { trainable: true, regularizer: None, layer: "test".into() }
}

impl Case {
    fn new(seed: u64) -> Case {
        Case { b: Builder::new("grad_test"), feeds: HashMap::new(), wrt: vec![], rng: Rng(seed) }
    }

    fn fill(&mut self, fill: Fill, n: usize) -> Vec<f64> {
        match fill {
            Uniform => self.rng.uniform(n),
            Away => self.rng.away(n),
            Between(lo, hi) => self.rng.between(n, lo, hi),
            Values(v) => v,
        }
    }

    /// A float graph input, differentiated.
    fn input(&mut self, name: &str, shape: &[usize], fill: Fill) -> ValueId {
        self.input_typed(name, shape.iter().map(|&d| Dim::Fixed(d)).collect(), shape, fill)
    }

    /// A float graph input with a symbolic batch (its first axis), differentiated.
    fn batched(&mut self, name: &str, shape: &[usize], fill: Fill) -> ValueId {
        let dims = std::iter::once(Dim::batch()).chain(shape[1..].iter().map(|&d| Dim::Fixed(d))).collect();
        self.input_typed(name, dims, shape, fill)
    }

    fn input_typed(&mut self, name: &str, dims: Vec<Dim>, shape: &[usize], fill: Fill) -> ValueId {
        let id = self.b.input(name, TensorType::f32(dims));
        let values = self.fill(fill, shape.iter().product());
        self.feeds.insert(id, Arr::new(shape.to_vec(), values));
        self.wrt.push(id);
        id
    }

    /// A trainable f32 parameter, differentiated.
    fn param(&mut self, name: &str, shape: &[usize], fill: Fill) -> ValueId {
        let values = self.fill(fill, shape.iter().product());
        let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        let id = self.b.param(name, Tensor::from_f32(shape.to_vec(), &values), param_info());
        self.wrt.push(id);
        id
    }

    fn ints(&mut self, values: &[i64]) -> ValueId {
        self.b.constant("ints", Tensor::from_i64(vec![values.len()], values))
    }

    fn node(&mut self, op: impl Op + 'static, inputs: &[ValueId]) -> ValueId {
        let name = op.op_type().to_string();
        self.b.node1(&name, Arc::new(op), inputs).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Appends `loss = ReduceSum(out · R)` and returns it with the forward graph's feeds (R included).
    fn loss(&mut self, out: ValueId) -> ValueId {
        let shape = run_graph(&self.b.graph, &self.feeds)[out.0].clone().unwrap().shape;
        let r = self.b.input("R", self.b.ty(out).clone());
        let len = shape.iter().product();
        self.feeds.insert(r, Arr::new(shape, self.rng.uniform(len)));
        let weighted = self.node(Binary { kind: BinaryKind::Mul }, &[out, r]);
        self.node(Reduce { kind: ReduceKind::Sum, axes: None, keepdims: false }, &[weighted])
    }

    /// Checks every gradient entry (at most `limit` per tensor, drawn at random) against finite
    /// differences; returns the largest relative error.
    fn check_some(mut self, what: &str, out: ValueId, limit: usize) -> f64 {
        let loss = self.loss(out);
        let forward = self.b.graph.clone();
        let wrt = self.wrt.clone();
        let grads = backward(&mut self.b, loss, &wrt).unwrap_or_else(|e| panic!("{what}: {e}"));
        let env = run_graph(&self.b.graph, &self.feeds);
        let mut feeds = self.feeds.clone();
        let (mut worst, mut checked, mut worst_at) = (0.0f64, 0, String::new());
        let mut failures = vec![];
        for (&w, &gid) in wrt.iter().zip(&grads) {
            let base = feeds.get(&w).cloned().unwrap_or_else(|| Arr::from_tensor(forward.value(w).init.as_ref().unwrap()));
            let analytic = env[gid.0].as_ref().unwrap();
            assert_eq!(analytic.shape, base.shape, "{what}: gradient of `{}`", forward.value(w).name);
            let entries: Vec<usize> =
                if base.len() <= limit { (0..base.len()).collect() } else { (0..limit).map(|_| self.rng.below(base.len())).collect() };
            for i in entries {
                let h = 1e-6 * base.data[i].abs().max(1.0);
                let mut at = |delta: f64| {
                    let mut moved = base.clone();
                    moved.data[i] += delta;
                    feeds.insert(w, moved);
                    run_graph(&forward, &feeds)[loss.0].as_ref().unwrap().data[0]
                };
                let numeric = (at(h) - at(-h)) / (2.0 * h);
                let a = analytic.data[i];
                let err = (a - numeric).abs() / a.abs().max(numeric.abs()).max(1e-8);
                if err > worst {
                    worst_at = format!("`{}`[{i}]: {a:.3e} vs {numeric:.3e}", forward.value(w).name);
                }
                worst = worst.max(err);
                checked += 1;
                if err > TOLERANCE {
                    failures.push(format!("`{}`[{i}]: autodiff {a:.9}, finite differences {numeric:.9}", forward.value(w).name));
                }
            }
            feeds.insert(w, base);
            if !self.feeds.contains_key(&w) {
                feeds.remove(&w);
            }
        }
        println!("{what}: {checked} entries, max relative error {worst:.1e} ({worst_at})");
        assert!(failures.is_empty(), "{what}:\n{}", failures[..failures.len().min(12)].join("\n"));
        worst
    }

    fn check(self, what: &str, out: ValueId) -> f64 {
        self.check_some(what, out, 400)
    }
}

// ---------------------------------------------------------------------------------------------
// The interpreter itself, on numbers worked by hand.

#[test]
fn interpreter_erf_is_accurate() {
    for (x, want) in [
        (0.0, 0.0),
        (0.1, 0.1124629160182849),
        (0.5, 0.5204998778130465),
        (1.0, 0.8427007929497149),
        (-1.5, -0.9661051464753108),
        (2.0, 0.9953222650189527),
        (3.0, 0.9999779095030014),
        (4.5, 0.9999999998033839),
    ] {
        assert!((erf(x) - want).abs() < 1e-13, "erf({x}) = {}, want {want}", erf(x));
    }
}

#[test]
fn interpreter_windows_match_hand_results() {
    use onyx_proto::onnx::AttributeProto;
    let attr_ints = |name: &str, v: &[i64]| AttributeProto { name: Some(name.into()), ints: v.to_vec(), ..Default::default() };
    let attr_int = |name: &str, v: i64| AttributeProto { name: Some(name.into()), i: Some(v), ..Default::default() };
    // x = 1..=9 in a 3x3 map.
    let x = Arr::new(vec![1, 1, 3, 3], (1..=9).map(f64::from).collect());
    let w = Arr::new(vec![1, 1, 2, 2], vec![1.0, 10.0, 100.0, 1000.0]);
    // Stride 2 with one cell of padding on each side: windows start at -1 and 1.
    let attrs = [attr_ints("kernel_shape", &[2, 2]), attr_ints("strides", &[2, 2]), attr_ints("pads", &[1, 1, 1, 1])];
    let y = &eval("Conv", &attrs, &[Some(&x), Some(&w)])[0];
    assert_eq!(y.shape, vec![1, 1, 2, 2]);
    assert_eq!(y.data, vec![1000.0, 2.0 * 100.0 + 3.0 * 1000.0, 4.0 * 10.0 + 7.0 * 1000.0, 5.0 + 6.0 * 10.0 + 8.0 * 100.0 + 9.0 * 1000.0]);
    let max = &eval("MaxPool", &attrs, &[Some(&x)])[0];
    assert_eq!(max.data, vec![1.0, 3.0, 7.0, 9.0]);
    let avg = &eval("AveragePool", &attrs, &[Some(&x)])[0];
    assert_eq!(avg.data, vec![1.0, 2.5, 5.5, 7.0]);
    let mut with_pad = attrs.to_vec();
    with_pad.push(attr_int("count_include_pad", 1));
    let avg = &eval("AveragePool", &with_pad, &[Some(&x)])[0];
    assert_eq!(avg.data, vec![0.25, 1.25, 2.75, 7.0]);
    // ConvTranspose is Conv's adjoint: <Conv(x), y> = <x, ConvTranspose(y)>.
    let y2 = Arr::new(vec![1, 1, 2, 2], vec![0.5, -1.0, 2.0, 3.0]);
    // Its end pads shrink by the padded row and column no window reached.
    let t_attrs = [attr_ints("kernel_shape", &[2, 2]), attr_ints("strides", &[2, 2]), attr_ints("pads", &[1, 1, 0, 0])];
    let back = &eval("ConvTranspose", &t_attrs, &[Some(&y2), Some(&w)])[0];
    assert_eq!(back.shape, vec![1, 1, 3, 3]);
    let lhs: f64 = y.data.iter().zip(&y2.data).map(|(a, b)| a * b).sum();
    let rhs: f64 = x.data.iter().zip(&back.data).map(|(a, b)| a * b).sum();
    assert_eq!(lhs, rhs);
}

// ---------------------------------------------------------------------------------------------
// Matrix products and element-wise ops.

#[test]
fn gemm_all_transposes_with_broadcast_c() {
    let (m, k, n) = (3, 4, 5);
    for (seed, (trans_a, trans_b)) in [(false, false), (true, false), (false, true), (true, true)].into_iter().enumerate() {
        for c_shape in [vec![], vec![n], vec![m, 1], vec![1, n], vec![m, n]] {
            let mut c = Case::new(seed as u64 + 10 * c_shape.len() as u64);
            let a_shape = if trans_a { [k, m] } else { [m, k] };
            let b_shape = if trans_b { [n, k] } else { [k, n] };
            let a = c.input("A", &a_shape, Uniform);
            let b = c.param("B", &b_shape, Uniform);
            let cv = c.param("C", &c_shape, Uniform);
            let y = c.node(Gemm { alpha: 0.7, beta: 1.3, trans_a, trans_b }, &[a, b, cv]);
            c.check(&format!("Gemm transA={trans_a} transB={trans_b} C{c_shape:?}"), y);
        }
        let mut c = Case::new(seed as u64);
        let a = c.input("A", &if trans_a { [k, m] } else { [m, k] }, Uniform);
        let b = c.input("B", &if trans_b { [n, k] } else { [k, n] }, Uniform);
        let y = c.node(Gemm { alpha: 1.0, beta: 1.0, trans_a, trans_b }, &[a, b]);
        c.check(&format!("Gemm transA={trans_a} transB={trans_b} without C"), y);
    }
}

#[test]
fn matmul_plain_batched_and_broadcast() {
    for (seed, (sa, sb)) in [
        (vec![3, 4], vec![4, 5]),
        (vec![2, 3, 4], vec![2, 4, 5]),
        (vec![2, 3, 4], vec![4, 5]),
        (vec![3, 4], vec![2, 4, 5]),
        (vec![2, 1, 3, 4], vec![3, 4, 2]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = Case::new(seed as u64);
        let a = c.input("A", &sa, Uniform);
        let b = c.param("B", &sb, Uniform);
        let y = c.node(MatMul, &[a, b]);
        c.check(&format!("MatMul {sa:?} x {sb:?}"), y);
    }
}

#[test]
fn broadcasting_binaries() {
    let shapes: [(Vec<usize>, Vec<usize>); 6] = [
        (vec![3, 4], vec![3, 4]),
        (vec![3, 4], vec![3, 1]),
        (vec![3, 4], vec![1, 4]),
        (vec![3, 4], vec![]),
        (vec![3, 1], vec![1, 4]),
        (vec![4], vec![2, 3, 4]),
    ];
    for kind in [BinaryKind::Add, BinaryKind::Sub, BinaryKind::Mul, BinaryKind::Div, BinaryKind::Pow, BinaryKind::Max] {
        for (seed, (sa, sb)) in shapes.iter().enumerate() {
            let mut c = Case::new(seed as u64);
            let (na, nb) = (sa.iter().product(), sb.iter().product());
            let (va, vb) = match kind {
                // A positive base, and a divisor away from 0.
                BinaryKind::Pow => (c.rng.between(na, 0.5, 1.5), c.rng.between(nb, -1.0, 2.5)),
                BinaryKind::Div => (c.rng.uniform(na), c.rng.away(nb)),
                _ => (c.rng.uniform(na), c.rng.uniform(nb)),
            };
            let a = c.input("a", sa, Values(va));
            let b = c.param("b", sb, Values(vb));
            let y = c.node(Binary { kind }, &[a, b]);
            c.check(&format!("{kind:?} {sa:?} and {sb:?}"), y);
        }
    }
}

#[test]
fn every_activation() {
    let kinds = [
        (Unary::new(UnaryKind::Identity), "uniform"),
        (Unary::new(UnaryKind::Relu), "away"),
        (Unary::with_alpha(UnaryKind::LeakyRelu, 0.2), "away"),
        (Unary::with_alpha(UnaryKind::Elu, 0.7), "away"),
        (Unary::new(UnaryKind::Sigmoid), "uniform"),
        (Unary::new(UnaryKind::Tanh), "uniform"),
        (Unary::new(UnaryKind::Erf), "uniform"),
        (Unary::new(UnaryKind::Neg), "uniform"),
        (Unary::new(UnaryKind::Exp), "uniform"),
        (Unary::new(UnaryKind::Log), "positive"),
        (Unary::new(UnaryKind::Sqrt), "positive"),
        (Unary::new(UnaryKind::Abs), "away"),
        (Unary::new(UnaryKind::Sign), "away"),
        (Unary::new(UnaryKind::Cos), "away"),
        (Unary::new(UnaryKind::Floor), "fraction"),
    ];
    for (seed, (op, values)) in kinds.into_iter().enumerate() {
        let mut c = Case::new(seed as u64);
        let v = match values {
            "away" => c.rng.away(12),
            "positive" => c.rng.between(12, 0.3, 2.0),
            "fraction" => c.rng.between(12, -2.0, 2.0).into_iter().map(|v: f64| v.floor() + 0.2 + 0.6 * (v - v.floor())).collect(),
            _ => c.rng.uniform(12).into_iter().map(|v| 2.0 * v).collect(),
        };
        let x = c.input("x", &[3, 4], Values(v));
        let what = format!("{op:?}");
        let y = c.node(op, &[x]);
        c.check(&what, y);
    }
    // Dropout (inference form) is the identity too.
    let mut c = Case::new(99);
    let x = c.input("x", &[3, 4], Uniform);
    let y = c.node(Dropout, &[x]);
    c.check("Dropout", y);
}

#[test]
fn softmax_and_log_softmax() {
    for kind in [SoftmaxKind::Softmax, SoftmaxKind::LogSoftmax] {
        for axis in [-1, 1, 0] {
            let mut c = Case::new((axis + 5) as u64);
            let x = c.input("x", &[2, 3, 4], Uniform);
            let y = c.node(Softmax { kind, axis }, &[x]);
            c.check(&format!("{kind:?} axis {axis}"), y);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Moving elements.

#[test]
fn reshape_family() {
    for axis in [0, 1, 2, 3] {
        let mut c = Case::new(axis as u64);
        let x = c.input("x", &[2, 3, 2, 2], Uniform);
        let y = c.node(Flatten { axis }, &[x]);
        c.check(&format!("Flatten axis {axis}"), y);
    }
    for (batched, target) in [(true, vec![0, -1]), (true, vec![0, 6, -1]), (false, vec![4, 6]), (false, vec![-1, 2, 3]), (false, vec![2, 0, 4])] {
        let mut c = Case::new(3);
        let x = if batched { c.batched("x", &[2, 3, 4], Uniform) } else { c.input("x", &[2, 3, 4], Uniform) };
        let shape = c.ints(&target);
        let y = c.node(Reshape, &[x, shape]);
        c.check(&format!("Reshape to {target:?}{}", if batched { " with a symbolic batch" } else { "" }), y);
    }
    for perm in [vec![2, 0, 1], vec![1, 0, 2], vec![0, 1, 2]] {
        let mut c = Case::new(5);
        let x = c.input("x", &[2, 3, 4], Uniform);
        let y = c.node(Transpose { perm: perm.clone() }, &[x]);
        c.check(&format!("Transpose {perm:?}"), y);
    }
    let mut c = Case::new(6);
    let x = c.input("x", &[2, 1, 3, 1], Uniform);
    let axes = c.ints(&[1, -1]);
    let y = c.node(Squeeze, &[x, axes]);
    c.check("Squeeze [1, -1]", y);
    let mut c = Case::new(7);
    let x = c.input("x", &[2, 3], Uniform);
    let axes = c.ints(&[0, 3]);
    let y = c.node(Unsqueeze, &[x, axes]);
    c.check("Unsqueeze [0, 3]", y);
}

#[test]
fn concat_of_three() {
    for axis in [0, 1, -1] {
        let mut c = Case::new((axis + 2) as u64);
        let shape = |n: usize| match axis {
            0 => vec![n, 3, 2],
            1 => vec![2, n, 2],
            _ => vec![2, 3, n],
        };
        let a = c.input("a", &shape(1), Uniform);
        let b = c.param("b", &shape(3), Uniform);
        let d = c.input("d", &shape(2), Uniform);
        let y = c.node(Concat { axis }, &[a, b, d]);
        c.check(&format!("Concat axis {axis}"), y);
    }
}

#[test]
fn slices() {
    // (starts, ends, axes, steps) on a [5, 7] input.
    type Bounds<'a> = (&'a [i64], &'a [i64], &'a [i64], &'a [i64]);
    let cases: [Bounds; 7] = [
        (&[1], &[4], &[0], &[1]),
        (&[1, 2], &[4, 6], &[0, 1], &[1, 1]),
        (&[-3], &[i64::MAX], &[1], &[1]),
        (&[0, 1], &[5, 7], &[0, 1], &[2, 3]),
        (&[6], &[0], &[1], &[-1]),
        (&[-1, 5], &[i64::MIN, 0], &[0, 1], &[-2, -2]),
        (&[1], &[6], &[1], &[4]),
    ];
    for (seed, (starts, ends, axes, steps)) in cases.into_iter().enumerate() {
        let mut c = Case::new(seed as u64);
        let x = c.input("x", &[5, 7], Uniform);
        let (s, e, a, st) = (c.ints(starts), c.ints(ends), c.ints(axes), c.ints(steps));
        let y = c.node(Slice, &[x, s, e, a, st]);
        c.check(&format!("Slice {starts:?}..{ends:?} axes {axes:?} steps {steps:?}"), y);
    }
    // Without axes and steps, on a batched input whose batch axis is kept whole.
    let mut c = Case::new(20);
    let x = c.batched("x", &[2, 6], Uniform);
    let (s, e) = (c.ints(&[0, 2]), c.ints(&[i64::MAX, 5]));
    let y = c.node(Slice, &[x, s, e]);
    c.check("Slice, batch kept whole", y);
}

#[test]
fn clip_with_both_bounds_one_and_none() {
    // Values away from both bounds (0 and 1): the kinks are where the gradient jumps.
    let values = vec![-0.8, -0.3, 0.2, 0.45, 0.7, 1.3, 1.9, -1.4, 0.05, 0.93, 2.2, 0.6];
    for bounds in [&[Some(0.0), Some(1.0)][..], &[Some(0.0)], &[None, Some(1.0)], &[]] {
        let mut c = Case::new(3);
        let x = c.input("x", &[3, 4], Values(values.clone()));
        let mut inputs = vec![x];
        for (i, b) in bounds.iter().enumerate() {
            // An upper bound alone needs a lower one before it: -inf, which clips nothing.
            let v = b.unwrap_or(if i == 0 { f32::NEG_INFINITY } else { f32::INFINITY });
            inputs.push(c.b.constant("bound", Tensor::scalar_f32(v)));
        }
        let y = c.node(Clip, &inputs);
        c.check(&format!("Clip {bounds:?}"), y);
    }
}

#[test]
fn nearest_upsampling_by_whole_factors() {
    let mut c = Case::new(8);
    let x = c.batched("x", &[2, 3, 2, 3], Uniform);
    let roi = c.b.constant("roi", Tensor::from_f32(vec![0], &[]));
    let scales = c.b.constant("scales", Tensor::from_f32(vec![4], &[1.0, 1.0, 3.0, 2.0]));
    let attributes = [
        onyx_compiler::ops::attrs::string("coordinate_transformation_mode", "asymmetric"),
        onyx_compiler::ops::attrs::string("nearest_mode", "floor"),
    ];
    let op = onyx_compiler::ops::Resize::from_attrs(&onyx_compiler::ops::Attrs { op: "Resize", list: &attributes }).unwrap();
    let y = c.b.node1("Resize", op, &[x, roi, scales]).unwrap();
    c.check("Resize nearest ×(3, 2)", y);
}

#[test]
fn pad() {
    let mut c = Case::new(1);
    let x = c.input("x", &[2, 3, 4], Uniform);
    let pads = c.ints(&[0, 1, 2, 1, 0, 3]);
    let y = c.node(Pad, &[x, pads]);
    c.check("Pad", y);
}

/// Reflect and edge padding fold their borders back onto the elements they copied: on every axis at
/// once (corners copied along two axes), on one side only, and reflect pads as wide as they may be.
#[test]
fn reflect_and_edge_pads() {
    use onyx_compiler::ops::{BorderMode, BorderPad};
    for (mode, pads) in [
        (BorderMode::Reflect, vec![0, 1, 2, 0, 0, 3]),
        (BorderMode::Reflect, vec![0, 2, 0, 0, 2, 3]),
        (BorderMode::Edge, vec![0, 1, 2, 1, 0, 3]),
        (BorderMode::Edge, vec![1, 0, 5, 0, 2, 0]),
    ] {
        let mut c = Case::new(3);
        let x = c.input("x", &[2, 3, 4], Uniform);
        let p = c.ints(&pads);
        let y = c.node(BorderPad { mode }, &[x, p]);
        c.check(&format!("Pad {mode:?} {pads:?}"), y);
    }
}

#[test]
fn gather_embedding() {
    // A table of 10 rows looked up by indices of several ranks, repeats and a negative index included.
    let cases: [(Vec<usize>, Vec<i64>, Vec<usize>); 4] = [
        (vec![2, 5], vec![3, 1, 3, 9, 0, -1, 3, 4, 4, 2], vec![10, 4]),
        (vec![6], vec![7, 7, 2, 0, 5, 7], vec![10, 4]),
        (vec![], vec![6], vec![10, 4]),
        (vec![2, 2], vec![1, 8, 8, 1], vec![10, 2, 3]),
    ];
    for (seed, (index_shape, indices, table_shape)) in cases.into_iter().enumerate() {
        let mut c = Case::new(seed as u64);
        let table = c.param("table", &table_shape, Uniform);
        let ids = c.b.constant("ids", Tensor::from_i64(index_shape.clone(), &indices));
        let y = c.node(Gather { axis: 0 }, &[table, ids]);
        c.check(&format!("Gather {table_shape:?} by {index_shape:?}"), y);
    }
    // Indices with a symbolic batch, as a model feeds them.
    let mut c = Case::new(9);
    let table = c.param("table", &[10, 3], Uniform);
    let ids = c.b.input("ids", TensorType::new(DType::I64, vec![Dim::batch(), Dim::Fixed(4)]));
    c.feeds.insert(ids, Arr::new(vec![2, 4], vec![1.0, 2.0, 2.0, 9.0, 0.0, 1.0, 5.0, 5.0]));
    let y = c.node(Gather { axis: 0 }, &[table, ids]);
    c.check("Gather by batched ids", y);
}

#[test]
fn cast_where_and_batch_norm() {
    let mut c = Case::new(1);
    let x = c.input("x", &[3, 4], Uniform);
    let wide = c.node(Cast { to: DType::F64 }, &[x]);
    let y = c.node(Cast { to: DType::F32 }, &[wide]);
    c.check("Cast f32 → f64 → f32", y);

    let mut c = Case::new(2);
    let cond = c.b.constant("cond", Tensor { dtype: DType::Bool, dims: vec![3, 1], data: vec![1, 0, 1] });
    let x = c.input("x", &[3, 4], Uniform);
    let y = c.param("y", &[4], Uniform);
    let out = c.node(Where, &[cond, x, y]);
    c.check("Where", out);

    for shape in [vec![2, 3, 4, 4], vec![4, 3], vec![2, 3, 5]] {
        let mut c = Case::new(shape.len() as u64);
        let x = c.batched("x", &shape, Uniform);
        let scale = c.param("scale", &[3], Away);
        let bias = c.param("bias", &[3], Uniform);
        let mean = c.param("mean", &[3], Uniform);
        let var = c.param("var", &[3], Between(0.5, 2.0));
        let y = c.node(BatchNormalization { epsilon: 1e-3, momentum: 0.9 }, &[x, scale, bias, mean, var]);
        c.check(&format!("BatchNormalization {shape:?}"), y);
    }
}

#[test]
fn reductions() {
    for kind in [ReduceKind::Sum, ReduceKind::Mean] {
        for keepdims in [true, false] {
            for axes in [vec![1], vec![0, 2], vec![-1], vec![]] {
                // The mean over a symbolic batch has no fixed count: ReduceMean's gradient refuses it.
                let batched = kind == ReduceKind::Sum || !(axes.contains(&0) || axes.is_empty());
                let mut c = Case::new(axes.len() as u64);
                let x = if batched { c.batched("x", &[2, 3, 4], Uniform) } else { c.input("x", &[2, 3, 4], Uniform) };
                let y = if kind == ReduceKind::Sum {
                    if axes.is_empty() {
                        c.node(Reduce { kind, axes: None, keepdims }, &[x])
                    } else {
                        let a = c.ints(&axes);
                        c.node(Reduce { kind, axes: None, keepdims }, &[x, a])
                    }
                } else {
                    c.node(Reduce { kind, axes: (!axes.is_empty()).then(|| axes.clone()), keepdims }, &[x])
                };
                c.check(&format!("Reduce{kind:?} axes {axes:?} keepdims={keepdims}"), y);
            }
        }
    }
    let mut c = Case::new(3);
    let x = c.batched("x", &[2, 3, 4], Uniform);
    let y = c.node(Reduce { kind: ReduceKind::Mean, axes: Some(vec![0]), keepdims: false }, &[x]);
    let loss = c.loss(y);
    let e = backward(&mut c.b, loss, &[x]).unwrap_err();
    assert!(e.to_string().contains("ReduceMean"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Windows.

struct ConvCase {
    what: &'static str,
    x: Vec<usize>,
    filters: usize,
    kernel: Vec<usize>,
    strides: Vec<usize>,
    dilations: Vec<usize>,
    pads: Vec<usize>,
    group: usize,
    bias: bool,
}

fn conv_case(seed: u64, k: &ConvCase) -> f64 {
    let mut c = Case::new(seed);
    let x = c.batched("x", &k.x, Uniform);
    let mut w_shape = vec![k.filters, k.x[1] / k.group];
    w_shape.extend(&k.kernel);
    let w = c.param("w", &w_shape, Uniform);
    let mut inputs = vec![x, w];
    if k.bias {
        inputs.push(c.param("b", &[k.filters], Uniform));
    }
    let op =
        Conv { kernel_shape: k.kernel.clone(), strides: k.strides.clone(), dilations: k.dilations.clone(), pads: k.pads.clone(), group: k.group };
    let y = c.node(op, &inputs);
    c.check(k.what, y)
}

#[test]
fn conv_2d() {
    let base = |what| ConvCase {
        what,
        x: vec![2, 3, 7, 7],
        filters: 4,
        kernel: vec![3, 3],
        strides: vec![1, 1],
        dilations: vec![1, 1],
        pads: vec![0; 4],
        group: 1,
        bias: true,
    };
    let cases = [
        base("Conv2D plain"),
        ConvCase { strides: vec![2, 2], pads: vec![1, 1, 1, 1], ..base("Conv2D stride 2, pads 1") },
        // TF "same" for 8 → 4 at stride 2 pads one cell, at the end only.
        ConvCase { x: vec![2, 3, 8, 8], strides: vec![2, 2], pads: vec![0, 0, 1, 1], ..base("Conv2D stride 2, same-style asymmetric pads") },
        // Windows that leave the last row and column of the input unread.
        ConvCase { x: vec![2, 3, 8, 8], strides: vec![2, 2], ..base("Conv2D stride 2, uncovered edge") },
        ConvCase { strides: vec![3, 2], pads: vec![2, 0, 0, 1], ..base("Conv2D strides (3, 2), uneven pads") },
        ConvCase { dilations: vec![2, 2], pads: vec![2, 2, 2, 2], ..base("Conv2D dilation 2") },
        ConvCase { x: vec![2, 4, 7, 7], filters: 6, group: 2, pads: vec![1, 0, 1, 0], ..base("Conv2D groups 2") },
        ConvCase {
            x: vec![2, 4, 9, 8],
            filters: 4,
            group: 2,
            strides: vec![2, 2],
            dilations: vec![2, 1],
            pads: vec![1, 1, 0, 1],
            ..base("Conv2D groups 2, stride 2, dilation 2")
        },
        ConvCase {
            x: vec![2, 3, 6, 7],
            filters: 6,
            group: 3,
            kernel: vec![2, 3],
            bias: false,
            ..base("Conv2D depthwise, rectangular kernel, no bias")
        },
        // Eight input channels or more take the weight gradient from patches.
        ConvCase { x: vec![2, 8, 7, 7], ..base("Conv2D 8 channels (patches)") },
        ConvCase { x: vec![2, 8, 8, 8], strides: vec![2, 2], pads: vec![0, 0, 1, 1], ..base("Conv2D 8 channels, stride 2, asymmetric pads") },
        ConvCase { x: vec![2, 9, 8, 8], strides: vec![2, 2], ..base("Conv2D 9 channels, stride 2, uncovered edge") },
        ConvCase {
            x: vec![2, 8, 7, 7],
            strides: vec![3, 2],
            pads: vec![2, 0, 0, 1],
            kernel: vec![2, 3],
            ..base("Conv2D 8 channels, strides (3, 2), uneven pads, rectangular kernel")
        },
        ConvCase { x: vec![2, 8, 7, 7], dilations: vec![2, 2], pads: vec![2, 2, 2, 2], ..base("Conv2D 8 channels, dilation 2") },
    ];
    for (seed, k) in cases.iter().enumerate() {
        conv_case(seed as u64, k);
    }
}

#[test]
fn conv_1d() {
    let base = |what| ConvCase {
        what,
        x: vec![2, 3, 11],
        filters: 4,
        kernel: vec![3],
        strides: vec![1],
        dilations: vec![1],
        pads: vec![0, 0],
        group: 1,
        bias: true,
    };
    let cases = [
        base("Conv1D plain"),
        ConvCase { strides: vec![2], pads: vec![1, 2], dilations: vec![2], ..base("Conv1D stride 2, dilation 2, pads (1, 2)") },
        ConvCase { x: vec![2, 4, 12], filters: 8, kernel: vec![5], strides: vec![2], pads: vec![1, 2], ..base("Conv1D stride 2, same padding") },
        ConvCase { x: vec![2, 6, 10], filters: 6, group: 3, dilations: vec![2], ..base("Conv1D groups 3, dilation 2") },
    ];
    for (seed, k) in cases.iter().enumerate() {
        conv_case(seed as u64 + 100, k);
    }
}

#[test]
fn conv_transpose() {
    for (seed, (x_shape, w_shape, strides, pads, output_padding, group)) in [
        (vec![2, 4, 4, 4], vec![4, 3, 3, 3], vec![2, 2], vec![1, 1, 1, 1], vec![1, 1], 1),
        (vec![2, 4, 3, 5], vec![4, 2, 2, 3], vec![1, 2], vec![0, 1, 1, 0], vec![0, 0], 2),
        (vec![2, 2, 6], vec![2, 3, 4], vec![3], vec![2, 1], vec![2], 1),
        (vec![2, 3, 4, 4], vec![3, 8, 3, 3], vec![2, 2], vec![1, 1, 1, 1], vec![1, 1], 1),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = Case::new(seed as u64);
        let x = c.batched("x", &x_shape, Uniform);
        let w = c.param("w", &w_shape, Uniform);
        let channels = w_shape[1] * group;
        let b = c.param("b", &[channels], Uniform);
        let rank = strides.len();
        let op =
            ConvTranspose { kernel_shape: w_shape[2..].to_vec(), strides: strides.clone(), dilations: vec![1; rank], pads, output_padding, group };
        let y = c.node(op, &[x, w, b]);
        c.check(&format!("ConvTranspose x{x_shape:?} w{w_shape:?} strides {strides:?} groups {group}"), y);
    }
}

fn pool_case(seed: u64, kind: PoolKind, x_shape: &[usize], kernel: &[usize], strides: &[usize], pads: &[usize], count_include_pad: bool) -> f64 {
    let mut c = Case::new(seed);
    let n = x_shape.iter().product();
    // Distinct values keep MaxPool away from ties.
    let values = if kind == PoolKind::Max { c.rng.distinct(n) } else { c.rng.uniform(n) };
    let x = c.batched("x", x_shape, Values(values));
    let op = Pool { kind, kernel_shape: kernel.to_vec(), strides: strides.to_vec(), pads: pads.to_vec(), count_include_pad };
    let y = c.node(op, &[x]);
    c.check(&format!("{kind:?}Pool x{x_shape:?} kernel {kernel:?} strides {strides:?} pads {pads:?} include_pad={count_include_pad}"), y)
}

#[test]
fn pools() {
    for kind in [PoolKind::Max, PoolKind::Average] {
        pool_case(1, kind, &[2, 3, 7, 7], &[3, 3], &[2, 2], &[0, 0, 0, 0], false);
        pool_case(2, kind, &[2, 3, 7, 7], &[3, 3], &[2, 2], &[1, 1, 1, 1], false);
        pool_case(3, kind, &[2, 2, 6, 6], &[2, 2], &[2, 2], &[0, 0, 0, 0], false);
        pool_case(4, kind, &[2, 2, 6, 7], &[2, 3], &[1, 2], &[1, 0, 0, 1], false);
        pool_case(5, kind, &[2, 3, 9], &[3], &[2], &[1, 1], false);
        // Tiled windows, as CNNs pool: 3x3 over 7x7 (a row and column left over), 2x3, and 5x5,
        // whose 25 cells take MaxPool's general path rather than the tiled one.
        pool_case(8, kind, &[2, 3, 7, 7], &[3, 3], &[3, 3], &[0, 0, 0, 0], false);
        pool_case(9, kind, &[2, 2, 6, 7], &[2, 3], &[2, 3], &[0, 0, 0, 0], false);
        pool_case(10, kind, &[1, 2, 10, 11], &[5, 5], &[5, 5], &[0, 0, 0, 0], false);
    }
    pool_case(6, PoolKind::Average, &[2, 3, 7, 7], &[3, 3], &[2, 2], &[1, 1, 1, 1], true);
    for shape in [vec![2, 3, 5, 5], vec![2, 3, 7]] {
        let mut c = Case::new(7);
        let x = c.batched("x", &shape, Uniform);
        let y = c.node(GlobalAveragePool, &[x]);
        c.check(&format!("GlobalAveragePool {shape:?}"), y);
    }
}

#[test]
fn max_pool_ties_go_to_the_first_cell() {
    // All equal: each window's gradient goes to its first cell only (row-major), so overlapping
    // windows add up where their first cells coincide.
    let mut c = Case::new(1);
    let x = c.input("x", &[1, 1, 3, 3], Values(vec![0.5; 9]));
    let y = c.node(Pool { kind: PoolKind::Max, kernel_shape: vec![2, 2], strides: vec![1, 1], pads: vec![0; 4], count_include_pad: false }, &[x]);
    let loss = c.loss(y);
    let r = c.b.graph.inputs[1];
    c.feeds.insert(r, Arr::new(vec![1, 1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]));
    let grads = backward(&mut c.b, loss, &[x]).unwrap();
    let env = run_graph(&c.b.graph, &c.feeds);
    assert_eq!(env[grads[0].0].as_ref().unwrap().data, vec![1.0, 2.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]);
}

#[test]
fn tiled_max_pool_ties_go_to_the_first_cell() {
    // Stride = kernel (the tiled path) on 5x5: windows cover 4x4, the last row and column get nothing.
    // Window (0,0) is all ties; window (0,1) has its maximum twice, in its second and fourth cells.
    let mut c = Case::new(1);
    #[rustfmt::skip]
    let values = vec![
        0.5, 0.5, 0.1, 0.9, 7.0,
        0.5, 0.5, 0.2, 0.9, 7.0,
        0.3, 0.1, 0.4, 0.2, 7.0,
        0.2, 0.6, 0.1, 0.3, 7.0,
        7.0, 7.0, 7.0, 7.0, 7.0,
    ];
    let x = c.input("x", &[1, 1, 5, 5], Values(values));
    let y = c.node(Pool { kind: PoolKind::Max, kernel_shape: vec![2, 2], strides: vec![2, 2], pads: vec![0; 4], count_include_pad: false }, &[x]);
    let loss = c.loss(y);
    let r = c.b.graph.inputs[1];
    c.feeds.insert(r, Arr::new(vec![1, 1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]));
    let grads = backward(&mut c.b, loss, &[x]).unwrap();
    let env = run_graph(&c.b.graph, &c.feeds);
    #[rustfmt::skip]
    let expected = vec![
        1.0, 0.0, 0.0, 2.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 4.0, 0.0, 0.0,
        0.0, 3.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0,
    ];
    assert_eq!(env[grads[0].0].as_ref().unwrap().data, expected);
}

// ---------------------------------------------------------------------------------------------
// The walk itself.

#[test]
fn fan_out_gradients_are_summed() {
    let mut c = Case::new(1);
    let x = c.input("x", &[3, 4], Uniform);
    let w = c.param("w", &[4, 2], Uniform);
    let square = c.node(Binary { kind: BinaryKind::Mul }, &[x, x]);
    let t = c.node(Unary::new(UnaryKind::Tanh), &[x]);
    let sum = c.node(Binary { kind: BinaryKind::Add }, &[square, t]);
    let y = c.node(MatMul, &[sum, w]);
    let z = c.node(MatMul, &[x, w]);
    let out = c.node(Binary { kind: BinaryKind::Sub }, &[y, z]);
    c.check("x·x + tanh(x) − x, x read four times and w twice", out);
}

/// A weight read by many products, as an unrolled recurrence reads its recurrent kernel: the terms
/// aₜᵀ·gₜ of its gradient are summed as one product of the stacked aₜ and gₜ (batch symbolic), and
/// the gradient still matches finite differences, with a term of another kind added to it.
#[test]
fn shared_weight_products_are_summed_as_one() {
    let mut c = Case::new(3);
    let w = c.param("w", &[3, 2], Uniform);
    let mut out = None;
    for t in 0..4 {
        let x = c.batched(&format!("x{t}"), &[2, 3], Uniform);
        let y = c.node(MatMul, &[x, w]);
        out = Some(match out {
            None => y,
            Some(prev) => c.node(Binary { kind: BinaryKind::Add }, &[prev, y]),
        });
    }
    let scaled = c.node(Binary { kind: BinaryKind::Mul }, &[w, w]);
    let total = c.node(Reduce { kind: ReduceKind::Sum, axes: None, keepdims: false }, &[scaled]);
    let out = c.node(Binary { kind: BinaryKind::Add }, &[out.unwrap(), total]);
    let mut probe = Builder::from_graph(c.b.graph.clone());
    let loss = probe.node1("loss", Arc::new(Reduce { kind: ReduceKind::Sum, axes: None, keepdims: false }), &[out]).unwrap();
    let grads = backward(&mut probe, loss, &[w]).unwrap();
    let graph = probe.graph.extract("probe", &probe.graph.inputs.clone(), &grads).unwrap();
    // The forward's own products are there too: the loss's gradient reads the output's shape.
    let products: Vec<&str> =
        graph.nodes.iter().filter(|n| n.op.op_type() == "MatMul" && n.name.contains("/grad")).map(|n| n.name.as_str()).collect();
    assert_eq!(products.len(), 1, "w's four product terms should be one MatMul: {products:?}");
    c.check("a weight read by four products and a square", out);
}

#[test]
fn fan_out_adds_a_sum_node() {
    let mut b = Builder::new("fan_out");
    let x = b.input("x", TensorType::f32(vec![Dim::Fixed(3)]));
    let square = b.node1("square", Arc::new(Binary { kind: BinaryKind::Mul }), &[x, x]).unwrap();
    let loss = b.node("loss", Arc::new(Reduce { kind: ReduceKind::Sum, axes: None, keepdims: false }), &[Some(square)]).unwrap()[0];
    let grads = backward(&mut b, loss, &[x]).unwrap();
    let producer = b.graph.nodes.iter().find(|n| n.outputs.contains(&grads[0])).unwrap();
    assert_eq!(producer.op.op_type(), "Add", "{}", producer.name);
    let mut feeds = HashMap::new();
    feeds.insert(x, Arr::new(vec![3], vec![1.0, -2.0, 0.5]));
    assert_eq!(run_graph(&b.graph, &feeds)[grads[0].0].as_ref().unwrap().data, vec![2.0, -4.0, 1.0]);
}

#[test]
fn ops_without_a_rule_are_named() {
    // ReduceMax has no rule.
    let mut c = Case::new(1);
    let x = c.input("x", &[3, 4], Uniform);
    let m = c.node(Reduce { kind: ReduceKind::Max, axes: Some(vec![1]), keepdims: false }, &[x]);
    let loss = c.loss(m);
    match backward(&mut c.b, loss, &[x]) {
        Err(AutodiffError::NoGradient { op, node, .. }) => {
            assert_eq!(op, "ReduceMax");
            assert!(node.starts_with("ReduceMax"), "{node}");
        }
        other => panic!("{other:?}"),
    }
    // Nor do the recurrent ops (unroll them first).
    let mut b = Builder::new("rnn");
    let x = b.input("x", TensorType::f32(vec![Dim::Fixed(2), Dim::batch(), Dim::Fixed(3)]));
    let w = b.param("W", Tensor::from_f32(vec![1, 4, 3], &[0.1; 12]), param_info());
    let r = b.param("R", Tensor::from_f32(vec![1, 4, 4], &[0.1; 16]), param_info());
    let op = Recurrent {
        kind: RecurrentKind::Rnn,
        hidden_size: 4,
        direction: onyx_compiler::ops::Direction::Forward,
        activations: vec!["Tanh".into()],
        linear_before_reset: false,
    };
    let outs = b.node("my_rnn", Arc::new(op), &[Some(x), Some(w), Some(r)]).unwrap();
    let loss = b.node("loss", Arc::new(Reduce { kind: ReduceKind::Sum, axes: None, keepdims: false }), &[Some(outs[0])]).unwrap()[0];
    let e = backward(&mut b, loss, &[w, r]).unwrap_err();
    assert!(matches!(&e, AutodiffError::NoGradient { op, node, .. } if op == "RNN" && node == "my_rnn"), "{e:?}");
    assert!(e.to_string().contains("my_rnn") && e.to_string().contains("RNN"), "{e}");
    // ArgMax's output is an integer: nothing flows back through it, so a parameter only it reads
    // does not affect the loss.
    let mut c = Case::new(2);
    let x = c.input("x", &[3, 4], Uniform);
    let am = c.node(ArgMax { axis: 1, keepdims: false }, &[x]);
    let f = c.node(Cast { to: DType::F32 }, &[am]);
    let loss = c.loss(f);
    assert!(matches!(backward(&mut c.b, loss, &[x]), Err(AutodiffError::Unreachable(name)) if name == "x"));
}

// ---------------------------------------------------------------------------------------------
// The example models.

#[test]
fn model_gradients_match_finite_differences() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut paths: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    let mut checked = vec![];
    for (seed, path) in paths.iter().enumerate() {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let mut graph = onyx_compiler::compile_file(path).unwrap_or_else(|e| panic!("{name}: {e}")).graph;
        // The recurrent ops have no rule; their unrolled form is made of ops that do.
        unroll_recurrent(&mut graph, false).unwrap();
        let mut c = Case::new(seed as u64 + 1);
        let inputs = graph.inputs.clone();
        let output = graph.outputs[0];
        c.b = Builder::from_graph(graph);
        for id in inputs {
            let ty = c.b.ty(id).clone();
            let shape: Vec<usize> = ty.shape.iter().map(|d| d.fixed().unwrap_or(2)).collect();
            let n = shape.iter().product();
            let values = if ty.dtype.is_float() { c.rng.uniform(n) } else { (0..n).map(|_| c.rng.below(10) as f64).collect() };
            c.feeds.insert(id, Arr::new(shape, values));
        }
        c.wrt = c.b.graph.params().filter(|(_, _, p)| p.trainable).map(|(id, _, _)| id).collect();
        let mut ops: Vec<&str> = c.b.graph.nodes.iter().map(|n| n.op.op_type()).collect();
        ops.sort();
        ops.dedup();
        let worst = c.check_some(&format!("model {name} ({})", ops.join(", ")), output, 3);
        checked.push((name, worst));
    }
    let names: Vec<&str> = checked.iter().map(|(n, _)| n.as_str()).collect();
    for expected in
        ["conv1d_rnn", "gru_classifier", "he_mlp", "linear_regression", "logistic_regression", "lstm_forecast", "mnist_cnn", "resnet_small"]
    {
        assert!(names.contains(&expected), "{expected} was not checked: {names:?}");
    }
}

/// The recurrent layers' training form (what training graphs differentiate) on short sequences:
/// LSTM, GRU and SimpleRNN, tanh and relu, return_sequences off and on, and two stacked layers.
#[test]
fn recurrent_training_forms_match_finite_differences() {
    use onyx_compiler::passes::unroll_recurrent_for_training;
    let layer = |kind: &str, activation: &str, sequences: bool| {
        format!("[[layer]]\nkind = \"{kind}\"\nunits = 3\nactivation = \"{activation}\"\nreturn_sequences = {sequences}\n\n")
    };
    let mut seed = 40;
    for kind in ["lstm", "gru", "simple_rnn"] {
        let mut cases = vec![];
        for activation in ["tanh", "relu"] {
            for sequences in [false, true] {
                cases.push((format!("{kind} {activation} return_sequences={sequences}"), layer(kind, activation, sequences)));
            }
        }
        cases.push((format!("{kind} stacked"), layer(kind, "tanh", true) + &layer(kind, "relu", false)));
        for (what, layers) in cases {
            seed += 1;
            let text = format!("[model]\nname = \"rnn\"\ninput = {{ name = \"x\", shape = [4, 2] }}\nseed = {seed}\n\n{layers}");
            let spec = onyx_compiler::Spec::parse(Path::new("inline.toml"), text).unwrap_or_else(|e| panic!("{what}: {e}"));
            let mut graph = onyx_compiler::compile(&spec).unwrap().graph;
            assert!(unroll_recurrent_for_training(&mut graph).unwrap() >= 1, "{what}");
            let mut c = Case::new(seed);
            let (input, output) = (graph.inputs[0], graph.outputs[0]);
            c.b = Builder::from_graph(graph);
            let values = c.rng.uniform(2 * 4 * 2);
            c.feeds.insert(input, Arr::new(vec![2, 4, 2], values));
            c.wrt = c.b.graph.params().filter(|(_, _, p)| p.trainable).map(|(id, _, _)| id).collect();
            c.wrt.push(input);
            c.check_some(&format!("training form of {what}"), output, 12);
        }
    }
}

/// Training graphs pool before the Relu (`passes::pool_before_relu`): the same values as Relu then
/// MaxPool, exactly, and the gradient of the swapped pair matches finite differences, overlapping
/// and padded windows included.
#[test]
fn pooling_before_relu_changes_nothing() {
    for (seed, (kernel, strides, pads)) in [(vec![2, 2], vec![2, 2], vec![0; 4]), (vec![3, 3], vec![2, 2], vec![1, 1, 1, 1])].into_iter().enumerate()
    {
        let mut c = Case::new(70 + seed as u64);
        let values = c.rng.distinct(2 * 3 * 7 * 7);
        // Centred on zero, so many windows are all negative and Relu's zeros tie.
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let x = c.batched("x", &[2, 3, 7, 7], Values(values.iter().map(|v| v - mean).collect()));
        let r = c.node(Unary::new(UnaryKind::Relu), &[x]);
        let y = c.node(
            Pool { kind: PoolKind::Max, kernel_shape: kernel.clone(), strides: strides.clone(), pads: pads.clone(), count_include_pad: false },
            &[r],
        );
        let before = run_graph(&c.b.graph, &c.feeds)[y.0].clone().unwrap();
        assert_eq!(onyx_compiler::passes::pool_before_relu(&mut c.b.graph), 1);
        let ops: Vec<&str> = c.b.graph.nodes.iter().map(|n| n.op.op_type()).collect();
        assert_eq!(ops, ["MaxPool", "Relu"]);
        let after = run_graph(&c.b.graph, &c.feeds)[y.0].clone().unwrap();
        assert_eq!(before.shape, after.shape);
        assert_eq!(before.data, after.data);
        assert!(before.data.iter().filter(|&&v| v == 0.0).count() > 0, "some windows are all negative");
        c.check(&format!("MaxPool then Relu, kernel {kernel:?} strides {strides:?} pads {pads:?}"), y);
    }
}

/// Training graphs compute a conv read by a tiling MaxPool as the maximum of strided convs
/// (`passes::pool_by_strided_convs`): the same values, and a gradient that matches finite
/// differences, with strides, padding, 3x3 pooling and sizes the windows do not divide.
#[test]
fn pooling_by_strided_convs_changes_nothing() {
    /// (input [N, C, H, W], filters, kernel, strides, pads, dilations, group, pool)
    type ConvPool = ([usize; 4], usize, usize, usize, usize, usize, usize, usize);
    let cases: [ConvPool; 5] = [
        ([2, 1, 8, 8], 3, 3, 1, 0, 1, 1, 2),
        ([2, 3, 9, 8], 4, 3, 2, 1, 1, 1, 2),
        ([1, 2, 11, 10], 2, 2, 1, 0, 1, 1, 3),
        ([2, 4, 7, 9], 3, 3, 1, 1, 1, 1, 2),
        ([1, 2, 13, 12], 2, 3, 2, 1, 1, 1, 3),
    ];
    for (seed, (shape, filters, k, s, p, d, group, q)) in cases.into_iter().enumerate() {
        let what = format!("conv {shape:?} kernel {k} stride {s} pad {p} dilation {d} group {group}, pool {q}");
        let mut c = Case::new(90 + seed as u64);
        let x = c.batched("x", &shape, Uniform);
        let w = c.param("w", &[filters, shape[1] / group, k, k], Uniform);
        let bias = c.param("b", &[filters], Uniform);
        let conv = Conv { kernel_shape: vec![k, k], strides: vec![s, s], dilations: vec![d, d], pads: vec![p; 4], group };
        let z = c.node(conv, &[x, w, bias]);
        let y = c.node(Pool { kind: PoolKind::Max, kernel_shape: vec![q, q], strides: vec![q, q], pads: vec![0; 4], count_include_pad: false }, &[z]);
        c.b.graph.outputs.push(y);
        let before = run_graph(&c.b.graph, &c.feeds)[y.0].clone().unwrap();
        assert_eq!(onyx_compiler::passes::pool_by_strided_convs(&mut c.b.graph).unwrap(), 1, "{what}");
        assert!(c.b.graph.nodes.iter().all(|n| n.op.op_type() != "MaxPool"), "{what}");
        let after = run_graph(&c.b.graph, &c.feeds)[y.0].clone().unwrap();
        assert_eq!(before.shape, after.shape, "{what}");
        let worst = before.data.iter().zip(&after.data).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-12, "{what}: values differ by {worst}");
        c.b.graph.outputs.clear();
        c.check(&format!("strided convs for {what}"), y);
    }
}

/// Where a window's cells tie, MaxPool's gradient goes to its first cell; the sub-grids' Max gives
/// it to the first sub-grid, the same cell. A constant image makes every window a tie.
#[test]
fn strided_convs_give_ties_to_the_first_cell() {
    let grads = |rewrite: bool| {
        let mut c = Case::new(7);
        let x = c.batched("x", &[1, 1, 6, 6], Values(vec![0.5; 36]));
        let w = c.param("w", &[2, 1, 3, 3], Uniform);
        let z = c.node(Conv { kernel_shape: vec![3, 3], strides: vec![1, 1], dilations: vec![1, 1], pads: vec![0; 4], group: 1 }, &[x, w]);
        let y = c.node(Pool { kind: PoolKind::Max, kernel_shape: vec![2, 2], strides: vec![2, 2], pads: vec![0; 4], count_include_pad: false }, &[z]);
        if rewrite {
            c.b.graph.outputs.push(y);
            assert_eq!(onyx_compiler::passes::pool_by_strided_convs(&mut c.b.graph).unwrap(), 1);
            c.b.graph.outputs.clear();
        }
        let loss = c.loss(y);
        let wrt = c.wrt.clone();
        let g = backward(&mut c.b, loss, &wrt).unwrap();
        let env = run_graph(&c.b.graph, &c.feeds);
        g.iter().map(|id| env[id.0].clone().unwrap().data).collect::<Vec<_>>()
    };
    let (pooled, strided) = (grads(false), grads(true));
    // The input's gradient shows where each window's gradient went: only the first cells' patches.
    assert!(pooled[0].contains(&0.0));
    for (a, b) in pooled.iter().zip(&strided) {
        for (u, v) in a.iter().zip(b) {
            assert!((u - v).abs() <= 1e-12 * u.abs().max(1.0), "{u} against {v}");
        }
    }
}

/// A conv reading 8 channels or more keeps its MaxPool (the larger kernel would multiply a wide
/// conv's work), and so do dilated and grouped convs, whose kernels do not embed by padding.
#[test]
fn wide_dilated_and_grouped_convs_keep_their_pooling() {
    // (channels, dilation, group)
    for (channels, dilation, group) in [(8, 1, 1), (2, 2, 1), (2, 1, 2)] {
        let mut c = Case::new(3);
        let x = c.batched("x", &[1, channels, 8, 8], Uniform);
        let w = c.param("w", &[2, channels / group, 3, 3], Uniform);
        let conv = Conv { kernel_shape: vec![3, 3], strides: vec![1, 1], dilations: vec![dilation; 2], pads: vec![0; 4], group };
        let z = c.node(conv, &[x, w]);
        let y = c.node(Pool { kind: PoolKind::Max, kernel_shape: vec![2, 2], strides: vec![2, 2], pads: vec![0; 4], count_include_pad: false }, &[z]);
        c.b.graph.outputs.push(y);
        assert_eq!(
            onyx_compiler::passes::pool_by_strided_convs(&mut c.b.graph).unwrap(),
            0,
            "{channels} channels, dilation {dilation}, group {group}"
        );
    }
}

/// Training graphs cut a conv read by a pooling that leaves its last rows or columns unread down to
/// the outputs the windows read (`passes::crop_unread`): the same pooled values, and a gradient
/// that matches finite differences, with strides, padding (the cut reaching into the end padding or
/// stopping inside the input), dilation, groups, average pooling and a 1-D conv.
#[test]
fn cropping_convs_to_their_pooled_outputs_changes_nothing() {
    // (input [N, C, spatial...], filters, kernel, strides, pads, dilations, group, pool kind, pool, pool stride)
    type Case5 = (&'static [usize], usize, usize, usize, usize, usize, usize, PoolKind, usize, usize);
    let cases: [Case5; 7] = [
        (&[2, 3, 13, 13], 4, 3, 1, 0, 1, 1, PoolKind::Max, 2, 2),
        (&[2, 2, 10, 9], 3, 3, 2, 1, 1, 1, PoolKind::Max, 2, 2),
        (&[1, 2, 12, 11], 2, 3, 1, 2, 1, 1, PoolKind::Max, 2, 2),
        (&[2, 4, 12, 13], 4, 3, 1, 1, 2, 2, PoolKind::Average, 3, 2),
        (&[1, 2, 11, 12], 3, 2, 1, 0, 1, 1, PoolKind::Average, 3, 3),
        (&[2, 3, 15], 2, 3, 1, 1, 1, 1, PoolKind::Max, 2, 2),
        (&[1, 2, 9, 9], 2, 3, 2, 3, 1, 1, PoolKind::Max, 2, 2),
    ];
    for (seed, (shape, filters, k, s, p, d, group, kind, q, qs)) in cases.into_iter().enumerate() {
        let rank = shape.len() - 2;
        let what = format!("conv {shape:?} kernel {k} stride {s} pad {p} dilation {d} group {group}, {kind:?} pool {q} stride {qs}");
        let mut c = Case::new(120 + seed as u64);
        let x = c.batched("x", shape, Uniform);
        let w = c.param("w", &[&[filters, shape[1] / group][..], &vec![k; rank]].concat(), Uniform);
        let bias = c.param("b", &[filters], Uniform);
        let conv = Conv { kernel_shape: vec![k; rank], strides: vec![s; rank], dilations: vec![d; rank], pads: vec![p; 2 * rank], group };
        let z = c.node(conv, &[x, w, bias]);
        let pool = Pool { kind, kernel_shape: vec![q; rank], strides: vec![qs; rank], pads: vec![0; 2 * rank], count_include_pad: false };
        let y = c.node(pool, &[z]);
        c.b.graph.outputs.push(y);
        let before = run_graph(&c.b.graph, &c.feeds)[y.0].clone().unwrap();
        let full: usize = c.b.graph.value(z).ty.shape.iter().filter_map(|d| d.fixed()).product();
        assert_eq!(onyx_compiler::passes::crop_unread(&mut c.b.graph).unwrap(), 1, "{what}");
        let conv = c.b.graph.nodes.iter().find(|n| n.op.op_type() == "Conv").unwrap();
        let cropped: usize = c.b.graph.value(conv.outputs[0]).ty.shape.iter().filter_map(|d| d.fixed()).product();
        assert!(cropped < full, "{what}: the conv still makes {cropped} outputs of {full}");
        let after = run_graph(&c.b.graph, &c.feeds)[y.0].clone().unwrap();
        assert_eq!(before.shape, after.shape, "{what}");
        let worst = before.data.iter().zip(&after.data).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-12, "{what}: values differ by {worst}");
        c.b.graph.outputs.clear();
        c.check(&format!("cropped conv for {what}"), y);
    }
}

/// In an image model's chain (conv, Relu, pool, conv, Relu, pool, as mnist_cnn), the rows the last
/// pool leaves unread go back through every op to the image: each window op makes only what the
/// next reads, the image is cut, and the sub-grid pass then applies to the cropped first conv. The
/// same pooled values, and a gradient that matches finite differences.
#[test]
fn cropping_follows_what_is_read_back_to_the_image() {
    let mut c = Case::new(140);
    let x = c.batched("x", &[2, 1, 12, 12], Uniform);
    let w1 = c.param("w1", &[3, 1, 3, 3], Uniform);
    let b1 = c.param("b1", &[3], Uniform);
    let w2 = c.param("w2", &[2, 3, 3, 3], Uniform);
    let conv = || Conv { kernel_shape: vec![3, 3], strides: vec![1, 1], dilations: vec![1, 1], pads: vec![0; 4], group: 1 };
    let pool = || Pool { kind: PoolKind::Max, kernel_shape: vec![2, 2], strides: vec![2, 2], pads: vec![0; 4], count_include_pad: false };
    // 12 → 10 → 5 → 3 → 1: the last pool reads 2 of 3 rows, so the second conv needs 4 of 5, the
    // first pool 8 of 10 and the first conv 10 of 12.
    let z1 = c.node(conv(), &[x, w1, b1]);
    let r1 = c.node(Unary::new(UnaryKind::Relu), &[z1]);
    let p1 = c.node(pool(), &[r1]);
    let z2 = c.node(conv(), &[p1, w2]);
    let r2 = c.node(Unary::new(UnaryKind::Relu), &[z2]);
    let y = c.node(pool(), &[r2]);
    c.b.graph.outputs.push(y);
    let before = run_graph(&c.b.graph, &c.feeds)[y.0].clone().unwrap();
    assert_eq!(onyx_compiler::passes::pool_before_relu(&mut c.b.graph), 2);
    assert_eq!(onyx_compiler::passes::crop_unread(&mut c.b.graph).unwrap(), 3);
    // Channels and spatial sizes (the batch is a symbol).
    let sizes: Vec<(&str, Vec<usize>)> =
        c.b.graph.nodes.iter().map(|n| (n.op.op_type(), c.b.graph.value(n.outputs[0]).ty.shape.iter().filter_map(|d| d.fixed()).collect())).collect();
    let expected: [(&str, &[usize]); 7] = [
        ("Slice", &[1, 10, 10]),
        ("Conv", &[3, 8, 8]),
        ("MaxPool", &[3, 4, 4]),
        ("Relu", &[3, 4, 4]),
        ("Conv", &[2, 2, 2]),
        ("MaxPool", &[2, 1, 1]),
        ("Relu", &[2, 1, 1]),
    ];
    assert_eq!(sizes.len(), expected.len(), "{sizes:?}");
    for ((op, shape), (want_op, want_shape)) in sizes.iter().zip(expected) {
        assert_eq!((*op, &shape[..]), (want_op, want_shape), "{sizes:?}");
    }
    // Both convs are thin enough for sub-grids.
    assert_eq!(onyx_compiler::passes::pool_by_strided_convs(&mut c.b.graph).unwrap(), 2);
    let after = run_graph(&c.b.graph, &c.feeds)[y.0].clone().unwrap();
    assert_eq!(before.shape, after.shape);
    let worst = before.data.iter().zip(&after.data).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-12, "values differ by {worst}");
    c.b.graph.outputs.clear();
    c.check("the cropped chain", y);
}

/// A conv whose pooling reads every output, or which other nodes read too, is left as it is.
#[test]
fn convs_whose_outputs_are_all_read_are_not_cropped() {
    for (size, extra_reader) in [(12, false), (13, true)] {
        let mut c = Case::new(4);
        let x = c.batched("x", &[1, 2, size, size], Uniform);
        let w = c.param("w", &[2, 2, 3, 3], Uniform);
        let z = c.node(Conv { kernel_shape: vec![3, 3], strides: vec![1, 1], dilations: vec![1, 1], pads: vec![0; 4], group: 1 }, &[x, w]);
        let y = c.node(Pool { kind: PoolKind::Max, kernel_shape: vec![2, 2], strides: vec![2, 2], pads: vec![0; 4], count_include_pad: false }, &[z]);
        c.b.graph.outputs.push(y);
        if extra_reader {
            c.b.graph.outputs.push(z);
        }
        assert_eq!(onyx_compiler::passes::crop_unread(&mut c.b.graph).unwrap(), 0, "size {size}, read elsewhere: {extra_reader}");
    }
}

// ---------------------------------------------------------------------------------------------
// The ops imported models bring: element-wise ops of opset 17, normalizations, repetition.

#[test]
fn every_further_element_wise_op() {
    use onyx_compiler::ops::DropoutWithMask;
    let kinds = [
        (Unary::new(UnaryKind::Ceil), "fraction"),
        (Unary::new(UnaryKind::Round), "fraction"),
        (Unary::new(UnaryKind::Reciprocal), "away"),
        (Unary::new(UnaryKind::Sin), "wide"),
        (Unary::new(UnaryKind::Tan), "uniform"),
        (Unary::new(UnaryKind::Asin), "inside"),
        (Unary::new(UnaryKind::Acos), "inside"),
        (Unary::new(UnaryKind::Atan), "wide"),
        (Unary::new(UnaryKind::Sinh), "wide"),
        (Unary::new(UnaryKind::Cosh), "wide"),
        (Unary::new(UnaryKind::Asinh), "wide"),
        (Unary::new(UnaryKind::Acosh), "above one"),
        (Unary::new(UnaryKind::Atanh), "inside"),
        (Unary::new(UnaryKind::Softplus), "wide"),
        (Unary::new(UnaryKind::Softsign), "away"),
        (Unary::new(UnaryKind::Celu), "away"),
        (Unary::with_alpha(UnaryKind::Celu, 0.7), "away"),
        (Unary::new(UnaryKind::Selu), "away"),
        (Unary::with_params(UnaryKind::Selu, 1.5, 0.9), "away"),
        (Unary::with_alpha(UnaryKind::ThresholdedRelu, 0.1), "away"),
        (Unary::new(UnaryKind::HardSigmoid), "wide"),
        (Unary::with_params(UnaryKind::HardSigmoid, 0.5, 0.4), "wide"),
        (Unary::new(UnaryKind::HardSwish), "very wide"),
        (Unary::with_params(UnaryKind::Shrink, 0.2, 0.1), "away"),
    ];
    for (seed, (op, values)) in kinds.into_iter().enumerate() {
        let mut c = Case::new(seed as u64);
        let v = match values {
            "away" => c.rng.away(12),
            "inside" => c.rng.between(12, -0.8, 0.8),
            "above one" => c.rng.between(12, 1.2, 3.0),
            "wide" => c.rng.uniform(12).into_iter().map(|v| 2.5 * v).collect(),
            "very wide" => c.rng.uniform(12).into_iter().map(|v| 4.5 * v).collect(),
            "fraction" => c.rng.between(12, -2.0, 2.0).into_iter().map(|v: f64| v.floor() + 0.1 + 0.3 * (v - v.floor())).collect(),
            _ => c.rng.uniform(12),
        };
        let x = c.batched("x", &[3, 4], Values(v));
        let what = format!("{op:?}");
        let y = c.node(op, &[x]);
        c.check(&what, y);
    }
    // Dropout with its mask: the identity on its first output.
    let mut c = Case::new(98);
    let x = c.input("x", &[3, 4], Uniform);
    let y = c.node(DropoutWithMask, &[x]);
    c.check("Dropout with mask", y);
}

#[test]
fn min_prelu_and_mod() {
    for (seed, (sa, sb)) in
        [(vec![3, 4], vec![3, 4]), (vec![3, 4], vec![4]), (vec![2, 3, 4], vec![3, 1]), (vec![3, 4], vec![])].into_iter().enumerate()
    {
        let mut c = Case::new(seed as u64);
        let (na, nb) = (sa.iter().product(), sb.iter().product());
        let (va, vb) = (c.rng.uniform(na), c.rng.uniform(nb));
        let a = c.input("a", &sa, Values(va));
        let b = c.param("b", &sb, Values(vb));
        let y = c.node(Binary { kind: BinaryKind::Min }, &[a, b]);
        c.check(&format!("Min {sa:?} and {sb:?}"), y);

        let mut c = Case::new(seed as u64 + 10);
        let va = c.rng.away(na);
        // A slope of x's rank would meet the symbolic batch.
        let x = if sb.len() < sa.len() { c.batched("x", &sa, Values(va)) } else { c.input("x", &sa, Values(va)) };
        let slope = c.param("slope", &sb, Uniform);
        let y = c.node(Binary { kind: BinaryKind::PRelu }, &[x, slope]);
        c.check(&format!("PRelu {sa:?} slope {sb:?}"), y);

        let mut c = Case::new(seed as u64 + 20);
        let va: Vec<f64> = c.rng.uniform(na).into_iter().map(|v| 3.0 * v).collect();
        let vb: Vec<f64> = c.rng.between(nb, 0.7, 1.3).into_iter().map(|v| if c.rng.next() < 0.0 { -v } else { v }).collect();
        let a = c.input("a", &sa, Values(va));
        let b = c.param("b", &sb, Values(vb));
        let y = c.node(onyx_compiler::ops::Mod { fmod: true }, &[a, b]);
        c.check(&format!("Mod (fmod) {sa:?} and {sb:?}"), y);
    }
}

#[test]
fn further_reductions() {
    for kind in [ReduceKind::Prod, ReduceKind::L1, ReduceKind::L2, ReduceKind::SumSquare, ReduceKind::LogSum, ReduceKind::LogSumExp] {
        for keepdims in [true, false] {
            for axes in [vec![1], vec![-1, 1], vec![]] {
                let mut c = Case::new(axes.len() as u64 + 3 * keepdims as u64);
                let fill = match kind {
                    ReduceKind::LogSum => Between(0.3, 1.5),
                    ReduceKind::L1 | ReduceKind::Prod | ReduceKind::L2 => Away,
                    _ => Uniform,
                };
                let x = if axes.is_empty() { c.input("x", &[2, 3, 4], fill) } else { c.batched("x", &[2, 3, 4], fill) };
                let y = c.node(Reduce { kind, axes: (!axes.is_empty()).then(|| axes.clone()), keepdims }, &[x]);
                c.check(&format!("Reduce{kind:?} axes {axes:?} keepdims={keepdims}"), y);
            }
        }
    }
}

#[test]
fn lrn_across_channels() {
    use onyx_compiler::ops::Lrn;
    for (seed, (shape, size)) in [(vec![2, 5, 2, 3], 3), (vec![2, 6, 3], 4), (vec![1, 3, 2, 2], 5), (vec![2, 4, 2, 2], 1)].into_iter().enumerate() {
        let mut c = Case::new(seed as u64);
        let x = c.batched("x", &shape, Uniform);
        // A large alpha, so that the neighbours' term is not lost next to the bias.
        let y = c.node(Lrn { size, alpha: 0.8, beta: 0.75, bias: 1.5 }, &[x]);
        c.check(&format!("LRN {shape:?} size {size}"), y);
    }
}

#[test]
fn layer_and_instance_normalization() {
    use onyx_compiler::ops::{InstanceNormalization, LayerNormalization};
    for (seed, (axis, scale_shape, bias)) in
        [(-1, vec![4], true), (1, vec![3, 4], true), (-2, vec![1, 4], false), (2, vec![4], true)].into_iter().enumerate()
    {
        let mut c = Case::new(seed as u64);
        let x = c.batched("x", &[2, 3, 4], Uniform);
        let scale = c.param("scale", &scale_shape, Away);
        let mut inputs = vec![x, scale];
        if bias {
            inputs.push(c.param("bias", &scale_shape, Uniform));
        }
        let y = c.node(LayerNormalization { axis, epsilon: 1e-3, statistics: false }, &inputs);
        c.check(&format!("LayerNormalization axis {axis} scale {scale_shape:?} bias {bias}"), y);
    }
    for (seed, shape) in [vec![2, 3, 2, 2], vec![2, 3, 5]].into_iter().enumerate() {
        let mut c = Case::new(seed as u64);
        let x = c.batched("x", &shape, Uniform);
        let scale = c.param("scale", &[3], Away);
        let bias = c.param("bias", &[3], Uniform);
        let y = c.node(InstanceNormalization { epsilon: 1e-3 }, &[x, scale, bias]);
        c.check(&format!("InstanceNormalization {shape:?}"), y);
    }
}

#[test]
fn expand_tile_and_cumsum() {
    use onyx_compiler::ops::{CumSum, Expand, Tile};
    for (seed, (from, to)) in [(vec![3, 1], vec![2, 3, 4]), (vec![4], vec![3, 4]), (vec![2, 1, 4], vec![2, 3, 1])].into_iter().enumerate() {
        let mut c = Case::new(seed as u64);
        let x = c.input("x", &from, Uniform);
        let shape = c.ints(&to.iter().map(|&d| d as i64).collect::<Vec<_>>());
        let y = c.node(Expand, &[x, shape]);
        c.check(&format!("Expand {from:?} to {to:?}"), y);
    }
    for (seed, (batched, shape, repeats)) in
        [(false, vec![2, 3], vec![2, 1]), (true, vec![2, 3], vec![1, 3]), (true, vec![2, 3, 2], vec![2, 2, 1]), (false, vec![3], vec![1])]
            .into_iter()
            .enumerate()
    {
        let mut c = Case::new(seed as u64);
        let x = if batched { c.batched("x", &shape, Uniform) } else { c.input("x", &shape, Uniform) };
        let r = c.ints(&repeats);
        let y = c.node(Tile, &[x, r]);
        c.check(&format!("Tile {shape:?} by {repeats:?}{}", if batched { " with a symbolic batch" } else { "" }), y);
    }
    for (seed, (axis, exclusive, reverse)) in [(1, false, false), (1, true, false), (-1, false, true), (0, true, true)].into_iter().enumerate() {
        let mut c = Case::new(seed as u64);
        let x = c.input("x", &[3, 4], Uniform);
        let a = c.b.constant("axis", Tensor::from_i64(vec![], &[axis]));
        let y = c.node(CumSum { exclusive, reverse }, &[x, a]);
        c.check(&format!("CumSum axis {axis} exclusive {exclusive} reverse {reverse}"), y);
    }
}

#[test]
fn global_max_pool() {
    use onyx_compiler::ops::GlobalMaxPool;
    for (seed, shape) in [vec![2, 3, 2, 2], vec![2, 3, 5]].into_iter().enumerate() {
        let mut c = Case::new(seed as u64);
        let n = shape.iter().product();
        let v = c.rng.distinct(n);
        let x = c.batched("x", &shape, Values(v));
        let y = c.node(GlobalMaxPool, &[x]);
        c.check(&format!("GlobalMaxPool {shape:?}"), y);
    }
    // Ties: the first largest cell takes it all.
    let mut c = Case::new(5);
    let x = c.input("x", &[1, 1, 2, 2], Values(vec![0.5, 0.9, 0.9, 0.1]));
    let y = c.node(GlobalMaxPool, &[x]);
    let loss = c.node(Reduce { kind: ReduceKind::Sum, axes: None, keepdims: false }, &[y]);
    let g = backward(&mut c.b, loss, &[x]).unwrap();
    let env = run_graph(&c.b.graph, &c.feeds);
    assert_eq!(env[g[0].0].as_ref().unwrap().data, vec![0.0, 1.0, 0.0, 0.0]);
}

#[test]
fn boolean_and_integer_results_take_no_gradient() {
    use onyx_compiler::ops::{Compare, CompareKind};
    // ReduceMin has no rule, like ReduceMax.
    let mut c = Case::new(1);
    let x = c.input("x", &[3, 4], Uniform);
    let m = c.node(Reduce { kind: ReduceKind::Min, axes: Some(vec![1]), keepdims: false }, &[x]);
    let loss = c.loss(m);
    assert!(matches!(backward(&mut c.b, loss, &[x]), Err(AutodiffError::NoGradient { op, .. }) if op == "ReduceMin"));
    // A comparison's boolean result passes nothing back: x reaches the loss only through it.
    let mut c = Case::new(2);
    let x = c.input("x", &[3, 4], Uniform);
    let zero = c.b.constant("zero", Tensor::scalar_f32(0.0));
    let ge = c.node(Compare { kind: CompareKind::GreaterOrEqual }, &[x, zero]);
    let f = c.node(Cast { to: DType::F32 }, &[ge]);
    let loss = c.loss(f);
    assert!(matches!(backward(&mut c.b, loss, &[x]), Err(AutodiffError::Unreachable(name)) if name == "x"));
}
