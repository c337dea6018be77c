//! Tensors as they cross the boundary between files, engines and the command line.
pub use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};
use onyx_compiler::ir::{DType, Dim};
use onyx_proto::onnx::{ModelProto, ValueInfoProto};

/// A host tensor of any element type ONNX models take or give. Training works in float32 and int64;
/// inference carries whatever the model declares.
#[derive(Clone, Debug, PartialEq)]
pub enum HostTensor {
    F32(ArrayD<f32>),
    I64(ArrayD<i64>),
    F64(ArrayD<f64>),
    F16(ArrayD<f16>),
    BF16(ArrayD<bf16>),
    I8(ArrayD<i8>),
    I16(ArrayD<i16>),
    I32(ArrayD<i32>),
    U8(ArrayD<u8>),
    U16(ArrayD<u16>),
    U32(ArrayD<u32>),
    U64(ArrayD<u64>),
    Bool(ArrayD<bool>),
}

/// Runs `$body` with `$a` bound to the array inside `$t`, whatever its element type.
#[macro_export]
macro_rules! each_host_tensor {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            $crate::HostTensor::F32($a) => $body,
            $crate::HostTensor::I64($a) => $body,
            $crate::HostTensor::F64($a) => $body,
            $crate::HostTensor::F16($a) => $body,
            $crate::HostTensor::BF16($a) => $body,
            $crate::HostTensor::I8($a) => $body,
            $crate::HostTensor::I16($a) => $body,
            $crate::HostTensor::I32($a) => $body,
            $crate::HostTensor::U8($a) => $body,
            $crate::HostTensor::U16($a) => $body,
            $crate::HostTensor::U32($a) => $body,
            $crate::HostTensor::U64($a) => $body,
            $crate::HostTensor::Bool($a) => $body,
        }
    };
}

/// `$body` on the array inside `$t`, rewrapped in the same variant.
macro_rules! map_host_tensor {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            HostTensor::F32($a) => HostTensor::F32($body),
            HostTensor::I64($a) => HostTensor::I64($body),
            HostTensor::F64($a) => HostTensor::F64($body),
            HostTensor::F16($a) => HostTensor::F16($body),
            HostTensor::BF16($a) => HostTensor::BF16($body),
            HostTensor::I8($a) => HostTensor::I8($body),
            HostTensor::I16($a) => HostTensor::I16($body),
            HostTensor::I32($a) => HostTensor::I32($body),
            HostTensor::U8($a) => HostTensor::U8($body),
            HostTensor::U16($a) => HostTensor::U16($body),
            HostTensor::U32($a) => HostTensor::U32($body),
            HostTensor::U64($a) => HostTensor::U64($body),
            HostTensor::Bool($a) => HostTensor::Bool($body),
        }
    };
}

/// An element type a host tensor holds, with the conversions casts and printing use.
pub trait Element: Copy + Clone + Send + Sync + std::fmt::Debug + PartialEq + Default + 'static {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    /// NumPy's `astype` from a float: rounding toward zero and saturating for integers.
    fn from_f64(v: f64) -> Self;
    /// The exact value of an integer or bool (floats truncate), for integer-to-integer casts.
    fn to_i128(self) -> i128;
    /// Wraps as NumPy's integer `astype` does.
    fn from_i128(v: i128) -> Self;
    fn wrap(a: ArrayD<Self>) -> HostTensor;
    fn read_le(bytes: &[u8]) -> Self;
    fn write_le(self, out: &mut Vec<u8>);
}

macro_rules! element_int {
    ($t:ty, $variant:ident, $dtype:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$dtype;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn to_i128(self) -> i128 {
                self as i128
            }
            fn from_i128(v: i128) -> Self {
                v as $t
            }
            fn wrap(a: ArrayD<Self>) -> HostTensor {
                HostTensor::$variant(a)
            }
            fn read_le(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().unwrap_or_default())
            }
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes())
            }
        }
    };
}

