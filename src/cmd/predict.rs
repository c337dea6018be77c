use std::path::PathBuf;

use anyhow::{Context, bail};
use onyx_runtime::Session;
use onyx_runtime::data::{self, OutputFormat};

/// Run a model on inputs from a CSV, NPY or NPZ file, or forecast a series.
///
/// Examples: onyx predict model.onnx --input x.csv -o predictions.csv
///           onyx predict sunspots.onnx --series data/sunspots.csv --steps 10 --plot forecast.png
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    engine: super::engine::EngineArgs,
    /// The model (.onnx).
    model: PathBuf,
    /// Inputs: .csv (one sample a row), .npy, .npz (arrays named after the inputs), or a folder of
    /// PNG/JPEG images (flat, or in class folders) for an image model: one row per file, its top
    /// classes and their probabilities.
    #[arg(short, long, required_unless_present = "series", conflicts_with = "series")]
    input: Option<PathBuf>,
    /// Forecast a series instead: a CSV read as `onyx train --window` reads it, its last window (the
    /// model's input length) giving the forecast, printed as `step,forecast`.
    #[arg(long, value_name = "CSV")]
    series: Option<PathBuf>,
    /// With --series: the column (the last by default).
    #[arg(long, requires = "series")]
    column: Option<String>,
    /// With --series: how many steps to forecast, each from a window ending with the forecasts so far.
    #[arg(long, default_value_t = 1, requires = "series", value_parser = clap::value_parser!(u32).range(1..))]
    steps: u32,
    /// With --series: draw the series, the model's one-step fit on its last part (--validation-split)
    /// and the forecast as a PNG.
    #[arg(long, value_name = "PNG", requires = "series")]
    plot: Option<PathBuf>,
    /// With --plot: the last fraction of the series whose one-step forecasts are drawn.
    #[arg(long, default_value_t = 0.2, requires = "plot")]
    validation_split: f64,
    /// Where to write predictions (.csv, .npy, .npz or .json); CSV on stdout by default.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Format for stdout when no --output is given.
    #[arg(long, value_enum, default_value = "csv")]
    format: StdoutFormat,
    /// With a folder of images: how many classes each row names, most probable first.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    top: u32,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StdoutFormat {
    Csv,
    Json,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let proto = onyx_proto::read_model(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let session = args.engine.engine()?.load(&proto)?;
    let Some(input) = &args.input else { return forecast(&args, session.as_ref()) };
    if input.is_dir() {
        return classify_images(&args, input, &proto, session.as_ref());
    }
    let read = data::read_inputs_noted(input, session.inputs())?;
    for note in &read.notes {
        eprintln!("note: {note}");
    }
    let inputs = read.tensors;
    let outputs = session.run(&inputs)?;
    match &args.output {
        Some(path) => {
            data::write_outputs(path, session.outputs(), &outputs)?;
            eprintln!("wrote {} predictions to {}", inputs[0].shape().first().copied().unwrap_or(0), path.display());
        }
        None => {
            let format = match args.format {
                StdoutFormat::Csv => OutputFormat::Csv,
                StdoutFormat::Json => OutputFormat::Json,
            };
            let bytes = data::encode_outputs(format, session.outputs(), &outputs, std::path::Path::new("<stdout>"))?;
            super::print(&String::from_utf8_lossy(&bytes))?;
        }
    }
    Ok(())
}

