//! Training killed with SIGKILL at any moment loses nothing: every file under its final name is
//! whole (the model decodes, the checkpoint loads), and `--resume` reaches the same final weights,
//! bit for bit, as a run never interrupted. A write that fails (a file-size limit, a full disk) is
//! an error that leaves the file it would have replaced as it was.
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const EPOCHS: &str = "30";

/// `onyx train spec --data data/breast_cancer.csv --target benign --standardize --quiet -o out`
/// with `extra`, silent, resuming when asked.
fn train_command(spec: &Path, extra: &[&str], out: &Path, resume: bool) -> Command {
    let mut c = support::onyx();
    c.current_dir(support::repo())
        .arg("train")
        .arg(spec)
        .args(["--data", "data/breast_cancer.csv", "--target", "benign", "--standardize", "--quiet"])
        .args(extra)
        .arg("-o")
        .arg(out);
    if resume {
        c.arg("--resume");
    }
    c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    c
}

/// Stochastic gradient descent (batch 1) on breast_cancer.csv: about 0.15 s per epoch, checkpointed
/// after each.
fn training(out: &Path, resume: bool) -> Command {
    train_command(Path::new("models/logistic_regression.toml"), &["--batch-size", "1", "--epochs", EPOCHS], out, resume)
}

fn weights(model: &Path) -> BTreeMap<String, Vec<u8>> {
    let graph = onyx_compiler::import(&onyx_proto::read_model(model).unwrap()).unwrap();
    graph.values.into_iter().filter_map(|v| v.init.map(|t| (v.name, t.data))).collect()
}

/// The epoch of the checkpoint beside `model`, if one is there.
fn checkpoint_epoch(model: &Path) -> Option<usize> {
    onyx_runtime::train::checkpoint_path(model).exists().then(|| onyx_runtime::train::load_checkpoint(model).expect("the checkpoint loads").epoch)
}

/// Waits until the checkpoint beside `model` records an epoch past `after`; false if the run
/// ended first. A run that writes no new checkpoint for a minute fails the test rather than
/// hanging it.
fn wait_for_checkpoint(child: &mut std::process::Child, model: &Path, after: Option<usize>) -> bool {
    let started = std::time::Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if checkpoint_epoch(model) > after {
            return true;
        }
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("no checkpoint past epoch {after:?} within a minute");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn killed_training_resumes_to_the_same_weights() {
    let straight_dir = tempfile::tempdir().unwrap();
    let straight = straight_dir.path().join("m.onnx");
    let started = std::time::Instant::now();
    assert!(training(&straight, false).status().unwrap().success());
    let epoch = started.elapsed() / EPOCHS.parse::<u32>().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    // The first kill falls before the first checkpoint. Each later run is killed at a moment set
    // by its progress rather than by the clock, so that the kills land inside the run on a machine
    // of any speed: once it has written a checkpoint of its own, a fraction of an epoch later,
    // which puts the kill between steps or around the next checkpoint write.
    let mut child = training(&model, false).spawn().unwrap();
    std::thread::sleep(epoch / 4);
    child.kill().unwrap();
    child.wait().unwrap();
    let mut epochs_seen = vec![];
    for fraction in [0.0, 0.3, 0.6, 0.95, 1.0, 1.5] {
        let resumed_from = checkpoint_epoch(&model);
        let mut child = training(&model, resumed_from.is_some()).spawn().unwrap();
        if !wait_for_checkpoint(&mut child, &model, resumed_from) {
            break;
        }
        std::thread::sleep(epoch.mul_f64(fraction));
        child.kill().unwrap();
        child.wait().unwrap();
        // Whatever carries a final name is whole.
        if model.exists() {
            onyx_proto::read_model(&model).expect("the model under its final name decodes");
        }
        epochs_seen.extend(checkpoint_epoch(&model));
    }
    assert!(epochs_seen.len() >= 3 && epochs_seen.windows(2).all(|w| w[0] <= w[1]), "checkpoints after kills: {epochs_seen:?}");
    assert!(epochs_seen.last().is_some_and(|&e| e > 0 && e < EPOCHS.parse::<usize>().unwrap()), "the kills fell inside the run: {epochs_seen:?}");
    assert!(training(&model, true).status().unwrap().success());
    assert_eq!(weights(&model), weights(&straight), "resumed after {} kills (checkpoints at epochs {epochs_seen:?})", epochs_seen.len() + 1);
}

/// A wide MLP (1,1 M parameters; with Adam's two moments a 13 MB checkpoint, a 4.4 MB model) on
/// breast_cancer.csv, so that every write lasts long enough to be caught in the middle.
const WIDE_MLP: &str = r#"
[model]
name = "wide_mlp"
input = { name = "x", shape = [30] }
seed = 7

[[layer]]
kind = "dense"
units = 1024
activation = "relu"

[[layer]]
kind = "dense"
units = 1024
activation = "relu"

[[layer]]
kind = "dense"
units = 1
activation = "sigmoid"

[train]
loss = "binary_crossentropy"
optimizer = { kind = "adam", lr = 0.001 }
batch_size = 128
epochs = 4
"#;

/// The temporary files of writes under way to the checkpoint or the model (see `atomic_write`).
fn temps(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.contains(".tmp-")).collect();
    names.sort();
    names
}