element_int!(i64, I64, I64);
element_int!(i8, I8, I8);
element_int!(i16, I16, I16);
element_int!(i32, I32, I32);
element_int!(u8, U8, U8);
element_int!(u16, U16, U16);
element_int!(u32, U32, U32);
element_int!(u64, U64, U64);

macro_rules! element_float {
    ($t:ty, $variant:ident, $dtype:ident, $to:expr, $from:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$dtype;
            fn to_f64(self) -> f64 {
                $to(self)
            }
            fn from_f64(v: f64) -> Self {
                $from(v)
            }
            fn to_i128(self) -> i128 {
                self.to_f64() as i128
            }
            fn from_i128(v: i128) -> Self {
                Self::from_f64(v as f64)
            }
            fn wrap(a: ArrayD<Self>) -> HostTensor {
                HostTensor::$variant(a)
            }
            fn read_le(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().unwrap_or_default())
            }
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes())
            }
        }
    };
}

element_float!(f32, F32, F32, |v: f32| v as f64, |v: f64| v as f32);
element_float!(f64, F64, F64, |v: f64| v, |v: f64| v);
element_float!(f16, F16, F16, f16::to_f64, f16::from_f64);
element_float!(bf16, BF16, BF16, bf16::to_f64, bf16::from_f64);

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    fn to_i128(self) -> i128 {
        self as i128
    }
    fn from_i128(v: i128) -> Self {
        v != 0
    }
    fn wrap(a: ArrayD<Self>) -> HostTensor {
        HostTensor::Bool(a)
    }
    fn read_le(bytes: &[u8]) -> Self {
        bytes.first().is_some_and(|&b| b != 0)
    }
    fn write_le(self, out: &mut Vec<u8>) {
        out.push(self as u8)
    }
}

/// Runs `$body` with `$T` the element type of `$dtype`.
#[macro_export]
macro_rules! with_element {
    ($dtype:expr, $T:ident => $body:expr) => {{
        use onyx_compiler::ir::DType;
        match $dtype {
            DType::F32 => {
                type $T = f32;
                $body
            }
            DType::I64 => {
                type $T = i64;
                $body
            }
            DType::F64 => {
                type $T = f64;
                $body
            }
            DType::F16 => {
                type $T = $crate::tensor::f16;
                $body
            }
            DType::BF16 => {
                type $T = $crate::tensor::bf16;
                $body
            }
            DType::I8 => {
                type $T = i8;
                $body
            }
            DType::I16 => {
                type $T = i16;
                $body
            }
            DType::I32 => {
                type $T = i32;
                $body
            }
            DType::U8 => {
                type $T = u8;
                $body
            }
            DType::U16 => {
                type $T = u16;
                $body
            }
            DType::U32 => {
                type $T = u32;
                $body
            }
            DType::U64 => {
                type $T = u64;
                $body
            }
            DType::Bool => {
                type $T = bool;
                $body
            }
        }
    }};
}

fn cast_array<S: Element, T: Element>(a: &ArrayD<S>) -> ArrayD<T> {
    if S::DTYPE.is_float() || T::DTYPE.is_float() { a.mapv(|v| T::from_f64(v.to_f64())) } else { a.mapv(|v| T::from_i128(v.to_i128())) }
}

impl HostTensor {
    pub fn shape(&self) -> &[usize] {
        each_host_tensor!(self, a => a.shape())
    }

