//! A data file as `onyx predict` and `onyx train` read one: the first byte chooses CSV, NPY or NPZ;
//! the rest is the file, read for a model of one float input of 4 features and as a table.
#![no_main]
use libfuzzer_sys::fuzz_target;
use onyx_compiler::ir::{DType, Dim, TensorType};
use onyx_runtime::IoInfo;

fuzz_target!(|bytes: &[u8]| {
    let Some((&kind, body)) = bytes.split_first() else { return };
    let ext = ["csv", "npy", "npz"][kind as usize % 3];
    let dir = std::env::temp_dir().join(format!("onyx-fuzz-data-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("data.{ext}"));
    if std::fs::write(&path, body).is_err() {
        return;
    }
    let input = IoInfo { name: "x".into(), dtype: DType::F32, shape: vec![Dim::batch(), Dim::Fixed(4)] };
    let _ = onyx_runtime::data::read_inputs(&path, std::slice::from_ref(&input));
    let target = TensorType::new(DType::I64, vec![Dim::batch()]);
    let _ = onyx_runtime::data::read_labelled(&path, &input, &target, None);
    if ext == "csv" {
        let _ = onyx_runtime::data::read_table(&path);
    }
});
