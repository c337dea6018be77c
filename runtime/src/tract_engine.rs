//! The tract engine: pure Rust, CPU, always built. Models are optimized once with a symbolic batch
//! dimension, so one loaded plan serves any batch size.
use std::sync::Arc;

use onyx_proto::onnx::ModelProto;
use tract_onnx::prelude::*;

use crate::engine::{Engine, EngineTensor, Session, check_count, check_input, check_inputs, read_host_f32};
use crate::error::RuntimeError;
use crate::tensor::{HostTensor, IoInfo, model_io};

pub struct TractEngine;

type Plan = Arc<TypedRunnableModel>;

struct TractSession {
    plan: Plan,
    inputs: Vec<IoInfo>,
    outputs: Vec<IoInfo>,
}

fn load_error(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Load { engine: "tract", message: format!("{e:#}") }
}

fn run_error(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Run { engine: "tract", message: format!("{e:#}") }
}

impl Engine for TractEngine {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn load(&self, model: &ModelProto) -> Result<Box<dyn Session>, RuntimeError> {
        // tract's importer mishandles LSTM/GRU/RNN (it ignores their activations and cannot run them on
        // a symbolic batch without an initial state): rewrite those ops first.
        let model = onyx_compiler::passes::for_tract(model).map_err(load_error)?;
        let bytes = onyx_proto::encode_model(&model);
        // tract panics on some inputs it does not support (unwraps in its importers); a model file is
        // user input, so a panic there becomes a load error.
        let plan = std::panic::catch_unwind(|| {
            tract_onnx::onnx().model_for_read(&mut bytes.as_slice()).and_then(|m| m.into_optimized()).and_then(|m| m.into_runnable())
        })
        .map_err(|panic| load_error(format!("tract failed inside its importer: {}", panic_message(&panic))))?
        .map_err(load_error)?;
        let (inputs, outputs) = model_io(&model);
        Ok(Box::new(TractSession { plan, inputs, outputs }))
    }

    fn upload(&self, t: HostTensor) -> Result<EngineTensor, RuntimeError> {
        Ok(EngineTensor::Native(Arc::new(into_tract(t))))
    }

    fn download(&self, t: &EngineTensor) -> Result<HostTensor, RuntimeError> {
        match t {
            EngineTensor::Host(h) => Ok(h.clone()),
            EngineTensor::Native(n) => from_tract(n.downcast_ref::<TValue>().ok_or_else(|| run_error("a tensor another engine made"))?),
        }
    }

    fn read_f32(&self, t: &EngineTensor, f: &mut dyn FnMut(ndarray::ArrayViewD<'_, f32>)) -> Result<Option<()>, RuntimeError> {
        match t {
            EngineTensor::Host(h) => Ok(read_host_f32(h, f)),
            EngineTensor::Native(n) => {
                let v = n.downcast_ref::<TValue>().ok_or_else(|| run_error("a tensor another engine made"))?;
                if v.datum_type() != DatumType::F32 {
                    return Ok(None);
                }
                Ok(Some(f(v.to_plain_array_view::<f32>().map_err(run_error)?)))
            }
        }
    }
}

/// A host tensor as tract's, moving its buffer where tract can take it.
fn into_tract(t: HostTensor) -> TValue {
    match t {
        HostTensor::F32(a) => Tensor::from(a).into_tvalue(),
        HostTensor::I64(a) => Tensor::from(a).into_tvalue(),
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_else(|| "a panic".into())
}

fn from_tract(v: &TValue) -> Result<HostTensor, RuntimeError> {
    match v.datum_type() {
        DatumType::F32 => Ok(HostTensor::F32(v.to_plain_array_view::<f32>().map_err(run_error)?.to_owned())),
        DatumType::I64 => Ok(HostTensor::I64(v.to_plain_array_view::<i64>().map_err(run_error)?.to_owned())),
        // Other element types (bool, int32...) are shown as floats.
        _ => Ok(HostTensor::F32(v.cast_to::<f32>().map_err(run_error)?.to_plain_array_view::<f32>().map_err(run_error)?.to_owned())),
    }
}

impl TractSession {
    /// Runs the plan; a panic inside tract becomes a run error.
    fn execute(&self, values: TVec<TValue>) -> Result<TVec<TValue>, RuntimeError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.plan.run(values)))
            .map_err(|panic| run_error(format!("tract failed: {}", panic_message(&panic))))?
            .map_err(run_error)
    }
}

impl Session for TractSession {
    fn inputs(&self) -> &[IoInfo] {
        &self.inputs
    }

    fn outputs(&self) -> &[IoInfo] {
        &self.outputs
    }

    fn run(&self, inputs: &[HostTensor]) -> Result<Vec<HostTensor>, RuntimeError> {
        check_inputs(&self.inputs, inputs)?;
        let values: TVec<TValue> = inputs.iter().cloned().map(into_tract).collect();
        self.execute(values)?.iter().map(from_tract).collect()
    }

    /// Parameters fed this way are shared with tract (a reference count, no copy), and outputs come
    /// back as tract made them.
    fn run_resident(&self, inputs: &[&EngineTensor]) -> Result<Vec<EngineTensor>, RuntimeError> {
        check_count(&self.inputs, inputs.len())?;
        let values: TVec<TValue> = inputs
            .iter()
            .zip(&self.inputs)
            .map(|(t, info)| {
                let value = match t {
                    EngineTensor::Host(h) => into_tract(h.clone()),
                    EngineTensor::Native(n) => n.downcast_ref::<TValue>().cloned().ok_or_else(|| run_error("a tensor another engine made"))?,
                };
                check_native(info, &value)?;
                Ok(value)
            })
            .collect::<Result<_, RuntimeError>>()?;
        Ok(self.execute(values)?.into_iter().map(|v| EngineTensor::Native(Arc::new(v))).collect())
    }
}

/// `value` has the element type and known dimensions `info` declares.
fn check_native(info: &IoInfo, value: &TValue) -> Result<(), RuntimeError> {
    let dtype = match value.datum_type() {
        DatumType::F32 => onyx_compiler::ir::DType::F32,
        DatumType::I64 => onyx_compiler::ir::DType::I64,
        other => return Err(RuntimeError::Input { input: info.name.clone(), message: format!("{other:?} values are not fed by onyx") }),
    };
    check_input(info, dtype, value.shape())
}
