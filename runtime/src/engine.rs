//! The engine abstraction: running models (`Engine`) and what training adds (`TrainingEngine`),
//! one implementation per back end (tract, always built; ONNX
//! Runtime behind the `ort` cargo feature).
use std::any::Any;
use std::sync::Arc;

use ndarray::ArrayViewD;
use onyx_compiler::ir::DType;
use onyx_proto::onnx::ModelProto;

use crate::error::RuntimeError;
use crate::tensor::{HostTensor, IoInfo};

/// A tensor in an engine's own form, which `Session::run_resident` takes and gives without
/// converting: training keeps parameters and optimizer state this way, each step's outputs feeding
/// the next. `Host` serves engines without a form of their own.
#[derive(Clone)]
pub enum EngineTensor {
    Host(HostTensor),
    Native(Arc<dyn Any + Send + Sync>),
}

/// A model loaded into an engine, ready to run batches of any size.
pub trait Session: Send + Sync {
    fn inputs(&self) -> &[IoInfo];
    fn outputs(&self) -> &[IoInfo];
    /// Runs the model on one tensor per input, in the order of `inputs()`.
    fn run(&self, inputs: &[HostTensor]) -> Result<Vec<HostTensor>, RuntimeError>;

    /// `run` on engine tensors, whose outputs stay in the engine's form.
    fn run_resident(&self, inputs: &[&EngineTensor]) -> Result<Vec<EngineTensor>, RuntimeError> {
        let host = inputs
            .iter()
            .map(|t| match t {
                EngineTensor::Host(h) => Ok(h.clone()),
                EngineTensor::Native(_) => Err(RuntimeError::Internal("a tensor of another engine".into())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.run(&host)?.into_iter().map(EngineTensor::Host).collect())
    }
}

/// A back end that loads models and runs them. `Sync` because a data-parallel step's threads each
/// read and upload through it.
pub trait Engine: Sync {
    fn name(&self) -> &'static str;
    fn load(&self, model: &ModelProto) -> Result<Box<dyn Session>, RuntimeError>;
}

/// What training needs of an engine besides running models: tensors kept in its own form between
/// steps, and sessions for the shards of a data-parallel step. The defaults serve an engine
/// without a form of its own and without a view on threads.
pub trait TrainingEngine: Engine {
    /// `t` in the engine's own form.
    fn upload(&self, t: HostTensor) -> Result<EngineTensor, RuntimeError> {
        Ok(EngineTensor::Host(t))
    }

    /// Threads a training step uses unless told otherwise. A step with enough work splits its batch
    /// into that many shards, each run by a `load_shard` session on its own core. tract runs a plan
    /// on one core, so every core.
    fn step_threads(&self) -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// A session for one shard of a data-parallel training step, which runs on one core while the
    /// other shards run on theirs.
    fn load_shard(&self, model: &ModelProto) -> Result<Box<dyn Session>, RuntimeError> {
        self.load(model)
    }

    /// Whether one session may run several shards at once; if not, each shard gets its own.
    fn shares_sessions(&self) -> bool {
        true
    }

    /// A host copy of an engine tensor.
    fn download(&self, t: &EngineTensor) -> Result<HostTensor, RuntimeError> {
        match t {
            EngineTensor::Host(h) => Ok(h.clone()),
            EngineTensor::Native(_) => Err(RuntimeError::Internal(format!("a tensor the {} engine did not make", self.name()))),
        }
    }

    /// Calls `f` with a float tensor's values, lent without a copy where the engine can (summing
    /// the shards' gradients reads them once); `None` where `t` holds no floats.
    fn read_f32(&self, t: &EngineTensor, f: &mut dyn FnMut(ArrayViewD<'_, f32>)) -> Result<Option<()>, RuntimeError> {
        Ok(read_host_f32(&self.download(t)?, f))
    }
}

/// [`TrainingEngine::read_f32`] for a host tensor: its own values.
pub(crate) fn read_host_f32(t: &HostTensor, f: &mut dyn FnMut(ArrayViewD<'_, f32>)) -> Option<()> {
    t.as_f32().map(|a| f(a.view()))
}

/// Checks that `inputs` match what the session declares: count, element type and known dimensions.
pub fn check_inputs(declared: &[IoInfo], inputs: &[HostTensor]) -> Result<(), RuntimeError> {
    check_count(declared, inputs.len())?;
    for (d, t) in declared.iter().zip(inputs) {
        check_input(d, t.dtype(), t.shape())?;
    }
    Ok(())
}

/// Checks that `got` inputs are what the session declares.
pub fn check_count(declared: &[IoInfo], got: usize) -> Result<(), RuntimeError> {
    if declared.len() != got {
        return Err(RuntimeError::Input {
            input: declared.iter().map(|d| d.name.clone()).collect::<Vec<_>>().join(", "),
            message: format!("the model takes {} inputs, got {got}", declared.len()),
        });
    }
    Ok(())
}

/// Checks one input, given its element type and shape, against its declaration: the type and the
/// known dimensions.
pub fn check_input(d: &IoInfo, dtype: DType, shape: &[usize]) -> Result<(), RuntimeError> {
    let bad = |message: String| RuntimeError::Input { input: d.name.clone(), message };
    if d.dtype != dtype {
        return Err(bad(format!("expected {} values, got {dtype}", d.dtype)));
    }
    if d.shape.len() != shape.len() {
        return Err(bad(format!("expected shape {}, got {shape:?}", d.describe())));
    }
    for (i, (dim, &n)) in d.shape.iter().zip(shape).enumerate() {
        if let Some(want) = dim.fixed()
            && want != n
        {
            return Err(bad(format!("axis {i} must be {want}, got {n} (expected {})", d.describe())));
        }
    }
    Ok(())
}
