pub mod compile;
pub mod inspect;
pub mod predict;
pub mod summary;

use onyx_runtime::RuntimeError;

/// 2 for bad input (a spec, a model file or data the user gave), 1 for any other failure.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    let bad_input = e.chain().any(|c| {
        c.is::<onyx_compiler::SpecError>()
            || c.is::<onyx_proto::ProtoError>()
            || matches!(
                c.downcast_ref::<RuntimeError>(),
                Some(RuntimeError::Input { .. } | RuntimeError::Data { .. } | RuntimeError::DataCell { .. } | RuntimeError::Proto(_))
            )
    });
    if bad_input { 2 } else { 1 }
}
