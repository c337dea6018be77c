use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use onyx_compiler::Spec;
use onyx_compiler::ir::{Graph, Regularizer, Tensor, ValueId};
use onyx_compiler::spec::TrainSpec;
use onyx_proto::onnx::ModelProto;
use onyx_runtime::data::{changes, feature_stats, overall_stats, read_image_folder_for, read_labelled, read_series, standardize, windows};
use onyx_runtime::train::EpochLog;
use onyx_runtime::train::{Event, Features, FitOptions, Trainer, features, load_checkpoint, split_frozen_base, write_history_csv, write_loss_plot};
use onyx_runtime::{HostTensor, TractEngine, solve};

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

fn beside(model: &Path, suffix: &str) -> PathBuf {
    let stem = model.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "model".into());
    model.with_file_name(format!("{stem}{suffix}"))
}

/// What training starts from: a spec compiled now, or a model file and its weights.
struct Start {
    name: String,
    seed: u64,
    graph: Graph,
    train: TrainSpec,
    /// Set when starting from a spec (the exact solvers read its layers).
    spec: Option<Spec>,
}

fn start(args: &Args) -> anyhow::Result<Start> {
    let config = args.config.as_deref().map(onyx_compiler::spec::train_from_file).transpose()?;
    if args.spec.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
        if args.init_from.is_some() {
            bail!("--init-from warm-starts a spec; {} already holds its starting weights", args.spec.display());
        }
        let proto = onyx_proto::read_model(&args.spec)?;
        let graph = onyx_compiler::import(&proto).with_context(|| format!("importing {}", args.spec.display()))?;
        let meta = |key: &str| graph.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let train = match (config, meta("onyx.train")) {
            (Some(train), _) => train,
            (None, Some(stored)) => {
                onyx_compiler::spec::parse_train(&PathBuf::from(format!("{} (metadata onyx.train).json", args.spec.display())), stored)?
            }
            (None, None) => bail!(
                "{} holds no training settings (onyx stores its [train] table as metadata `onyx.train`); give --config FILE with a [train] table",
                args.spec.display()
            ),
        };
        let name = args.spec.file_stem().map_or_else(|| graph.name.clone(), |s| s.to_string_lossy().to_string());
        let seed = meta("onyx.seed").and_then(|s| s.parse().ok()).unwrap_or(onyx_compiler::spec::DEFAULT_SEED);
        return Ok(Start { name, seed, graph, train, spec: None });
    }
    let mut spec = Spec::from_file(&args.spec)?;
    // A sequence model takes any length: --window sets the one the spec's input declares.
    if let (Some(window), [input]) = (args.window, spec.inputs.as_mut_slice())
        && input.shape.len() == 2
    {
        input.shape[0] = window as usize - usize::from(args.difference);
    }
    let Some(train) = config.or_else(|| spec.train.clone()) else {
        bail!("{}: the spec has no [train] table (loss, optimizer, epochs...); add one or give --config", args.spec.display());
    };
    let mut graph = onyx_compiler::compile(&spec)?.graph;
    if let Some(path) = &args.init_from {
        let from = onyx_compiler::import(&onyx_proto::read_model(path)?).with_context(|| format!("importing {}", path.display()))?;
        let report = onyx_compiler::transfer::warm_start(&mut graph, &from);
        if report.copied.is_empty() {
            bail!(
                "--init-from {}: no weight of the model has a match (same name and shape) there; the model's weights are {}",
                path.display(),
                report.missing.iter().chain(report.mismatched.iter().map(|(n, _)| n)).take(8).cloned().collect::<Vec<_>>().join(", ")
            );
        }
        eprintln!(
            "warm start from {}: copied {} of {} weights: {}",
            path.display(),
            report.copied.len(),
            report.copied.len() + report.mismatched.len() + report.missing.len(),
            report.copied.join(", ")
        );
        for (name, why) in &report.mismatched {
            eprintln!("  kept the initialized `{name}`: {why}");
        }
        for name in &report.missing {
            eprintln!("  kept the initialized `{name}`: not in the file");
        }
        if !report.unused.is_empty() {
            eprintln!("  unused from the file: {}", report.unused.join(", "));
        }
    }
    Ok(Start { name: spec.name.clone(), seed: spec.seed, graph, train, spec: Some(spec) })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    onyx_runtime::memory::keep_freed_memory();
    let engine = args.engine.engine()?;
    let Start { name, seed, graph, mut train, spec } = start(&args)?;
    if let Some(e) = args.epochs {
        train.epochs = e;
    }
    if let Some(b) = args.batch_size {
        train.batch_size = (b > 0).then_some(b);
    }
    if let Some(lr) = args.lr {
        train.optimizer.lr = lr;
    }
    if let Some(v) = args.validation_split {
        if !(0.0..1.0).contains(&v) {
            bail!("--validation-split must be in [0, 1), got {v}");
        }
        train.validation_split = v;
    }
    // The exact solvers take linear models only; say so before deriving any training graph.
    let linear = match (&spec, train.solver != "gd") {
        (_, false) => None,
        (Some(spec), true) => Some(linear_model(&args.spec, &train, spec, &graph)?),
        (None, true) => {
            bail!("[train] solver = \"{}\" fits a linear model from its spec; train {} with solver = \"gd\"", train.solver, args.spec.display())
        }
    };
    // A frozen base runs once over the data; the head trains on its features.
    let frozen = if args.no_cache { None } else { split_frozen_base(&graph) };
    let trained_part = frozen.as_ref().map_or(&graph, |f| &f.head);
    let graphs =
        onyx_compiler::train::build(trained_part, &train).with_context(|| format!("deriving the training graph of {}", args.spec.display()))?;
    let [input] = graph.inputs.as_slice() else { bail!("onyx train feeds one model input; this model has {}", graph.inputs.len()) };
    let v = graph.value(*input);
    let info = onyx_runtime::IoInfo { name: v.name.clone(), dtype: v.ty.dtype, shape: v.ty.shape.clone() };
    let read = |path: &Path, known: Option<&[String]>| -> anyhow::Result<(HostTensor, HostTensor, Option<Vec<String>>)> {
        Ok(match args.window {
            Some(window) => {
                let (x, y) = series_windows(&args, path, &info, &graphs.target_type, window as usize)?;
                (x, y, None)
            }
            None if path.is_dir() => {
                // As image_dataset_from_directory, the files are shuffled (seeded) before the validation
                // split, so that it holds every class.
                let folder = read_image_folder_for(path, &info, &graph.metadata, known)?.shuffled(args.seed.unwrap_or(seed));
                if !args.quiet {
                    eprintln!(
                        "{}: {} images of {} classes: {}",
                        path.display(),
                        folder.y.shape()[0],
                        folder.classes.len(),
                        folder.classes.iter().enumerate().map(|(i, c)| format!("{i} = {c}")).collect::<Vec<_>>().join(", ")
                    );
                }
                (folder.x, folder.y, Some(folder.classes))
            }
            None => {
                let (x, y) = read_labelled(path, &info, &graphs.target_type, args.target.as_deref())?;
                (x, y, None)
            }
        })
    };
    let (x, y, classes) = read(&args.data, None)?;
    // The exported model takes raw windows; its forecasts are checked on them.
    let raw = (x, y);
    let (x, y) = if args.difference { changes(&raw.0, &raw.1) } else { raw.clone() };

    // Keras' validation_data, else its validation_split: the last fraction of the rows, before any shuffling.
    let n = y.shape()[0];
    let (n_val, (xt, yt), (xv, yv), raw_validation) = match &args.validation_data {
        Some(path) => {
            let (vx, vy, _) = read(path, classes.as_deref())?;
            let raw_validation = (vx, vy);
            let validation = if args.difference { changes(&raw_validation.0, &raw_validation.1) } else { raw_validation.clone() };
            (validation.1.shape()[0], (x, y), validation, raw_validation)
        }
        None => {
            let n_val = (n as f64 * train.validation_split).floor() as usize;
            let train_rows: Vec<usize> = (0..n - n_val).collect();
            let val_rows: Vec<usize> = (n - n_val..n).collect();
            let raw_validation = (raw.0.select_rows(&val_rows), raw.1.select_rows(&val_rows));
            (n_val, (x.select_rows(&train_rows), y.select_rows(&train_rows)), (x.select_rows(&val_rows), y.select_rows(&val_rows)), raw_validation)
        }
    };
    let (mut xt, mut yt, mut xv, mut yv) = (vec![xt], yt, vec![xv], yv);
    let scaling = (args.standardize || train.standardize).then(|| Scaling::fit(&xt[0], args.window.is_some().then_some(&yt)));
    if let Some(s) = &scaling {
        xt = vec![standardize(&xt[0], &s.mean, &s.scale)];
        xv = vec![standardize(&xv[0], &s.mean, &s.scale)];
        if let Some((m, k)) = s.target {
            (yt, yv) = (standardize(&yt, &[m], &[k]), standardize(&yv, &[m], &[k]));
        }
    }

    let output = args.output.clone().unwrap_or_else(|| PathBuf::from(format!("{name}.onnx")));
    if let Some(linear) = linear {
        if args.resume {
            bail!("--resume continues gradient descent; [train] solver = \"{}\" fits in one step", train.solver);
        }
        if args.epochs.is_some() || args.batch_size.is_some() || args.lr.is_some() {
            eprintln!("note: --epochs, --batch-size and --lr apply to gradient descent; [train] solver = \"{}\" ignores them", train.solver);
        }
        let validation = (n_val > 0).then_some((&xv[0], &yv));
        let fitted = fit_exactly(&train, &linear, graph.clone(), (&xt[0], &yt), validation)?;
        export(fitted.model, &info.name, scaling.as_ref(), false, args.pack.is_some(), &output)?;
        let history_path = beside(&output, ".history.csv");
        write_history_csv(&history_path, std::slice::from_ref(&fitted.log))?;
        eprintln!(
            "fitted {} by {} in {:.3} s: loss {:.4}, R² {:.4} on the training data{}",
            name, fitted.method, fitted.elapsed, fitted.log.loss, fitted.r2, fitted.note
        );
        eprintln!("wrote {} and {}", output.display(), history_path.display());
        return Ok(());
    }
    let output_dir = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let (xt, xv): (Vec<Features>, Vec<Features>) = match &frozen {
        None => (xt.into_iter().map(Features::Memory).collect(), xv.into_iter().map(Features::Memory).collect()),
        Some(frozen) => {
            let started = std::time::Instant::now();
            let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(n as u64) };
            bar.set_style(ProgressStyle::with_template("base features [{bar:30}] {pos}/{len}").expect("a valid template").progress_chars("=> "));
            let batch = train.batch_size.unwrap_or(32).clamp(1, 64);
            let mut tick = |rows: usize| bar.inc(rows as u64);
            let budget = args.cache_memory_mb.saturating_mul(1 << 20);
            let spill = |part: &str| {
                output_dir.join(format!(
                    ".{}.{part}-features.{}.f32",
                    output.file_name().map_or("model".into(), |f| f.to_string_lossy()),
                    std::process::id()
                ))
            };
            let xt = features(&frozen.base, engine.as_ref(), &xt[0], batch, budget, &spill("train"), &mut tick)
                .context("computing the frozen base's features")?;
            let xv = features(&frozen.base, engine.as_ref(), &xv[0], batch, budget, &spill("validation"), &mut tick)
                .context("computing the frozen base's features")?;
            bar.finish_and_clear();
            if !args.quiet {
                let place = match &xt {
                    Features::Disk(d) => format!("on disk ({}, beyond --cache-memory-mb {})", d.path().display(), args.cache_memory_mb),
                    Features::Memory(_) => "in memory".into(),
                };
                eprintln!(
                    "computed the frozen base's features of {n} samples once in {:.2} s (up to `{}`), kept {place}; the rest trains on them",
                    started.elapsed().as_secs_f64(),
                    frozen.cut
                );
            }
            (vec![xt], vec![xv])
        }
    };
    let validation = (n_val > 0).then_some((xv.as_slice(), &yv));
    let opts = FitOptions {
        epochs: train.epochs,
        batch_size: train.batch_size,
        shuffle: train.shuffle,
        seed: args.seed.unwrap_or(seed),
        lr: train.optimizer.lr as f32,
        early_stopping: train.early_stopping.clone(),
        checkpoint: Some(output.clone()),
    };
    let mut trainer = Trainer::new(graphs, engine.as_ref())?;
    if let Some(threads) = args.threads {
        trainer.set_threads(threads as usize);
    }
    if args.resume {
        let checkpoint = load_checkpoint(&output).context("--resume")?;
        eprintln!("resuming after epoch {} ({} updates)", checkpoint.epoch, checkpoint.updates);
        trainer.resume(checkpoint)?;
    }
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(ProgressStyle::with_template("epoch {prefix:>4} [{bar:30}] {pos}/{len} {msg}").expect("a valid template").progress_chars("=> "));
    let started = std::time::Instant::now();
    let mut seen = 0usize;
    let history = trainer.fit(&xt, &yt, validation, &opts, &mut |event| match event {
        Event::Start { batches, .. } => {
            bar.set_length(batches as u64);
            // The first step loads and optimizes the training plan: seconds for an unrolled LSTM.
            bar.set_message("preparing the training plan");
        }
        Event::Batch { epoch, batch, loss, samples } => {
            seen += samples;
            let rate = seen as f64 / started.elapsed().as_secs_f64().max(1e-9);
            bar.set_prefix(format!("{epoch}/{}", opts.epochs));
            bar.set_position(batch as u64);
            bar.set_message(format!("loss {loss:.4}  {rate:.0} samples/s"));
        }
        Event::Epoch(log) => {
            let mut line = format!("epoch {}/{}: loss {:.4}", log.epoch, opts.epochs, log.loss);
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
            if bar.is_hidden() {
                if !args.quiet {
                    eprintln!("{line}");
                }
            } else {
                bar.println(line);
            }
            bar.set_position(0);
        }
    })?;
    bar.finish_and_clear();

    let mut trained = trainer.trained_model(&graph)?;
    // The class each output index stands for, when the data named them.
    if let Some(classes) = &classes {
        trained.metadata.retain(|(k, _)| k != onyx_runtime::classes::CLASSES_KEY);
        trained.metadata.push((onyx_runtime::classes::CLASSES_KEY.into(), serde_json::to_string(classes)?));
    }
    let written = export(trained, &info.name, scaling.as_ref(), args.difference, args.pack.is_some(), &output)?;
    if args.window.is_some() && n_val > 0 {
        report_forecast(&written, &raw_validation)?;
    }
    let history_path = beside(&output, ".history.csv");
    write_history_csv(&history_path, &history)?;
    let plot = beside(&output, ".loss.png");
    if let Err(e) = write_loss_plot(&plot, &history) {
        eprintln!("warning: {e}");
    }
    eprintln!(
        "trained {} for {} epochs in {:.1} s; wrote {}, {} and {}",
        name,
        history.len(),
        started.elapsed().as_secs_f64(),
        output.display(),
        history_path.display(),
        plot.display()
    );
    Ok(())
}

