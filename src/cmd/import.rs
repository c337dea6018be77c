use std::fmt::Write;
use std::path::PathBuf;

use anyhow::Context;
use onyx_compiler::summary::thousands;

/// List a pretrained ONNX model's nodes to choose where to cut it for transfer learning: each node's
/// output tensor, its shape and the parameters it holds, with the classic cut points (the tensors
/// before the final pooling, flatten and dense nodes) marked. Opsets 9 to 21 are read and converted
/// to the opset onyx writes.
///
/// Example: onyx import light_resnet50.onnx
#[derive(clap::Args)]
pub struct Args {
    /// The model (.onnx).
    model: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let proto = onyx_proto::read_model(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let graph = onyx_compiler::import(&proto).with_context(|| format!("importing {}", args.model.display()))?;
    let rows = onyx_compiler::transfer::rows(&graph);
    let width = |f: &dyn Fn(&onyx_compiler::transfer::Row) -> usize, min: usize| rows.iter().map(f).max().unwrap_or(0).max(min);
    let (wn, wo, wt, ws) = (width(&|r| r.node.chars().count(), 4), width(&|r| r.op.len(), 2), width(&|r| r.output.chars().count(), 6), width(&|r| r.shape.len(), 5));
    let mut out = String::new();
    let _ = writeln!(out, "  {:>4}  {:<wn$}  {:<wo$}  {:<wt$}  {:<ws$}  {:>11}", "#", "node", "op", "output", "shape", "params");
    for (i, r) in rows.iter().enumerate() {
        let mark = if r.cut_point { "▶" } else { " " };
        let _ = writeln!(out, "{mark} {i:>4}  {:<wn$}  {:<wo$}  {:<wt$}  {:<ws$}  {:>11}", r.node, r.op, r.output, r.shape, thousands(r.params));
    }
    let (trainable, non) = graph.stored_param_counts();
    let _ = writeln!(out, "\n{} nodes, {} parameters ({} of them batch-normalization statistics or otherwise frozen)", rows.len(), thousands(trainable + non), thousands(non));
    let cuts = onyx_compiler::transfer::cut_points(&graph);
    if cuts.is_empty() {
        let _ = writeln!(out, "no classic cut point found: cut at any output tensor above");
    } else {
        let names: Vec<String> = cuts.iter().map(|&c| format!("`{}` {}", graph.value(c).name, graph.value(c).ty)).collect();
        let _ = writeln!(out, "▶ classic cut points (deepest first): {}", names.join(", "));
        let _ = writeln!(out, "use one in a spec: [model] base = {{ onnx = \"{}\", cut = \"{}\", trainable = false }}", args.model.display(), graph.value(cuts[0]).name);
    }
    super::print(&out)
}
