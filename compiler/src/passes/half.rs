//! Computing in float16, for GPUs: the model's float32 arithmetic moves to float16 (weights stored so,
//! activations flowing so), while its inputs and outputs stay float32 and the numerically fragile ops
//! keep computing in float32 between Casts. The fragile list follows PyTorch's autocast: reductions,
//! softmax, normalization statistics (batch normalization's own inputs), exp, log, pow, sqrt, and ops whose float inputs are coordinates
//! rather than data (Resize's scales, Range). Casts already in the model are retargeted, not stacked.
//!
//! Unlike onnxconverter-common's converter, no value is clamped to ±1e4 or to float16's range: a
//! weight beyond 65504 keeps its node in float32 and is reported, and infinities pass through as
//! float16 holds them.
use std::collections::HashMap;
use std::sync::Arc;

use super::PassError;
use super::pack::{Halves, to_halves};
use crate::ir::{DType, Graph, Node, Value, ValueId};
use crate::ops::Cast;

/// Ops that compute in float32 whatever surrounds them.
const FLOAT32_OPS: &[&str] = &[
    "ReduceSum",
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
    "ReduceProd",
    "ReduceSumSquare",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "Softmax",
    "LogSoftmax",
    "InstanceNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "Exp",
    "Log",
    "Pow",
    "Sqrt",
    "Reciprocal",
    "Resize",
    "Range",
    "TopK",
    "CumSum",
];

/// Inputs that stay float32 when their node computes in float16: batch normalization's scale, bias
/// and statistics (opset 15 lets them differ from X's type), so that small variances keep their
/// precision without two Casts around every normalization.
fn float32_inputs(op: &str) -> &'static [usize] {
    match op {
        "BatchNormalization" => &[1, 2, 3, 4],
        _ => &[],
    }
}

/// What the conversion did, for the report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Halved {
    /// Nodes now computing in float16, and those kept in float32 by op type (op, count).
    pub half_nodes: usize,
    pub float_ops: Vec<(String, usize)>,
    /// Casts the boundaries between the two precisions took.
    pub casts: usize,
    /// Weights converted, and their element count.
    pub weights: usize,
    pub elements: usize,
    /// Weights beyond float16's range, whose nodes stay in float32: (name, largest |value|).
    pub out_of_range: Vec<(String, f32)>,
    /// Nonzero values float16 rounds to zero: (name, how many).
    pub flushed: Vec<(String, usize)>,
}

impl Halved {
    /// One line for each thing float16 could not do as asked.
    pub fn notes(&self) -> Vec<String> {
        let kept = self.out_of_range.iter().map(|(name, largest)| {
            format!("`{name}` stays float32, and so do the nodes reading it: its largest |value| {largest:e} is beyond float16's 65504")
        });
        let flushed =
            self.flushed.iter().map(|(name, count)| format!("`{name}`: {count} nonzero values below float16's smallest (about 6e-8) became 0"));
        kept.chain(flushed).collect()
    }
}