/// Standardization learnt from the training rows: per input element, and for a series (one
/// quantity at every step) one mean and scale for the whole window and another for the target.
struct Scaling {
    mean: Vec<f32>,
    scale: Vec<f32>,
    /// The target's (mean, scale), when the target is scaled too.
    target: Option<(f32, f32)>,
}

impl Scaling {
    /// For tables, per feature; for a series (`target` given), one mean and scale for the window
    /// and another for the target.
    fn fit(x: &HostTensor, target: Option<&HostTensor>) -> Scaling {
        let Some(y) = target else {
            let (mean, scale) = feature_stats(x);
            return Scaling { mean, scale, target: None };
        };
        let (mean, scale) = overall_stats(x);
        let width = x.shape()[1..].iter().product();
        Scaling { mean: vec![mean; width], scale: vec![scale; width], target: Some(overall_stats(y)) }
    }
}

/// The sliding windows of `--window` over the `--target` column, checked against the model.
fn series_windows(
    args: &Args,
    path: &Path,
    input: &onyx_runtime::IoInfo,
    target: &onyx_compiler::ir::TensorType,
    window: usize,
) -> anyhow::Result<(HostTensor, HostTensor)> {
    let steps = input.shape.get(1).and_then(|d| d.fixed());
    let reads =
        window.checked_sub(usize::from(args.difference)).filter(|&s| s > 0).ok_or_else(|| anyhow!("--difference needs --window 2 or more"))?;
    if input.shape.len() != 3 || steps != Some(reads) || input.shape[2].fixed() != Some(1) {
        bail!("--window {window} feeds ({reads}, 1) samples, but the model's input is {}", input.describe());
    }
    if target.dtype != onyx_compiler::ir::DType::F32 || target.shape.get(1).and_then(|d| d.fixed()) != Some(1) {
        bail!("--window forecasts one value; the model's output is {target}");
    }
    let (_, series) = read_series(path, args.target.as_deref())?;
    windows(&series, window, args.horizon as usize).map_err(|m| anyhow!("{}: {m}", path.display()))
}

