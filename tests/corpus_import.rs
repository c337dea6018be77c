//! Every model of the corpus (scripts/corpus/manifest.json, fetched into `$ONYX_CORPUS_DIR`) imports
//! into the IR with the concrete input shapes of the manifest's `feed` (and the values of its scalar
//! integer inputs bound), exports back to ONNX
//! (`onyx_compiler::to_onnx`), and the exported model, run on ONNX Runtime (`ORT_DYLIB_PATH`), gives
//! onnxruntime-python's outputs on the reference inputs within 1e-3 relative / 1e-4 absolute.
//!
//! Not every model gets there yet: the test prints, per model, whether it imports and whether the
//! round trip equals the reference (with the reason where not), and holds a floor on both counts so
//! that a regression fails.
mod support;

use std::collections::BTreeMap;

use onyx_compiler::ir::Dim;
use onyx_runtime::HostTensor;
use onyx_runtime::data::npy::Npz;
use onyx_runtime::engine::Engine;

/// Models that import, and models whose round trip equals onnxruntime-python, of the 25: the one
/// that differs is the dynamically quantized LSTM, lowered to the float LSTM it approximates.
const IMPORT_FLOOR: usize = 25;
const EQUAL_FLOOR: usize = 24;

#[derive(serde::Deserialize)]
struct Feed {
    shape: Vec<usize>,
}

#[derive(serde::Deserialize)]
struct Entry {
    name: String,
    exporter: String,
    feed: BTreeMap<String, Feed>,
}

/// The feed's shapes, as `import_with_shapes` takes them.
fn shapes(entry: &Entry) -> Vec<(String, Vec<Dim>)> {
    entry.feed.iter().map(|(name, f)| (name.clone(), f.shape.iter().map(|&d| Dim::Fixed(d)).collect())).collect()
}

/// The reference inputs that are integer scalars (a sample rate), bound as constants: the IR holds
/// no control flow, so an `If` on one folds only with its value known.
fn scalar_values(dir: &std::path::Path, entry: &Entry) -> Vec<(String, onyx_compiler::ir::Tensor)> {
    let mut npz = Npz::open(&dir.join(format!("{}.inputs.npz", entry.name))).unwrap();
    entry
        .feed
        .iter()
        .filter(|(_, f)| f.shape.is_empty())
        .filter_map(|(name, _)| npz.tensor(name).ok().filter(|t| t.dtype().is_integer()).map(|t| (name.clone(), t.to_ir())))
        .collect()
}

/// Imports `entry` with its feed's shapes and its scalar inputs' values; `Err` says why not.
fn import(dir: &std::path::Path, entry: &Entry) -> Result<onyx_compiler::ir::Graph, String> {
    let model = onyx_proto::read_model(&dir.join(format!("{}.onnx", entry.name))).map_err(|e| e.to_string())?;
    onyx_compiler::import_with_values(&model, &shapes(entry), &scalar_values(dir, entry)).map_err(|e| e.to_string())
}

/// Runs the exported graph on ONNX Runtime with the reference inputs and compares every reference
/// output the export still has (a ZipMap's maps are not tensors, so the IR drops them).
fn round_trip(dir: &std::path::Path, entry: &Entry, graph: &onyx_compiler::ir::Graph) -> Result<(), String> {
    let proto = onyx_compiler::to_onnx(graph);
    let engine = onyx_runtime::OrtEngine::new(Some(1), onyx_runtime::Device::Cpu);
    let session = engine.load(&proto).map_err(|e| format!("ORT refuses the export: {e}"))?;
    let mut inputs_npz = Npz::open(&dir.join(format!("{}.inputs.npz", entry.name)))?;
    let inputs: Vec<HostTensor> =
        session.inputs().iter().map(|i| inputs_npz.tensor(&i.name).map_err(|e| format!("input `{}`: {e}", i.name))).collect::<Result<_, _>>()?;
    let outputs = session.run(&inputs).map_err(|e| format!("ORT cannot run the export: {e}"))?;
    let mut want = Npz::open(&dir.join(format!("{}.outputs.npz", entry.name)))?;
    let mut compared = 0;
    for name in want.names() {
        let name = name.trim_end_matches(".npy").to_string();
        let Some(pos) = session.outputs().iter().position(|o| o.name == name) else {
            return Err(format!("the export has no output `{name}`"));
        };
        let (w, h) = (want.tensor(&name)?, &outputs[pos]);
        if w.shape() != h.shape() {
            return Err(format!("output `{name}`: shape {:?}, onnxruntime-python gives {:?}", h.shape(), w.shape()));
        }
        let (w, h) = (w.to_f64_vec(), h.to_f64_vec());
        let worst = w.iter().zip(&h).enumerate().find(|(_, (a, b))| !support::close_to_reference(**a, **b));
        if let Some((i, (a, b))) = worst {
            return Err(format!("output `{name}`: value {i} is {b}, onnxruntime-python gives {a}"));
        }
        compared += 1;
    }
    if compared == 0 {
        return Err("no output to compare".into());
    }
    Ok(())
}

