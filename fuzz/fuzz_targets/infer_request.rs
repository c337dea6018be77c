//! An inference request body, as `onyx serve` decodes one for a model of a float input (N, 3, 2)
//! and an int64 input (N, 5): the first two bytes give where the JSON part ends (the binary
//! extension's header), the rest is the body.
#![no_main]
use libfuzzer_sys::fuzz_target;
use onyx_compiler::ir::{DType, Dim};
use onyx_runtime::IoInfo;

fuzz_target!(|bytes: &[u8]| {
    if bytes.len() < 2 {
        return;
    }
    let body = &bytes[2..];
    let split = (u16::from_le_bytes([bytes[0], bytes[1]]) as usize).min(body.len());
    let inputs = [
        IoInfo { name: "x".into(), dtype: DType::F32, shape: vec![Dim::batch(), Dim::Fixed(3), Dim::Fixed(2)] },
        IoInfo { name: "t".into(), dtype: DType::I64, shape: vec![Dim::batch(), Dim::Fixed(5)] },
    ];
    let outputs = [IoInfo { name: "y".into(), dtype: DType::F32, shape: vec![Dim::batch(), Dim::Fixed(1)] }];
    if let Ok(decoded) = onyx_serve::protocol::decode_request(&body[..split], &body[split..], &inputs, &outputs, 1 << 16) {
        let results: Vec<_> = decoded.outputs.iter().map(|_| decoded.inputs[0].clone()).collect();
        let _ = onyx_serve::protocol::encode_response("m", &decoded, &outputs, &results);
    }
});