/// Forecast errors on the validation windows in the data's units: the trained model's RMSE against
/// the persistence forecast's (each window's last value), the baseline a forecast must beat.
fn report_forecast(model: &ModelProto, (x, y): &(HostTensor, HostTensor)) -> anyhow::Result<()> {
    use onyx_runtime::Engine;
    let session = TractEngine.load(model)?;
    let predicted = session.run(std::slice::from_ref(x))?.remove(0).to_f64_vec();
    let (truth, windows) = (y.to_f64_vec(), x.to_f64_vec());
    let steps = windows.len() / truth.len().max(1);
    let rmse = |f: &dyn Fn(usize) -> f64| ((0..truth.len()).map(|i| (f(i) - truth[i]).powi(2)).sum::<f64>() / truth.len() as f64).sqrt();
    let (model_rmse, persistence) = (rmse(&|i| predicted[i]), rmse(&|i| windows[i * steps + steps - 1]));
    eprintln!("validation RMSE {model_rmse:.4} on {} windows (persistence, the last value: {persistence:.4})", truth.len());
    Ok(())
}

/// Writes `trained` (the inference graph with its trained weights) to `output` and returns what it
/// wrote, with the scaling, when there is one, baked in (the inputs' as the model's first nodes, the
/// target's as its last) and, with `difference`, the differencing around both: the changes are what
/// the scaling describes. Every solver exports through here.
/// The metadata key of a trained model's training time (RFC 3339, UTC).
pub const TRAINED_AT_KEY: &str = "onyx.trained_at";

