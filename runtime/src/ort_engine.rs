//! The ONNX Runtime engine (cargo feature `ort`). The library is loaded when first used, from
//! `ORT_DYLIB_PATH` (the `onnxruntime` Python wheel ships it as `onnxruntime/capi/libonnxruntime.so.*`),
//! never downloaded at build time. Sessions run with ORT's full graph optimizations; the CUDA
//! execution provider is used on request and refused clearly where it cannot run.
use std::sync::{Arc, Mutex, OnceLock};

use onyx_proto::onnx::ModelProto;
use ort::environment::Environment;
use ort::ep::ExecutionProvider;
use ort::session::Session as OrtSession;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{DynValue, Tensor};

use crate::engine::{Engine, EngineTensor, Session, TrainingEngine, check_count, check_input, check_inputs, read_host_f32};
use crate::error::RuntimeError;
use crate::tensor::{Element, HostTensor, IoInfo, model_io};

/// Where a session runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
    /// A CUDA GPU by its index.
    Cuda(i32),
}

pub struct OrtEngine {
    /// Threads ORT uses within one node; ORT's own default (every core) when `None`.
    pub threads: Option<usize>,
    pub device: Device,
}

fn load_error(message: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Load { engine: "ort", message: message.to_string() }
}

fn run_error(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Run { engine: "ort", message: e.to_string() }
}

/// How to get the library, for the error that says it is missing.
const HOW: &str = "set ORT_DYLIB_PATH to ONNX Runtime's shared library, e.g. the one the onnxruntime Python wheel ships: \
pip install onnxruntime==1.31.1, then ORT_DYLIB_PATH=$(python -c 'import onnxruntime, glob, os; print(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), \"capi\", \"libonnxruntime.so.*\"))[0])')";

/// The process' one ORT environment, made on first use from `ORT_DYLIB_PATH`.
fn environment() -> Result<&'static Environment, RuntimeError> {
    static ENV: OnceLock<Result<Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let path = std::env::var("ORT_DYLIB_PATH").ok().filter(|p| !p.is_empty()).ok_or_else(|| HOW.to_string())?;
        if !std::path::Path::new(&path).is_file() {
            return Err(format!("ORT_DYLIB_PATH={path} is not a file; {HOW}"));
        }
        let builder = ort::init_from(&path).map_err(|e| format!("cannot load ONNX Runtime from {path}: {e}"))?;
        builder.with_name("onyx").build().map_err(|e| format!("cannot start ONNX Runtime from {path}: {e}"))
    })
    .as_ref()
    .map_err(|message| RuntimeError::Unavailable { engine: "ort", message: message.clone() })
}

impl OrtEngine {
    pub fn new(threads: Option<usize>, device: Device) -> OrtEngine {
        OrtEngine { threads, device }
    }

    /// Whether ONNX Runtime can be loaded here (for `--engine auto`).
    pub fn available() -> bool {
        environment().is_ok()
    }

    /// Loads the library now, so that a missing one is reported before any work starts.
    pub fn check(&self) -> Result<(), RuntimeError> {
        environment()?;
        if let Device::Cuda(_) = self.device
            && !ort::ep::CUDA::is_available().unwrap_or(false)
        {
            return Err(RuntimeError::Unavailable {
                engine: "ort",
                message: "this ONNX Runtime has no CUDA execution provider: point ORT_DYLIB_PATH at the onnxruntime-gpu wheel's library, on a machine with an NVIDIA GPU".into(),
            });
        }
        Ok(())
    }
}

struct OrtSessionBox {
    session: Mutex<OrtSession>,
    inputs: Vec<IoInfo>,
    outputs: Vec<IoInfo>,
}

impl Engine for OrtEngine {
    fn name(&self) -> &'static str {
        "ort"
    }

    fn load(&self, model: &ModelProto) -> Result<Box<dyn Session>, RuntimeError> {
        onyx_proto::validate::check_runnable(model)?;
        self.check()?;
        let env = environment()?;
        let bytes = onyx_proto::encode_model(model);
        let mut builder = OrtSession::builder(env).map_err(load_error)?.with_optimization_level(GraphOptimizationLevel::All).map_err(load_error)?;
        if let Some(n) = self.threads {
            builder = builder.with_intra_threads(n).map_err(load_error)?;
        }
        if let Device::Cuda(id) = self.device {
            builder =
                builder.with_execution_providers([ort::ep::CUDA::default().with_device_id(id).build().error_on_failure()]).map_err(load_error)?;
        }
        let session = builder.commit_from_memory(&bytes).map_err(load_error)?;
        let (inputs, outputs) = model_io(model);
        Ok(Box::new(OrtSessionBox { session: Mutex::new(session), inputs, outputs }))
    }
}

impl TrainingEngine for OrtEngine {
    /// ORT takes the buffer of an array in standard layout as it is: no copy.
    fn upload(&self, t: HostTensor) -> Result<EngineTensor, RuntimeError> {
        let value = crate::each_host_tensor!(t, a => Tensor::from_array(a).map_err(run_error)?.into_dyn());
        Ok(EngineTensor::Native(Arc::new(value)))
    }

    fn download(&self, t: &EngineTensor) -> Result<HostTensor, RuntimeError> {
        match t {
            EngineTensor::Host(h) => Ok(h.clone()),
            EngineTensor::Native(n) => from_ort(n.downcast_ref::<DynValue>().ok_or_else(|| run_error("a tensor another engine made"))?),
        }
    }