/// `onyx predict --series`: the forecast after the series' end, and optionally its picture.
fn forecast(args: &Args, session: &dyn Session) -> anyhow::Result<()> {
    let Some(path) = &args.series else { bail!("give --input or --series") };
    let info = &session.inputs()[0];
    let window =
        match (session.inputs().len(), info.shape.get(1).and_then(|d| d.fixed()), info.shape.get(2).and_then(|d| d.fixed()), info.shape.len()) {
            (1, Some(w), Some(1), 3) => w,
            _ => bail!("--series needs a model of one (window, 1) input, but it takes {}", info.describe()),
        };
    let (column, mut series) = data::read_series(path, args.column.as_deref())?;
    let known = series.len();
    if known < window {
        bail!("{}: {known} values, fewer than the model's window of {window}", path.display());
    }
    let mut text = format!("step,{column}\n");
    for _ in 0..args.steps {
        let next = session.run(&[data::windows_ending(&series, window, &[series.len()])])?.remove(0).to_f64_vec()[0];
        text += &format!("{},{next}\n", series.len());
        series.push(next);
    }
    super::print(&text)?;
    if let Some(png) = &args.plot {
        if !(0.0..1.0).contains(&args.validation_split) {
            bail!("--validation-split must be in [0, 1), got {}", args.validation_split);
        }
        // One-step forecasts of the last part, each from the true values before it.
        let first = (known - ((known - window) as f64 * args.validation_split).floor() as usize).max(window);
        let ends: Vec<usize> = (first..known).collect();
        let fitted = if ends.is_empty() { vec![] } else { session.run(&[data::windows_ending(&series, window, &ends)])?.remove(0).to_f64_vec() };
        let points =
            |range: std::ops::Range<usize>, values: &[f64]| -> Vec<(f64, f64)> { range.map(|i| i as f64).zip(values.iter().copied()).collect() };
        let mut ahead = points(known - 1..series.len(), &series[known - 1..]);
        ahead.truncate(args.steps as usize + 1);
        let lines = [("series", points(0..known, &series[..known])), ("one-step fit", points(first..known, &fitted)), ("forecast", ahead)];
        onyx_runtime::plot::line_chart(
            png,
            &format!(
                "{column}: forecast by {}",
                args.model.file_name().map_or_else(|| args.model.display().to_string(), |f| f.to_string_lossy().to_string())
            ),
            ("step", &column),
            &lines,
        )?;
        eprintln!("wrote {}", png.display());
    }
    Ok(())
}

/// `onyx predict --input DIR`: one CSV row per image file, its `--top` classes (by name where the
/// model keeps them) and their probabilities. Images are read a batch at a time.
fn classify_images(args: &Args, dir: &std::path::Path, proto: &onyx_proto::onnx::ModelProto, session: &dyn Session) -> anyhow::Result<()> {
    const BATCH: usize = 64;
    let files = data::image_files(dir)?;
    let [info] = session.inputs() else { bail!("a folder of images feeds a model of one input; this one takes {}", session.inputs().len()) };
    let names = onyx_runtime::classes::class_names(proto);
    let metadata: Vec<(String, String)> =
        proto.metadata_props.iter().map(|p| (p.key.clone().unwrap_or_default(), p.value.clone().unwrap_or_default())).collect();
    let format = onyx_compiler::image_format::ImageFormat::of(&info.shape, &metadata);
    let top = args.top as usize;
    let mut header = vec!["path".to_string()];
    for k in 1..=top {
        let suffix = if top == 1 { String::new() } else { format!("_{k}") };
        header.extend([format!("class{suffix}"), format!("probability{suffix}")]);
    }
    let mut text = header.join(",") + "\n";
    for chunk in files.chunks(BATCH) {
        let x = data::read_images(chunk, info, format)?;
        let y = session.run(&[x])?.remove(0);
        let width = y.shape().iter().skip(1).product::<usize>().max(1);
        for (file, row) in chunk.iter().zip(y.to_f64_vec().chunks(width)) {
            let mut cells = vec![csv_field(&file.display().to_string())];
            for (class, p) in onyx_runtime::classes::top_k(row, top) {
                cells.push(csv_field(&names.as_ref().and_then(|n| n.get(class).cloned()).unwrap_or_else(|| class.to_string())));
                cells.push(onyx_runtime::tensor::shortest(p as f32));
            }
            text += &(cells.join(",") + "\n");
        }
    }
    match &args.output {
        Some(path) => {
            onyx_proto::atomic_write(path, text.as_bytes())?;
            eprintln!("wrote {} predictions to {}", files.len(), path.display());
            Ok(())
        }
        None => super::print(&text),
    }
}

/// A CSV field, quoted where it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}
