//! An `.onnx` file as `onyx predict` runs one on tract: the reader's checks, the rewrites for tract,
//! tract's importer and optimizer, then one run on zeros at batch 1. tract's own panics are caught
//! by the engine and reported as load or run errors, so only a panic outside that boundary (which
//! reaches libFuzzer), an abort, a hang or an allocation past the limit counts as a crash.
#![no_main]
use libfuzzer_sys::fuzz_target;
use onyx_compiler::ir::DType;
use onyx_runtime::{Engine, HostTensor, TractEngine};

/// Inputs larger than this are not run: the model is loaded and optimized only.
const MAX_INPUT_ELEMENTS: usize = 1 << 20;

fuzz_target!(|bytes: &[u8]| {
    // libFuzzer's hook aborts at any panic, even one caught; the engine's catch is the boundary
    // under test, so panics are left to unwind to it (and, uncaught, to libFuzzer's own catch).
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let dir = std::env::temp_dir().join(format!("onyx-fuzz-tract-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("model.onnx");
    if std::fs::write(&path, bytes).is_err() {
        return;
    }
    let Ok(model) = onyx_proto::read_model(&path) else { return };
    let Ok(session) = TractEngine.load(&model) else { return };
    let inputs: Option<Vec<HostTensor>> = session
        .inputs()
        .iter()
        .map(|info| {
            let shape: Vec<usize> = info.shape.iter().map(|d| d.fixed().unwrap_or(1)).collect();
            shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).filter(|&n| n <= MAX_INPUT_ELEMENTS)?;
            Some(match info.dtype {
                DType::I64 => HostTensor::I64(ndarray::ArrayD::zeros(shape)),
                _ => HostTensor::F32(ndarray::ArrayD::zeros(shape)),
            })
        })
        .collect();
    if let Some(inputs) = inputs {
        let _ = session.run(&inputs);
    }
});
