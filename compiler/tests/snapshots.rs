//! Snapshot of every example spec's compiled graph, as `onyx_compiler::dump` writes it (ops, shapes,
//! parameters), so that any change to what the compiler emits shows up in review as a diff.
//!
//! After an intended change: `INSTA_UPDATE=always cargo test -p onyx-compiler --test snapshots`,
//! then read the diff of `tests/snapshots/`.
use std::path::PathBuf;

fn specs() -> Vec<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models"));
    let mut specs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("toml" | "json")))
        .collect();
    specs.sort();
    specs
}

#[test]
fn every_example_spec_compiles_to_its_snapshot() {
    let specs = specs();
    assert!(specs.len() >= 8, "expected the example specs in models/, found {specs:?}");
    for path in specs {
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let model = onyx_compiler::compile_file(&path).unwrap_or_else(|e| panic!("{e}"));
        insta::assert_snapshot!(name, onyx_compiler::dump::dump(&model.graph));
    }
}
