//! Training as `onyx train` does it: from a spec or a `.onnx` model and a data file or folder to a
//! trained model on disk, its history, its loss curve and a checkpoint after every epoch.
//!
//! The data: a CSV with a header (the target column named by `target`, the last by default), a 2-D
//! NPY table, an NPZ of the input and `y`, a folder of class folders of images, or with `window` a
//! series cut into sliding windows. Validation is Keras' `validation_split` (the last rows) or
//! `validation_data`. A base's frozen part runs once over the data and the rest trains on its
//! features; a linear model whose `[train]` solver is `lstsq` or `cd` is fitted exactly.
use std::path::{Path, PathBuf};

use onyx_proto::onnx::ModelProto;
use onyx_runtime::data::{changes, check_finite, check_targets, read_image_folder_for, read_labelled, read_series, standardize, windows};
use onyx_runtime::train::{Features, FitOptions, Trainer, features, load_checkpoint, split_frozen_base, write_history_csv, write_loss_plot};
use onyx_runtime::{Engine, HostTensor, IoInfo, TractEngine, TrainingEngine};

mod exact;
mod export;
mod start;

pub use crate::Error;
pub use export::TRAINED_AT_KEY;
use export::{Export, Scaling, export};
pub use onyx_runtime::train::{EpochLog, Event};

/// What `onyx train` takes besides the model and the data: each field is one of its flags, and
/// `None` leaves the setting to the model's `[train]` table.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// A file with a `[train]` table alone, used instead of the spec's or the model's own.
    pub config: Option<PathBuf>,
    /// The target column (a CSV's header name, an NPY's column index); the last by default.
    pub target: Option<String>,
    /// Where the trained model goes; `<name>.onnx` in the working folder by default.
    pub output: Option<PathBuf>,
    pub epochs: Option<usize>,
    /// 0: the whole set per step.
    pub batch_size: Option<usize>,
    pub lr: Option<f64>,
    pub validation_split: Option<f64>,
    /// Validation data, read as the training data is (Keras' `validation_data`).
    pub validation_data: Option<Data>,
    /// Shuffling and dropout; the spec's seed by default.
    pub seed: Option<u64>,
    /// Standardize the features and bake the scaling into the exported model.
    pub standardize: bool,
    /// Continue from the checkpoint beside the output model.
    pub resume: bool,
    /// Forecasting: sliding windows of this many steps over the target column.
    pub window: Option<usize>,
    /// With `window`: the target lies this many steps after a window's last.
    pub horizon: usize,
    /// With `window`: train on step-to-step changes.
    pub difference: bool,
    /// Start from the weights of this model that match by name and shape.
    pub init_from: Option<PathBuf>,
    /// Store the exported weights as float16.
    pub pack_fp16: bool,
    /// Threads a step may use; every core by default.
    pub threads: Option<usize>,
    /// Compute a base's frozen part once (the default) rather than at every step.
    pub cache: bool,
    /// Memory the cached features may take before they go to a file (MiB).
    pub cache_memory_mb: usize,
}

impl Default for TrainOptions {
    fn default() -> TrainOptions {
        TrainOptions {
            config: None,
            target: None,
            output: None,
            epochs: None,
            batch_size: None,
            lr: None,
            validation_split: None,
            validation_data: None,
            seed: None,
            standardize: false,
            resume: false,
            window: None,
            horizon: 1,
            difference: false,
            init_from: None,
            pack_fp16: false,
            threads: None,
            cache: true,
            cache_memory_mb: 2048,
        }
    }
}

/// What training reports as it goes.
pub enum Progress<'a> {
    /// A line worth a person's attention (a warm start's matches, a warning).
    Note(String),
    /// A line of detail a quiet run leaves out (the classes found, where the features went).
    Detail(String),
    /// Rows of the frozen base's features computed so far, of `total`.
    Features { done: usize, total: usize },
    /// The trainer's own events: the start, each batch, each epoch.
    Fit(Event<'a>),
}

/// How training ended.
#[derive(Debug)]
pub struct Trained {
    pub name: String,
    /// The trained model, as written to `output`.
    pub model: ModelProto,
    pub output: PathBuf,
    /// One entry per epoch (one in all for an exact solver).
    pub history: Vec<EpochLog>,
    pub history_csv: PathBuf,
    /// The loss curve, where it could be drawn (it needs a font).
    pub loss_plot: Result<PathBuf, String>,
    /// The class names of a folder of images, in label order.
    pub classes: Option<Vec<String>>,
    /// Gradient descent or an exact solver.
    pub method: Method,
    /// With `window` and validation: the forecast's RMSE on the validation windows, in the data's
    /// units, and the persistence forecast's (each window's last value), the baseline to beat.
    pub forecast: Option<ForecastCheck>,
    pub seconds: f64,
}

