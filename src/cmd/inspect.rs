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
    println!("model:      {}", args.model.display());
    println!("producer:   {}", if i.producer.is_empty() { "(unknown)" } else { &i.producer });
    let opsets: Vec<String> = i.opsets.iter().map(|(d, v)| format!("{}{v}", if d.is_empty() { "ai.onnx " .to_string() } else { format!("{d} ") })).collect();
    println!("ir version: {}   opsets: {}", i.ir_version, opsets.join(", "));
    for (name, ty) in &i.inputs {
        println!("input:      {name}: {ty}");
    }
    for (name, ty) in &i.outputs {
        println!("output:     {name}: {ty}");
    }
    println!("parameters: {} ({} bytes)", thousands(i.params as usize), thousands(i.param_bytes as usize));
    println!("nodes:      {}", i.nodes);
    for (op, count) in &i.ops {
        println!("  {op:<24} {count:>6}");
    }
    for (k, v) in &i.metadata {
        println!("metadata:   {k} = {v}");
    }
    Ok(())
}
