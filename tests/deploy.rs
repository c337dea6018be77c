//! `onyx deploy`: one executable that carries the model, runs alone with an empty environment,
//! needs no library beyond the C library's, tells where its model came from, and refuses a
//! damaged payload; and `onyx export --triton`, whose config Triton's own schema parses.
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::http::{Server, infer_json, output_values, post_json};

/// The logistic regression trained on breast_cancer.csv with standardization baked in, and five of
/// its raw rows as an NPY.
fn trained(dir: &Path) -> (PathBuf, PathBuf) {
    let model = dir.join("cancer.onnx");
    let (ok, _, err) = support::run_onyx(&[
        "train",
        "models/logistic_regression.toml",
        "--data",
        "data/breast_cancer.csv",
        "--standardize",
        "--epochs",
        "5",
        "--quiet",
        "-o",
        model.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let table = onyx_runtime::data::read_table(&support::repo().join("data/breast_cancer.csv")).unwrap();
    let rows: Vec<f32> = table.rows.iter().take(5).flat_map(|r| r[..30].iter().map(|&v| v as f32)).collect();
    let x = dir.join("x.npy");
    ndarray_npy::write_npy(&x, &ndarray::Array2::from_shape_vec((5, 30), rows).unwrap()).unwrap();
    (model, x)
}

/// Runs `command`, retrying while the kernel says the executable is busy: a file this test process
/// has just written can still be open for writing in a child another test thread forked before the
/// write closed it (until that child execs), and exec refuses such a file with ETXTBSY.
fn output(command: &mut Command) -> std::process::Output {
    for _ in 0..100 {
        match command.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => std::thread::sleep(std::time::Duration::from_millis(20)),
            result => return result.unwrap(),
        }
    }
    panic!("{command:?} stayed busy for 2 s")
}

fn deploy(model: &Path, app: &Path) {
    let (ok, _, err) = support::run_onyx(&["deploy", model.to_str().unwrap(), "-o", app.to_str().unwrap()]);
    assert!(ok, "{err}");
}

#[test]
fn a_deployed_app_runs_alone_and_predicts_what_onyx_does() {
    let dir = tempfile::tempdir().unwrap();
    let (model, x) = trained(dir.path());
    let app = dir.path().join("app");
    deploy(&model, &app);
    let (ok, expected, err) = support::run_onyx(&["predict", model.to_str().unwrap(), "--input", x.to_str().unwrap()]);
    assert!(ok, "{err}");

    // Alone in an empty folder, with an empty environment.
    let alone = tempfile::tempdir().unwrap();
    std::fs::copy(&app, alone.path().join("app")).unwrap();
    std::fs::copy(&x, alone.path().join("x.npy")).unwrap();
    let out = output(Command::new("./app").args(["--input", "x.npy"]).current_dir(alone.path()).env_clear());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);

    // No shared library beyond the C library's (a static executable lists none).
    let ldd = Command::new("ldd").arg(alone.path().join("app")).output().unwrap();
    let listing = format!("{}{}", String::from_utf8_lossy(&ldd.stdout), String::from_utf8_lossy(&ldd.stderr));
    let libc_family = ["linux-vdso", "ld-linux", "libc.so", "libm.so", "libpthread.so", "libdl.so", "librt.so"];
    for line in listing.lines().map(str::trim).filter(|l| !l.is_empty()) {
        assert!(
            line.contains("statically linked") || line.contains("not a dynamic executable") || libc_family.iter().any(|l| line.contains(l)),
            "ldd lists {line}"
        );
    }

    // Its origin: the spec, when it was trained, the onyx version and the model's hash.
    let info = output(Command::new(alone.path().join("app")).arg("--info").env_clear());
    let info = String::from_utf8_lossy(&info.stdout).to_string();
    let sha = Command::new("sha256sum").arg(&model).output().unwrap();
    let sha = String::from_utf8_lossy(&sha.stdout).split_whitespace().next().unwrap().to_string();
    for line in [
        "spec: logistic_regression",
        "trained: 20",
        &format!("with onyx {}", env!("CARGO_PKG_VERSION")),
        &format!("sha256: {sha}"),
        "x float32[N, 30]",
    ] {
        assert!(info.contains(line), "{line} in\n{info}");
    }

    // It serves too, answering as it predicts.
    let server = Server::start(&alone.path().join("app"), &["serve"]);
    let rows: Vec<f32> = ndarray_npy::read_npy::<_, ndarray::Array2<f32>>(&x).unwrap().iter().copied().collect();
    let reply = post_json(server.port, "/v2/models/logistic_regression/infer", &infer_json("x", &[5, 30], &rows));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let expected: Vec<f32> = expected.lines().skip(1).map(|l| l.parse().unwrap()).collect();
    let got = output_values(&reply, "dense");
    assert!(got.iter().zip(&expected).all(|(a, b)| (a - b).abs() <= 1e-6), "{got:?} vs {expected:?}");
}

#[test]
fn a_damaged_app_refuses_to_run_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = support::run_onyx(&["compile", "models/he_mlp.toml", "-o", dir.path().join("mlp.onnx").to_str().unwrap()]);
    assert!(ok, "{err}");
    let app = dir.path().join("app");
    deploy(&dir.path().join("mlp.onnx"), &app);
    let bytes = std::fs::read(&app).unwrap();
    let model_len = std::fs::metadata(dir.path().join("mlp.onnx")).unwrap().len() as usize;
    let run = |bytes: &[u8]| {
        let path = dir.path().join("bad");
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let out = output(Command::new(&path).arg("--info"));
        (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    assert!(run(&bytes).0);
    // A changed byte in the middle of the model, which sits before the description and the 56-byte
    // footer (magic, model length, description length, SHA-256).
    let n = bytes.len();
    let info_len = u64::from_le_bytes(bytes[n - 40..n - 32].try_into().unwrap()) as usize;
    let mut tampered = bytes.clone();
    tampered[n - 56 - info_len - model_len / 2] ^= 0x10;
    let (ok, err) = run(&tampered);
    assert!(!ok && err.contains("damaged") && err.contains("SHA-256"), "{err}");
    let (ok, err) = run(&bytes[..bytes.len() - 100]);
    assert!(!ok && err.contains("carries no model"), "{err}");
    // A bare runner says how to make an app.
    let runner = Path::new(env!("CARGO_BIN_EXE_onyx")).with_file_name("onyx-runner");
    let out = Command::new(runner).arg("--info").output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("onyx deploy"));
}

#[test]
fn a_triton_repository_parses_into_tritons_schema() {
    let dir = tempfile::tempdir().unwrap();
    for spec in ["mnist_cnn", "gru_classifier"] {
        let model = dir.path().join(format!("{spec}.onnx"));
        let (ok, _, err) = support::run_onyx(&["compile", &format!("models/{spec}.toml"), "-o", model.to_str().unwrap()]);
        assert!(ok, "{err}");
        let repo = dir.path().join("repository");
        let (ok, _, err) = support::run_onyx(&["export", "--triton", repo.to_str().unwrap(), model.to_str().unwrap(), "--max-batch-size", "32"]);
        assert!(ok, "{err}");
        assert_eq!(std::fs::read(repo.join(spec).join("1/model.onnx")).unwrap(), std::fs::read(&model).unwrap());
        let (ok, report) = support::run_python("check_triton_config.py", &[&repo.join(spec)]);
        assert!(ok, "{spec}: {report}");
        assert!(report.contains("max_batch_size 32, dynamic batching: True"), "{report}");
        println!("{spec}:\n{report}");
    }
}
