//! Milliseconds per training step at batch 64, for the seed's he_mlp, mnist_cnn and lstm_forecast:
//! one optimizer step of the ONNX training-step graph, parameters fed back. On tract with one thread
//! (the whole step graph) and two (the batch split in two gradient shards); on ONNX Runtime (when
//! ORT_DYLIB_PATH loads) with one and two intra-op threads. Also the seconds tract takes to load and
//! optimize the LSTM's training-step graph (100 unrolled steps) at batch 64.
mod common;

use common::specs;
use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::{ArrayD, IxDyn};
use onyx_compiler::ir::DType;
use onyx_runtime::train::Trainer;
use onyx_runtime::{Device, Engine, HostTensor, OrtEngine, TractEngine};
use rand::SeedableRng;

fn training(c: &mut Criterion) {
    // As `onyx train` runs.
    onyx_runtime::memory::keep_freed_memory();
    let mut group = c.benchmark_group("train_step_64");
    group.sample_size(10);
    for spec_path in specs().into_iter().filter(|p| ["he_mlp", "mnist_cnn", "lstm_forecast"].iter().any(|n| p.ends_with(format!("{n}.toml")))) {
        let name = spec_path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        let spec = onyx_compiler::Spec::from_file(&spec_path).expect("valid spec");
        let model = onyx_compiler::compile(&spec).expect("compiles");
        let graphs = onyx_compiler::train::build(&model.graph, spec.train.as_ref().expect("[train]")).expect("trainable");
        let input = model.graph.value(model.graph.inputs[0]);
        let mut shape = vec![64];
        shape.extend(input.ty.shape.iter().skip(1).filter_map(|d| d.fixed()));
        let n: usize = shape.iter().product();
        let x = HostTensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), (0..n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect()).expect("shape"));
        let y = match graphs.target_type.dtype {
            DType::I64 => HostTensor::I64(ArrayD::from_shape_vec(IxDyn(&[64]), (0..64).map(|i| i % 10).collect()).expect("shape")),
            _ => HostTensor::F32(ArrayD::from_shape_vec(IxDyn(&[64, 1]), (0..64).map(|i| (i % 2) as f32).collect()).expect("shape")),
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let xs = vec![x];
        let mut trainer = Trainer::new(graphs.clone(), &TractEngine).expect("loads");
        for threads in [1, 2] {
            trainer.set_threads(threads);
            group.bench_function(format!("{name}/tract/{threads}_thread"), |b| b.iter(|| trainer.step(&xs, &y, 1e-3, &mut rng).expect("steps")));
        }
        if OrtEngine::available() {
            for threads in [1, 2] {
                let engine = OrtEngine::new(Some(threads), Device::Cpu);
                let mut trainer = Trainer::new(graphs.clone(), &engine).expect("loads");
                group.bench_function(format!("{name}/ort/{threads}_thread"), |b| b.iter(|| trainer.step(&xs, &y, 1e-3, &mut rng).expect("steps")));
            }
        }
    }
    group.finish();
}

fn plan_load(c: &mut Criterion) {
    let mut group = c.benchmark_group("plan_load_64");
    group.sample_size(10);
    for spec_path in specs().into_iter().filter(|p| p.ends_with("lstm_forecast.toml")) {
        let spec = onyx_compiler::Spec::from_file(&spec_path).expect("valid spec");
        let model = onyx_compiler::compile(&spec).expect("compiles");
        let graphs = onyx_compiler::train::build(&model.graph, spec.train.as_ref().expect("[train]")).expect("trainable");
        let step = onyx_compiler::passes::fix_batch(&onyx_compiler::to_onnx(&graphs.step), 64);
        group.bench_function("lstm_forecast/tract", |b| b.iter(|| TractEngine.load(&step).expect("loads")));
    }
    group.finish();
}

criterion_group!(benches, training, plan_load);
criterion_main!(benches);
