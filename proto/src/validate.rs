//! Whether a model can be run at all: checks every command that runs a model makes before handing
//! it to an engine, and that `inspect` reports as warnings. The engines would otherwise accept some
//! of these silently (an opset they read with other semantics) or fail far from the cause.
use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::onnx::ModelProto;

/// The newest default-domain opset onyx knows the semantics of.
pub const NEWEST_OPSET: i64 = 21;

/// One reason a model cannot be run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The default domain's opset is newer than onyx knows.
    Opset { version: i64 },
    /// No opset of the default domain is imported.
    NoOpset,
    /// A node reads a value nothing defines.
    Undefined { node: String, value: String },
    /// Nodes that read each other's outputs: no order runs them.
    Cycle { nodes: Vec<String> },
    /// A graph output nothing defines.
    UndefinedOutput { name: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Opset { version } => {
                write!(f, "the model imports opset {version} of the default ONNX domain; onyx runs opsets up to {NEWEST_OPSET}")
            }
            Problem::NoOpset => write!(f, "the model imports no opset of the default ONNX domain"),
            Problem::Undefined { node, value } => write!(f, "node {node} reads `{value}`, which no initializer, graph input or node defines"),
            Problem::Cycle { nodes } => {
                let shown: Vec<&str> = nodes.iter().take(5).map(String::as_str).collect();
                let more = if nodes.len() > 5 { format!(" and {} more", nodes.len() - 5) } else { String::new() };
                write!(f, "the graph has a cycle: nodes {}{more} read each other's outputs", shown.join(", "))
            }
            Problem::UndefinedOutput { name } => write!(f, "graph output `{name}` is not defined by any initializer, graph input or node"),
        }
    }
}

/// Every problem of `model`'s main graph, in a stable order. Subgraphs (If, Loop, Scan bodies) may
/// read the outer graph's values, which the engines check themselves.
pub fn problems(model: &ModelProto) -> Vec<Problem> {
    let mut found = vec![];
    let default = model.opset_import.iter().find(|o| o.domain.as_deref().unwrap_or("").is_empty() || o.domain.as_deref() == Some("ai.onnx"));
    // A model of only other domains (ai.onnx.ml, say) needs no default opset.
    let uses_default = model.graph.iter().flat_map(|g| &g.node).any(|n| matches!(n.domain.as_deref(), None | Some("") | Some("ai.onnx")));
    match default.and_then(|o| o.version) {
        None if uses_default => found.push(Problem::NoOpset),
        None => {}
        Some(v) if v > NEWEST_OPSET => found.push(Problem::Opset { version: v }),
        Some(_) => {}
    }
    let Some(graph) = &model.graph else { return found };
    let mut defined: HashSet<&str> = graph.input.iter().filter_map(|v| v.name.as_deref()).collect();
    defined.extend(graph.initializer.iter().filter_map(|t| t.name.as_deref()));
    defined.extend(graph.sparse_initializer.iter().filter_map(|t| t.values.as_ref().and_then(|v| v.name.as_deref())));
    let produced: HashMap<&str, usize> =
        graph.node.iter().enumerate().flat_map(|(i, n)| n.output.iter().filter(|o| !o.is_empty()).map(move |o| (o.as_str(), i))).collect();
    let label = |i: usize| {
        let n = &graph.node[i];
        let op = n.op_type.as_deref().unwrap_or("?");
        match n.name.as_deref().filter(|s| !s.is_empty()) {
            Some(name) => format!("`{name}` ({op})"),
            None => format!("#{i} ({op})"),
        }
    };
    // Kahn's order over the nodes: what is left once nothing more can run reads undefined values or
    // sits on a cycle.
    let mut waiting: Vec<usize> = vec![0; graph.node.len()];
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        for input in n.input.iter().filter(|s| !s.is_empty()) {
            if defined.contains(input.as_str()) {
                continue;
            }
            match produced.get(input.as_str()) {
                Some(_) => {
                    waiting[i] += 1;
                    readers.entry(input.as_str()).or_default().push(i);
                }
                None => found.push(Problem::Undefined { node: label(i), value: input.clone() }),
            }
        }
    }
    let undefined_readers: HashSet<usize> = graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| n.input.iter().any(|s| !s.is_empty() && !defined.contains(s.as_str()) && !produced.contains_key(s.as_str())))
        .map(|(i, _)| i)
        .collect();
    let mut ready: Vec<usize> = (0..graph.node.len()).filter(|&i| waiting[i] == 0).collect();
    let mut ran = vec![false; graph.node.len()];
    while let Some(i) = ready.pop() {
        ran[i] = true;
        for o in graph.node[i].output.iter().filter(|o| !o.is_empty()) {
            for &r in readers.get(o.as_str()).map_or(&[][..], Vec::as_slice) {
                waiting[r] -= 1;
                if waiting[r] == 0 {
                    ready.push(r);
                }
            }
        }
    }
    // Nodes left waiting only because an undefined value starves them are not a cycle.
    let stuck: Vec<usize> = (0..graph.node.len()).filter(|&i| !ran[i] && !undefined_readers.contains(&i)).collect();
    if !stuck.is_empty() && stuck.iter().any(|&i| waits_on_itself(graph, i, &produced)) {
        found.push(Problem::Cycle { nodes: stuck.iter().filter(|&&i| waits_on_itself(graph, i, &produced)).map(|&i| label(i)).collect() });
    }
    for o in &graph.output {
        let name = o.name.as_deref().unwrap_or("");
        if !defined.contains(name) && !produced.contains_key(name) {
            found.push(Problem::UndefinedOutput { name: name.to_string() });
        }
    }
    found
}

