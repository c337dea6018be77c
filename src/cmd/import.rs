use std::fmt::Write;
use std::path::PathBuf;

use anyhow::Context;
use onyx_compiler::ir::Dim;
use onyx_compiler::summary::thousands;

/// List a pretrained ONNX model's nodes to choose where to cut it for transfer learning: each node's
/// output tensor, its shape and the parameters it holds, with the classic cut points (the tensors
/// before the final pooling, flatten and dense nodes) marked. Opsets 9 to 21 are read and converted
/// to the opset onyx writes.
///
/// Inputs whose sizes the model leaves open (an image's height and width, a sequence's length) can
/// be given with `--input-shape`: convolutions need them known, and with them known the shape
/// arithmetic exporters write (and the `If` it decides) folds to constants.
///
/// Example: onyx import light_resnet50.onnx
///
/// Example: onyx import ch_PP-OCRv4_det_infer.onnx --input-shape x=N,3,640,640
#[derive(clap::Args)]
pub struct Args {
    /// The model (.onnx).
    model: PathBuf,
    /// An input's shape, NAME=D1,D2,...: each dimension a size or a symbol (`N` keeps the batch
    /// open). Repeat it for several inputs.
    #[arg(long = "input-shape", value_name = "NAME=DIMS", value_parser = parse_input_shape)]
    input_shape: Vec<(String, Vec<Dim>)>,
}

/// `NAME=1,3,48,192` (a dimension that is not a number is a symbol, such as `N`).
fn parse_input_shape(text: &str) -> Result<(String, Vec<Dim>), String> {
    let (name, dims) = text.rsplit_once('=').ok_or_else(|| format!("`{text}` is not NAME=D1,D2,... (e.g. x=1,3,48,192)"))?;
    if name.is_empty() {
        return Err(format!("`{text}` names no input"));
    }
    let dims = if dims.trim().is_empty() { vec![] } else { dims.split(',').map(str::trim).collect() };
    let dims = dims
        .into_iter()
        .map(|d| match d.parse::<usize>() {
            Ok(n) => Ok(Dim::Fixed(n)),
            Err(_) if d.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') => Ok(Dim::Sym(d.to_string())),
            Err(_) => Err(format!("dimension `{d}` of `{name}` is neither a size nor a symbol")),
        })
        .collect::<Result<_, _>>()?;
    Ok((name.to_string(), dims))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let proto = onyx_proto::read_model(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let graph = onyx_compiler::import_with_shapes(&proto, &args.input_shape).with_context(|| format!("importing {}", args.model.display()))?;
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
