//! LogSoftmax spelled out as `x − max − log Σ exp(x − max)` for tract, whose LogSoftmax takes the
//! log of the softmax: a gap of 1,000 between logits gives −87.5 (exp's underflow) instead of
//! −1,000, and a larger one −inf, which a cross-entropy turns into NaN (0 · −inf). The file keeps
//! the ONNX op; this is the form the tract engine loads.
use onyx_proto::onnx::{GraphProto, NodeProto};

use crate::export::tensor_proto;
use crate::ir::Tensor;
use crate::ops::{Attrs, attrs};

/// Whether the graph has a LogSoftmax node.
pub fn has_log_softmax(g: &GraphProto) -> bool {
    g.node.iter().any(|n| n.op_type.as_deref() == Some("LogSoftmax"))
}

/// Rewrites every LogSoftmax node of `g` in place.
pub fn spell_out_log_softmax(g: &mut GraphProto) {
    let mut nodes = Vec::with_capacity(g.node.len());
    for n in std::mem::take(&mut g.node) {
        let (Some("LogSoftmax"), Some(x), Some(y)) = (n.op_type.as_deref(), n.input.first(), n.output.first()) else {
            nodes.push(n);
            continue;
        };
        let axis = Attrs { op: "LogSoftmax", list: &n.attribute }.int("axis", -1).unwrap_or(-1);
        let at = |what: &str| format!("{y}/stable/{what}");
        let node = |op: &str, what: &str, inputs: &[String], attribute| NodeProto {
            op_type: Some(op.into()),
            name: Some(at(what)),
            input: inputs.to_vec(),
            output: vec![if what == "out" { y.clone() } else { at(what) }],
            attribute,
            ..Default::default()
        };
        g.initializer.push(tensor_proto(&at("axes"), &Tensor::from_i64(vec![1], &[axis])));
        let keep = || vec![attrs::int("keepdims", 1)];
        nodes.push(node("ReduceMax", "max", std::slice::from_ref(x), vec![attrs::ints("axes", &[axis]), attrs::int("keepdims", 1)]));
        nodes.push(node("Sub", "shifted", &[x.clone(), at("max")], vec![]));
        nodes.push(node("Exp", "exp", &[at("shifted")], vec![]));
        nodes.push(node("ReduceSum", "sum", &[at("exp"), at("axes")], keep()));
        nodes.push(node("Log", "log", &[at("sum")], vec![]));
        nodes.push(node("Sub", "out", &[at("shifted"), at("log")], vec![]));
    }
    g.node = nodes;
}
