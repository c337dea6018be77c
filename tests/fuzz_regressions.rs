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
        let outcome =
            onyx_proto::read_model(&path).map_err(|e| e.to_string()).and_then(|m| onyx_compiler::import(&m).map(|_| ()).map_err(|e| e.to_string()));
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
        let outcome = onyx_compiler::Spec::parse(Path::new(name), text)
            .map_err(|e| e.to_string())
            .and_then(|s| onyx_compiler::compile(&s).map(|_| ()).map_err(|e| e.to_string()));
        println!("{}: {outcome:?}", path.display());
        assert!(outcome.is_err(), "{}: compiled", path.display());
    }
}

#[test]
fn data_files_that_exhausted_memory_are_refused() {
    use onyx_compiler::ir::{DType, Dim, TensorType};
    let files = inputs("data_files");
    assert!(!files.is_empty());
    let dir = tempfile::tempdir().unwrap();
    for path in files {
        // As the target: the first byte chooses the format, the rest is the file.
        let bytes = std::fs::read(&path).unwrap();
        let (kind, body) = bytes.split_first().unwrap();
        let file = dir.path().join(format!("data.{}", ["csv", "npy", "npz"][*kind as usize % 3]));
        std::fs::write(&file, body).unwrap();
        let input = onyx_runtime::IoInfo { name: "x".into(), dtype: DType::F32, shape: vec![Dim::batch(), Dim::Fixed(4)] };
        let outcome = onyx_runtime::data::read_inputs(&file, std::slice::from_ref(&input));
        println!("{}: {:?}", path.display(), outcome.as_ref().map(|_| ()));
        assert!(outcome.is_err());
        let labelled = onyx_runtime::data::read_labelled(&file, &input, &TensorType::new(DType::I64, vec![Dim::batch()]), None);
        assert!(labelled.is_err());
    }
}
