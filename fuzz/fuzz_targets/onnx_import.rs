//! An `.onnx` file, as `onyx` reads one: the reader's checks (sizes, nesting, external data, IR
//! version), then import into the IR (opset upgrade, folding, shape inference).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let dir = std::env::temp_dir().join(format!("onyx-fuzz-onnx-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("model.onnx");
    if std::fs::write(&path, bytes).is_err() {
        return;
    }
    if let Ok(model) = onyx_proto::read_model(&path) {
        let _ = onyx_compiler::import(&model);
    }
});
