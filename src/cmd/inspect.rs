use std::fmt::Write;
use std::path::PathBuf;

use anyhow::Context;
use onyx_compiler::summary::thousands;

/// Describe any ONNX model: inputs, outputs, opsets, op histogram, parameters.
///
/// Example: onyx inspect mnist_cnn.onnx
#[derive(clap::Args)]
pub struct Args {
    /// The model (.onnx).
    model: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let proto = onyx_proto::read_model(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let i = onyx_compiler::inspect::inspect(&proto);
    let mut out = String::new();
    let _ = writeln!(out, "model:      {}", args.model.display());
    let _ = writeln!(out, "producer:   {}", if i.producer.is_empty() { "(unknown)" } else { &i.producer });
    let opsets: Vec<String> =
        i.opsets.iter().map(|(d, v)| format!("{}{v}", if d.is_empty() { "ai.onnx ".to_string() } else { format!("{d} ") })).collect();
    let _ = writeln!(out, "ir version: {}   opsets: {}", i.ir_version, opsets.join(", "));
    for (name, ty) in &i.inputs {
        let _ = writeln!(out, "input:      {name}: {ty}");
    }
    for (name, ty) in &i.outputs {
        let _ = writeln!(out, "output:     {name}: {ty}");
    }
    let _ = writeln!(out, "parameters: {} ({} bytes)", thousands(i.params as usize), thousands(i.param_bytes as usize));
    let _ = writeln!(out, "nodes:      {}", i.nodes);
    for (op, count) in &i.ops {
        let _ = writeln!(out, "  {op:<24} {count:>6}");
    }
    for (k, v) in &i.metadata {
        let _ = writeln!(out, "metadata:   {k} = {v}");
    }
    // Described all the same, but no command will run it.
    for problem in onyx_proto::validate::problems(&proto) {
        let _ = writeln!(out, "warning:    {problem}");
    }
    super::print(&out)
}