fn export(mut trained: Graph, input: &str, scaling: Option<&Scaling>, difference: bool, pack: bool, output: &Path) -> anyhow::Result<ModelProto> {
    if let Some(s) = scaling {
        onyx_compiler::passes::prepend_standardization(&mut trained, input, &s.mean, &s.scale)?;
        if let Some((mean, scale)) = s.target {
            onyx_compiler::passes::append_unscaling(&mut trained, mean, scale)?;
        }
    }
    if difference {
        onyx_compiler::passes::difference_series(&mut trained, input)?;
    }
    if pack {
        let report = onyx_compiler::passes::pack_fp16(&mut trained)?;
        eprintln!("packed {} weights ({} values) as float16", report.packed.len(), onyx_compiler::summary::thousands(report.elements));
        for note in report.notes() {
            eprintln!("  {note}");
        }
    }
    // When, for `app --info` and anyone reading the file later.
    trained.metadata.retain(|(k, _)| k != TRAINED_AT_KEY);
    trained.metadata.push((TRAINED_AT_KEY.into(), humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()));
    let proto = onyx_compiler::to_onnx(&trained);
    onyx_proto::write_model(output, &proto).with_context(|| format!("writing {}", output.display()))?;
    Ok(proto)
}

/// The parameters of a linear model: one `dense` layer (a single Gemm), linear activation, a bias,
/// one unit, trained with mse.
struct Linear {
    kernel: ValueId,
    bias: ValueId,
    regularizer: Option<Regularizer>,
}

