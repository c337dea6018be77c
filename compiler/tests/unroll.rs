//! The unrolled LSTM / GRU / RNN against the ONNX spec's equations, in numbers.
//!
//! No ONNX engine is reachable from the compiler's tests: the unrolled graph runs on the shared f64
//! interpreter (`support::interp`) and must agree to 1e-6 with a direct implementation of the
//! recurrences written here from the operator spec's text.
mod support;

use std::sync::Arc;

use onyx_compiler::builder::Builder;
use onyx_compiler::ir::{DType, Dim, Graph, ParamInfo, Tensor, TensorType, ValueId};
use onyx_compiler::ops::{Direction, Recurrent, RecurrentKind, Squeeze};
use onyx_compiler::passes::{PassError, for_tract, unroll_recurrent, unroll_recurrent_for_training};
use onyx_compiler::{import, to_onnx};
use support::interp::{Arr, run};

const T: usize = 5;
const N: usize = 3;
const F: usize = 4;
const U: usize = 6;

// ---------------------------------------------------------------------------------------------
// The recurrences, written from the ONNX operator spec (forward direction, zero initial state).

fn act(name: &str, v: f64) -> f64 {
    match name {
        "Sigmoid" => 1.0 / (1.0 + (-v).exp()),
        "Tanh" => v.tanh(),
        "Relu" => v.max(0.0),
        other => panic!("{other}"),
    }
}

struct Weights {
    /// W[0]: (gates·U) × F, R[0]: (gates·U) × U, B[0]: 2·gates·U, all row-major.
    w: Vec<f64>,
    r: Vec<f64>,
    b: Vec<f64>,
}

impl Weights {
    /// Row `row` of W times x, plus Wb[row].
    fn xw(&self, row: usize, x: &[f64]) -> f64 {
        (0..F).map(|k| self.w[row * F + k] * x[k]).sum::<f64>() + self.b[row]
    }

    /// Row `row` of R times h, plus Rb[row].
    fn hr(&self, gates: usize, row: usize, h: &[f64]) -> f64 {
        (0..U).map(|k| self.r[row * U + k] * h[k]).sum::<f64>() + self.b[gates * U + row]
    }
}

/// Y as [t][n][j], and the final C for LSTM.
fn reference(kind: RecurrentKind, acts: &[&str], linear_before_reset: bool, x: &Arr, wt: &Weights) -> (Vec<Vec<Vec<f64>>>, Vec<Vec<f64>>) {
    let mut h = vec![vec![0.0; U]; N];
    let mut c = vec![vec![0.0; U]; N];
    let mut ys = vec![];
    for t in 0..T {
        for n in 0..N {
            let xt: Vec<f64> = (0..F).map(|k| x.at(&[t, n, k])).collect();
            let hp = h[n].clone();
            match kind {
                RecurrentKind::Rnn => {
                    // Ht = f(Xt*(Wi^T) + Ht-1*(Ri^T) + Wbi + Rbi)
                    h[n] = (0..U).map(|j| act(acts[0], wt.xw(j, &xt) + wt.hr(1, j, &hp))).collect();
                }
                RecurrentKind::Lstm => {
                    // Gate blocks i, o, f, c.
                    let (f, g, hh) = (acts[0], acts[1], acts[2]);
                    for j in 0..U {
                        let pre = |gate: usize| wt.xw(gate * U + j, &xt) + wt.hr(4, gate * U + j, &hp);
                        let it = act(f, pre(0));
                        let ot = act(f, pre(1));
                        let ft = act(f, pre(2));
                        let ct = act(g, pre(3));
                        c[n][j] = ft * c[n][j] + it * ct;
                        h[n][j] = ot * act(hh, c[n][j]);
                    }
                }
                RecurrentKind::Gru => {
                    // Gate blocks z, r, h.
                    let (f, g) = (acts[0], acts[1]);
                    let z: Vec<f64> = (0..U).map(|j| act(f, wt.xw(j, &xt) + wt.hr(3, j, &hp))).collect();
                    let r: Vec<f64> = (0..U).map(|j| act(f, wt.xw(U + j, &xt) + wt.hr(3, U + j, &hp))).collect();
                    for j in 0..U {
                        let row = 2 * U + j;
                        let cand = if linear_before_reset {
                            // ht = g(Xt*(Wh^T) + (rt (.) (Ht-1*(Rh^T) + Rbh)) + Wbh)
                            act(g, wt.xw(row, &xt) + r[j] * wt.hr(3, row, &hp))
                        } else {
                            // ht = g(Xt*(Wh^T) + (rt (.) Ht-1)*(Rh^T) + Rbh + Wbh)
                            let rh: Vec<f64> = (0..U).map(|k| r[k] * hp[k]).collect();
                            act(g, wt.xw(row, &xt) + wt.hr(3, row, &rh))
                        };
                        // Ht = (1 - zt) (.) ht + zt (.) Ht-1
                        h[n][j] = (1.0 - z[j]) * cand + z[j] * hp[j];
                    }
                }
            }
        }
        ys.push(h.clone());
    }
    (ys, c)
}

