//! LSTM, GRU and RNN nodes unrolled over their (known) sequence length into primitive ops, following
//! the equations of the ONNX operator spec, for engines that do not honour the ops' `activations`.
//!
//! For X [T, N, F], W [1, G·u, F], R [1, G·u, u], B [1, 2·G·u] (G gates of u units):
//!
//! ```text
//! Wt = Transpose(Squeeze(W, [0]))            [F, G·u]     once
//! Rt = Transpose(Squeeze(R, [0]))            [u, G·u]     once
//! Xb = Transpose(X, [1, 0, 2])               [N, T, F]    once (X's own source when X is that
//!                                                          source transposed, as Keras' layout is)
//! XW = MatMul(Flatten(Xb, 2), Wt) + Wb + Rb [N·T, G·u]  once (GRU with linear_before_reset: no Rbh)
//! per step t:  x_t = Split(Reshape(XW, [-1, T·G·u]), axis 1)[t]   [N, G·u]
//!              gates from x_t + H_{t-1}·Rt, cut apart with Split on axis 1 (LSTM: of the gates
//!              reshaped to [N, 4, u]), then the cell's update
//! Y   = Unsqueeze(Concat(Unsqueeze(H_t, [0])...), [1])   [T, 1, N, u]
//! Y_h = Unsqueeze(H_T, [0]),  Y_c = Unsqueeze(C_T, [0])  [1, N, u]
//! ```
//!
//! The initial state is zero, so the first step drops every term it multiplies; no zero tensor of the
//! (symbolic) batch size is needed. The last nodes define the replaced node's own output values, so
//! the nodes that read them are untouched.
use std::collections::HashMap;
use std::sync::Arc;

use super::PassError;
use crate::builder::Builder;
use crate::ir::{DType, Dim, Graph, Node, Tensor, ValueId};
use crate::ops::{
    Attrs, Binary, BinaryKind, Concat, Direction, Flatten, MatMul, Op, OpError, Recurrent, RecurrentKind, Reshape, Slice, Split, Squeeze, Transpose,
    Unary, UnaryKind, Unsqueeze,
};

/// Replaces each LSTM/GRU/RNN node (only those with non-default activations when
/// `only_custom_activations`) by its unrolled form; returns how many were replaced. Supported: forward
/// direction, a fixed sequence length, no `sequence_lens`, `initial_h`, `initial_c` or peepholes.
/// On error the graph is left as it was.
pub fn unroll_recurrent(graph: &mut Graph, only_custom_activations: bool) -> Result<usize, PassError> {
    let (saved_nodes, saved_values) = (graph.nodes.clone(), graph.values.len());
    let mut b = Builder::from_graph(std::mem::take(graph));
    let result = rewrite(&mut b, only_custom_activations);
    *graph = b.graph;
    if result.is_err() {
        graph.nodes = saved_nodes;
        graph.values.truncate(saved_values);
    }
    result
}

/// Unrolls every recurrent node, the form training graphs differentiate. The steps read their
/// inputs from one Split of X·Wt, so the gradient of W is one product over all steps and a stacked
/// layer's input gradient one Concat: O(T) work, where a Gather per step would scatter T times into
/// [T, N, G·u].
pub fn unroll_recurrent_for_training(graph: &mut Graph) -> Result<usize, PassError> {
    unroll_recurrent(graph, false)
}

fn rewrite(b: &mut Builder, only_custom_activations: bool) -> Result<usize, PassError> {
    let mut count = 0;
    for node in std::mem::take(&mut b.graph.nodes) {
        let op_type = node.op.op_type();
        let Some(kind) = RecurrentKind::from_op_type(op_type) else {
            b.graph.nodes.push(node);
            continue;
        };
        let attributes = node.op.attributes();
        let rec = Recurrent::parse(kind, &Attrs { op: op_type, list: &attributes }).map_err(|e| node_error(&node, e.to_string()))?;
        if only_custom_activations && rec.has_default_activations() {
            b.graph.nodes.push(node);
            continue;
        }
        Unroll::new(b, &node, &rec)?.emit()?;
        count += 1;
    }
    Ok(count)
}

fn node_label(node: &Node) -> String {
    format!("node `{}` ({})", node.name, node.op.op_type())
}

fn node_error(node: &Node, message: impl Into<String>) -> PassError {
    PassError::Node { node: node_label(node), message: message.into() }
}