    pub fn dtype(&self) -> DType {
        fn of<T: Element>(_: &ArrayD<T>) -> DType {
            T::DTYPE
        }
        each_host_tensor!(self, a => of(a))
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        each_host_tensor!(self, a => a.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// From little-endian bytes (ONNX's raw layout and the binary tensor protocol's), checked
    /// against the shape.
    pub fn from_le_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Result<HostTensor, String> {
        let elements = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).ok_or_else(|| format!("shape {shape:?} overflows"))?;
        let width = dtype.size_of();
        if Some(bytes.len()) != elements.checked_mul(width) {
            return Err(format!("shape {shape:?} of {dtype} takes {} bytes, got {}", elements.saturating_mul(width), bytes.len()));
        }
        with_element!(dtype, T => {
            let values: Vec<T> = bytes.chunks_exact(width).map(T::read_le).collect();
            ArrayD::from_shape_vec(IxDyn(shape), values).map(T::wrap).map_err(|e| e.to_string())
        })
    }

    /// The values in little-endian bytes, row-major.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        fn bytes<T: Element>(a: &ArrayD<T>) -> Vec<u8> {
            let mut out = Vec::with_capacity(a.len() * T::DTYPE.size_of());
            a.iter().for_each(|&v| v.write_le(&mut out));
            out
        }
        each_host_tensor!(self, a => bytes(a))
    }

    /// From an IR constant, of any element type.
    pub fn from_ir(t: &onyx_compiler::ir::Tensor) -> Option<HostTensor> {
        HostTensor::from_le_bytes(t.dtype, &t.dims, &t.data).ok()
    }

    /// As an IR constant.
    pub fn to_ir(&self) -> onyx_compiler::ir::Tensor {
        onyx_compiler::ir::Tensor { dtype: self.dtype(), dims: self.shape().to_vec(), data: self.to_le_bytes() }
    }

    /// The rows `rows` of the first axis, in that order.
    pub fn select_rows(&self, rows: &[usize]) -> HostTensor {
        map_host_tensor!(self, a => a.select(ndarray::Axis(0), rows))
    }

    /// The same values in `shape` (row-major), when the element counts agree.
    pub fn reshaped(&self, shape: &[usize]) -> Result<HostTensor, ndarray::ShapeError> {
        Ok(map_host_tensor!(self, a => a.as_standard_layout().into_owned().into_shape_with_order(IxDyn(shape))?))
    }

    /// The values as `dtype`, as NumPy's `astype` converts them.
    pub fn cast(&self, dtype: DType) -> HostTensor {
        if self.dtype() == dtype {
            return self.clone();
        }
        fn to<S: Element>(a: &ArrayD<S>, dtype: DType) -> HostTensor {
            with_element!(dtype, T => T::wrap(cast_array::<S, T>(a)))
        }
        each_host_tensor!(self, a => to(a, dtype))
    }

    /// The float32 values, when it holds float32.
    pub fn as_f32(&self) -> Option<&ArrayD<f32>> {
        match self {
            HostTensor::F32(a) => Some(a),
            _ => None,
        }
    }

    /// The single value of a scalar (or first value), as f64.
    pub fn scalar(&self) -> f64 {
        self.to_f64_vec().first().copied().unwrap_or(f64::NAN)
    }

    /// Values as f64, row-major, for printing and comparing.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        each_host_tensor!(self, a => a.iter().map(|v| v.to_f64()).collect())
    }

    /// Each value as text: integers as integers, floats in their shortest round-trip form.
    pub fn to_strings(&self) -> Vec<String> {
        fn text<T: Element>(a: &ArrayD<T>) -> Vec<String> {
            if T::DTYPE.is_integer() {
                a.iter().map(|v| v.to_i128().to_string()).collect()
            } else if T::DTYPE == DType::Bool {
                a.iter().map(|v| (v.to_i128() as u8).to_string()).collect()
            } else if T::DTYPE == DType::F64 {
                a.iter().map(|v| shortest(v.to_f64())).collect()
            } else {
                a.iter().map(|v| shortest(v.to_f64() as f32)).collect()
            }
        }
        each_host_tensor!(self, a => text(a))
    }

    /// The first non-finite value, and its index along each axis, if any.
    pub fn first_non_finite_at(&self) -> Option<(f64, Vec<usize>)> {
        let mut flat = self.first_non_finite()?;
        let value = self.to_f64_vec()[flat];
        let mut index = vec![0; self.shape().len()];
        for (axis, &n) in self.shape().iter().enumerate().rev() {
            index[axis] = flat % n.max(1);
            flat /= n.max(1);
        }
        Some((value, index))
    }

    /// The first non-finite value's flat index, if any (integers and bools have none).
    pub fn first_non_finite(&self) -> Option<usize> {
        if !self.dtype().is_float() {
            return None;
        }
        each_host_tensor!(self, a => a.iter().position(|v| !v.to_f64().is_finite()))
    }
}

