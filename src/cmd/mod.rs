pub mod compile;
pub mod deploy;
pub mod engine;
pub mod evaluate;
pub mod export;
pub mod import;
pub mod inspect;
pub mod pack;
pub mod predict;
pub mod serve;
pub mod summary;
pub mod train;

pub use onyx_compiler::summary::plural;
use onyx_runtime::RuntimeError;

/// 2 for bad input (a spec, a model file or data the user gave), 1 for any other failure.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    let bad_input = e.chain().any(|c| {
        c.is::<onyx_compiler::SpecError>()
            || c.is::<onyx_proto::ProtoError>()
            || c.is::<onyx_compiler::import::ImportError>()
            || c.downcast_ref::<onyx::Error>().is_some_and(onyx::Error::is_bad_input)
            || matches!(
                c.downcast_ref::<RuntimeError>(),
                Some(
                    RuntimeError::Input { .. }
                        | RuntimeError::Data { .. }
                        | RuntimeError::DataCell { .. }
                        | RuntimeError::Proto(_)
                        | RuntimeError::Load { .. }
                )
            )
    });
    if bad_input { 2 } else { 1 }
}

/// The error and its causes, `: `-joined, each cause left out when the text so far already says it
/// (typed errors often print their source, which the chain then repeats).
pub fn describe(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
    }
    text
}

/// Writes command output to stdout; a reader that went away (`onyx inspect m.onnx | head`) is not an
/// error.
pub fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(anyhow::Error::new(e).context("writing to stdout")),
        _ => Ok(()),
    }
}

/// A model file's bytes, which will ship as they are, and the model they hold, read through the
/// reader's checks (sizes, IR version, external data). A model with external data cannot travel as
/// one file and is refused.
pub fn read_one_file_model(path: &std::path::Path) -> anyhow::Result<(Vec<u8>, onyx_proto::onnx::ModelProto)> {
    use anyhow::Context;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let proto = onyx_proto::read_model(path).with_context(|| format!("reading {}", path.display()))?;
    if onyx_proto::decode_model(&bytes).ok().as_ref() != Some(&proto) {
        anyhow::bail!(
            "{} keeps tensors in external data files; save it as one file first (onnx.save with save_as_external_data=False)",
            path.display()
        );
    }
    Ok((bytes, proto))
}