// ---------------------------------------------------------------------------------------------
// Test models.

/// Deterministic numbers in [-scale, scale).
struct Rng(u64);

impl Rng {
    fn next(&mut self, scale: f32) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
    }

    fn vec(&mut self, len: usize, scale: f32) -> Vec<f32> {
        (0..len).map(|_| self.next(scale)).collect()
    }
}

struct Case {
    graph: Graph,
    weights: Weights,
    /// Y, Y_h (and Y_c) of the recurrent node, then Squeeze(Y_h) read by a later node.
    outputs: Vec<ValueId>,
}

fn param() -> ParamInfo {
    ParamInfo { trainable: true, regularizer: None, layer: "rnn".into() }
}

fn build(kind: RecurrentKind, acts: &[&str], linear_before_reset: bool, direction: Direction, seq: Dim, seed: u64) -> Case {
    let mut rng = Rng(seed);
    let (rows, dirs) = (kind.gates() * U, direction.count());
    let (w, r, b) = (rng.vec(dirs * rows * F, 0.6), rng.vec(dirs * rows * U, 0.6), rng.vec(dirs * 2 * rows, 0.4));
    let mut bld = Builder::new("unroll_test");
    let x = bld.input("X", TensorType::f32(vec![seq, Dim::batch(), Dim::Fixed(F)]));
    let wv = bld.param("W", Tensor::from_f32(vec![dirs, rows, F], &w), param());
    let rv = bld.param("R", Tensor::from_f32(vec![dirs, rows, U], &r), param());
    let bv = bld.param("B", Tensor::from_f32(vec![dirs, 2 * rows], &b), param());
    let op = Recurrent { kind, hidden_size: U, direction, activations: acts.iter().map(|s| s.to_string()).collect(), linear_before_reset };
    let mut outputs = bld.node("rnn", Arc::new(op), &[Some(x), Some(wv), Some(rv), Some(bv)]).unwrap();
    if dirs == 1 {
        let axes = bld.constant("axes0", Tensor::from_i64(vec![1], &[0]));
        let last = bld.node1("h_last", Arc::new(Squeeze), &[outputs[1], axes]).unwrap();
        outputs.push(last);
    }
    bld.graph.outputs = outputs.clone();
    let widen = |v: &[f32]| v.iter().map(|&f| f as f64).collect();
    Case { graph: bld.graph, weights: Weights { w: widen(&w), r: widen(&r), b: widen(&b) }, outputs }
}

fn input(seed: u64) -> Arr {
    let mut rng = Rng(seed);
    Arr::new(vec![T, N, F], rng.vec(T * N * F, 1.0).into_iter().map(f64::from).collect())
}

fn assert_close(what: &str, got: &Arr, shape: &[usize], want: impl Fn(&[usize]) -> f64) {
    assert_eq!(got.shape, shape, "{what}: shape");
    for k in 0..got.data.len() {
        let idx = Arr::unravel(shape, k);
        let (g, w) = (got.data[k], want(&idx));
        assert!((g - w).abs() <= 1e-6 * w.abs().max(1.0), "{what}{idx:?}: unrolled {g}, reference {w}");
    }
}