#[test]
fn the_corpus_imports_and_round_trips_as_on_onnxruntime_python() {
    let dir = support::corpus_dir();
    let entries = support::corpus_manifest::<Entry>();
    let (mut imported, mut equal) = (0, 0);
    let mut lines = vec![];
    for entry in &entries {
        let (imports, result) = match import(&dir, entry) {
            Err(e) => (false, Err(format!("import: {e}"))),
            Ok(graph) => (true, round_trip(&dir, entry, &graph)),
        };
        imported += imports as usize;
        equal += result.is_ok() as usize;
        let mark = |b: bool| if b { "yes" } else { "no" };
        let reason = result.err().map(|e| format!("  ({e})")).unwrap_or_default();
        lines.push(format!(
            "  {:<36} imports {:<3}  equal {:<3} [{}]{reason}",
            entry.name,
            mark(imports),
            mark(reason.is_empty()),
            entry.exporter.split(' ').next().unwrap_or("")
        ));
    }
    println!("corpus import: {} models; {imported} import with the feed's shapes, {equal} equal onnxruntime-python after export", entries.len());
    println!("{}", lines.join("\n"));
    assert!(imported >= IMPORT_FLOOR, "{imported} corpus models import, fewer than {IMPORT_FLOOR}:\n{}", lines.join("\n"));
    assert!(equal >= EQUAL_FLOOR, "{equal} corpus models round-trip equal, fewer than {EQUAL_FLOOR}:\n{}", lines.join("\n"));
}

/// `onyx import --input-shape` gives the command line the same shapes.
#[test]
fn the_command_line_takes_input_shapes() {
    let model = support::corpus_dir().join("ppocr_cls_v2.onnx");
    let model = model.to_string_lossy();
    let (ok, _, stderr) = support::run_onyx(&["import", &model]);
    assert!(!ok && stderr.contains("must be known"), "{stderr}");
    let (ok, stdout, stderr) = support::run_onyx(&["import", &model, "--input-shape", "x=N,3,48,192"]);
    assert!(!ok || stdout.contains("nodes"), "{stderr}");
    let (ok, stdout, stderr) = support::run_onyx(&["import", &model, "--input-shape", "x=1,3,48,192"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("Softmax"), "{stdout}");
    let (ok, _, stderr) = support::run_onyx(&["import", &model, "--input-shape", "image=1,3,48,192"]);
    assert!(!ok && stderr.contains("`image`") && stderr.contains("is not an input"), "{stderr}");
    let (ok, _, stderr) = support::run_onyx(&["import", &model, "--input-shape", "x=1,3,48"]);
    assert!(!ok && stderr.contains("rank 3"), "{stderr}");
    let (ok, _, stderr) = support::run_onyx(&["import", &model, "--input-shape", "x=1,4,48,192"]);
    assert!(!ok && stderr.contains("fixes it at 3"), "{stderr}");
}

/// `--input-value` binds silero's sample rate, on which an `If` chooses the 16 kHz or 8 kHz model:
/// with it the branch is chosen at import, without it the error names the input to bind.
#[test]
fn the_command_line_binds_input_values() {
    let model = support::corpus_dir().join("silero_vad_v5_spox.onnx");
    let model = model.to_string_lossy();
    let shapes = ["--input-shape", "input=1,512", "--input-shape", "state=2,1,128"];
    let (ok, _, stderr) = support::run_onyx(&[&["import", &model][..], &shapes].concat());
    assert!(!ok && stderr.contains("depends on `sr` at run time"), "{stderr}");
    let (ok, stdout, stderr) = support::run_onyx(&[&["import", &model][..], &shapes, &["--input-value", "sr=16000"]].concat());
    assert!(ok && stdout.contains("LSTM"), "{stderr}");
    let (ok, _, stderr) = support::run_onyx(&[&["import", &model][..], &shapes, &["--input-value", "sr=1.5"]].concat());
    assert!(!ok && stderr.contains("binds int64 (whole numbers)"), "{stderr}");
    let (ok, _, stderr) = support::run_onyx(&[&["import", &model][..], &shapes, &["--input-value", "rate=16000"]].concat());
    assert!(!ok && stderr.contains("no such input"), "{stderr}");
}
