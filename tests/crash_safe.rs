//! Training killed with SIGKILL at any moment loses nothing: every file under its final name is
//! whole (the model decodes, the checkpoint loads), and `--resume` reaches the same final weights,
//! bit for bit, as a run never interrupted.
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const EPOCHS: &str = "30";

/// Stochastic gradient descent (batch 1) on breast_cancer.csv: about 0.15 s per epoch, checkpointed
/// after each.
fn training(out: &Path, resume: bool) -> Command {
    let mut c = support::onyx();
    c.current_dir(support::repo()).args(["train", "models/logistic_regression.toml", "--data", "data/breast_cancer.csv", "--target", "benign", "--standardize", "--batch-size", "1", "--epochs", EPOCHS, "--quiet", "-o"]).arg(out);
    if resume {
        c.arg("--resume");
    }
    c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    c
}

fn weights(model: &Path) -> BTreeMap<String, Vec<u8>> {
    let graph = onyx_compiler::import(&onyx_proto::read_model(model).unwrap()).unwrap();
    graph.values.into_iter().filter_map(|v| v.init.map(|t| (v.name, t.data))).collect()
}

#[test]
fn killed_training_resumes_to_the_same_weights() {
    let straight_dir = tempfile::tempdir().unwrap();
    let straight = straight_dir.path().join("m.onnx");
    assert!(training(&straight, false).status().unwrap().success());

    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    let (npz, json) = (dir.path().join("m.ckpt.npz"), dir.path().join("m.ckpt.json"));
    let mut epochs_seen = vec![];
    // Kills at moments spread over the run: before the first checkpoint, between steps, and around
    // the checkpoint writes that end every epoch.
    for delay_ms in [200u64, 650, 1100, 1550, 2300, 3100] {
        let mut child = training(&model, json.exists()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Whatever carries a final name is whole.
        if model.exists() {
            onyx_proto::read_model(&model).expect("the model under its final name decodes");
        }
        if json.exists() {
            assert!(npz.exists(), "the checkpoint's JSON names tensors that exist");
            let checkpoint = onyx_runtime::train::load_checkpoint(&model).expect("the checkpoint loads");
            epochs_seen.push(checkpoint.epoch);
        }
    }
    assert!(epochs_seen.len() >= 3 && epochs_seen.windows(2).all(|w| w[0] <= w[1]), "checkpoints after kills: {epochs_seen:?}");
    assert!(epochs_seen.last().is_some_and(|&e| e > 0 && e < EPOCHS.parse::<usize>().unwrap()), "the kills fell inside the run: {epochs_seen:?}");
    assert!(training(&model, json.exists()).status().unwrap().success());
    assert_eq!(weights(&model), weights(&straight), "resumed after {} kills (checkpoints at epochs {epochs_seen:?})", epochs_seen.len());
}

/// A write that fails midway (the file-size limit standing in for a full disk: both make `write`
/// fail) is an error naming the file, and the model already there stays as it was, with no
/// temporary file left beside it.
#[test]
fn a_failed_write_leaves_the_old_model_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    let (ok, _, err) = support::run_onyx(&["compile", "models/he_mlp.toml", "-o", model.to_str().unwrap()]);
    assert!(ok, "{err}");
    let before = std::fs::read(&model).unwrap();
    // mnist_cnn's 900 KB cannot be written under a 100 KiB limit; SIGXFSZ ignored, write fails
    // with EFBIG instead of killing the process.
    let script = format!("trap '' XFSZ; ulimit -f 100; exec \"$0\" compile models/mnist_cnn.toml -o '{}'", model.display());
    let out = Command::new("sh").arg("-c").arg(&script).arg(env!("CARGO_BIN_EXE_onyx")).current_dir(support::repo()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("m.onnx") && err.to_lowercase().contains("too large"), "{err}");
    assert_eq!(std::fs::read(&model).unwrap(), before, "the old model is untouched");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    assert_eq!(left, ["m.onnx"], "nothing but the model is left");
}
