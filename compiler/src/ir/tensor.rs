use super::{DType, Dim, TensorType};

/// A constant tensor: ONNX's raw little-endian layout, so export is a copy.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub dtype: DType,
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

impl Tensor {
    pub fn from_f32(dims: Vec<usize>, values: &[f32]) -> Tensor {
        debug_assert_eq!(dims.iter().product::<usize>(), values.len());
        Tensor { dtype: DType::F32, dims, data: values.iter().flat_map(|v| v.to_le_bytes()).collect() }
    }

    pub fn from_i64(dims: Vec<usize>, values: &[i64]) -> Tensor {
        debug_assert_eq!(dims.iter().product::<usize>(), values.len());
        Tensor { dtype: DType::I64, dims, data: values.iter().flat_map(|v| v.to_le_bytes()).collect() }
    }

    pub fn scalar_f32(value: f32) -> Tensor {
        Tensor::from_f32(vec![], &[value])
    }

    /// Its type: every dimension known.
    pub fn ty(&self) -> TensorType {
        TensorType::new(self.dtype, self.dims.iter().map(|&d| Dim::Fixed(d)).collect())
    }

    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values as f32, when the tensor holds f32.
    pub fn as_f32(&self) -> Option<Vec<f32>> {
        (self.dtype == DType::F32).then(|| self.data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    /// Values as i64, when the tensor holds i64.
    pub fn as_i64(&self) -> Option<Vec<i64>> {
        (self.dtype == DType::I64)
            .then(|| self.data.chunks_exact(8).map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect())
    }
}
