//! Inference latency per model in models/, batch 1 and 64, on seeded inputs: on tract, and on ONNX
//! Runtime (one intra-op thread) when ORT_DYLIB_PATH loads.
mod common;

use common::specs;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::{ArrayD, IxDyn};
use onyx_compiler::ir::DType;
use onyx_runtime::{Device, Engine, HostTensor, OrtEngine, TractEngine};

fn inference(c: &mut Criterion) {
    let ort = OrtEngine::new(Some(1), Device::Cpu);
    let mut engines: Vec<(&str, &dyn Engine)> = vec![("tract", &TractEngine)];
    if OrtEngine::available() {
        engines.push(("ort", &ort));
    }
    for (engine_name, engine) in engines {
        let mut group = c.benchmark_group(format!("{engine_name}_inference"));
        for spec in specs() {
            let name = spec.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            let model = onyx_compiler::compile_file(&spec).expect("compiles");
            let session = engine.load(&onyx_compiler::to_onnx(&model.graph)).expect("the engine loads it");
            for batch in [1usize, 64] {
                let inputs: Vec<HostTensor> = session
                    .inputs()
                    .iter()
                    .map(|info| {
                        let shape = info.batch_shape(batch).expect("known per-sample dims");
                        let n: usize = shape.iter().product();
                        match info.dtype {
                            DType::I64 => {
                                HostTensor::I64(ArrayD::from_shape_vec(IxDyn(&shape), (0..n).map(|i| (i % 50) as i64).collect()).expect("shape"))
                            }
                            _ => HostTensor::F32(
                                ArrayD::from_shape_vec(IxDyn(&shape), (0..n).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect())
                                    .expect("shape"),
                            ),
                        }
                    })
                    .collect();
                group.bench_with_input(BenchmarkId::new(name.clone(), batch), &inputs, |b, inputs| b.iter(|| session.run(inputs).expect("runs")));
            }
        }
        group.finish();
    }
}

criterion_group!(benches, inference);
criterion_main!(benches);
