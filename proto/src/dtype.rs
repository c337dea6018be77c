//! Storage sizes and display names of ONNX element types.

use crate::onnx::tensor_proto::DataType;

/// Bits one element occupies in `raw_data`; `None` for `STRING` (variable length) and `UNDEFINED`.
///
/// Sub-byte types (4-, 2- and 6-bit) are packed back to back, LSB first, so a tensor of them takes
/// `ceil(bits * n / 8)` bytes; see [`storage_bytes`].
pub fn element_bits(dtype: DataType) -> Option<u64> {
    use DataType as D;
    let bits = match dtype {
        D::Undefined | D::String => return None,
        D::Uint2 | D::Int2 => 2,
        D::Uint4 | D::Int4 | D::Float4e2m1 => 4,
        D::Float6e2m3 | D::Float6e3m2 => 6,
        D::Uint8 | D::Int8 | D::Bool | D::Float8e4m3fn | D::Float8e4m3fnuz | D::Float8e5m2 | D::Float8e5m2fnuz | D::Float8e8m0 => 8,
        D::Uint16 | D::Int16 | D::Float16 | D::Bfloat16 => 16,
        D::Float | D::Int32 | D::Uint32 => 32,
        D::Int64 | D::Uint64 | D::Double | D::Complex64 => 64,
        D::Complex128 => 128,
    };
    Some(bits)
}

/// Bytes per element for types that take whole bytes; `None` for `STRING`, `UNDEFINED` and the
/// packed sub-byte types, whose size only makes sense for a whole tensor ([`storage_bytes`]).
pub fn element_size(dtype: DataType) -> Option<usize> {
    let bits = element_bits(dtype)?;
    if bits % 8 == 0 { usize::try_from(bits / 8).ok() } else { None }
}

/// Bytes that `count` elements take in `raw_data`. `None` when the type has no fixed size or the
/// product does not fit in a `u64`.
pub fn storage_bytes(dtype: DataType, count: u64) -> Option<u64> {
    let bits = element_bits(dtype)?;
    let total_bits = u128::from(count) * u128::from(bits);
    u64::try_from(total_bits.div_ceil(8)).ok()
}

/// The `onnx.proto` name of a raw `data_type` value, for messages (`FLOAT`, `INT64`, ...).
pub fn dtype_name(data_type: i32) -> String {
    match DataType::try_from(data_type) {
        Ok(dtype) => dtype.as_str_name().to_string(),
        Err(_) => format!("unknown data type {data_type}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_byte_sizes() {
        assert_eq!(element_size(DataType::Float), Some(4));
        assert_eq!(element_size(DataType::Int64), Some(8));
        assert_eq!(element_size(DataType::Complex128), Some(16));
        assert_eq!(element_size(DataType::Bool), Some(1));
        assert_eq!(element_size(DataType::String), None);
        assert_eq!(element_size(DataType::Undefined), None);
        assert_eq!(element_size(DataType::Int4), None);
    }

    #[test]
    fn packed_types_round_up() {
        assert_eq!(storage_bytes(DataType::Int4, 3), Some(2));
        assert_eq!(storage_bytes(DataType::Uint2, 5), Some(2));
        // Four 6-bit values fill exactly three bytes; a fifth starts a fourth byte.
        assert_eq!(storage_bytes(DataType::Float6e2m3, 4), Some(3));
        assert_eq!(storage_bytes(DataType::Float6e2m3, 5), Some(4));
        assert_eq!(storage_bytes(DataType::Float, u64::MAX), None);
        assert_eq!(storage_bytes(DataType::String, 1), None);
    }

    #[test]
    fn names() {
        assert_eq!(dtype_name(1), "FLOAT");
        assert_eq!(dtype_name(7), "INT64");
        assert_eq!(dtype_name(99), "unknown data type 99");
    }
}
