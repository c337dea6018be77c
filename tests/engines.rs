//! The ort engine against tract: every model in models/ gives the same outputs on both (1e-5), and
//! ten training steps of every model give the same losses (1e-4). Needs ORT_DYLIB_PATH, which
//! scripts/test.sh points at the onnxruntime wheel's library.
mod support;

use ndarray::{ArrayD, IxDyn};
use onyx_compiler::ir::DType;
use onyx_runtime::train::Trainer;
use onyx_runtime::{Device, Engine, HostTensor, OrtEngine, TractEngine, TrainingEngine};

fn ort() -> OrtEngine {
    let engine = OrtEngine::new(Some(1), Device::Cpu);
    engine.check().unwrap_or_else(|e| panic!("{e} (run the tests through scripts/test.sh)"));
    engine
}

fn max_diff(a: &HostTensor, b: &HostTensor) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.to_f64_vec().iter().zip(b.to_f64_vec()).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn every_model_runs_alike_on_tract_and_ort() {
    let ort = ort();
    let mut failures = vec![];
    for spec in support::model_specs() {
        let stem = spec.file_stem().unwrap().to_string_lossy().to_string();
        let proto = onyx_compiler::to_onnx(&onyx_compiler::compile_file(&spec).unwrap().graph);
        let (t, o) = (TractEngine.load(&proto).unwrap(), ort.load(&proto).unwrap());
        for (batch, seed) in [(1, 1), (7, 2)] {
            let inputs = support::random_inputs(t.as_ref(), batch, seed);
            let (a, b) = (t.run(&inputs).unwrap(), o.run(&inputs).unwrap());
            let diff = a.iter().zip(&b).map(|(x, y)| max_diff(x, y)).fold(0.0, f64::max);
            println!("{stem} batch {batch}: max diff {diff:.2e}");
            if diff > 1e-5 {
                failures.push(format!("{stem} batch {batch}: {diff:e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A batch of `rows` seeded inputs for `model` and targets its loss accepts: class indices below the
/// output's width, 0/1 for binary losses, spread values otherwise.
fn batch(
    model: &onyx_compiler::ir::Graph,
    graphs: &onyx_compiler::train::TrainingGraphs,
    train: &onyx_compiler::spec::TrainSpec,
    rows: usize,
) -> (Vec<HostTensor>, HostTensor) {
    let session = TractEngine.load(&onyx_compiler::to_onnx(model)).unwrap();
    let x = support::random_inputs(session.as_ref(), rows, 3);
    let target = &graphs.target_type;
    let width = target.shape.get(1).and_then(|d| d.fixed()).unwrap_or(1);
    let classes = model.value(model.outputs[0]).ty.shape.last().and_then(|d| d.fixed()).unwrap_or(2).max(2) as i64;
    let y = match target.dtype {
        DType::I64 => HostTensor::I64(ArrayD::from_shape_vec(IxDyn(&[rows]), (0..rows as i64).map(|i| i % classes).collect()).unwrap()),
        _ => {
            let mut shape = vec![rows];
            shape.extend(target.shape.iter().skip(1).filter_map(|d| d.fixed()));
            let n: usize = shape.iter().product();
            let binary = train.loss.as_deref().is_some_and(|l| l.contains("binary"));
            HostTensor::F32(
                ArrayD::from_shape_vec(IxDyn(&shape), (0..n).map(|i| if binary { (i % 2) as f32 } else { (i % (width + 3)) as f32 / 3.0 }).collect())
                    .unwrap(),
            )
        }
    };
    (x, y)
}

/// Ten Adam/SGD steps (each spec's own [train]) on the same batches: the losses agree within 1e-4 and
/// the parameters stay ORT values between steps.
#[test]
fn ten_training_steps_agree_on_tract_and_ort() {
    let ort = ort();
    let mut failures = vec![];
    for spec_path in support::model_specs() {
        let stem = spec_path.file_stem().unwrap().to_string_lossy().to_string();
        let spec = onyx_compiler::Spec::from_file(&spec_path).unwrap();
        let Some(train) = &spec.train else { continue };
        let model = onyx_compiler::compile(&spec).unwrap();
        let graphs = onyx_compiler::train::build(&model.graph, train).unwrap();
        let (x, y) = batch(&model.graph, &graphs, train, 16);
        let losses = |engine: &dyn TrainingEngine| -> Vec<f64> {
            let mut trainer = Trainer::new(graphs.clone(), engine).unwrap();
            trainer.set_threads(1);
            let mut rng = rand::SeedableRng::seed_from_u64(5);
            (0..10).map(|_| trainer.step(&x, &y, train.optimizer.lr as f32, &mut rng).unwrap().0).collect()
        };
        let (a, b) = (losses(&TractEngine), losses(&ort));
        let diff = a.iter().zip(&b).map(|(p, q)| (p - q).abs() / p.abs().max(1.0)).fold(0.0, f64::max);
        println!("{stem}: losses {:.5} → {:.5}, tract and ort differ by {diff:.1e} at most", a[0], a[9]);
        if diff > 1e-4 {
            failures.push(format!("{stem}: tract {a:?}, ort {b:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// On ORT as on tract, a step with enough work is split into shards, one single-threaded session
/// each: for every model whose batch of 64 is worth two shards, five steps give the same losses as
/// tract's sharded steps and as ORT's whole step graph (1e-4).
#[test]
fn sharded_steps_agree_on_tract_and_ort() {
    let ort = OrtEngine::new(Some(2), Device::Cpu);
    ort.check().unwrap_or_else(|e| panic!("{e} (run the tests through scripts/test.sh)"));
    let mut sharded_models = vec![];
    for spec_path in support::model_specs() {
        let stem = spec_path.file_stem().unwrap().to_string_lossy().to_string();
        let spec = onyx_compiler::Spec::from_file(&spec_path).unwrap();
        let Some(train) = &spec.train else { continue };
        let model = onyx_compiler::compile(&spec).unwrap();
        let graphs = onyx_compiler::train::build(&model.graph, train).unwrap();
        if Trainer::new(graphs.clone(), &TractEngine).unwrap().shards(64) < 2 {
            continue;
        }
        let (x, y) = batch(&model.graph, &graphs, train, 64);
        // ORT's step threads default to its intra-op threads (2 here); tract's to the cores.
        let losses = |engine: &dyn TrainingEngine, threads: Option<usize>| -> Vec<f64> {
            let mut trainer = Trainer::new(graphs.clone(), engine).unwrap();
            if let Some(n) = threads {
                trainer.set_threads(n);
            }
            assert_eq!(trainer.shards(64), threads.unwrap_or(2), "{stem} on {}", engine.name());
            let mut rng = rand::SeedableRng::seed_from_u64(5);
            (0..5).map(|_| trainer.step(&x, &y, train.optimizer.lr as f32, &mut rng).unwrap().0).collect()
        };
        let (tract, sharded, whole) = (losses(&TractEngine, Some(2)), losses(&ort, None), losses(&ort, Some(1)));
        for (what, other) in [("tract's sharded steps", &tract), ("ORT's whole step", &whole)] {
            let diff = sharded.iter().zip(other).map(|(p, q)| (p - q).abs() / p.abs().max(1.0)).fold(0.0, f64::max);
            println!("{stem}: ORT's sharded steps and {what} differ by {diff:.1e} at most");
            assert!(diff <= 1e-4, "{stem}: ORT sharded {sharded:?}, {what} {other:?}");
        }
        sharded_models.push(stem);
    }
    assert!(sharded_models.iter().any(|m| m == "mnist_cnn"), "models split into shards: {sharded_models:?}");
}

/// Without the library, `--engine ort` says how to get it and `--engine auto` falls back to tract;
/// the CPU library refuses `--device cuda` clearly.
#[test]
fn a_missing_library_or_gpu_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("he.onnx");
    assert!(
        support::onyx()
            .args(["compile", "models/he_mlp.toml", "-o", model.to_str().unwrap()])
            .current_dir(support::repo())
            .status()
            .unwrap()
            .success()
    );
    let x = dir.path().join("x.csv");
    std::fs::write(&x, "a,b,c,d,e\n0.1,0.2,0.3,0.4,0.5\n").unwrap();
    let predict = |engine: &str, device: &str, dylib: Option<&str>| {
        let mut cmd = support::onyx();
        cmd.args(["predict", model.to_str().unwrap(), "--input", x.to_str().unwrap(), "--engine", engine, "--device", device]);
        if let Some(d) = dylib {
            cmd.env("ORT_DYLIB_PATH", d);
        }
        let out = cmd.output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, _, err) = predict("ort", "cpu", Some(""));
    assert!(!ok && err.contains("ORT_DYLIB_PATH") && err.contains("pip install onnxruntime"), "{err}");
    let (ok, _, err) = predict("ort", "cpu", Some("/nonexistent/libonnxruntime.so"));
    assert!(!ok && err.contains("/nonexistent/libonnxruntime.so"), "{err}");
    let (ok, out, err) = predict("auto", "cpu", Some(""));
    assert!(ok && err.contains("running on tract") && out.starts_with("dense_1"), "{err}");
    let (ok, _, err) = predict("ort", "cuda", None);
    assert!(!ok && err.contains("CUDA"), "{err}");
    let (ok, _, err) = predict("tract", "cuda:0", None);
    assert!(!ok && err.contains("--engine ort"), "{err}");
}