/// Kills aimed at the writes themselves: the test watches the folder and sends SIGKILL the moment a
/// write's temporary file appears, that is while onyx is filling it, first at a run's first
/// checkpoint, then at each run's second write (the next checkpoint, or the model's export once
/// the epochs are done), resuming after each kill. The model already in place (an older one) and
/// every checkpoint under its final name stay whole, each kill's temporary file is the proof that
/// it struck mid-write, the next write clears the orphans it left, and the last resume ends on the
/// bytes of a run never interrupted.
#[test]
fn kills_inside_checkpoint_and_export_writes_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("wide.toml");
    std::fs::write(&spec, WIDE_MLP).unwrap();
    let straight = dir.path().join("straight").join("m.onnx");
    std::fs::create_dir(straight.parent().unwrap()).unwrap();
    assert!(train_command(&spec, &[], &straight, false).status().unwrap().success());

    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let model = work.join("m.onnx");
    let checkpoint = onyx_runtime::train::checkpoint_path(&model);
    // An older model under the final name, which only a finished export may replace.
    let (ok, _, err) = support::run_onyx(&["compile", "models/logistic_regression.toml", "-o", model.to_str().unwrap()]);
    assert!(ok, "{err}");
    let old_model = std::fs::read(&model).unwrap();

    let (mut checkpoint_kills, mut export_kills, mut epochs) = (0, 0, vec![]);
    for round in 0.. {
        assert!(round < 10, "training never finished: checkpoints at epochs {epochs:?}");
        // Orphans of earlier kills look a minute old, so the next write may clear them.
        for name in temps(&work) {
            let file = std::fs::File::options().write(true).open(work.join(&name)).unwrap();
            file.set_modified(std::time::SystemTime::now() - Duration::from_secs(120)).unwrap();
        }
        let orphans = temps(&work);
        let mut child = train_command(&spec, &[], &model, checkpoint.exists()).spawn().unwrap();
        let strike_at = if round == 0 { 1 } else { 2 };
        let mut seen: Vec<String> = vec![];
        let struck = loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "round {round}: training failed");
                break None;
            }
            for name in temps(&work) {
                if !orphans.contains(&name) && !seen.contains(&name) && (name.starts_with(".m.onnx.") || name.starts_with(".m.ckpt.npz.")) {
                    seen.push(name);
                }
            }
            if seen.len() >= strike_at {
                child.kill().unwrap();
                child.wait().unwrap();
                break seen.last().cloned();
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        let Some(temp) = struck else { break };
        let left = temps(&work);
        assert!(left.contains(&temp), "round {round}: the kill struck while {temp} was being written (left: {left:?})");
        assert!(orphans.iter().all(|o| !left.contains(o)) || round == 0, "round {round}: the orphans {orphans:?} were cleared (left: {left:?})");
        if temp.starts_with(".m.onnx.") {
            export_kills += 1;
        } else {
            checkpoint_kills += 1;
        }
        assert_eq!(std::fs::read(&model).unwrap(), old_model, "round {round}: the older model is whole and unchanged");
        if checkpoint.exists() {
            epochs.push(onyx_runtime::train::load_checkpoint(&model).expect("the checkpoint under its final name loads").epoch);
        }
    }
    assert!(checkpoint_kills >= 3 && export_kills == 1, "kills inside checkpoint writes: {checkpoint_kills}, inside the export: {export_kills}");
    assert_eq!(epochs, [1, 2, 3, 4], "the checkpoint each kill left");
    assert_eq!(weights(&model), weights(&straight), "resumed after kills inside writes");
    assert_eq!(temps(&work), Vec::<String>::new(), "the last write cleared the last orphan");
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