/// Unrolls the case's model (through `for_tract` when its activations are custom, otherwise through
/// import and the pass itself) and checks every output against the direct recurrence.
fn check(kind: RecurrentKind, acts: &[&str], linear_before_reset: bool) {
    let case = build(kind, acts, linear_before_reset, Direction::Forward, Dim::Fixed(T), 7 + kind.gates() as u64);
    let original = to_onnx(&case.graph);
    let defaults = Recurrent::default_activations(kind) == acts;
    let unrolled = if defaults {
        // tract cannot run even default activations with a symbolic batch and no initial state.
        let via_tract = for_tract(&original).unwrap();
        assert!(via_tract.graph.as_ref().unwrap().node.iter().all(|n| RecurrentKind::from_op_type(n.op_type.as_deref().unwrap_or("")).is_none()));
        let mut g = import(&original).unwrap();
        assert_eq!(unroll_recurrent(&mut g, true).unwrap(), 0);
        assert_eq!(unroll_recurrent(&mut g, false).unwrap(), 1);
        to_onnx(&g)
    } else {
        for_tract(&original).unwrap()
    };
    let nodes = &unrolled.graph.as_ref().unwrap().node;
    assert!(nodes.iter().all(|n| !matches!(n.op_type.as_deref(), Some("LSTM" | "GRU" | "RNN"))));
    // The model's own metadata survives; the list of constants is made afresh for the new graph.
    let own = |m: &onyx_proto::onnx::ModelProto| {
        m.metadata_props.iter().filter(|p| p.key.as_deref() != Some(onyx_compiler::export::CONSTANTS_KEY)).cloned().collect::<Vec<_>>()
    };
    assert_eq!(own(&unrolled), own(&original));
    // The unrolled model reads back: every op is in the table and every shape checks.
    let reread = import(&unrolled).unwrap();
    assert_eq!(reread.outputs.len(), case.outputs.len());

    let x = input(99);
    let env = run(&unrolled, &[("X", x.clone())]);
    let (ys, c) = reference(kind, acts, linear_before_reset, &x, &case.weights);
    let name = |id: ValueId| case.graph.value(id).name.clone();
    let out = |i: usize| &env[&name(case.outputs[i])];
    assert_close("Y", out(0), &[T, 1, N, U], |i| ys[i[0]][i[2]][i[3]]);
    assert_close("Y_h", out(1), &[1, N, U], |i| ys[T - 1][i[1]][i[2]]);
    if kind == RecurrentKind::Lstm {
        assert_close("Y_c", out(2), &[1, N, U], |i| c[i[1]][i[2]]);
    }
    assert_close("h_last", out(case.outputs.len() - 1), &[N, U], |i| ys[T - 1][i[0]][i[1]]);
    // The graph outputs keep their names and order.
    let names: Vec<String> = unrolled.graph.as_ref().unwrap().output.iter().map(|o| o.name.clone().unwrap()).collect();
    assert_eq!(names, case.outputs.iter().map(|&id| name(id)).collect::<Vec<_>>());

    // The training form (the same unrolling, which training graphs differentiate) computes the same.
    let mut training = import(&original).unwrap();
    assert_eq!(unroll_recurrent_for_training(&mut training).unwrap(), 1);
    let env = run(&to_onnx(&training), &[("X", x.clone())]);
    let out = |i: usize| &env[&name(case.outputs[i])];
    assert_close("Y (training form)", out(0), &[T, 1, N, U], |i| ys[i[0]][i[2]][i[3]]);
    if kind == RecurrentKind::Lstm {
        assert_close("Y_c (training form)", out(2), &[1, N, U], |i| c[i[1]][i[2]]);
    }
}

#[test]
fn lstm_relu_matches_the_recurrence() {
    check(RecurrentKind::Lstm, &["Sigmoid", "Relu", "Relu"], false);
}

#[test]
fn lstm_default_matches_the_recurrence() {
    check(RecurrentKind::Lstm, &["Sigmoid", "Tanh", "Tanh"], false);
}

#[test]
fn gru_matches_the_recurrence() {
    check(RecurrentKind::Gru, &["Sigmoid", "Tanh"], false);
    check(RecurrentKind::Gru, &["Sigmoid", "Relu"], false);
}

#[test]
fn gru_linear_before_reset_matches_the_recurrence() {
    check(RecurrentKind::Gru, &["Sigmoid", "Tanh"], true);
    check(RecurrentKind::Gru, &["Sigmoid", "Relu"], true);
}

#[test]
fn rnn_matches_the_recurrence() {
    check(RecurrentKind::Rnn, &["Relu"], false);
    check(RecurrentKind::Rnn, &["Tanh"], false);
}

