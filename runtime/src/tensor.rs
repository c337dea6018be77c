//! Tensors as they cross the boundary between files, engines and the command line.
use ndarray::ArrayD;
use onyx_compiler::ir::{DType, Dim};
use onyx_proto::onnx::{ModelProto, ValueInfoProto};

#[derive(Clone, Debug, PartialEq)]
pub enum HostTensor {
    F32(ArrayD<f32>),
    I64(ArrayD<i64>),
}

impl HostTensor {
    pub fn shape(&self) -> &[usize] {
        match self {
            HostTensor::F32(a) => a.shape(),
            HostTensor::I64(a) => a.shape(),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            HostTensor::F32(_) => DType::F32,
            HostTensor::I64(_) => DType::I64,
        }
    }

    /// From an IR constant (float32 or int64).
    pub fn from_ir(t: &onyx_compiler::ir::Tensor) -> Option<HostTensor> {
        let shape = ndarray::IxDyn(&t.dims);
        match t.dtype {
            DType::F32 => ArrayD::from_shape_vec(shape, t.as_f32()?).ok().map(HostTensor::F32),
            DType::I64 => ArrayD::from_shape_vec(shape, t.as_i64()?).ok().map(HostTensor::I64),
            _ => None,
        }
    }

    /// As an IR constant.
    pub fn to_ir(&self) -> onyx_compiler::ir::Tensor {
        match self {
            HostTensor::F32(a) => onyx_compiler::ir::Tensor::from_f32(a.shape().to_vec(), &a.iter().copied().collect::<Vec<_>>()),
            HostTensor::I64(a) => onyx_compiler::ir::Tensor::from_i64(a.shape().to_vec(), &a.iter().copied().collect::<Vec<_>>()),
        }
    }

    /// The rows `rows` of the first axis, in that order.
    pub fn select_rows(&self, rows: &[usize]) -> HostTensor {
        match self {
            HostTensor::F32(a) => HostTensor::F32(a.select(ndarray::Axis(0), rows)),
            HostTensor::I64(a) => HostTensor::I64(a.select(ndarray::Axis(0), rows)),
        }
    }

    /// The single value of a scalar (or first value), as f64.
    pub fn scalar(&self) -> f64 {
        self.to_f64_vec().first().copied().unwrap_or(f64::NAN)
    }

    /// Values as f64, row-major, for printing and comparing.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            HostTensor::F32(a) => a.iter().map(|&v| v as f64).collect(),
            HostTensor::I64(a) => a.iter().map(|&v| v as f64).collect(),
        }
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
