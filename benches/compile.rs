//! Compile time per spec: parse, validate, lower with weight initialization, encode to ONNX bytes.
mod common;

use common::specs;
use criterion::{Criterion, criterion_group, criterion_main};

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    for spec in specs() {
        let name = spec.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        let text = std::fs::read_to_string(&spec).expect("spec readable");
        group.bench_function(&name, |b| {
            b.iter(|| {
                let parsed = onyx_compiler::Spec::parse(&spec, text.clone()).expect("valid spec");
                let model = onyx_compiler::compile(&parsed).expect("compiles");
                onyx_proto::encode_model(&onyx_compiler::to_onnx(&model.graph))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, compile);
criterion_main!(benches);