#[test]
fn the_reference_is_not_trivially_equal_across_activations() {
    // Guards the comparison itself: different activations must give different numbers here.
    let case = build(RecurrentKind::Lstm, &["Sigmoid", "Tanh", "Tanh"], false, Direction::Forward, Dim::Fixed(T), 11);
    let x = input(99);
    let (a, _) = reference(RecurrentKind::Lstm, &["Sigmoid", "Tanh", "Tanh"], false, &x, &case.weights);
    let (b, _) = reference(RecurrentKind::Lstm, &["Sigmoid", "Relu", "Relu"], false, &x, &case.weights);
    let diff: f64 = a.iter().flatten().flatten().zip(b.iter().flatten().flatten()).map(|(p, q)| (p - q).abs()).sum();
    assert!(diff > 1e-3, "{diff}");
}

fn unroll_error(case: &mut Case) -> String {
    let (nodes, values) = (case.graph.nodes.len(), case.graph.values.len());
    let e = unroll_recurrent(&mut case.graph, false).unwrap_err();
    assert!(matches!(e, PassError::Node { .. }), "{e:?}");
    assert_eq!((case.graph.nodes.len(), case.graph.values.len()), (nodes, values), "the graph is left as it was");
    e.to_string()
}

#[test]
fn refuses_other_directions() {
    for dir in [Direction::Reverse, Direction::Bidirectional] {
        let acts: &[&str] =
            if dir == Direction::Reverse { &["Sigmoid", "Relu", "Relu"] } else { &["Sigmoid", "Relu", "Relu", "Sigmoid", "Relu", "Relu"] };
        let mut case = build(RecurrentKind::Lstm, acts, false, dir, Dim::Fixed(T), 1);
        let e = unroll_error(&mut case);
        assert!(e.contains("rnn") && e.contains(dir.name()), "{e}");
        // for_tract reports it too rather than handing tract a model it would compute wrongly.
        assert!(for_tract(&to_onnx(&case.graph)).is_err());
    }
}

#[test]
fn refuses_unknown_activations() {
    let mut case = build(RecurrentKind::Rnn, &["Softsign"], false, Direction::Forward, Dim::Fixed(T), 2);
    let e = unroll_error(&mut case);
    assert!(e.contains("Softsign") && e.contains("rnn"), "{e}");
    let e = for_tract(&to_onnx(&case.graph)).unwrap_err();
    assert!(e.to_string().contains("Softsign"), "{e}");
}

#[test]
fn refuses_an_unknown_sequence_length() {
    let mut case = build(RecurrentKind::Gru, &["Sigmoid", "Relu"], true, Direction::Forward, Dim::Sym("T".into()), 3);
    let e = unroll_error(&mut case);
    assert!(e.contains("sequence length"), "{e}");
}

#[test]
fn refuses_an_initial_state() {
    let mut case = build(RecurrentKind::Rnn, &["Relu"], false, Direction::Forward, Dim::Fixed(T), 4);
    let h0 = case.graph.add_value(onyx_compiler::ir::Value {
        name: "h0".into(),
        ty: TensorType::new(DType::F32, vec![Dim::Fixed(1), Dim::batch(), Dim::Fixed(U)]),
        init: None,
        param: None,
    });
    case.graph.inputs.push(h0);
    let rnn = case.graph.nodes.iter_mut().find(|n| n.op.op_type() == "RNN").unwrap();
    rnn.inputs.extend([None, Some(h0)]);
    let e = unroll_error(&mut case);
    assert!(e.contains("initial_h"), "{e}");
}

#[test]
fn compiled_lstm_model_is_rewritten_for_tract() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/lstm_forecast.toml");
    let model = onyx_compiler::compile_file(&path).unwrap();
    let original = to_onnx(&model.graph);
    let rewritten = for_tract(&original).unwrap();
    let g = rewritten.graph.as_ref().unwrap();
    assert!(g.node.iter().all(|n| n.op_type.as_deref() != Some("LSTM")));
    assert_eq!(g.input, original.graph.as_ref().unwrap().input);
    assert_eq!(g.output, original.graph.as_ref().unwrap().output);
    assert_eq!(rewritten.metadata_props, original.metadata_props);
    // Default activations without an initial state are rewritten too (tract panics on them with a
    // symbolic batch); a model without recurrent ops passes through untouched.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/gru_classifier.toml");
    let gru = for_tract(&to_onnx(&onyx_compiler::compile_file(&path).unwrap().graph)).unwrap();
    assert!(gru.graph.as_ref().unwrap().node.iter().all(|n| n.op_type.as_deref() != Some("GRU")));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/mnist_cnn.toml");
    let cnn = to_onnx(&onyx_compiler::compile_file(&path).unwrap().graph);
    assert_eq!(for_tract(&cnn).unwrap(), cnn);
}
