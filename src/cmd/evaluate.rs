use std::fmt::Write;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use onyx_runtime::data::{read_image_folder_for, read_labelled, read_series, windows};
use onyx_runtime::evaluate::{Evaluation, Evaluator};

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
    let proto = onyx_proto::read_model(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let graph = onyx_compiler::import(&proto).with_context(|| format!("importing {}", args.model.display()))?;
    let meta = |key: &str| graph.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let mut train = match meta(onyx_compiler::metadata::TRAIN_KEY) {
        Some(stored) => onyx_compiler::spec::parse_train(&PathBuf::from(format!("{} (metadata onyx.train).json", args.model.display())), stored)?,
        None if args.loss.is_some() => onyx_compiler::spec::parse_train(&PathBuf::from("--loss"), "{}".into())?,
        None => bail!("{} holds no training settings (metadata onyx.train); give --loss (and --metrics)", args.model.display()),
    };
    if let Some(loss) = &args.loss {
        train.loss = Some(loss.clone());
    }
    if let Some(metrics) = &args.metrics {
        train.metrics = metrics.clone();
    }
    let [input] = graph.inputs.as_slice() else { bail!("onyx evaluate feeds one model input; this model has {}", graph.inputs.len()) };
    let v = graph.value(*input);
    let info = onyx_runtime::IoInfo { name: v.name.clone(), dtype: v.ty.dtype, shape: v.ty.shape.clone() };
    let mut evaluator = Evaluator::new(engine.as_ref(), &graph, &train)?;
    let classes = onyx_runtime::classes::class_names(&proto);
    let (x, y) = match args.window {
        Some(window) => {
            let (_, series) = read_series(&args.data, args.target.as_deref())?;
            windows(&series, window as usize, args.horizon as usize).map_err(|m| anyhow!("{}: {m}", args.data.display()))?
        }
        None if args.data.is_dir() => {
            // Labels mean what they meant in training: the model's classes, where it keeps them.
            let folder = read_image_folder_for(&args.data, &info, &graph.metadata, classes.as_deref())?;
            (folder.x, folder.y)
        }
        None => read_labelled(&args.data, &info, evaluator.target_type(), args.target.as_deref())?,
    };
    let result = evaluator.evaluate(&x, &y, args.batch_size as usize, classes.as_deref())?;
    if let (Some(png), Some(c)) = (&args.plot, &result.confusion) {
        let title = format!(
            "{}: confusion matrix",
            args.model.file_name().map_or_else(|| args.model.display().to_string(), |f| f.to_string_lossy().to_string())
        );
        onyx_runtime::plot::confusion_matrix(png, &title, &c.labels, &c.counts)?;
        eprintln!("wrote {}", png.display());
    } else if args.plot.is_some() {
        bail!("--plot draws a classifier's confusion matrix; the loss `{}` is not a classification loss", train.loss.as_deref().unwrap_or("?"));
    }
    super::print(&match args.format {
        Format::Text => text(&result),
        Format::Json => serde_json::to_string_pretty(&json(&result))? + "\n",
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
