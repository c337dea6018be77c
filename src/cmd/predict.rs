use std::path::PathBuf;

use anyhow::{Context, bail};
use onyx::predict::Predictor;
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
    /// Feed NaN and infinities to the model, for a model that handles them (refused otherwise).
    #[arg(long)]
    allow_nan: bool,
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
    let predictor = Predictor::load(&args.model, args.engine.engine()?.as_ref())?;
    let Some(input) = &args.input else { return forecast(&args, &predictor) };
    if input.is_dir() {
        return classify_images(&args, input, &predictor);
    }
    let read = predictor.read_inputs(input, args.allow_nan)?;
    for note in &read.notes {
        eprintln!("note: {note}");
    }
    let outputs = predictor.run(&read.tensors)?;
    match &args.output {
        Some(path) => {
            data::write_outputs(path, predictor.outputs(), &outputs)?;
            eprintln!("wrote {} predictions to {}", read.tensors[0].shape().first().copied().unwrap_or(0), path.display());
        }
        None => {
            let format = match args.format {
                StdoutFormat::Csv => OutputFormat::Csv,
                StdoutFormat::Json => OutputFormat::Json,
            };
            let bytes = data::encode_outputs(format, predictor.outputs(), &outputs, std::path::Path::new("<stdout>"))?;
            super::print(&String::from_utf8_lossy(&bytes))?;
        }
    }
    Ok(())
}

/// `onyx predict --series`: the forecast after the series' end, and optionally its picture.
fn forecast(args: &Args, predictor: &Predictor) -> anyhow::Result<()> {
    let Some(path) = &args.series else { bail!("give --input or --series") };
    let (column, series) = data::read_series(path, args.column.as_deref())?;
    let ahead = predictor.forecast(&series, args.steps as usize).with_context(|| path.display().to_string())?;
    let known = series.len();
    let mut text = format!("step,{column}\n");
    for (i, value) in ahead.iter().enumerate() {
        text += &format!("{},{}\n", known + i, onyx_runtime::tensor::shortest(*value));
    }
    super::print(&text)?;
    let Some(png) = &args.plot else { return Ok(()) };
    if !(0.0..1.0).contains(&args.validation_split) {
        bail!("--validation-split must be in [0, 1), got {}", args.validation_split);
    }
    // One-step forecasts of the last part, each from the true values before it.
    let window = predictor.window()?;
    let first = (known - ((known - window) as f64 * args.validation_split).floor() as usize).max(window);
    let fitted = predictor.one_step(&series, &(first..known).collect::<Vec<_>>())?;
    let points = |from: usize, values: &[f64]| -> Vec<(f64, f64)> { values.iter().enumerate().map(|(i, v)| ((from + i) as f64, *v)).collect() };
    let forecast_line: Vec<f64> = std::iter::once(series[known - 1]).chain(ahead).collect();
    let lines = [("series", points(0, &series)), ("one-step fit", points(first, &fitted)), ("forecast", points(known - 1, &forecast_line))];
    let name = args.model.file_name().map_or_else(|| args.model.display().to_string(), |f| f.to_string_lossy().to_string());
    onyx_runtime::plot::line_chart(png, &format!("{column}: forecast by {name}"), ("step", &column), &lines)?;
    eprintln!("wrote {}", png.display());
    Ok(())
}

/// `onyx predict --input DIR`: one CSV row per image file, its `--top` classes (by name where the
/// model keeps them) and their probabilities.
fn classify_images(args: &Args, dir: &std::path::Path, predictor: &Predictor) -> anyhow::Result<()> {
    let top = args.top as usize;
    let mut header = vec!["path".to_string()];
    for k in 1..=top {
        let suffix = if top == 1 { String::new() } else { format!("_{k}") };
        header.extend([format!("class{suffix}"), format!("probability{suffix}")]);
    }
    let mut text = header.join(",") + "\n";
    let classified = predictor.classify_images(&data::image_files(dir)?, top)?;
    for c in &classified {
        let mut cells = vec![csv_field(&c.file.display().to_string())];
        for (class, p) in &c.classes {
            cells.extend([csv_field(class), onyx_runtime::tensor::shortest(*p as f32)]);
        }
        text += &(cells.join(",") + "\n");
    }
    match &args.output {
        Some(path) => {
            onyx_proto::atomic_write(path, text.as_bytes())?;
            eprintln!("wrote {} predictions to {}", classified.len(), path.display());
            Ok(())
        }
        None => super::print(&text),
    }
}

/// A CSV field, quoted where it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}
