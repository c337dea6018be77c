//! The limits of tract's that docs/engines.md lists, each shown by a minimal model
//! (scripts/tract_cases.py): tract alone refuses it, and onyx's tract engine runs it as
//! onnxruntime-python does, or refuses it at load naming the op and the way out. When a tract
//! release lifts a limit, the first assertion fails and the workaround can go.
mod support;

use std::path::Path;

use tract_onnx::prelude::*;

/// Whether tract, given the file as it is, plans and runs it on `inputs`.
fn tract_alone_runs(model: &Path, inputs: &Path) -> bool {
    let mut npz = onyx_runtime::data::npy::Npz::open(inputs).unwrap();
    let values: TVec<TValue> = npz
        .names()
        .iter()
        .map(|n| {
            let t = npz.tensor(n.trim_end_matches(".npy")).unwrap();
            match t {
                onyx_runtime::HostTensor::F32(a) => Tensor::from(a).into_tvalue(),
                onyx_runtime::HostTensor::I64(a) => Tensor::from(a).into_tvalue(),
                other => panic!("a {} input", other.dtype()),
            }
        })
        .collect();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tract_onnx::onnx().model_for_path(model).and_then(|m| m.into_optimized()).and_then(|m| m.into_runnable()).and_then(|p| p.run(values)).is_ok()
    }))
    .unwrap_or(false)
}

fn cases() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (ok, report) = support::run_python("tract_cases.py", &[dir.path()]);
    assert!(ok, "{report}");
    dir
}

#[test]
fn onyx_runs_on_tract_what_tract_alone_refuses() {
    let dir = cases();
    for case in ["minus_one_dim", "if_on_a_shape", "if_on_an_input_value", "zipmap_output"] {
        let model = dir.path().join(format!("{case}.onnx"));
        let inputs = dir.path().join(format!("{case}.inputs.npz"));
        assert!(!tract_alone_runs(&model, &inputs), "{case}: tract now runs it alone; onyx's workaround may go (docs/engines.md)");
        let got = dir.path().join(format!("{case}.got.npz"));
        let (ok, _, stderr) = support::run_onyx(&[
            "predict",
            &model.to_string_lossy(),
            "--input",
            &inputs.to_string_lossy(),
            "-o",
            &got.to_string_lossy(),
            "--engine",
            "tract",
        ]);
        assert!(ok, "{case}: {stderr}");
        let (same, report) = support::run_python("compare_npz.py", &[&got, &dir.path().join(format!("{case}.outputs.npz"))]);
        assert!(same, "{case}: {report}");
    }
}

#[test]
fn ops_tract_lacks_are_refused_at_load_with_the_way_out() {
    let dir = cases();
    let model = dir.path().join("contrib_op.onnx");
    let inputs = dir.path().join("contrib_op.inputs.npz");
    let (ok, _, stderr) = support::run_onyx(&["predict", &model.to_string_lossy(), "--input", &inputs.to_string_lossy(), "--engine", "tract"]);
    assert!(!ok && stderr.contains("FusedMatMul") && stderr.contains("--engine ort"), "{stderr}");
    // Deploying refuses it too, before any app is written.
    let app = dir.path().join("app");
    let (ok, _, stderr) = support::run_onyx(&["deploy", &model.to_string_lossy(), "-o", &app.to_string_lossy()]);
    assert!(!ok && stderr.contains("FusedMatMul") && !app.exists(), "{stderr}");
    let got = dir.path().join("ort.npz");
    let (ok, _, stderr) = support::run_onyx(&[
        "predict",
        &model.to_string_lossy(),
        "--input",
        &inputs.to_string_lossy(),
        "-o",
        &got.to_string_lossy(),
        "--engine",
        "ort",
    ]);
    assert!(ok, "{stderr}");
    let (same, report) = support::run_python("compare_npz.py", &[&got, &dir.path().join("contrib_op.outputs.npz")]);
    assert!(same, "{report}");
}