#[derive(Debug)]
pub enum Method {
    GradientDescent,
    /// An exact solver: what it fitted (least squares, ridge, Lasso...), the R² on the training
    /// rows, and a note on the fit (sweeps, zero weights).
    Exact {
        method: String,
        r2: f64,
        note: String,
    },
}

#[derive(Debug)]
pub struct ForecastCheck {
    pub windows: usize,
    pub rmse: f64,
    pub persistence: f64,
}

/// A model's input and target, with the class names when the data was a folder of images.
type Labelled = (HostTensor, HostTensor, Option<Vec<String>>);

/// What a model trains on: a file or folder, read as `onyx train --data` reads it, or arrays
/// already in memory (the model's input, one sample a row, and the target).
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant, reason = "made once per training run; boxing the arrays would only burden the callers")]
pub enum Data {
    Path(PathBuf),
    Arrays(HostTensor, HostTensor),
}

impl From<&Path> for Data {
    fn from(path: &Path) -> Data {
        Data::Path(path.to_path_buf())
    }
}

impl From<PathBuf> for Data {
    fn from(path: PathBuf) -> Data {
        Data::Path(path)
    }
}

impl From<(HostTensor, HostTensor)> for Data {
    fn from((x, y): (HostTensor, HostTensor)) -> Data {
        Data::Arrays(x, y)
    }
}

