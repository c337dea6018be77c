//! Shared helpers of the integration tests.
#![allow(dead_code)]
pub mod http;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python of the test virtual environment (with pinned onnx and onnxruntime), which
/// `scripts/test.sh` creates and exports as `ONYX_PYTHON`.
pub fn python() -> PathBuf {
    match std::env::var_os("ONYX_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => panic!("ONYX_PYTHON is not set: run the tests through scripts/test.sh, which installs the reference tools"),
    }
}

/// The cache the test command fetched the corpus of real models into (scripts/corpus/fetch.py).
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os("ONYX_CORPUS_DIR") {
        Some(p) => PathBuf::from(p),
        None => panic!("ONYX_CORPUS_DIR is not set: run the tests through scripts/test.sh, which fetches the corpus"),
    }
}

/// The corpus manifest's entries, read as the fields `T` names.
pub fn corpus_manifest<T: serde::de::DeserializeOwned>() -> Vec<T> {
    let text = std::fs::read_to_string(repo().join("scripts/corpus/manifest.json")).expect("the manifest is committed");
    serde_json::from_str(&text).expect("the manifest parses")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every spec under models/, sorted.
pub fn model_specs() -> Vec<PathBuf> {
    let mut specs: Vec<PathBuf> = std::fs::read_dir(repo().join("models"))
        .expect("models/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("toml" | "json")))
        .collect();
    specs.sort();
    specs
}

/// Runs a script of scripts/ with the test Python; returns (success, stdout+stderr).
pub fn run_python(script: &str, args: &[&Path]) -> (bool, String) {
    let out = Command::new(python()).arg(repo().join("scripts").join(script)).args(args).output().expect("the test Python runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

pub fn onyx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_onyx"))
}

/// Runs onyx in the repository root; returns (success, stdout, stderr).
pub fn run_onyx(args: &[&str]) -> (bool, String, String) {
    let out = onyx().args(args).current_dir(repo()).output().expect("onyx runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Writes tensors to an NPZ under the given names, the form check_model.py reads.
pub fn write_npz(path: &Path, names: &[String], tensors: &[onyx_runtime::HostTensor]) {
    let mut npz = ndarray_npy::NpzWriter::new(std::fs::File::create(path).unwrap());
    for (name, t) in names.iter().zip(tensors) {
        match t {
            onyx_runtime::HostTensor::F32(a) => npz.add_array(name.as_str(), a).unwrap(),
            onyx_runtime::HostTensor::I64(a) => npz.add_array(name.as_str(), a).unwrap(),
            other => panic!("write_npz takes float32 and int64, not {}", other.dtype()),
        }
    }
    npz.finish().unwrap();
}

/// digits.csv's 8x8 images upscaled to 28x28 by nearest neighbour (output pixel r reads ⌊r·8/28⌋),
/// scaled to [0, 1], with their labels.
pub fn digits_28() -> (onyx_runtime::HostTensor, onyx_runtime::HostTensor) {
    let table = onyx_runtime::data::read_table(&repo().join("data/digits.csv")).unwrap();
    let n = table.rows.len();
    let mut pixels = Vec::with_capacity(n * 784);
    for row in &table.rows {
        for r in 0..28 {
            for c in 0..28 {
                pixels.push((row[(r * 8 / 28) * 8 + c * 8 / 28] / 16.0) as f32);
            }
        }
    }
    let labels = table.rows.iter().map(|r| r[64] as i64).collect();
    (
        onyx_runtime::HostTensor::F32(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[n, 1, 28, 28]), pixels).unwrap()),
        onyx_runtime::HostTensor::I64(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[n]), labels).unwrap()),
    )
}

/// Seeded inputs for every input of `session`, `batch` samples each: floats in [−2, 2), token ids
/// below every embedding's input_dim in models/.
pub fn random_inputs(session: &dyn onyx_runtime::Session, batch: usize, seed: u64) -> Vec<onyx_runtime::HostTensor> {
    use onyx_runtime::HostTensor;
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    session
        .inputs()
        .iter()
        .map(|info| {
            let shape = info.batch_shape(batch).expect("known per-sample dims");
            let n: usize = shape.iter().product();
            match info.dtype {
                onyx_compiler::ir::DType::I64 => HostTensor::I64(
                    ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), (0..n).map(|_| rng.random_range(0..100)).collect()).unwrap(),
                ),
                _ => HostTensor::F32(
                    ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect()).unwrap(),
                ),
            }
        })
        .collect()
}

/// Whether `value` equals the reference's `expected` within the corpus tolerance (1e-3 relative,
/// 1e-4 absolute), NaN matching NaN.
pub fn close_to_reference(expected: f64, value: f64) -> bool {
    (expected.is_nan() && value.is_nan()) || (expected - value).abs() <= 1e-4 + 1e-3 * expected.abs()
}
