//! Small helpers for building and reading dense tensors.

use crate::dtype::{dtype_name, storage_bytes};
use crate::error::ProtoError;
use crate::onnx::TensorProto;
use crate::onnx::tensor_proto::{DataLocation, DataType};

impl TensorProto {
    /// The element type, if `data_type` holds a value this schema knows.
    pub fn dtype(&self) -> Option<DataType> {
        DataType::try_from(self.data_type()).ok()
    }

    /// The tensor's name for messages; `<unnamed>` when it has none.
    pub fn display_name(&self) -> &str {
        match self.name.as_deref() {
            Some(name) if !name.is_empty() => name,
            _ => "<unnamed>",
        }
    }

    /// Whether the element data lives in a file named by `external_data`.
    pub fn is_external(&self) -> bool {
        self.data_location == Some(DataLocation::External as i32)
    }
}

/// Number of elements the tensor's `dims` describe (1 for a scalar).
///
/// Refuses negative dimensions and counts that do not fit in an `i64`, the type ONNX uses for sizes.
pub fn tensor_num_elements(t: &TensorProto) -> Result<u64, ProtoError> {
    let mut count: u64 = 1;
    for &dim in &t.dims {
        let dim = u64::try_from(dim).map_err(|_| ProtoError::NegativeDim { tensor: t.display_name().to_string(), dim })?;
        count = count
            .checked_mul(dim)
            .filter(|&c| i64::try_from(c).is_ok())
            .ok_or_else(|| ProtoError::DimsOverflow { tensor: t.display_name().to_string() })?;
    }
    Ok(count)
}

/// Bytes the tensor's element data takes in `raw_data`, from its dims and type. `None` for types
/// without a fixed size (`STRING`, `UNDEFINED`, unknown values).
pub fn tensor_byte_size(t: &TensorProto) -> Result<Option<u64>, ProtoError> {
    let count = tensor_num_elements(t)?;
    let Some(dtype) = t.dtype() else {
        return Ok(None);
    };
    if dtype == DataType::String || dtype == DataType::Undefined {
        return Ok(None);
    }
    storage_bytes(dtype, count).map(Some).ok_or_else(|| ProtoError::DimsOverflow { tensor: t.display_name().to_string() })
}

/// The values of a `FLOAT` tensor, from little-endian `raw_data` or from `float_data`.
pub fn tensor_f32_values(t: &TensorProto) -> Result<Vec<f32>, ProtoError> {
    let tensor = || t.display_name().to_string();
    if t.dtype() != Some(DataType::Float) {
        return Err(ProtoError::WrongDataType { tensor: tensor(), expected: "FLOAT", found: dtype_name(t.data_type()) });
    }
    if t.is_external() {
        return Err(ProtoError::BadExternalData {
            tensor: tensor(),
            reason: "its data has not been loaded; read the model with `read_model`".to_string(),
        });
    }
    let count = tensor_num_elements(t)?;
    match t.raw_data.as_deref() {
        Some(raw) if !raw.is_empty() || t.float_data.is_empty() => {
            let declared = count.saturating_mul(4);
            if raw.len() as u64 != declared {
                return Err(ProtoError::RawDataSize { tensor: tensor(), declared_bytes: declared, present_bytes: raw.len() as u64 });
            }
            Ok(raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        }
        _ => {
            if t.float_data.len() as u64 != count {
                return Err(ProtoError::ValueCount { tensor: tensor(), expected: count, found: t.float_data.len() as u64 });
            }
            Ok(t.float_data.clone())
        }
    }
}

/// A `FLOAT` tensor with its values in little-endian `raw_data`.
///
/// `values.len()` should equal the product of `dims`; a mismatch is not caught here but is refused
/// when the model is read back.
pub fn f32_tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    raw_tensor(name, dims, DataType::Float, values.iter().flat_map(|v| v.to_le_bytes()).collect())
}

/// An `INT64` tensor with its values in little-endian `raw_data`.
pub fn i64_tensor(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    raw_tensor(name, dims, DataType::Int64, values.iter().flat_map(|v| v.to_le_bytes()).collect())
}

fn raw_tensor(name: &str, dims: &[i64], dtype: DataType, raw: Vec<u8>) -> TensorProto {
    TensorProto { name: Some(name.to_string()), dims: dims.to_vec(), data_type: Some(dtype as i32), raw_data: Some(raw), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_roundtrip_through_raw_data() {
        let t = f32_tensor("w", &[2, 2], &[1.0, -2.5, 3.25, 0.0]);
        assert_eq!(t.raw_data.as_ref().map(Vec::len), Some(16));
        assert_eq!(tensor_f32_values(&t).ok(), Some(vec![1.0, -2.5, 3.25, 0.0]));
        assert_eq!(tensor_byte_size(&t).ok(), Some(Some(16)));
    }

    #[test]
    fn f32_from_float_data() {
        let t = TensorProto { dims: vec![3], data_type: Some(DataType::Float as i32), float_data: vec![1.0, 2.0, 3.0], ..Default::default() };
        assert_eq!(tensor_f32_values(&t).ok(), Some(vec![1.0, 2.0, 3.0]));
        let short = TensorProto { dims: vec![4], ..t };
        assert!(matches!(tensor_f32_values(&short), Err(ProtoError::ValueCount { .. })));
    }

    #[test]
    fn wrong_type_is_refused() {
        let t = i64_tensor("n", &[1], &[5]);
        assert!(matches!(tensor_f32_values(&t), Err(ProtoError::WrongDataType { .. })));
        assert_eq!(t.raw_data, Some(5i64.to_le_bytes().to_vec()));
    }

    #[test]
    fn element_counts() {
        let scalar = f32_tensor("s", &[], &[1.0]);
        assert_eq!(tensor_num_elements(&scalar).ok(), Some(1));
        let empty = f32_tensor("e", &[3, 0], &[]);
        assert_eq!(tensor_num_elements(&empty).ok(), Some(0));
        let negative = f32_tensor("n", &[2, -1], &[]);
        assert!(matches!(tensor_num_elements(&negative), Err(ProtoError::NegativeDim { dim: -1, .. })));
        // 2^32 * 2^31 = 2^63 fits a u64 but not an i64.
        let huge = f32_tensor("h", &[1 << 32, 1 << 31], &[]);
        assert!(matches!(tensor_num_elements(&huge), Err(ProtoError::DimsOverflow { .. })));
    }
}