/// Whether node `start` reads, through other nodes, one of its own outputs.
fn waits_on_itself(graph: &crate::onnx::GraphProto, start: usize, produced: &HashMap<&str, usize>) -> bool {
    let mut seen = HashSet::new();
    let mut stack: Vec<usize> = graph.node[start].input.iter().filter_map(|s| produced.get(s.as_str()).copied()).collect();
    while let Some(i) = stack.pop() {
        if i == start {
            return true;
        }
        if seen.insert(i) {
            stack.extend(graph.node[i].input.iter().filter_map(|s| produced.get(s.as_str()).copied()));
        }
    }
    false
}

/// `Ok` when the model can be run, else the first problem as an error.
pub fn check_runnable(model: &ModelProto) -> Result<(), crate::ProtoError> {
    match problems(model).into_iter().next() {
        None => Ok(()),
        Some(p) => Err(crate::ProtoError::NotRunnable { problem: p.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{GraphProto, NodeProto, OperatorSetIdProto, ValueInfoProto};

    fn node(name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
        NodeProto {
            name: Some(name.into()),
            op_type: Some("Relu".into()),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn model(opset: i64, nodes: Vec<NodeProto>, output: &str) -> ModelProto {
        ModelProto {
            opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(opset) }],
            graph: Some(GraphProto {
                node: nodes,
                input: vec![ValueInfoProto { name: Some("x".into()), ..Default::default() }],
                output: vec![ValueInfoProto { name: Some(output.into()), ..Default::default() }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn sound_graphs_have_no_problems_in_any_order() {
        // Listed out of order, but no cycle: engines sort it.
        let m = model(17, vec![node("b", &["a"], &["y"]), node("a", &["x"], &["a"])], "y");
        assert_eq!(problems(&m), vec![]);
    }

    #[test]
    fn newer_opsets_cycles_and_undefined_values_are_named() {
        assert_eq!(problems(&model(999, vec![node("a", &["x"], &["y"])], "y")), vec![Problem::Opset { version: 999 }]);
        let cycle = model(17, vec![node("a", &["x", "c"], &["b"]), node("c", &["b"], &["c"]), node("out", &["b"], &["y"])], "y");
        let found = problems(&cycle);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(matches!(&found[0], Problem::Cycle { nodes } if nodes.len() == 2), "{found:?}");
        assert!(found[0].to_string().contains("`a` (Relu)"), "{}", found[0]);
        let undefined = model(17, vec![node("a", &["x", "ghost"], &["y"])], "y");
        assert_eq!(problems(&undefined), vec![Problem::Undefined { node: "`a` (Relu)".into(), value: "ghost".into() }]);
        assert_eq!(problems(&model(17, vec![], "nowhere")), vec![Problem::UndefinedOutput { name: "nowhere".into() }]);
        assert!(check_runnable(&model(22, vec![node("a", &["x"], &["y"])], "y")).unwrap_err().to_string().contains("opset 22"));
    }
}