/// Converts the graph to compute in float16, in place.
pub fn compute_fp16(graph: &mut Graph) -> Result<Halved, PassError> {
    let mut report = Halved::default();
    let was_f32: Vec<bool> = graph.values.iter().map(|v| v.ty.dtype == DType::F32).collect();
    // Weights float16 holds, converted once; the rest decide their readers' precision.
    let mut halves: HashMap<ValueId, Vec<u8>> = HashMap::new();
    for (i, v) in graph.values.iter().enumerate() {
        let Some(values) = v.init.as_ref().filter(|t| t.dtype == DType::F32).and_then(|t| t.as_f32()) else { continue };
        match to_halves(&values) {
            Halves::Fit { bytes, flushed } => {
                if flushed > 0 {
                    report.flushed.push((v.name.clone(), flushed));
                }
                halves.insert(ValueId(i), bytes);
            }
            Halves::OutOfRange { largest } => report.out_of_range.push((v.name.clone(), largest)),
        }
    }
    let nodes = std::mem::take(&mut graph.nodes);
    let mut casts: HashMap<(ValueId, DType), ValueId> = HashMap::new();
    let mut float_ops: Vec<(String, usize)> = vec![];
    for mut node in nodes {
        let op = node.op.op_type();
        let retarget = op == "Cast" && cast_target(&node) == Some(DType::F32);
        let out_of_range = node.inputs.iter().flatten().any(|&v| was_f32[v.0] && graph.value(v).init.is_some() && !halves.contains_key(&v));
        let half = !FLOAT32_OPS.contains(&op) && !out_of_range;
        if half {
            report.half_nodes += 1;
        } else {
            match float_ops.iter_mut().find(|(o, _)| o == op) {
                Some((_, n)) => *n += 1,
                None => float_ops.push((op.to_string(), 1)),
            }
        }
        let want = if half { DType::F16 } else { DType::F32 };
        if retarget {
            // A Cast to float32 now casts to float16 (from float16, as a packed weight's does, it is
            // a no-op that engines drop).
            node.op = Arc::new(Cast { to: DType::F16 });
        } else if op != "Cast" {
            let keep = float32_inputs(op);
            for (i, slot) in node.inputs.iter_mut().enumerate() {
                if let Some(v) = *slot
                    && was_f32[v.0]
                {
                    let want = if keep.contains(&i) { DType::F32 } else { want };
                    *slot = Some(settle(graph, &mut halves, v, want, &mut casts, &mut report)?);
                }
            }
        }
        let types = graph.infer(node.op.as_ref(), &node.inputs).map_err(|e| PassError::at(&node.name, e.to_string()))?;
        for (&out, ty) in node.outputs.iter().zip(types) {
            graph.values[out.0].ty = ty;
        }
        graph.nodes.push(node);
    }
    // The model's float32 outputs stay float32: the float16 value takes a new name, and a Cast gives
    // the output its old one.
    for slot in 0..graph.outputs.len() {
        let out = graph.outputs[slot];
        if was_f32[out.0] && graph.value(out).ty.dtype == DType::F16 {
            let name = graph.value(out).name.clone();
            graph.values[out.0].name = format!("{name}/fp16");
            let mut ty = graph.value(out).ty.clone();
            ty.dtype = DType::F32;
            let cast = graph.add_value(Value { name: name.clone(), ty, init: None, param: None });
            graph.nodes.push(cast_node(&format!("{name}/to_float32"), out, cast, DType::F32));
            report.casts += 1;
            graph.outputs[slot] = cast;
        }
    }
    report.float_ops = float_ops;
    Ok(report)
}

/// `v` in the precision `want`: a weight converted in place the first time a float16 reader asks
/// (float32 readers then cast it back, exactly), anything else through a Cast made once per value.
fn settle(
    graph: &mut Graph,
    halves: &mut HashMap<ValueId, Vec<u8>>,
    v: ValueId,
    want: DType,
    casts: &mut HashMap<(ValueId, DType), ValueId>,
    report: &mut Halved,
) -> Result<ValueId, PassError> {
    if want == DType::F16
        && let Some(bytes) = halves.remove(&v)
    {
        let value = &mut graph.values[v.0];
        report.weights += 1;
        report.elements += bytes.len() / 2;
        if let Some(init) = value.init.as_mut() {
            init.dtype = DType::F16;
            init.data = bytes;
        }
        value.ty.dtype = DType::F16;
        // A model computing in float16 is for running; its weights are constants.
        value.param = None;
    }
    if graph.value(v).ty.dtype == want {
        return Ok(v);
    }
    if let Some(&cast) = casts.get(&(v, want)) {
        return Ok(cast);
    }
    let mut ty = graph.value(v).ty.clone();
    ty.dtype = want;
    let name = format!("{}/{}", graph.value(v).name, want.name());
    let cast = graph.add_value(Value { name: name.clone(), ty, init: None, param: None });
    graph.nodes.push(cast_node(&name, v, cast, want));
    report.casts += 1;
    casts.insert((v, want), cast);
    Ok(cast)
}

fn cast_node(name: &str, from: ValueId, to: ValueId, dtype: DType) -> Node {
    Node { name: name.to_string(), op: Arc::new(Cast { to: dtype }), inputs: vec![Some(from)], outputs: vec![to], layer: None }
}

/// The element type a Cast node converts to.
fn cast_target(node: &Node) -> Option<DType> {
    node.op
        .attributes()
        .iter()
        .find(|a| a.name.as_deref() == Some("to"))
        .and_then(|a| a.i)
        .and_then(|code| i32::try_from(code).ok())
        .and_then(DType::from_onnx_code)
}