    fn read_f32(&self, t: &EngineTensor, f: &mut dyn FnMut(ndarray::ArrayViewD<'_, f32>)) -> Result<Option<()>, RuntimeError> {
        match t {
            EngineTensor::Host(h) => Ok(read_host_f32(h, f)),
            EngineTensor::Native(n) => {
                let v = n.downcast_ref::<DynValue>().ok_or_else(|| run_error("a tensor another engine made"))?;
                Ok(v.try_extract_array::<f32>().ok().map(f))
            }
        }
    }

    /// On the CPU, the intra-op threads (every core by default); a GPU takes the whole batch.
    fn step_threads(&self) -> usize {
        match self.device {
            Device::Cpu => self.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            Device::Cuda(_) => 1,
        }
    }

    /// One intra-op thread: the shards themselves keep the cores busy, and a step of sharded
    /// single-thread sessions is no slower than one multi-thread session of the whole step, and
    /// faster for an LSTM (`cargo bench --bench train_step`, lstm_forecast and mnist_cnn).
    fn load_shard(&self, model: &ModelProto) -> Result<Box<dyn Session>, RuntimeError> {
        OrtEngine { threads: Some(1), device: self.device }.load(model)
    }

    /// A session runs one call at a time (it sits behind a mutex).
    fn shares_sessions(&self) -> bool {
        false
    }
}

/// An ORT tensor holding a copy of `t` (ORT takes a contiguous buffer of its own).
fn to_ort(t: &HostTensor) -> Result<DynValue, RuntimeError> {
    Ok(crate::each_host_tensor!(t, a => Tensor::from_array(a.as_standard_layout().into_owned()).map_err(run_error)?.into_dyn()))
}

fn from_ort(v: &DynValue) -> Result<HostTensor, RuntimeError> {
    use onyx_compiler::ir::DType;
    use ort::value::TensorElementType as E;
    let dtype = match v.dtype().tensor_type() {
        Some(E::Float32) => DType::F32,
        Some(E::Float64) => DType::F64,
        Some(E::Float16) => DType::F16,
        Some(E::Bfloat16) => DType::BF16,
        Some(E::Int8) => DType::I8,
        Some(E::Int16) => DType::I16,
        Some(E::Int32) => DType::I32,
        Some(E::Int64) => DType::I64,
        Some(E::Uint8) => DType::U8,
        Some(E::Uint16) => DType::U16,
        Some(E::Uint32) => DType::U32,
        Some(E::Uint64) => DType::U64,
        Some(E::Bool) => DType::Bool,
        _ => return Err(run_error(format!("an output of type {:?}, which onyx does not read", v.dtype()))),
    };
    crate::with_element!(dtype, T => Ok(T::wrap(v.try_extract_array::<T>().map_err(run_error)?.to_owned())))
}

impl OrtSessionBox {
    fn execute(&self, values: Vec<(String, ort::session::SessionInputValue<'_>)>) -> Result<Vec<DynValue>, RuntimeError> {
        let mut session = self.session.lock().map_err(|_| run_error("a previous run panicked"))?;
        let mut outputs = session.run(values).map_err(run_error)?;
        self.outputs.iter().map(|o| outputs.remove(o.name.as_str()).ok_or_else(|| run_error(format!("no output `{}`", o.name)))).collect()
    }
}

impl Session for OrtSessionBox {
    fn inputs(&self) -> &[IoInfo] {
        &self.inputs
    }

    fn outputs(&self) -> &[IoInfo] {
        &self.outputs
    }

    fn run(&self, inputs: &[HostTensor]) -> Result<Vec<HostTensor>, RuntimeError> {
        check_inputs(&self.inputs, inputs)?;
        let values =
            self.inputs.iter().zip(inputs).map(|(i, t)| Ok((i.name.clone(), to_ort(t)?.into()))).collect::<Result<Vec<_>, RuntimeError>>()?;
        self.execute(values)?.iter().map(from_ort).collect()
    }

    /// Parameters fed this way stay ORT values: no copy in, none out.
    fn run_resident(&self, inputs: &[&EngineTensor]) -> Result<Vec<EngineTensor>, RuntimeError> {
        check_count(&self.inputs, inputs.len())?;
        // Host tensors are converted first, so that the values fed below can borrow them.
        let mut owned: Vec<DynValue> = vec![];
        for (info, t) in self.inputs.iter().zip(inputs) {
            if let EngineTensor::Host(h) = t {
                check_input(info, h.dtype(), h.shape())?;
                owned.push(to_ort(h)?);
            }
        }
        let mut values = Vec::with_capacity(inputs.len());
        let mut fresh = owned.iter();
        for (info, t) in self.inputs.iter().zip(inputs) {
            let value: &DynValue = match t {
                EngineTensor::Host(_) => fresh.next().ok_or_else(|| run_error("lost a host input"))?,
                EngineTensor::Native(n) => n.downcast_ref::<DynValue>().ok_or_else(|| run_error("a tensor another engine made"))?,
            };
            values.push((info.name.clone(), value.into()));
        }
        Ok(self.execute(values)?.into_iter().map(|v| EngineTensor::Native(Arc::new(v))).collect())
    }
}