/// The Open Inference Protocol's (KServe v2) name for an element type.
pub fn kserve_datatype(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "FP32",
        DType::F16 => "FP16",
        DType::BF16 => "BF16",
        DType::F64 => "FP64",
        DType::I64 => "INT64",
        DType::I32 => "INT32",
        DType::I16 => "INT16",
        DType::I8 => "INT8",
        DType::U8 => "UINT8",
        DType::U16 => "UINT16",
        DType::U32 => "UINT32",
        DType::U64 => "UINT64",
        DType::Bool => "BOOL",
    }
}

/// A model input or output as the user must feed or will receive it.
#[derive(Clone, Debug, PartialEq)]
pub struct IoInfo {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<Dim>,
}

impl IoInfo {
    /// The shape of `batch` samples, when everything but the first (batch) dimension is known.
    pub fn batch_shape(&self, batch: usize) -> Option<Vec<usize>> {
        std::iter::once(Some(batch)).chain(self.shape.iter().skip(1).map(Dim::fixed)).collect()
    }

    pub fn describe(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(Dim::to_string).collect();
        format!("{} {}[{}]", self.name, self.dtype, dims.join(", "))
    }
}

fn io_info(v: &ValueInfoProto) -> Option<IoInfo> {
    let ty = onyx_compiler::import::read_type(v).ok()?;
    Some(IoInfo { name: v.name.clone()?, dtype: ty.dtype, shape: ty.shape })
}

/// The inputs a user feeds (initializers listed as inputs by older exporters are left out) and the
/// outputs, with the types the file declares. Values of a type onyx cannot carry are skipped.
pub fn model_io(model: &ModelProto) -> (Vec<IoInfo>, Vec<IoInfo>) {
    let Some(graph) = &model.graph else { return (vec![], vec![]) };
    let inits: Vec<&str> = graph.initializer.iter().filter_map(|t| t.name.as_deref()).collect();
    let inputs = graph.input.iter().filter(|v| !inits.contains(&v.name.as_deref().unwrap_or(""))).filter_map(io_info).collect();
    (inputs, graph.output.iter().filter_map(io_info).collect())
}

/// A float in the shortest form that reads back to the same value, as Python's `repr` writes it:
/// positional from 1e-4 up to 1e16, in exponent form (`4.4703484e-7`) beyond.
pub fn shortest<T: Into<f64> + Copy + std::fmt::Display + std::fmt::LowerExp>(v: T) -> String {
    let magnitude = v.into().abs();
    if magnitude.is_finite() && magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) { format!("{v:e}") } else { format!("{v}") }
}

#[cfg(test)]
mod tests {
    use super::shortest;

    #[test]
    fn floats_print_in_the_shortest_form_that_reads_back() {
        assert_eq!(shortest(4.4703484e-7f32), "4.4703484e-7");
        assert_eq!(shortest(0.1f32), "0.1");
        assert_eq!(shortest(123.25f64), "123.25");
        assert_eq!(shortest(1e20f64), "1e20");
        assert_eq!(shortest(0.0f32), "0");
        for v in [4.4703484e-7f32, 3.0e-5, 1.0 / 3.0, 7.0e15, 2.5e16] {
            assert_eq!(shortest(v).parse::<f32>().unwrap(), v);
        }
    }
}
