use std::fmt::Write;
use std::path::PathBuf;

use anyhow::bail;
use onyx::evaluate::{EvaluateOptions, Evaluated, Evaluation, evaluate};
use onyx::train::Data;

/// Measure a trained model on data, as Keras' model.evaluate: the loss and metrics of its stored
/// [train] settings (or --loss / --metrics), and a confusion matrix for classifiers.
///
/// Examples: onyx evaluate bc.onnx --data test.csv --target benign
///           onyx evaluate head.onnx --data test_images/ --plot cm.png
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    engine: super::engine::EngineArgs,
    /// The trained model (.onnx).
    model: PathBuf,
    /// The data: CSV, NPY or NPZ as `onyx train` reads it, a folder of class folders of images, or a
    /// series with --window.
    #[arg(long)]
    data: PathBuf,
    /// The target column of a CSV (the last by default) or of a series.
    #[arg(long)]
    target: Option<String>,
    /// The loss, in place of the stored one.
    #[arg(long)]
    loss: Option<String>,
    /// The metrics, comma-separated, in place of the stored ones.
    #[arg(long, value_delimiter = ',')]
    metrics: Option<Vec<String>>,
    /// Read the data as a series: windows of this many values, each predicting the next.
    #[arg(long)]
    window: Option<u32>,
    /// With --window: how many steps ahead each window predicts.
    #[arg(long, default_value_t = 1, requires = "window")]
    horizon: u32,
    /// Samples per batch (Keras' default, 32).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
    /// Draw a classifier's confusion matrix as a PNG.
    #[arg(long, value_name = "PNG")]
    plot: Option<PathBuf>,
    /// `text`: one `name value` line per figure, then the confusion matrix; `json`: one object.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let engine = args.engine.engine()?;
    let options = EvaluateOptions {
        target: args.target,
        loss: args.loss,
        metrics: args.metrics,
        window: args.window.map(|w| w as usize),
        horizon: args.horizon as usize,
        batch_size: args.batch_size as usize,
    };
    let Evaluated { evaluation, loss } = evaluate(&args.model, &Data::Path(args.data), &options, engine.as_ref())?;
    match (&args.plot, &evaluation.confusion) {
        (Some(png), Some(c)) => {
            let name = args.model.file_name().map_or_else(|| args.model.display().to_string(), |f| f.to_string_lossy().to_string());
            onyx_runtime::plot::confusion_matrix(png, &format!("{name}: confusion matrix"), &c.labels, &c.counts)?;
            eprintln!("wrote {}", png.display());
        }
        (Some(_), None) => bail!("--plot draws a classifier's confusion matrix; the loss `{loss}` is not a classification loss"),
        (None, _) => {}
    }
    super::print(&match args.format {
        Format::Text => text(&evaluation),
        Format::Json => serde_json::to_string_pretty(&json(&evaluation))? + "\n",
    })
}

fn text(r: &Evaluation) -> String {
    let mut out = format!("loss {}\n", r.loss);
    for (name, value) in &r.metrics {
        let _ = writeln!(out, "{name} {value}");
    }
    if let Some(c) = &r.confusion {
        let width = c.labels.iter().map(String::len).chain(c.counts.iter().flatten().map(|n| n.to_string().len())).max().unwrap_or(1).max(4);
        let _ = writeln!(out, "\nconfusion matrix (rows: true, columns: predicted)");
        let _ = writeln!(out, "{:>width$} {}", "", c.labels.iter().map(|l| format!("{l:>width$}")).collect::<Vec<_>>().join(" "));
        for (label, row) in c.labels.iter().zip(&c.counts) {
            let _ = writeln!(out, "{label:>width$} {}", row.iter().map(|n| format!("{n:>width$}")).collect::<Vec<_>>().join(" "));
        }
    }
    out
}

fn json(r: &Evaluation) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    object.insert("loss".into(), serde_json::json!(r.loss));
    for (name, value) in &r.metrics {
        object.insert(name.clone(), serde_json::json!(value));
    }
    if let Some(c) = &r.confusion {
        object.insert("confusion_matrix".into(), serde_json::json!({ "labels": c.labels, "counts": c.counts }));
    }
    serde_json::Value::Object(object)
}
