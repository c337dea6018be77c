use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use onyx::train::{Data, Event, Method, Progress, TrainOptions, train};

/// Train a spec, or an existing .onnx from its current weights, on labelled data by running the ONNX
/// training-step graph on tract (or on ONNX Runtime with --engine ort). A linear model whose [train]
/// solver is "lstsq" (least squares, ridge) or "cd" (Lasso, Elastic Net) is fitted exactly instead.
///
/// Example: onyx train models/logistic_regression.toml --data data/breast_cancer.csv --target benign -o model.onnx
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    engine: super::engine::EngineArgs,
    /// The spec file (.toml or .json) with a [train] table, or a .onnx model whose initializers are
    /// the starting weights (its training settings come from --config, or from the [train] table
    /// onyx stored in it).
    spec: PathBuf,
    /// A file with a [train] table alone, used instead of the spec's or the model's own.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Training data: a CSV with a header row, a 2-D NPY table (one sample a row), an NPZ with
    /// the features (named after the model's input, or `x`) and `y`, or a folder of class
    /// sub-folders of PNG/JPEG images (resized to the model's input; classes labelled in sorted
    /// order, as Keras' image_dataset_from_directory).
    #[arg(short, long)]
    data: PathBuf,
    /// The target column (its name in a CSV, its index in an NPY); the last column by default.
    #[arg(long)]
    target: Option<String>,
    /// Where to write the trained model; `<spec name>.onnx` by default. history.csv and
    /// <model>.loss.png are written beside it.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Override [train] epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Override [train] batch_size (0: the whole set per step).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Override the optimizer's learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Override [train] validation_split (the last fraction of the rows, as Keras takes it).
    #[arg(long, conflicts_with = "validation_data")]
    validation_split: Option<f64>,
    /// Validate on this file or folder instead of a split of --data (Keras' validation_data), read
    /// as --data is read; every row of --data then trains.
    #[arg(long, value_name = "PATH")]
    validation_data: Option<PathBuf>,
    /// The seed for shuffling and dropout; the spec's seed by default.
    #[arg(long)]
    seed: Option<u64>,
    /// Standardize the features (training rows' mean and standard deviation) and bake the scaling
    /// into the exported model; also `standardize = true` in [train].
    #[arg(long)]
    standardize: bool,
    /// Continue from the checkpoint beside the output model (`<model>.ckpt.npz`, written after
    /// every epoch) up to --epochs.
    #[arg(long)]
    resume: bool,
    /// Forecasting: read the --target column (the last by default) as a series in time order and
    /// train on sliding windows of this many steps; the model's input must be (window, 1). The
    /// validation split stays the last part of the series, and --standardize scales the target too
    /// (both scalings are baked into the exported model).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    window: Option<u32>,
    /// With --window: the target lies this many steps after a window's last step.
    #[arg(long, default_value_t = 1, requires = "window", value_parser = clap::value_parser!(u32).range(1..))]
    horizon: u32,
    /// With --window: the network reads the window's window−1 step-to-step changes and predicts the
    /// change from its last value to the target; the exported model still takes raw windows and
    /// answers in the series' units. For series with a trend, whose later values the training part
    /// never reached.
    #[arg(long, requires = "window")]
    difference: bool,
    /// Start from the weights of this .onnx where their names, types and shapes match the spec's
    /// (Keras' load_weights by name, skipping mismatches); the matches and misses are listed.
    #[arg(long, value_name = "ONNX")]
    init_from: Option<PathBuf>,
    /// Store the exported model's weights as float16 (as `onyx pack --fp16` does).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pack: Option<PackFormat>,
    /// No progress bar (for logs).
    #[arg(long)]
    quiet: bool,
    /// Threads a training step may use, splitting the batch across them; every core by default.
    /// Results are reproducible for a given count.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// Run a base's frozen part at every step instead of computing its features once (by default the
    /// part before its first trainable weight runs once).
    #[arg(long)]
    no_cache: bool,
    /// Memory the cached features of a frozen base may take (MiB); beyond it they go to a file beside
    /// the output model, read back a batch at a time, and removed when training ends.
    #[arg(long, default_value_t = 2048, value_name = "MIB")]
    cache_memory_mb: usize,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum PackFormat {
    Fp16,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    onyx_runtime::memory::keep_freed_memory();
    let engine = args.engine.engine()?;
    let options = TrainOptions {
        config: args.config,
        target: args.target,
        output: args.output,
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        validation_split: args.validation_split,
        validation_data: args.validation_data.map(Data::Path),
        seed: args.seed,
        standardize: args.standardize,
        resume: args.resume,
        window: args.window.map(|w| w as usize),
        horizon: args.horizon as usize,
        difference: args.difference,
        init_from: args.init_from,
        pack_fp16: args.pack.is_some(),
        threads: args.threads.map(|t| t as usize),
        cache: !args.no_cache,
        cache_memory_mb: args.cache_memory_mb,
    };
    let quiet = args.quiet;
    let epochs_bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    epochs_bar
        .set_style(ProgressStyle::with_template("epoch {prefix:>4} [{bar:30}] {pos}/{len} {msg}").expect("a valid template").progress_chars("=> "));
    let features_bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    features_bar.set_style(ProgressStyle::with_template("base features [{bar:30}] {pos}/{len}").expect("a valid template").progress_chars("=> "));
    let (started, mut seen, mut epochs) = (std::time::Instant::now(), 0usize, 0usize);
    let trained = train(&args.spec, &Data::Path(args.data), &options, engine.as_ref(), &mut |p| match p {
        Progress::Note(line) => epochs_bar.suspend(|| eprintln!("{line}")),
        Progress::Detail(line) => {
            if features_bar.length().is_some_and(|n| n > 0) {
                features_bar.finish_and_clear();
            }
            if !quiet {
                eprintln!("{line}");
            }
        }
        Progress::Features { done, total } => {
            features_bar.set_length(total as u64);
            features_bar.set_position(done as u64);
        }
        Progress::Fit(Event::Start { epochs: e, batches, .. }) => {
            epochs = e;
            epochs_bar.set_length(batches as u64);
            // The first step loads and optimizes the training plan: seconds for an unrolled LSTM.
            epochs_bar.set_message("preparing the training plan");
        }
        Progress::Fit(Event::Batch { epoch, batch, loss, samples }) => {
            seen += samples;
            let rate = seen as f64 / started.elapsed().as_secs_f64().max(1e-9);
            epochs_bar.set_prefix(format!("{epoch}/{epochs}"));
            epochs_bar.set_position(batch as u64);
            epochs_bar.set_message(format!("loss {loss:.4}  {rate:.0} samples/s"));
        }
        Progress::Fit(Event::Epoch(log)) => {
            let mut line = format!("epoch {}/{epochs}: loss {:.4}", log.epoch, log.loss);
            for (m, v) in &log.metrics {
                line += &format!("  {m} {v:.4}");
            }
            if let Some(vl) = log.val_loss {
                line += &format!("  val_loss {vl:.4}");
            }
            for (m, v) in &log.val_metrics {
                line += &format!("  val_{m} {v:.4}");
            }
            line += &format!("  ({:.2} s)", log.seconds);
            // Off a terminal the bar draws nothing, so the epoch lines go to stderr as plain text.
            if epochs_bar.is_hidden() {
                if !quiet {
                    eprintln!("{line}");
                }
            } else {
                epochs_bar.println(line);
            }
            epochs_bar.set_position(0);
        }
    })?;
    epochs_bar.finish_and_clear();
    if let Some(f) = &trained.forecast {
        eprintln!("validation RMSE {:.4} on {} windows (persistence, the last value: {:.4})", f.rmse, f.windows, f.persistence);
    }
    match &trained.method {
        Method::Exact { method, r2, note } => {
            let loss = trained.history.first().map_or(f64::NAN, |l| l.loss);
            eprintln!("fitted {} by {method} in {:.3} s: loss {loss:.4}, R² {r2:.4} on the training data{note}", trained.name, trained.seconds);
            eprintln!("wrote {} and {}", trained.output.display(), trained.history_csv.display());
        }
        Method::GradientDescent => {
            let plot = match &trained.loss_plot {
                Ok(plot) => plot.display().to_string(),
                Err(e) => {
                    eprintln!("warning: {e}");
                    "no loss plot".into()
                }
            };
            eprintln!(
                "trained {} for {} epochs in {:.1} s; wrote {}, {} and {plot}",
                trained.name,
                trained.history.len(),
                trained.seconds,
                trained.output.display(),
                trained.history_csv.display()
            );
        }
    }
    Ok(())
}
