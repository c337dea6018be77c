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
///
/// Example: onyx import silero_vad.onnx --input-shape input=1,512 --input-shape state=2,1,128 --input-value sr=16000
#[derive(clap::Args)]
pub struct Args {
    /// The model (.onnx).
    model: PathBuf,
    /// An input's shape, NAME=D1,D2,...: each dimension a size or a symbol (`N` keeps the batch
    /// open). Repeat it for several inputs.
    #[arg(long = "input-shape", value_name = "NAME=DIMS", value_parser = parse_input_shape)]
    input_shape: Vec<(String, Vec<Dim>)>,
    /// Bind an input to values, NAME=V1,V2,... (int64 or float32, as many as its shape holds): it
    /// becomes a constant, and what depends on it alone (an `If` on a sample rate) folds at import.
    #[arg(long = "input-value", value_name = "NAME=VALUES", value_parser = parse_input_value)]
    input_value: Vec<(String, Vec<f64>)>,
}

/// `NAME=16000` or `NAME=1,2,3`.
fn parse_input_value(text: &str) -> Result<(String, Vec<f64>), String> {
    let (name, values) =
        text.rsplit_once('=').filter(|(n, _)| !n.is_empty()).ok_or_else(|| format!("`{text}` is not NAME=V1,V2,... (e.g. sr=16000)"))?;
    let values = values
        .split(',')
        .map(|v| v.trim().parse::<f64>().map_err(|_| format!("value `{v}` of `{name}` is not a number")))
        .collect::<Result<_, _>>()?;
    Ok((name.to_string(), values))
}

/// The constant an input is bound to: its declared type, the shape its declared (or given) sizes
/// fix, else one dimension of the values given.
fn bound_value(
    proto: &onyx_proto::onnx::ModelProto,
    shapes: &[(String, Vec<Dim>)],
    (name, values): &(String, Vec<f64>),
) -> anyhow::Result<(String, onyx_compiler::ir::Tensor)> {
    use onyx_compiler::ir::{DType, Tensor};
    let declared = proto.graph.iter().flat_map(|g| &g.input).find(|v| v.name.as_deref() == Some(name.as_str()));
    let Some(declared) = declared else { anyhow::bail!("--input-value {name}: the model has no such input") };
    let ty = onyx_compiler::import::read_type(declared).map_err(|e| anyhow::anyhow!("--input-value {name}: the input {e}"))?;
    let dims: Vec<Dim> = shapes.iter().find(|(n, _)| n == name).map_or(ty.shape.clone(), |(_, d)| d.clone());
    let fixed: Option<Vec<usize>> = dims.iter().map(Dim::fixed).collect();
    let shape = match fixed {
        Some(f) if f.iter().product::<usize>() == values.len() => f,
        _ if dims.len() == 1 => vec![values.len()],
        _ => anyhow::bail!("--input-value {name}: {} values do not fill its shape {}", values.len(), ty),
    };
    let tensor = match ty.dtype {
        DType::I64 if values.iter().all(|v| v.fract() == 0.0) => Tensor::from_i64(shape, &values.iter().map(|&v| v as i64).collect::<Vec<_>>()),
        DType::F32 => Tensor::from_f32(shape, &values.iter().map(|&v| v as f32).collect::<Vec<_>>()),
        other => anyhow::bail!("--input-value {name}: binds int64 (whole numbers) and float32 inputs; this one is {other}"),
    };
    Ok((name.clone(), tensor))
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
    let values = args.input_value.iter().map(|v| bound_value(&proto, &args.input_shape, v)).collect::<anyhow::Result<Vec<_>>>()?;
    let graph =
        onyx_compiler::import_with_values(&proto, &args.input_shape, &values).with_context(|| format!("importing {}", args.model.display()))?;
    let rows = onyx_compiler::transfer::rows(&graph);
    let width = |f: &dyn Fn(&onyx_compiler::transfer::Row) -> usize, min: usize| rows.iter().map(f).max().unwrap_or(0).max(min);
    let (wn, wo, wt, ws) =
        (width(&|r| r.node.chars().count(), 4), width(&|r| r.op.len(), 2), width(&|r| r.output.chars().count(), 6), width(&|r| r.shape.len(), 5));
    let mut out = String::new();
    let _ = writeln!(out, "  {:>4}  {:<wn$}  {:<wo$}  {:<wt$}  {:<ws$}  {:>11}", "#", "node", "op", "output", "shape", "params");
    for (i, r) in rows.iter().enumerate() {
        let mark = if r.cut_point { "▶" } else { " " };
        let _ = writeln!(out, "{mark} {i:>4}  {:<wn$}  {:<wo$}  {:<wt$}  {:<ws$}  {:>11}", r.node, r.op, r.output, r.shape, thousands(r.params));
    }
    let (trainable, non) = graph.stored_param_counts();
    let _ = writeln!(
        out,
        "\n{} nodes, {} parameters ({} of them batch-normalization statistics or otherwise frozen)",
        rows.len(),
        thousands(trainable + non),
        thousands(non)
    );
    let cuts = onyx_compiler::transfer::cut_points(&graph);
    if cuts.is_empty() {
        let _ = writeln!(out, "no classic cut point found: cut at any output tensor above");
    } else {
        let names: Vec<String> = cuts.iter().map(|&c| format!("`{}` {}", graph.value(c).name, graph.value(c).ty)).collect();
        let _ = writeln!(out, "▶ classic cut points (deepest first): {}", names.join(", "));
        let _ = writeln!(
            out,
            "use one in a spec: [model] base = {{ onnx = \"{}\", cut = \"{}\", trainable = false }}",
            args.model.display(),
            graph.value(cuts[0]).name
        );
    }
    super::print(&out)
}