fn activation(node: &Node, name: &str) -> Result<UnaryKind, PassError> {
    // ONNX spells them `Sigmoid`, `Tanh`, `Relu`; ONNX Runtime also accepts other cases.
    match name.to_ascii_lowercase().as_str() {
        "sigmoid" => Ok(UnaryKind::Sigmoid),
        "tanh" => Ok(UnaryKind::Tanh),
        "relu" => Ok(UnaryKind::Relu),
        _ => Err(node_error(node, format!("activation `{name}` cannot be unrolled (only Sigmoid, Tanh and Relu)"))),
    }
}

/// One node being unrolled: its inputs, sizes and the constants it has made so far.
struct Unroll<'a> {
    b: &'a mut Builder,
    node: &'a Node,
    kind: RecurrentKind,
    linear_before_reset: bool,
    /// f, g, h of the ONNX spec (g and h only where the cell has them).
    acts: Vec<UnaryKind>,
    x: ValueId,
    w: ValueId,
    r: ValueId,
    bias: Option<ValueId>,
    dtype: DType,
    steps: usize,
    units: usize,
    /// int64 constants by (dims, values), so each is stored once.
    ints: HashMap<(Vec<usize>, Vec<i64>), ValueId>,
}

impl<'a> Unroll<'a> {
    fn new(b: &'a mut Builder, node: &'a Node, rec: &Recurrent) -> Result<Unroll<'a>, PassError> {
        if rec.direction != Direction::Forward {
            return Err(node_error(node, format!("direction `{}` cannot be unrolled (only forward)", rec.direction.name())));
        }
        let input = |i: usize| node.inputs.get(i).copied().flatten();
        for (i, name) in [(4, "sequence_lens"), (5, "initial_h"), (6, "initial_c"), (7, "P (peepholes)")] {
            if input(i).is_some() {
                return Err(node_error(node, format!("input {name} cannot be unrolled")));
            }
        }
        let (Some(x), Some(w), Some(r)) = (input(0), input(1), input(2)) else {
            return Err(node_error(node, "X, W and R are required"));
        };
        let ty = &b.graph.value(x).ty;
        if !ty.dtype.is_float() {
            return Err(node_error(node, format!("X is {ty}; only floating-point recurrences can be unrolled")));
        }
        let steps = match ty.shape.first() {
            Some(Dim::Fixed(t)) if *t > 0 && ty.rank() == 3 => *t,
            _ => {
                return Err(node_error(node, format!("X is {ty}; unrolling needs a known, nonzero sequence length")));
            }
        };
        let acts = rec.activations.iter().map(|a| activation(node, a)).collect::<Result<_, _>>()?;
        Ok(Unroll {
            dtype: ty.dtype,
            b,
            node,
            kind: rec.kind,
            linear_before_reset: rec.kind == RecurrentKind::Gru && rec.linear_before_reset,
            acts,
            x,
            w,
            r,
            bias: input(3),
            steps,
            units: rec.hidden_size,
            ints: HashMap::new(),
        })
    }

    fn fail(&self, e: OpError) -> PassError {
        node_error(self.node, format!("unrolling failed: {e}"))
    }

    fn op(&mut self, what: &str, op: impl Op + 'static, inputs: &[ValueId]) -> Result<ValueId, PassError> {
        let name = format!("{}/{what}", self.node.name);
        self.b.node1(&name, Arc::new(op), inputs).map_err(|e| self.fail(e))
    }

    /// Defines one of the replaced node's outputs.
    fn bind(&mut self, what: &str, op: impl Op + 'static, inputs: &[ValueId], output: ValueId) -> Result<(), PassError> {
        let name = format!("{}/{what}", self.node.name);
        self.b.node_into(&name, Arc::new(op), inputs, &[output]).map_err(|e| self.fail(e))
    }

    fn int_constant(&mut self, dims: Vec<usize>, values: &[i64]) -> ValueId {
        let key = (dims, values.to_vec());
        if let Some(&id) = self.ints.get(&key) {
            return id;
        }
        let name = format!("{}/const", self.node.name);
        let id = self.b.constant(&name, Tensor::from_i64(key.0.clone(), values));
        self.ints.insert(key, id);
        id
    }

    /// A tensor of X's element type filled with 0 or 1.
    fn float_constant(&mut self, what: &str, dims: Vec<usize>, one: bool) -> ValueId {
        let element: Vec<u8> = match (self.dtype, one) {
            (d, false) => vec![0; d.size_of()],
            (DType::F64, true) => 1f64.to_le_bytes().to_vec(),
            (DType::F16, true) => 0x3c00u16.to_le_bytes().to_vec(),
            (_, true) => 1f32.to_le_bytes().to_vec(),
        };
        let data = element.repeat(dims.iter().product());
        let name = format!("{}/{what}", self.node.name);
        self.b.constant(&name, Tensor { dtype: self.dtype, dims, data })
    }

    /// Consecutive parts of `sizes` along `axis`, in one node: its gradient is one Concat.
    fn split_n(&mut self, what: &str, x: ValueId, axis: i64, sizes: &[usize]) -> Result<Vec<ValueId>, PassError> {
        let sizes_id = self.int_constant(vec![sizes.len()], &sizes.iter().map(|&s| s as i64).collect::<Vec<_>>());
        let name = format!("{}/{what}", self.node.name);
        self.b.node(&name, Arc::new(Split { axis }), &[Some(x), Some(sizes_id)]).map_err(|e| self.fail(e))
    }

    fn split<const K: usize>(&mut self, what: &str, x: ValueId, axis: i64, sizes: [usize; K]) -> Result<[ValueId; K], PassError> {
        let parts = self.split_n(what, x, axis, &sizes)?;
        parts.try_into().map_err(|_| self.fail(OpError::Shape { op: "Split".into(), message: format!("{what}: not {K} parts") }))
    }

    /// Elements `start..end` of `axis`.
    fn slice(&mut self, what: &str, x: ValueId, axis: i64, start: usize, end: usize) -> Result<ValueId, PassError> {
        let starts = self.int_constant(vec![1], &[start as i64]);
        let ends = self.int_constant(vec![1], &[end as i64]);
        let axes = self.int_constant(vec![1], &[axis]);
        self.op(what, Slice, &[x, starts, ends, axes])
    }

    fn binary(&mut self, what: &str, kind: BinaryKind, a: ValueId, b: ValueId) -> Result<ValueId, PassError> {
        self.op(what, Binary { kind }, &[a, b])
    }

    fn unary(&mut self, what: &str, kind: UnaryKind, x: ValueId) -> Result<ValueId, PassError> {
        self.op(what, Unary::new(kind), &[x])
    }

    /// X as [N, T, F]: the input of the Transpose that made X from it when there is one (Keras'
    /// batch-major sequences, transposed for the ONNX op), else X transposed.
    fn batch_major_input(&mut self) -> Result<ValueId, PassError> {
        let time_major = self.b.graph.nodes.iter().find(|n| n.outputs.contains(&self.x)).and_then(|n| {
            let swaps_first_two =
                n.op.op_type() == "Transpose" && n.op.attributes().iter().any(|a| a.name.as_deref() == Some("perm") && a.ints == [1, 0, 2]);
            swaps_first_two.then(|| n.inputs.first().copied().flatten()).flatten()
        });
        match time_major {
            Some(source) => Ok(source),
            None => self.op("X_batch_major", Transpose { perm: vec![1, 0, 2] }, &[self.x]),
        }
    }

    /// `[1, rows, cols]` → `[cols, rows]`.
    fn transposed(&mut self, what: &str, m: ValueId) -> Result<ValueId, PassError> {
        let axes = self.int_constant(vec![1], &[0]);
        let m2 = self.op(&format!("{what}_squeezed"), Squeeze, &[m, axes])?;
        self.op(&format!("{what}t"), Transpose { perm: vec![1, 0] }, &[m2])
    }

    fn emit(mut self) -> Result<(), PassError> {
        self.b.layer = self.node.layer.clone();
        let (u, g) = (self.units, self.kind.gates());
        let wt = self.transposed("W", self.w)?;
        let rt = self.transposed("R", self.r)?;
        // Once for all steps: XW = X·Wt + biases, batch-major, as one 2-D product over the N·T
        // rows (tract adds the biases to a 3-D product on its slow generic path).
        let xb = self.batch_major_input()?;
        let x_rows = self.op("X_rows", Flatten { axis: 2 }, &[xb])?;
        let mut xw = self.op("XW", MatMul, &[x_rows, wt])?;
        // Biases that do not depend on the state are added once for all steps. GRU with
        // linear_before_reset keeps Rbh apart: it sits inside the reset gate's product.
        let mut rbh = None;
        if let Some(bias) = self.bias {
            let axes = self.int_constant(vec![1], &[0]);
            let b1 = self.op("B_squeezed", Squeeze, &[bias, axes])?;
            let wb = self.slice("Wb", b1, 0, 0, g * u)?;
            let mut rb = self.slice("Rb", b1, 0, g * u, 2 * g * u)?;
            if self.linear_before_reset {
                let rb_zr = self.slice("Rb_zr", rb, 0, 0, 2 * u)?;
                rbh = Some(self.slice("Rbh", rb, 0, 2 * u, 3 * u)?);
                let zeros = self.float_constant("zeros", vec![u], false);
                rb = self.op("Rb_zr0", Concat { axis: 0 }, &[rb_zr, zeros])?;
            }
            let bias = self.binary("bias", BinaryKind::Add, wb, rb)?;
            xw = self.binary("XWB", BinaryKind::Add, xw, bias)?;
        }
        // GRU without linear_before_reset multiplies R's h block by r ⊙ H, apart from z and r.
        let rt_split = if self.kind == RecurrentKind::Gru && !self.linear_before_reset && self.steps > 1 {
            Some((self.slice("Rt_zr", rt, 1, 0, 2 * u)?, self.slice("Rt_h", rt, 1, 2 * u, 3 * u)?))
        } else {
            None
        };
        let one = (self.kind == RecurrentKind::Gru).then(|| self.float_constant("one", vec![], true));

        let (mut h, mut c): (Option<ValueId>, Option<ValueId>) = (None, None);
        let mut hs = Vec::with_capacity(self.steps);
        // The steps' inputs in one Split of the rows laid end to end, whose gradient is one Concat (a
        // Gather per step would scatter T times into [N, T, G·u]). Split along the time axis instead
        // leaves each step [1, N, G·u], and a Squeeze per step (an Unsqueeze in the gradient) is what
        // tract's optimizer is slowest with: without those 200 nodes the seed LSTM's training plan
        // loads in 1.2 s, not 2.2 s.
        let row = self.int_constant(vec![2], &[-1, (self.steps * g * u) as i64]);
        let rows = self.op("XW_rows", Reshape, &[xw, row])?;
        let steps = self.split_n("X_steps", rows, 1, &vec![g * u; self.steps])?;
        for (t, xt) in steps.into_iter().enumerate() {
            let s = |what: &str| format!("t{t}/{what}");
            let h_new = match self.kind {
                RecurrentKind::Rnn => {
                    let pre = self.plus_recurrent(&s("pre"), xt, h, rt)?;
                    self.unary(&s("H"), self.acts[0], pre)?
                }
                RecurrentKind::Lstm => {
                    let (f, gg, hh) = (self.acts[0], self.acts[1], self.acts[2]);
                    let pre = self.plus_recurrent(&s("pre"), xt, h, rt)?;
                    // The gates on an axis of their own, [N, 4, u], cut apart there: tract pushes a
                    // Split of the product's columns up into the product itself, making four
                    // products of [N, u], each nearly as slow as one [N, 4u] (`cargo bench --bench
                    // train_step`, lstm_forecast).
                    let by_gate = self.int_constant(vec![3], &[0, g as i64, u as i64]);
                    let gates = self.op(&s("gates"), Reshape, &[pre, by_gate])?;
                    // i, o, f share the activation f: one activation over the three blocks.
                    let [pre_iof, pre_c] = self.split(&s("pre_iof"), gates, 1, [3, 1])?;
                    let iof = self.unary(&s("iof"), f, pre_iof)?;
                    let [i, o, ft] = self.split(&s("i"), iof, 1, [1, 1, 1])?;
                    let cand = self.unary(&s("c"), gg, pre_c)?;
                    let ic = self.binary(&s("ic"), BinaryKind::Mul, i, cand)?;
                    let c_new = match c {
                        Some(c_prev) => {
                            let fc = self.binary(&s("fC"), BinaryKind::Mul, ft, c_prev)?;
                            self.binary(&s("C"), BinaryKind::Add, fc, ic)?
                        }
                        None => ic,
                    };
                    c = Some(c_new);
                    let hc = self.unary(&s("hC"), hh, c_new)?;
                    let h_gated = self.binary(&s("H_gated"), BinaryKind::Mul, o, hc)?;
                    let rows = self.int_constant(vec![2], &[0, u as i64]);
                    self.op(&s("H"), Reshape, &[h_gated, rows])?
                }
                RecurrentKind::Gru => {
                    let (f, gg) = (self.acts[0], self.acts[1]);
                    let one = one.expect("made for GRU");
                    let [x_zr, x_h] = self.split(&s("x_zr"), xt, 1, [2 * u, u])?;
                    let (pre_zr, h_rec) = match h {
                        // H₀ = 0: the state's terms vanish; with linear_before_reset r ⊙ Rbh remains.
                        None => (x_zr, None),
                        Some(h_prev) if self.linear_before_reset => {
                            let hr = self.op(&s("HR"), MatMul, &[h_prev, rt])?;
                            let [hr_zr, hr_h] = self.split(&s("HR_zr"), hr, 1, [2 * u, u])?;
                            (self.binary(&s("pre_zr"), BinaryKind::Add, x_zr, hr_zr)?, Some(hr_h))
                        }
                        Some(h_prev) => {
                            let (rt_zr, _) = rt_split.expect("made when there are two steps or more");
                            let hr_zr = self.op(&s("HR_zr"), MatMul, &[h_prev, rt_zr])?;
                            (self.binary(&s("pre_zr"), BinaryKind::Add, x_zr, hr_zr)?, None)
                        }
                    };
                    let zr = self.unary(&s("zr"), f, pre_zr)?;
                    let [z, r] = self.split(&s("z"), zr, 1, [u, u])?;
                    // The candidate's recurrent term, which the reset gate scales.
                    let gated = match (h, self.linear_before_reset) {
                        (None, false) => None,
                        (None, true) => rbh,
                        (Some(_), true) => match (h_rec, rbh) {
                            (Some(hr_h), Some(rbh)) => Some(self.binary(&s("HR_h_b"), BinaryKind::Add, hr_h, rbh)?),
                            (hr_h, _) => hr_h,
                        },
                        (Some(h_prev), false) => Some(h_prev),
                    };
                    let pre_h = match gated {
                        None => x_h,
                        Some(term) => {
                            let scaled = self.binary(&s("r_term"), BinaryKind::Mul, r, term)?;
                            let rec = if self.linear_before_reset {
                                scaled
                            } else {
                                let (_, rt_h) = rt_split.expect("made when there are two steps or more");
                                self.op(&s("rH_R"), MatMul, &[scaled, rt_h])?
                            };
                            self.binary(&s("pre_h"), BinaryKind::Add, x_h, rec)?
                        }
                    };
                    let cand = self.unary(&s("h"), gg, pre_h)?;
                    let keep = self.binary(&s("1-z"), BinaryKind::Sub, one, z)?;
                    let new_part = self.binary(&s("(1-z)h"), BinaryKind::Mul, keep, cand)?;
                    match h {
                        Some(h_prev) => {
                            let old_part = self.binary(&s("zH"), BinaryKind::Mul, z, h_prev)?;
                            self.binary(&s("H"), BinaryKind::Add, new_part, old_part)?
                        }
                        None => new_part,
                    }
                }
            };
            h = Some(h_new);
            hs.push(h_new);
        }
        // The cell state, [N, 1, u] on the gate axis, as [N, u].
        let c = match c {
            Some(c) => {
                let rows = self.int_constant(vec![2], &[0, u as i64]);
                Some(self.op("C_rows", Reshape, &[c, rows])?)
            }
            None => None,
        };
        self.outputs(&hs, c)
    }

    /// `x_t + H_{t-1}·Rt`, or `x_t` at the first step.
    fn plus_recurrent(&mut self, what: &str, xt: ValueId, h: Option<ValueId>, rt: ValueId) -> Result<ValueId, PassError> {
        match h {
            None => Ok(xt),
            Some(h_prev) => {
                let hr = self.op(&format!("{what}_HR"), MatMul, &[h_prev, rt])?;
                self.binary(what, BinaryKind::Add, xt, hr)
            }
        }
    }

    /// Defines Y, Y_h and Y_c, as many as the node has.
    fn outputs(&mut self, hs: &[ValueId], c: Option<ValueId>) -> Result<(), PassError> {
        let outs = self.node.outputs.clone();
        let axes0 = self.int_constant(vec![1], &[0]);
        let last = hs.len() - 1;
        let mut rows = Vec::with_capacity(hs.len());
        for (t, &h) in hs.iter().enumerate() {
            match outs.get(1) {
                Some(&y_h) if t == last => {
                    self.bind("Y_h", Unsqueeze, &[h, axes0], y_h)?;
                    rows.push(y_h);
                }
                _ if !outs.is_empty() => rows.push(self.op(&format!("t{t}/H_row"), Unsqueeze, &[h, axes0])?),
                _ => {}
            }
        }
        if let Some(&y) = outs.first() {
            let seq = self.op("Y_seq", Concat { axis: 0 }, &rows)?;
            let axes1 = self.int_constant(vec![1], &[1]);
            self.bind("Y", Unsqueeze, &[seq, axes1], y)?;
        }
        if let (Some(&y_c), Some(c)) = (outs.get(2), c) {
            self.bind("Y_c", Unsqueeze, &[c, axes0], y_c)?;
        }
        Ok(())
    }
}
