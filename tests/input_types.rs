//! Every ONNX tensor type at a model's inputs and outputs, fed as users have them: NPY and NPZ
//! written by NumPy (ml_dtypes for bfloat16), CSV for 2-D numbers, and arrays of another type than
//! the model's where no value changes. A model with two inputs and two outputs of symbolic size runs
//! through `onyx predict` on both engines; the outputs must equal onnxruntime-python's exactly.
mod support;

use std::path::Path;

const TYPES: [&str; 13] =
    ["float32", "float64", "float16", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"];

fn predict(model: &Path, input: &Path, out: &Path, engine: &str) -> Result<(), String> {
    let (ok, _, stderr) = support::run_onyx(&[
        "predict",
        &model.to_string_lossy(),
        "--input",
        &input.to_string_lossy(),
        "-o",
        &out.to_string_lossy(),
        "--engine",
        engine,
    ]);
    if ok { Ok(()) } else { Err(stderr.trim().to_string()) }
}

fn same(got: &Path, want: &Path) -> Result<(), String> {
    let (ok, report) = support::run_python("compare_npz.py", &[got, want]);
    if ok { Ok(()) } else { Err(report) }
}

#[test]
fn every_element_type_goes_in_and_out_on_both_engines() {
    let mut failures = vec![];
    for dtype in TYPES {
        let dir = tempfile::tempdir().unwrap();
        let (ok, report) = support::run_python("dtype_model.py", &[Path::new(dtype), dir.path()]);
        assert!(ok, "{dtype}: {report}");
        let model = dir.path().join("model.onnx");
        for engine in ["tract", "ort"] {
            let got = dir.path().join(format!("{engine}.npz"));
            let result = predict(&model, &dir.path().join("ab.npz"), &got, engine).and_then(|()| same(&got, &dir.path().join("want.npz")));
            match (dtype, engine, result) {
                // tract has no bfloat16: refused with a reason that names the way out.
                ("bfloat16", "tract", Err(e)) => assert!(e.to_lowercase().contains("bfloat16") && e.contains("--engine ort"), "{e}"),
                (_, _, Err(e)) => failures.push(format!("{dtype} on {engine}: {e}")),
                ("bfloat16", "tract", Ok(())) => failures.push("bfloat16 on tract was expected to be refused".into()),
                _ => {}
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A single-input model fed from NPY and CSV: values of every integer width fit an int64 input,
/// float64 and integers feed float32 with a note, and a value that does not fit is refused naming it.
#[test]
fn arrays_of_another_type_are_converted_where_no_value_changes() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = |dtype: &str| {
        let d = dir.path().join(dtype);
        std::fs::create_dir_all(&d).unwrap();
        let (ok, report) = support::run_python("dtype_model.py", &[Path::new(dtype), &d]);
        assert!(ok, "{report}");
        d
    };
    let int64 = model_dir("int64");
    let float32 = model_dir("float32");
    let int32 = model_dir("int32");
    let uint8 = model_dir("uint8");
    // The single-input form of the model: `b` dropped.
    let single = |d: &Path| {
        let (ok, report) = support::run_python("dtype_model.py", &[Path::new("--single"), d]);
        assert!(ok, "{report}");
        d.join("single.onnx")
    };
    for (model_dir, npy_dir, note) in
        [(&int64, &int32, false), (&float32, &int32, true), (&int32, &uint8, false), (&float32, &model_dir("float64"), true)]
    {
        let model = single(model_dir);
        let out = dir.path().join("out.npz");
        let (ok, _, stderr) = support::run_onyx(&[
            "predict",
            &model.to_string_lossy(),
            "--input",
            &npy_dir.join("a.npy").to_string_lossy(),
            "-o",
            &out.to_string_lossy(),
        ]);
        assert!(ok, "{}: {stderr}", npy_dir.display());
        assert_eq!(stderr.contains("cast to the model's"), note, "{stderr}");
    }
    // CSV rows of a 2-D input of unknown width, every integer exact at the type's extremes.
    for d in [&int64, &int32, &uint8] {
        let model = single(d);
        let out = dir.path().join("csv.npz");
        let (ok, _, stderr) =
            support::run_onyx(&["predict", &model.to_string_lossy(), "--input", &d.join("a.csv").to_string_lossy(), "-o", &out.to_string_lossy()]);
        assert!(ok, "{stderr}");
        same(&out, &d.join("want_single.npz")).unwrap();
    }
    // int64 values beyond int32 are refused for an int32 input, naming the value and its place.
    let (ok, _, stderr) = support::run_onyx(&["predict", &single(&int32).to_string_lossy(), "--input", &int64.join("a.npy").to_string_lossy()]);
    assert!(!ok && stderr.contains("-9223372036854775808") && stderr.contains("index 0") && stderr.contains("int32"), "{stderr}");
}