/// The linear model the exact solvers fit, or an error naming `solver` and what is not linear.
fn linear_model(path: &Path, train: &TrainSpec, spec: &Spec, graph: &Graph) -> anyhow::Result<Linear> {
    let refuse = |why: String| {
        anyhow!(
            "{}: [train] solver = \"{}\" fits linear models only (one dense layer, linear activation, loss = \"mse\"), but {why}; use solver = \"gd\"",
            path.display(),
            train.solver
        )
    };
    if train.loss.as_deref() != Some("mse") {
        return Err(refuse(match &train.loss {
            Some(loss) => format!("the loss is \"{loss}\""),
            None => "[train] names no loss".into(),
        }));
    }
    let [layer] = spec.layers.as_slice() else {
        let kinds: Vec<&str> = spec.layers.iter().map(|l| l.kind).collect();
        return Err(refuse(format!("the model has {} layers ({})", kinds.len(), kinds.join(", "))));
    };
    if layer.kind != "dense" {
        return Err(refuse(format!("its layer is a `{}` layer", layer.kind)));
    }
    let ops: Vec<&str> = graph.nodes.iter().map(|n| n.op.op_type()).filter(|&op| op != "Identity").collect();
    let [gemm] = graph.nodes.iter().filter(|n| n.op.op_type() == "Gemm").collect::<Vec<_>>()[..] else {
        return Err(refuse(format!("the dense layer lowers to {}", ops.join(", "))));
    };
    if ops.len() != 1 {
        return Err(refuse(format!("the dense layer has a non-linear activation ({})", ops.join(", "))));
    }
    let (Some(Some(kernel)), Some(Some(bias))) = (gemm.inputs.get(1), gemm.inputs.get(2)) else {
        return Err(refuse("the dense layer has no bias (use_bias = false)".into()));
    };
    let units = graph.value(*kernel).ty.shape.get(1).and_then(|d| d.fixed());
    if units != Some(1) {
        return Err(refuse(format!(
            "the dense layer has {} units, and onyx train fits one target column",
            units.map_or("unknown".into(), |u| u.to_string())
        )));
    }
    let regularizer = graph.value(*kernel).param.as_ref().and_then(|p| p.regularizer);
    Ok(Linear { kernel: *kernel, bias: *bias, regularizer })
}

