//! Checks on a tensor's declared shape and on the bytes it carries inline.

use crate::error::ProtoError;
use crate::limits::Limits;
use crate::onnx::TensorProto;
use crate::tensor::tensor_byte_size;

/// Validates dims (no negatives, no overflow) and that the declared data fits `max_tensor_bytes`.
/// Returns the declared byte size, or `None` for types without a fixed size.
///
/// This runs before any external data is read, so a tensor that claims to be huge is refused
/// before we allocate for it.
pub(crate) fn declared_bytes(t: &TensorProto, limits: &Limits) -> Result<Option<u64>, ProtoError> {
    let declared = tensor_byte_size(t)?;
    if let Some(bytes) = declared
        && bytes > limits.max_tensor_bytes
    {
        return Err(ProtoError::TooLarge { what: format!("tensor `{}`", t.display_name()), bytes, limit: limits.max_tensor_bytes });
    }
    Ok(declared)
}

/// Refuses `raw_data` whose length disagrees with the declared size.
///
/// An empty `raw_data` is accepted when a typed field (`float_data`, ...) carries the values
/// instead, since some producers set both. A tensor split into segments holds only part of its
/// data in each message, so its size cannot be checked against its dims.
pub(crate) fn check_raw_size(t: &TensorProto, declared: Option<u64>) -> Result<(), ProtoError> {
    let (Some(raw), Some(declared)) = (t.raw_data.as_deref(), declared) else {
        return Ok(());
    };
    if t.segment.is_some() || (raw.is_empty() && has_typed_data(t)) {
        return Ok(());
    }
    let present = raw.len() as u64;
    if present != declared {
        return Err(ProtoError::RawDataSize { tensor: t.display_name().to_string(), declared_bytes: declared, present_bytes: present });
    }
    Ok(())
}

fn has_typed_data(t: &TensorProto) -> bool {
    !(t.float_data.is_empty() && t.int32_data.is_empty() && t.int64_data.is_empty() && t.double_data.is_empty() && t.uint64_data.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::f32_tensor;

    #[test]
    fn limit_applies_to_declared_size() {
        let t = f32_tensor("big", &[1000, 1000], &[]);
        let small = Limits { max_tensor_bytes: 1024, ..Limits::default() };
        assert!(matches!(declared_bytes(&t, &small), Err(ProtoError::TooLarge { bytes: 4_000_000, limit: 1024, .. })));
        assert_eq!(declared_bytes(&t, &Limits::default()).ok(), Some(Some(4_000_000)));
    }

    #[test]
    fn raw_size_mismatch() {
        let mut t = f32_tensor("w", &[3], &[1.0, 2.0]);
        let err = check_raw_size(&t, Some(12));
        assert!(matches!(err, Err(ProtoError::RawDataSize { declared_bytes: 12, present_bytes: 8, .. })));
        t.raw_data = Some(Vec::new());
        t.float_data = vec![1.0, 2.0, 3.0];
        assert!(check_raw_size(&t, Some(12)).is_ok());
    }
}
