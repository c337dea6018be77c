//! Every input the fuzz targets (fuzz/fuzz_targets/) crashed on, kept under tests/data/fuzz/<target>/
//! and fed again through the same path: each must now come back as an error or a result, never a
//! panic.
mod support;

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = support::repo().join("tests/data/fuzz").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    files.sort();
    files
}

#[test]
fn onnx_files_that_crashed_import_are_refused() {
    let files = inputs("onnx_import");
    assert!(!files.is_empty());
    for path in files {
        // As the target: the checked reader, then import.
        let outcome = onyx_proto::read_model(&path).map_err(|e| e.to_string()).and_then(|m| onyx_compiler::import(&m).map(|_| ()).map_err(|e| e.to_string()));
        println!("{}: {outcome:?}", path.display());
        assert!(outcome.is_err(), "{}: imported", path.display());
    }
}

#[test]
fn specs_that_crashed_compile_are_refused() {
    for path in inputs("spec") {
        let bytes = std::fs::read(&path).unwrap();
        let (kind, text) = bytes.split_first().unwrap();
        let name = if kind % 2 == 0 { "fuzz.toml" } else { "fuzz.json" };
        let text = String::from_utf8_lossy(text).into_owned();
        let outcome = onyx_compiler::Spec::parse(Path::new(name), text).map_err(|e| e.to_string()).and_then(|s| onyx_compiler::compile(&s).map(|_| ()).map_err(|e| e.to_string()));
        println!("{}: {outcome:?}", path.display());
        assert!(outcome.is_err(), "{}: compiled", path.display());
    }
}
