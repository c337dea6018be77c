//! A spec, TOML or JSON (the first byte chooses), through parsing, validation and lowering to a
//! graph with initialized weights.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Some((&kind, text)) = bytes.split_first() else { return };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let path = if kind % 2 == 0 { "fuzz.toml" } else { "fuzz.json" };
    if let Ok(spec) = onyx_compiler::Spec::parse(std::path::Path::new(path), text.to_string()) {
        let _ = onyx_compiler::compile(&spec);
    }
});
