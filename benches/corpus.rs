//! Batch-1 latency of every model of the real-model corpus (scripts/corpus/manifest.json), on
//! tract and on ONNX Runtime (one intra-op thread, as tract runs a plan on one core), on the inputs
//! scripts/corpus/reference.py wrote. Models an engine cannot run are left out of its group.
//! `scripts/performance.py` turns criterion's estimates into docs/performance.md's table of the
//! tract/ORT ratio per model.
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use onyx_runtime::data::read_inputs;
use onyx_runtime::{Device, Engine, OrtEngine, TractEngine};

fn corpus(c: &mut Criterion) {
    // The corpus is fetched by the test command; without it there is nothing to measure.
    let Some(dir) = std::env::var_os("ONYX_CORPUS_DIR").map(PathBuf::from) else {
        eprintln!("ONYX_CORPUS_DIR is not set: run scripts/corpus/fetch.py and reference.py first");
        return;
    };
    let manifest: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string("scripts/corpus/manifest.json").expect("the manifest")).expect("JSON");
    let ort = OrtEngine::new(Some(1), Device::Cpu);
    let mut engines: Vec<(&str, &dyn Engine)> = vec![("tract", &TractEngine)];
    if OrtEngine::available() {
        engines.push(("ort", &ort));
    }
    let mut group = c.benchmark_group("corpus_b1");
    group.sample_size(20);
    for entry in &manifest {
        let name = entry["name"].as_str().expect("a name");
        let Ok(proto) = onyx_proto::read_model(&dir.join(format!("{name}.onnx"))) else { continue };
        for (engine_name, engine) in &engines {
            let Ok(session) = engine.load(&proto) else { continue };
            let Ok(inputs) = read_inputs(&dir.join(format!("{name}.inputs.npz")), session.inputs()) else { continue };
            if session.run(&inputs).is_err() {
                continue;
            }
            group.bench_with_input(BenchmarkId::new(name, engine_name), &inputs, |b, inputs| b.iter(|| session.run(inputs).expect("runs")));
        }
    }
    group.finish();
}

criterion_group!(benches, corpus);
criterion_main!(benches);
