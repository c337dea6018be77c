//! A readable text form of a compiled graph (ops, shapes, parameters), for snapshot tests and review.
use std::fmt::Write;

use onyx_proto::onnx::AttributeProto;

use crate::ir::Graph;

fn attribute(a: &AttributeProto) -> String {
    let name = a.name.clone().unwrap_or_default();
    let value = if let Some(i) = a.i {
        i.to_string()
    } else if let Some(f) = a.f {
        format!("{f}")
    } else if let Some(s) = &a.s {
        format!("{:?}", String::from_utf8_lossy(s))
    } else if !a.ints.is_empty() {
        format!("{:?}", a.ints)
    } else if !a.floats.is_empty() {
        format!("{:?}", a.floats)
    } else {
        format!("{:?}", a.strings.iter().map(|s| String::from_utf8_lossy(s).to_string()).collect::<Vec<_>>())
    };
    format!("{name}={value}")
}

pub fn dump(graph: &Graph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "graph {}", graph.name);
    for &i in &graph.inputs {
        let v = graph.value(i);
        let _ = writeln!(out, "  input  {}: {}", v.name, v.ty);
    }
    for v in &graph.values {
        if let Some(t) = &v.init {
            let role = match &v.param {
                Some(p) if p.trainable => "param ",
                Some(_) => "state ",
                None => "const ",
            };
            let values = match (t.len() <= 4, t.as_f32(), t.as_i64()) {
                (true, Some(f), _) => format!(" = {f:?}"),
                (true, _, Some(i)) => format!(" = {i:?}"),
                _ => String::new(),
            };
            let _ = writeln!(out, "  {role} {}: {} ({} elements){values}", v.name, v.ty, t.len());
        }
    }
    for n in &graph.nodes {
        let inputs: Vec<String> = n.inputs.iter().map(|i| i.map_or(String::new(), |i| graph.value(i).name.clone())).collect();
        let outputs: Vec<String> = n.outputs.iter().map(|&o| format!("{}: {}", graph.value(o).name, graph.value(o).ty)).collect();
        let attrs: Vec<String> = n.op.attributes().iter().map(attribute).collect();
        let attrs = if attrs.is_empty() { String::new() } else { format!(" {{{}}}", attrs.join(", ")) };
        let _ = writeln!(out, "  {} = {}({}){}", outputs.join(", "), n.op.op_type(), inputs.join(", "), attrs);
    }
    for &o in &graph.outputs {
        let v = graph.value(o);
        let _ = writeln!(out, "  output {}: {}", v.name, v.ty);
    }
    let (t, n) = graph.stored_param_counts();
    let _ = writeln!(out, "  stored parameters: {t} trainable, {n} non-trainable");
    out
}