/// A linear model fitted by an exact solver: the model with its weights, and how it went.
struct Fitted {
    model: Graph,
    log: EpochLog,
    r2: f64,
    method: String,
    elapsed: f64,
    note: String,
}

/// Solves for the kernel and bias of `linear` on the (already standardized, when asked) training
/// rows and writes them into `model`; the one-row history holds Keras' loss (mse plus the
/// regularization penalty), the spec's regression metrics, and the same on the validation rows.
fn fit_exactly(
    train: &TrainSpec,
    linear: &Linear,
    mut model: Graph,
    (x, y): (&HostTensor, &HostTensor),
    validation: Option<(&HostTensor, &HostTensor)>,
) -> anyhow::Result<Fitted> {
    let started = std::time::Instant::now();
    let (xs, ys) = (x.to_f64_vec(), y.to_f64_vec());
    let n = ys.len();
    let p = xs.len() / n.max(1);
    let (l1, l2) = linear.regularizer.map_or((0.0, 0.0), |r| (r.l1 as f64, r.l2 as f64));
    let (coef, intercept, method, note) = match train.solver.as_str() {
        "lstsq" => {
            if l1 > 0.0 {
                bail!(
                    "[train] solver = \"lstsq\" fits least squares and ridge (an l2 regularizer), but the kernel has l1 = {l1}; use solver = \"cd\""
                );
            }
            let (coef, intercept) = solve::lstsq(&xs, n, p, &ys, l2)?;
            let method = if l2 > 0.0 { format!("ridge regression (alpha = n·l2 = {})", solve::ridge_alpha(n, l2)) } else { "least squares".into() };
            (coef, intercept, method, String::new())
        }
        "cd" => {
            if l1 == 0.0 {
                bail!(
                    "[train] solver = \"cd\" fits Lasso and Elastic Net, but the kernel has no l1 regularizer; use solver = \"lstsq\" for least squares or ridge"
                );
            }
            let (coef, intercept, sweeps) = solve::coordinate_descent(&xs, n, p, &ys, l1, l2, solve::DEFAULT_TOL, solve::DEFAULT_MAX_ITER)?;
            let (alpha, l1_ratio) = solve::elastic_net_params(l1, l2);
            let zeros = coef.iter().filter(|w| **w == 0.0).count();
            (
                coef,
                intercept,
                format!("coordinate descent (alpha = {alpha}, l1_ratio = {l1_ratio})"),
                format!("; {sweeps} sweeps, {zeros} of {p} weights zero"),
            )
        }
        other => bail!("[train] solver = \"{other}\" has no exact solver"),
    };
    let kernel: Vec<f32> = coef.iter().map(|&w| w as f32).collect();
    model.values[linear.kernel.0].init = Some(Tensor::from_f32(vec![p, 1], &kernel));
    model.values[linear.bias.0].init = Some(Tensor::from_f32(vec![1], &[intercept as f32]));

    let penalty = l1 * coef.iter().map(|w| w.abs()).sum::<f64>() + l2 * coef.iter().map(|w| w * w).sum::<f64>();
    let scores = |xs: &[f64], ys: &[f64]| -> (f64, Vec<(String, f64)>) {
        let pred = solve::predict(xs, p, &coef, intercept);
        let m = ys.len().max(1) as f64;
        let mse = pred.iter().zip(ys).map(|(f, t)| (t - f) * (t - f)).sum::<f64>() / m;
        let mae = pred.iter().zip(ys).map(|(f, t)| (t - f).abs()).sum::<f64>() / m;
        let mean = ys.iter().sum::<f64>() / m;
        let r2 = 1.0 - mse * m / ys.iter().map(|t| (t - mean) * (t - mean)).sum::<f64>();
        let metrics = train
            .metrics
            .iter()
            .filter_map(|name| match name.as_str() {
                "mse" => Some((name.clone(), mse)),
                "mae" => Some((name.clone(), mae)),
                "rmse" => Some((name.clone(), mse.sqrt())),
                "r2" => Some((name.clone(), r2)),
                _ => None,
            })
            .collect();
        (mse + penalty, metrics)
    };
    for name in train.metrics.iter().filter(|m| !matches!(m.as_str(), "mse" | "mae" | "rmse" | "r2")) {
        eprintln!("warning: metric `{name}` does not apply to a linear regression; left out of the history");
    }
    let (loss, metrics) = scores(&xs, &ys);
    let (val_loss, val_metrics) = match validation {
        Some((xv, yv)) => {
            let (l, m) = scores(&xv.to_f64_vec(), &yv.to_f64_vec());
            (Some(l), m)
        }
        None => (None, vec![]),
    };
    let r2 = solve::r2(&xs, p, &ys, &coef, intercept);
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Fitted { model, log: EpochLog { epoch: 1, loss, metrics, val_loss, val_metrics, seconds: elapsed }, r2, method, elapsed, note })
}
