//! Rewrites of ONNX models that let tract run what its importer refuses, applied by the tract
//! engine only. Each one answers a limit of tract's named in docs/engines.md, with a minimal model
//! that shows it in tests/tract_workarounds.rs.
use std::collections::HashSet;

use onyx_proto::onnx::{GraphProto, ModelProto, NodeProto, type_proto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

/// The model without the graph outputs that are not tensors (the sequences of maps of `ZipMap`,
/// which onyx does not carry) and without the nodes only they read: tract cannot make a typed plan
/// of ZipMap, and nothing onyx returns needs it.
pub fn without_non_tensor_outputs(model: &ModelProto) -> Option<ModelProto> {
    let graph = model.graph.as_ref()?;
    let is_tensor = |v: &onyx_proto::onnx::ValueInfoProto| {
        matches!(v.r#type.as_ref().and_then(|t| t.value.as_ref()), Some(type_proto::Value::TensorType(_)) | None)
    };
    if graph.output.iter().all(is_tensor) {
        return None;
    }
    let mut out = model.clone();
    let g = out.graph.as_mut()?;
    g.output.retain(is_tensor);
    prune_dead_nodes(g);
    Some(out)
}

/// Removes the nodes whose outputs nothing reads, back from the graph outputs.
fn prune_dead_nodes(g: &mut GraphProto) {
    let mut live: HashSet<String> = g.output.iter().filter_map(|o| o.name.clone()).collect();
    let mut keep = vec![false; g.node.len()];
    for (i, n) in g.node.iter().enumerate().rev() {
        if n.output.iter().any(|o| live.contains(o)) {
            keep[i] = true;
            live.extend(n.input.iter().cloned());
            // Values a subgraph reads from this scope.
            for a in &n.attribute {
                if let Some(sub) = &a.g {
                    live.extend(sub.node.iter().flat_map(|s| s.input.iter().cloned()));
                }
            }
        }
    }
    let mut flags = keep.into_iter();
    g.node.retain(|_| flags.next().unwrap_or(true));
}

/// `If` nodes whose condition tract can compute from the inputs' concrete facts (shapes, and the
/// values of scalar inputs), replaced by the branch they take. tract plans both branches of an If
/// and refuses one whose branches give outputs of different ranks, which exporters write for
/// `squeeze` on a dimension known only at run time (torch.onnx) or for a choice made on an input
/// (silero's sample rate). Returns `None` when no If could be resolved.
pub fn inline_known_ifs(model: &ModelProto, facts: &[InferenceFact]) -> Option<ModelProto> {
    let mut out = model.clone();
    let mut changed = false;
    // Inlining a branch can bring the Ifs nested in it to the top.
    for _ in 0..8 {
        let conditions = known_conditions(&out, facts);
        if conditions.is_empty() {
            break;
        }
        let g = out.graph.as_mut()?;
        let mut nodes = Vec::with_capacity(g.node.len());
        for n in std::mem::take(&mut g.node) {
            match conditions.iter().find(|(name, _)| *name == tract_name(&n)) {
                Some(&(_, taken)) => match branch(&n, taken) {
                    Some(b) => {
                        g.initializer.extend(b.initializer.iter().cloned());
                        nodes.extend(b.node.iter().cloned());
                        for (to, from) in n.output.iter().zip(&b.output) {
                            if !to.is_empty() {
                                nodes.push(identity(from.name.clone().unwrap_or_default(), to.clone()));
                            }
                        }
                        changed = true;
                    }
                    None => nodes.push(n),
                },
                None => nodes.push(n),
            }
        }
        g.node = nodes;
    }
    changed.then_some(out)
}

/// The name tract gives a node it imports (its own, else its first output's).
fn tract_name(n: &NodeProto) -> String {
    match n.name.as_deref().filter(|s| !s.is_empty()) {
        Some(name) => name.to_string(),
        None => n.output.first().cloned().unwrap_or_default(),
    }
}

fn branch(n: &NodeProto, taken: bool) -> Option<&GraphProto> {
    let key = if taken { "then_branch" } else { "else_branch" };
    n.attribute.iter().find(|a| a.name.as_deref() == Some(key)).and_then(|a| a.g.as_deref())
}

fn identity(from: String, to: String) -> NodeProto {
    NodeProto { op_type: Some("Identity".into()), name: Some(format!("{to}/inlined")), input: vec![from], output: vec![to], ..Default::default() }
}

/// The top-level If nodes whose condition tract's analysis finds constant, by tract's node name.
fn known_conditions(model: &ModelProto, facts: &[InferenceFact]) -> Vec<(String, bool)> {
    let Some(graph) = &model.graph else { return vec![] };
    let ifs: Vec<String> = graph.node.iter().filter(|n| n.op_type.as_deref() == Some("If")).map(tract_name).collect();
    if ifs.is_empty() {
        return vec![];
    }
    let bytes = onyx_proto::encode_model(model);
    let analysed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> TractResult<InferenceModel> {
        let mut m = tract_onnx::onnx().with_ignore_output_shapes(true).with_ignore_value_info(true).model_for_read(&mut bytes.as_slice())?;
        for (i, f) in facts.iter().enumerate() {
            m.set_input_fact(i, f.clone())?;
        }
        // Obstinate: facts upstream of the If that fails are still worked out.
        let _ = m.analyse(true);
        Ok(m)
    }));
    let Ok(Ok(m)) = analysed else { return vec![] };
    ifs.into_iter()
        .filter_map(|name| {
            let node = m.node_by_name(&name).ok()?;
            let fact = m.outlet_fact(*node.inputs.first()?).ok()?;
            let value = fact.value.concretize()?;
            let taken = value.cast_to_scalar::<bool>().ok()?;
            Some((name, taken))
        })
        .collect()
}
