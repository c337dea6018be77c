use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use onyx_compiler::Spec;
use onyx_runtime::TractEngine;
use onyx_runtime::data::{feature_stats, read_table, standardize};
use onyx_runtime::train::{EarlyStopping, Event, FitOptions, Trainer, write_history_csv, write_loss_plot};

/// Train a spec on a labelled CSV by running its ONNX training-step graph on tract.
///
/// Example: onyx train models/logistic_regression.toml --data data/breast_cancer.csv --target benign -o model.onnx
#[derive(clap::Args)]
pub struct Args {
    /// The spec file (.toml or .json) with a [train] table.
    spec: PathBuf,
    /// Training data: a CSV with a header row.
    #[arg(short, long)]
    data: PathBuf,
    /// The target column; the last column by default.
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
    #[arg(long)]
    validation_split: Option<f64>,
    /// The seed for shuffling and dropout; the spec's seed by default.
    #[arg(long)]
    seed: Option<u64>,
    /// Standardize the features (training rows' mean and standard deviation) and bake the scaling
    /// into the exported model; also `standardize = true` in [train].
    #[arg(long)]
    standardize: bool,
    /// No progress bar (for logs).
    #[arg(long)]
    quiet: bool,
}

fn beside(model: &Path, suffix: &str) -> PathBuf {
    let stem = model.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "model".into());
    model.with_file_name(format!("{stem}{suffix}"))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let spec = Spec::from_file(&args.spec)?;
    let Some(mut train) = spec.train.clone() else {
        bail!("{}: the spec has no [train] table (loss, optimizer, epochs...)", args.spec.display());
    };
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
    let model = onyx_compiler::compile(&spec)?;
    let graphs = onyx_compiler::train::build(&model.graph, &train).with_context(|| format!("deriving the training graph of {}", args.spec.display()))?;
    let [input] = model.graph.inputs.as_slice() else { bail!("onyx train reads one input from a CSV; this model has {}", model.graph.inputs.len()) };
    let v = model.graph.value(*input);
    let info = onyx_runtime::IoInfo { name: v.name.clone(), dtype: v.ty.dtype, shape: v.ty.shape.clone() };
    let table = read_table(&args.data)?;
    let (x, y) = table.split(&args.data, &info, &graphs.target_type, args.target.as_deref())?;

    // Keras' validation_split: the last fraction of the rows, before any shuffling.
    let n = y.shape()[0];
    let n_val = (n as f64 * train.validation_split).floor() as usize;
    let train_rows: Vec<usize> = (0..n - n_val).collect();
    let val_rows: Vec<usize> = (n - n_val..n).collect();
    let (mut xt, yt) = (vec![x.select_rows(&train_rows)], y.select_rows(&train_rows));
    let (mut xv, yv) = (vec![x.select_rows(&val_rows)], y.select_rows(&val_rows));
    let scaling = (args.standardize || train.standardize).then(|| feature_stats(&xt[0]));
    if let Some((mean, scale)) = &scaling {
        xt = vec![standardize(&xt[0], mean, scale)];
        xv = vec![standardize(&xv[0], mean, scale)];
    }
    let validation = (n_val > 0).then_some((xv.as_slice(), &yv));

    let opts = FitOptions {
        epochs: train.epochs,
        batch_size: train.batch_size,
        shuffle: train.shuffle,
        seed: args.seed.unwrap_or(spec.seed),
        lr: train.optimizer.lr as f32,
        early_stopping: train.early_stopping.as_ref().map(|e| EarlyStopping {
            monitor: e.monitor.clone(),
            patience: e.patience as usize,
            min_delta: e.min_delta,
            restore_best_weights: e.restore_best_weights,
        }),
    };
    let mut trainer = Trainer::new(graphs, &TractEngine)?;
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("epoch {prefix:>4} [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let mut seen = 0usize;
    let history = trainer.fit(&xt, &yt, validation, &opts, &mut |event| match event {
        Event::Start { batches, .. } => bar.set_length(batches as u64),
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
            bar.println(line);
            bar.set_position(0);
        }
    })?;
    bar.finish_and_clear();

    let output = args.output.unwrap_or_else(|| PathBuf::from(format!("{}.onnx", spec.name)));
    let mut trained = trainer.trained_model(&model.graph);
    if let Some((mean, scale)) = &scaling {
        onyx_compiler::passes::prepend_standardization(&mut trained, &info.name, mean, scale)?;
    }
    onyx_proto::write_model(&output, &onyx_compiler::to_onnx(&trained)).with_context(|| format!("writing {}", output.display()))?;
    let history_path = beside(&output, ".history.csv");
    write_history_csv(&history_path, &history)?;
    let plot = beside(&output, ".loss.png");
    if let Err(e) = write_loss_plot(&plot, &history) {
        eprintln!("warning: {e}");
    }
    eprintln!(
        "trained {} for {} epochs in {:.1} s; wrote {}, {} and {}",
        spec.name,
        history.len(),
        started.elapsed().as_secs_f64(),
        output.display(),
        history_path.display(),
        plot.display()
    );
    Ok(())
}