/// Trains the spec or `.onnx` model at `source` on `data`, as `opts` says, on `engine`; writes the
/// model, its history (`<model>.history.csv`), its loss curve (`<model>.loss.png`) and a checkpoint
/// after every epoch (`<model>.ckpt.npz`).
pub fn train(
    source: &Path,
    data: &Data,
    opts: &TrainOptions,
    engine: &dyn TrainingEngine,
    progress: &mut dyn FnMut(Progress),
) -> Result<Trained, Error> {
    let started = std::time::Instant::now();
    let start::Start { name, seed, graph, mut train, spec } = start::start(source, opts, progress)?;
    if let Some(e) = opts.epochs {
        train.epochs = e;
    }
    if let Some(b) = opts.batch_size {
        train.batch_size = (b > 0).then_some(b);
    }
    if let Some(lr) = opts.lr {
        train.optimizer.lr = lr;
    }
    if let Some(v) = opts.validation_split {
        if !(0.0..1.0).contains(&v) {
            return Err(Error::ValidationSplit(v));
        }
        train.validation_split = v;
    }
    let seed = opts.seed.unwrap_or(seed);
    // The exact solvers take linear models only; say so before deriving any training graph.
    let linear = match (&spec, train.solver != "gd") {
        (_, false) => None,
        (Some(spec), true) => Some(exact::linear_model(source, &train, spec, &graph)?),
        (None, true) => return Err(Error::SolverNeedsSpec { solver: train.solver.clone(), model: source.to_path_buf() }),
    };
    // A frozen base runs once over the data; the rest trains on its features.
    let frozen = if opts.cache { split_frozen_base(&graph) } else { None };
    let trained_part = frozen.as_ref().map_or(&graph, |f| &f.head);
    let graphs = onyx_compiler::train::build(trained_part, &train).map_err(|e| Error::Derive { path: source.to_path_buf(), source: e })?;
    let [input] = graph.inputs.as_slice() else { return Err(Error::Inputs { command: "train", count: graph.inputs.len() }) };
    let v = graph.value(*input);
    let info = IoInfo { name: v.name.clone(), dtype: v.ty.dtype, shape: v.ty.shape.clone() };
    let mut read = |data: &Data, known: Option<&[String]>| -> Result<Labelled, Error> {
        let path = match data {
            Data::Arrays(x, y) => {
                check_finite(x, y).map_err(Error::NonFinite)?;
                return Ok((x.clone(), y.clone(), None));
            }
            Data::Path(path) => path.as_path(),
        };
        Ok(match opts.window {
            Some(window) => {
                let (x, y) = series_windows(opts, path, &info, &graphs.target_type, window)?;
                (x, y, None)
            }
            None if path.is_dir() => {
                // As image_dataset_from_directory, the files are shuffled (seeded) before the validation
                // split, so that it holds every class.
                let folder = read_image_folder_for(path, &info, &graph.metadata, known)?.shuffled(seed);
                let listed: Vec<String> = folder.classes.iter().enumerate().map(|(i, c)| format!("{i} = {c}")).collect();
                progress(Progress::Detail(format!(
                    "{}: {} images of {} classes: {}",
                    path.display(),
                    folder.y.shape()[0],
                    folder.classes.len(),
                    listed.join(", ")
                )));
                (folder.x, folder.y, Some(folder.classes))
            }
            None => {
                let (x, y) = read_labelled(path, &info, &graphs.target_type, opts.target.as_deref())?;
                (x, y, None)
            }
        })
    };
    let (x, y, classes) = read(data, None)?;
    let output_width = graph.outputs.first().and_then(|&o| graph.value(o).ty.shape.get(1)?.fixed());
    let check =
        |data: &Data, y: &HostTensor| check_targets(graphs.loss, output_width, y).map_err(|message| Error::Targets { data: describe(data), message });
    check(data, &y)?;
    // The exported model takes raw windows; its forecasts are checked on them.
    let raw = (x, y);
    let (x, y) = if opts.difference { changes(&raw.0, &raw.1) } else { raw.clone() };

    // Keras' validation_data, else its validation_split: the last fraction of the rows, before any shuffling.
    let n = y.shape()[0];
    let (n_val, (xt, yt), (xv, yv), raw_validation) = match &opts.validation_data {
        Some(validation) => {
            let (vx, vy, _) = read(validation, classes.as_deref())?;
            check(validation, &vy)?;
            let raw_validation = (vx, vy);
            let validation = if opts.difference { changes(&raw_validation.0, &raw_validation.1) } else { raw_validation.clone() };
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
    let (mut xt, mut yt, mut xv, mut yv) = (xt, yt, xv, yv);
    let scaling = (opts.standardize || train.standardize).then(|| Scaling::fit(&xt, opts.window.is_some().then_some(&yt)));
    if let Some(s) = &scaling {
        xt = standardize(&xt, &s.mean, &s.scale);
        xv = standardize(&xv, &s.mean, &s.scale);
        if let Some((m, k)) = s.target {
            (yt, yv) = (standardize(&yt, &[m], &[k]), standardize(&yv, &[m], &[k]));
        }
    }
    let output = opts.output.clone().unwrap_or_else(|| PathBuf::from(format!("{name}.onnx")));
    let how = Export { input: &info.name, scaling: scaling.as_ref(), difference: opts.difference, pack: opts.pack_fp16 };

    if let Some(linear) = linear {
        if opts.resume {
            return Err(Error::ResumeExact(train.solver.clone()));
        }
        if opts.epochs.is_some() || opts.batch_size.is_some() || opts.lr.is_some() {
            progress(Progress::Note(format!(
                "note: --epochs, --batch-size and --lr apply to gradient descent; [train] solver = \"{}\" ignores them",
                train.solver
            )));
        }
        let validation = (n_val > 0).then_some((&xv, &yv));
        let fitted = exact::fit_exactly(&train, &linear, graph.clone(), (&xt, &yt), validation, progress)?;
        let model = export(fitted.model, &Export { difference: false, ..how }, &output, progress)?;
        let history_csv = beside(&output, ".history.csv");
        write_history_csv(&history_csv, std::slice::from_ref(&fitted.log))?;
        let method = Method::Exact { method: fitted.method, r2: fitted.r2, note: fitted.note };
        let seconds = fitted.elapsed;
        return Ok(Trained {
            name,
            model,
            output,
            history: vec![fitted.log],
            history_csv,
            loss_plot: Err("an exact fit has no loss curve".into()),
            classes,
            method,
            forecast: None,
            seconds,
        });
    }

    let (xt, xv) = match &frozen {
        None => (Features::Memory(xt), Features::Memory(xv)),
        Some(frozen) => {
            let started = std::time::Instant::now();
            let output_dir = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let batch = train.batch_size.unwrap_or(32).clamp(1, 64);
            let (total, mut done) = (n, 0);
            let mut tick = |rows: usize| {
                done += rows;
                progress(Progress::Features { done, total });
            };
            let budget = opts.cache_memory_mb.saturating_mul(1 << 20);
            let spill = |part: &str| {
                let file = output.file_name().map_or("model".into(), |f| f.to_string_lossy());
                output_dir.join(format!(".{file}.{part}-features.{}.f32", std::process::id()))
            };
            let xt = features(&frozen.base, engine, &xt, batch, budget, &spill("train"), &mut tick).map_err(Error::Features)?;
            let xv = features(&frozen.base, engine, &xv, batch, budget, &spill("validation"), &mut tick).map_err(Error::Features)?;
            let place = match &xt {
                Features::Disk(d) => format!("on disk ({}, beyond --cache-memory-mb {})", d.path().display(), opts.cache_memory_mb),
                Features::Memory(_) => "in memory".into(),
            };
            progress(Progress::Detail(format!(
                "computed the frozen base's features of {n} samples once in {:.2} s (up to `{}`), kept {place}; the rest trains on them",
                started.elapsed().as_secs_f64(),
                frozen.cut
            )));
            (xt, xv)
        }
    };
    let (xt, xv) = (vec![xt], vec![xv]);
    let validation = (n_val > 0).then_some((xv.as_slice(), &yv));
    let fit = FitOptions { checkpoint: Some(output.clone()), ..FitOptions::from_spec(&train, seed) };
    let mut trainer = Trainer::new(graphs, engine)?;
    if let Some(threads) = opts.threads {
        trainer.set_threads(threads);
    }
    if opts.resume {
        let checkpoint = load_checkpoint(&output).map_err(Error::Resume)?;
        progress(Progress::Note(format!("resuming after epoch {} ({} updates)", checkpoint.epoch, checkpoint.updates)));
        trainer.resume(checkpoint)?;
    }
    let history = trainer.fit(&xt, &yt, validation, &fit, &mut |event| progress(Progress::Fit(event)))?;

    let mut trained = trainer.trained_model(&graph)?;
    // The class each output index stands for, when the data named them.
    if let Some(classes) = &classes {
        trained.metadata.retain(|(k, _)| k != onyx_runtime::classes::CLASSES_KEY);
        trained.metadata.push((onyx_runtime::classes::CLASSES_KEY.into(), serde_json::to_string(classes).unwrap_or_default()));
    }
    let model = export(trained, &how, &output, progress)?;
    let forecast = if opts.window.is_some() && n_val > 0 { Some(check_forecast(&model, &raw_validation)?) } else { None };
    let history_csv = beside(&output, ".history.csv");
    write_history_csv(&history_csv, &history)?;
    let plot = beside(&output, ".loss.png");
    let loss_plot = write_loss_plot(&plot, &history).map(|()| plot).map_err(|e| e.to_string());
    let seconds = started.elapsed().as_secs_f64();
    Ok(Trained { name, model, output, history, history_csv, loss_plot, classes, method: Method::GradientDescent, forecast, seconds })
}

/// What the data is, for messages: its path, or the arrays given.
fn describe(data: &Data) -> String {
    match data {
        Data::Path(path) => path.display().to_string(),
        Data::Arrays(..) => "the arrays".into(),
    }
}

/// `<model stem><suffix>` beside `model`.
pub fn beside(model: &Path, suffix: &str) -> PathBuf {
    let stem = model.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "model".into());
    model.with_file_name(format!("{stem}{suffix}"))
}

/// The sliding windows of `window` steps over the target column, checked against the model.
fn series_windows(
    opts: &TrainOptions,
    path: &Path,
    input: &IoInfo,
    target: &onyx_compiler::ir::TensorType,
    window: usize,
) -> Result<(HostTensor, HostTensor), Error> {
    let steps = input.shape.get(1).and_then(|d| d.fixed());
    let reads = window.checked_sub(usize::from(opts.difference)).filter(|&s| s > 0).ok_or(Error::DifferenceWindow)?;
    if input.shape.len() != 3 || steps != Some(reads) || input.shape[2].fixed() != Some(1) {
        return Err(Error::WindowShape { window, reads, input: input.describe() });
    }
    if target.dtype != onyx_compiler::ir::DType::F32 || target.shape.get(1).and_then(|d| d.fixed()) != Some(1) {
        return Err(Error::WindowTarget(target.to_string()));
    }
    let (_, series) = read_series(path, opts.target.as_deref())?;
    windows(&series, window, opts.horizon).map_err(|message| Error::Series { path: path.to_path_buf(), message })
}

/// The exported model's forecast errors on the validation windows, in the data's units, beside the
/// persistence forecast's.
fn check_forecast(model: &ModelProto, (x, y): &(HostTensor, HostTensor)) -> Result<ForecastCheck, Error> {
    let session = TractEngine.load(model)?;
    let predicted = session.run(std::slice::from_ref(x))?.remove(0).to_f64_vec();
    let (truth, windows) = (y.to_f64_vec(), x.to_f64_vec());
    let steps = windows.len() / truth.len().max(1);
    let rmse = |f: &dyn Fn(usize) -> f64| ((0..truth.len()).map(|i| (f(i) - truth[i]).powi(2)).sum::<f64>() / truth.len() as f64).sqrt();
    Ok(ForecastCheck { windows: truth.len(), rmse: rmse(&|i| predicted[i]), persistence: rmse(&|i| windows[i * steps + steps - 1]) })
}