/// A disk that really fills: a 20 MiB tmpfs in a mount namespace of the test's own (`unshare`, as
/// the network-namespace tests of this kind of machine do), holding an older model. Compiling a
/// model too large for what is left, training whose second checkpoint (13 MB beside the first) no
/// longer fits, and training's export of the model, all fail with ENOSPC named against the file and
/// leave the older model, the last whole checkpoint and no temporary file behind; with room again,
/// the export succeeds from that checkpoint.
#[test]
fn a_full_disk_fails_the_write_and_keeps_what_was_there() {
    let dir = tempfile::tempdir().unwrap();
    let (disk, out) = (dir.path().join("disk"), dir.path().join("out"));
    std::fs::create_dir(&disk).unwrap();
    std::fs::create_dir(&out).unwrap();
    let spec = dir.path().join("wide.toml");
    std::fs::write(&spec, WIDE_MLP).unwrap();
    // Everything is read back inside the namespace: the tmpfs goes with it.
    let script = r#"
        set -e
        mount -t tmpfs -o size=20m tmpfs "$DISK"
        "$ONYX" compile models/logistic_regression.toml -o "$DISK/m.onnx"
        cp "$DISK/m.onnx" "$OUT/old.onnx"
        # All but 512 KiB: room for the small model, not for the 902 KB one.
        head -c 20447232 /dev/zero > "$DISK/filler"
        if "$ONYX" compile models/mnist_cnn.toml -o "$DISK/m.onnx" 2> "$OUT/compile.err"; then exit 10; fi
        cp "$DISK/m.onnx" "$OUT/after_compile.onnx"
        ls -A "$DISK" > "$OUT/after_compile.ls"
        rm "$DISK/filler"
        if "$ONYX" train "$SPEC" --data data/breast_cancer.csv --target benign --epochs 3 --quiet -o "$DISK/m.onnx" 2> "$OUT/train.err"; then exit 11; fi
        cp "$DISK/m.onnx" "$OUT/after_train.onnx"
        cp "$DISK/m.ckpt.npz" "$OUT/m.ckpt.npz"
        ls -A "$DISK" > "$OUT/after_train.ls"
        # Resuming at the checkpoint's own epoch trains nothing and only exports: with 2 MiB left
        # the 4.4 MB model cannot be written.
        head -c $(( ($(df -k --output=avail "$DISK" | tail -1) - 2048) * 1024 )) /dev/zero > "$DISK/filler"
        if "$ONYX" train "$SPEC" --data data/breast_cancer.csv --target benign --epochs 1 --resume --quiet -o "$DISK/m.onnx" 2> "$OUT/export.err"; then exit 12; fi
        cp "$DISK/m.onnx" "$OUT/after_export.onnx"
        ls -A "$DISK" > "$OUT/after_export.ls"
        rm "$DISK/filler"
        "$ONYX" train "$SPEC" --data data/breast_cancer.csv --target benign --epochs 1 --resume --quiet -o "$DISK/m.onnx" 2> "$OUT/retry.err"
        cp "$DISK/m.onnx" "$OUT/exported.onnx"
    "#;
    let status = Command::new("unshare")
        .args(["--map-root-user", "--mount", "sh", "-c", script])
        .env("ONYX", env!("CARGO_BIN_EXE_onyx"))
        .env("DISK", &disk)
        .env("OUT", &out)
        .env("SPEC", &spec)
        .current_dir(support::repo())
        .status()
        .expect("unshare (util-linux) runs");
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    assert!(
        status.success(),
        "the script failed ({status}); compile: {}; train: {}; export: {}; retry: {}",
        read("compile.err"),
        read("train.err"),
        read("export.err"),
        read("retry.err")
    );

    let old = std::fs::read(out.join("old.onnx")).unwrap();
    let compile_err = read("compile.err");
    assert!(compile_err.contains("m.onnx") && compile_err.contains("No space left on device"), "{compile_err}");
    assert_eq!(std::fs::read(out.join("after_compile.onnx")).unwrap(), old, "compile left the older model");
    assert_eq!(read("after_compile.ls").split_whitespace().collect::<Vec<_>>(), ["filler", "m.onnx"], "no temporary file left");

    let train_err = read("train.err");
    assert!(train_err.contains("m.ckpt.npz") && train_err.contains("No space left on device"), "{train_err}");
    assert_eq!(std::fs::read(out.join("after_train.onnx")).unwrap(), old, "training left the older model");
    assert_eq!(read("after_train.ls").split_whitespace().collect::<Vec<_>>(), ["m.ckpt.npz", "m.onnx"], "no temporary file left");
    let checkpoint = onyx_runtime::train::load_checkpoint(&out.join("m.onnx")).expect("the first checkpoint is whole");
    assert_eq!(checkpoint.epoch, 1, "the epoch-1 checkpoint survived the failed epoch-2 write");

    let export_err = read("export.err");
    assert!(export_err.contains("m.onnx") && export_err.contains("No space left on device"), "{export_err}");
    assert_eq!(std::fs::read(out.join("after_export.onnx")).unwrap(), old, "the failed export left the older model");
    assert_eq!(read("after_export.ls").split_whitespace().collect::<Vec<_>>(), ["filler", "m.ckpt.npz", "m.onnx"], "no temporary file left");
    // With room again, the same command exports the wide model from the checkpoint.
    let exported = weights(&out.join("exported.onnx"));
    assert!(exported.values().map(Vec::len).sum::<usize>() > 4_000_000, "the wide model was exported");
}
