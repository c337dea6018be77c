//! `onyx import`: a model's nodes as a user choosing a cut needs them, and the classic cut points.
use std::collections::HashSet;

use crate::ir::{Graph, ValueId};

/// One node: what it computes, its shape, and the weights it is the first to read.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub node: String,
    pub op: String,
    pub output: String,
    pub shape: String,
    pub params: usize,
    /// Its output is a classic place to cut.
    pub cut_point: bool,
}

/// Ops of a classifier's top: the walk back from the output goes through them.
const TOP: &[&str] = &[
    "Softmax",
    "LogSoftmax",
    "Sigmoid",
    "Gemm",
    "MatMul",
    "Add",
    "Flatten",
    "Reshape",
    "Squeeze",
    "GlobalAveragePool",
    "AveragePool",
    "GlobalMaxPool",
    "ReduceMean",
    "Dropout",
    "Identity",
    "Relu",
];
/// Ops whose input is a cut point: the tensor before the final pooling, flatten or dense layer.
const CUT_BEFORE: &[&str] = &["Gemm", "MatMul", "Flatten", "Reshape", "Squeeze", "GlobalAveragePool", "AveragePool", "GlobalMaxPool", "ReduceMean"];

/// The tensors before the final pooling, flatten and dense (Gemm/MatMul) nodes, deepest first.
pub fn cut_points(graph: &Graph) -> Vec<ValueId> {
    let producer = |v: ValueId| graph.nodes.iter().find(|n| n.outputs.contains(&v));
    let mut points = vec![];
    let mut v = match graph.outputs.first() {
        Some(&v) => v,
        None => return points,
    };
    while let Some(n) = producer(v) {
        let op = n.op.op_type();
        if !TOP.contains(&op) {
            break;
        }
        // Follow the data, not a weight or a shape.
        let Some(&input) = n.inputs.iter().flatten().find(|i| graph.value(**i).init.is_none()) else { break };
        if CUT_BEFORE.contains(&op) && !points.contains(&input) {
            points.push(input);
        }
        v = input;
    }
    points.retain(|p| !graph.inputs.contains(p));
    points.reverse();
    points
}

pub fn rows(graph: &Graph) -> Vec<Row> {
    let cuts: HashSet<ValueId> = cut_points(graph).into_iter().collect();
    let mut counted: HashSet<ValueId> = HashSet::new();
    graph
        .nodes
        .iter()
        .map(|n| {
            let params = n
                .inputs
                .iter()
                .flatten()
                .filter(|&&i| graph.value(i).param.is_some() && counted.insert(i))
                .map(|&i| graph.value(i).init.as_ref().map_or(0, |t| t.len()))
                .sum();
            let out = n.outputs[0];
            Row {
                node: n.name.clone(),
                op: n.op.op_type().to_string(),
                output: graph.value(out).name.clone(),
                shape: graph.value(out).ty.to_string(),
                params,
                cut_point: n.outputs.iter().any(|o| cuts.contains(o)),
            }
        })
        .collect()
}
