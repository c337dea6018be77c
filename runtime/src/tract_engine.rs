//! The tract engine: pure Rust, CPU, always built. Models are optimized once with a symbolic batch
//! dimension, so one loaded plan serves any batch size; models tract cannot plan that way are
//! planned for each set of concrete input shapes the data brings.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use onyx_proto::onnx::ModelProto;
use tract_onnx::prelude::*;

use crate::engine::{Engine, EngineTensor, Session, TrainingEngine, check_count, check_input, check_inputs, read_host_f32};
use crate::error::RuntimeError;
use crate::tensor::{Element, HostTensor, IoInfo, model_io};

pub struct TractEngine;

type Plan = Arc<TypedRunnableModel>;

/// Plans for concrete input shapes are kept for this many shapes, then made afresh.
const PLANS_KEPT: usize = 16;

/// What a plan for concrete inputs is kept under: each input's shape, and the bytes of the scalar
/// integer inputs whose value it was planned for.
type PlanKey = Vec<(Vec<usize>, Option<Vec<u8>>)>;

struct TractSession {
    /// The plan optimized with the model's own (symbolic) input facts, where tract could make one.
    plan: Option<Plan>,
    /// The decoded model, kept where tract could not plan it symbolically (or in case a shape the
    /// symbolic plan cannot run turns up): it is planned again for each set of input shapes met.
    model: Option<InferenceModel>,
    /// The model as given to tract, for rewrites that need concrete facts.
    proto: Option<ModelProto>,
    /// Why the symbolic plan failed, for the error when a concrete one fails too.
    symbolic_error: Option<String>,
    /// Plans for concrete inputs, by their key.
    by_shape: Mutex<HashMap<PlanKey, Plan>>,
    inputs: Vec<IoInfo>,
    outputs: Vec<IoInfo>,
}

fn load_error(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Load { engine: "tract", message: format!("{e:#}") }
}

fn run_error(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Run { engine: "tract", message: format!("{e:#}") }
}

/// tract's own errors, where tract panicked or refused, with what to do about it.
fn refused(e: impl std::fmt::Display) -> RuntimeError {
    load_error(format!("{e:#} (onyx also tried it with the data's concrete shapes; `--engine ort` runs it on ONNX Runtime)"))
}

/// Runs tract's importer or optimizer, whose panics on unsupported input become errors.
fn guarded<T>(f: impl FnOnce() -> TractResult<T>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|panic| format!("tract failed inside its importer: {}", panic_message(&panic)))?
        .map_err(|e| format!("{e:#}"))
}

fn optimize(model: InferenceModel) -> TractResult<Plan> {
    model.into_optimized()?.into_runnable()
}

impl Engine for TractEngine {
    fn name(&self) -> &'static str {
        "tract"
    }

    /// Plans the model for any batch where tract can. Where it cannot (symbolic sizes its analysis
    /// does not follow, declared shapes that are wrong), the model is kept without the declared
    /// output and intermediate shapes and planned again for each set of input shapes the data
    /// brings, so that tract sees concrete facts and folds the shape arithmetic.
    fn load(&self, model: &ModelProto) -> Result<Box<dyn Session>, RuntimeError> {
        onyx_proto::validate::check_runnable(model)?;
        // tract's importer mishandles LSTM/GRU/RNN (it ignores their activations and cannot run them on
        // a symbolic batch without an initial state): rewrite those ops first.
        let model = onyx_compiler::passes::for_tract(model).map_err(load_error)?;
        let model = crate::tract_rewrite::without_non_tensor_outputs(&model).unwrap_or(model);
        let bytes = onyx_proto::encode_model(&model);
        let (inputs, outputs) = model_io(&model);
        let symbolic = guarded(|| tract_onnx::onnx().model_for_read(&mut bytes.as_slice()).and_then(optimize));
        let symbolic_error = match symbolic {
            Ok(plan) => {
                return Ok(Box::new(TractSession {
                    plan: Some(plan),
                    model: None,
                    proto: None,
                    symbolic_error: None,
                    by_shape: Mutex::default(),
                    inputs,
                    outputs,
                }));
            }
            Err(e) => e,
        };
        let lenient = || tract_onnx::onnx().with_ignore_output_shapes(true).with_ignore_value_info(true);
        let decoded = guarded(|| lenient().model_for_read(&mut bytes.as_slice())).map_err(refused)?;
        // An op tract lacks stays lacking whatever the shapes: refused now, not at the first run.
        if let Some(node) = decoded.nodes().iter().find(|n| n.op.name().starts_with("Unimplemented")) {
            return Err(load_error(format!(
                "tract does not implement {} (node `{}`); `--engine ort` runs it on ONNX Runtime",
                node.op.name().trim_start_matches("Unimplemented"),
                node.name
            )));
        }
        // Without the declared shapes, a symbolic plan may now work.
        if let Ok(plan) = guarded(|| optimize(decoded.clone())) {
            return Ok(Box::new(TractSession {
                plan: Some(plan),
                model: Some(decoded),
                proto: Some(model),
                symbolic_error: None,
                by_shape: Mutex::default(),
                inputs,
                outputs,
            }));
        }
        // Every input fully known and still no plan: concrete shapes cannot help.
        if inputs.iter().all(|i| i.shape.iter().all(|d| d.fixed().is_some())) {
            return Err(refused(symbolic_error));
        }
        Ok(Box::new(TractSession {
            plan: None,
            model: Some(decoded),
            proto: Some(model),
            symbolic_error: Some(symbolic_error),
            by_shape: Mutex::default(),
            inputs,
            outputs,
        }))
    }
}

impl TrainingEngine for TractEngine {
    fn upload(&self, t: HostTensor) -> Result<EngineTensor, RuntimeError> {
        Ok(EngineTensor::Native(Arc::new(into_tract(t)?)))
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
                Ok({
                    f(v.to_plain_array_view::<f32>().map_err(run_error)?);
                    Some(())
                })
            }
        }
    }
}

/// A host tensor as tract's, moving its buffer where tract can take it.
fn into_tract(t: HostTensor) -> Result<TValue, RuntimeError> {
    Ok(match t {
        HostTensor::F32(a) => Tensor::from(a).into_tvalue(),
        HostTensor::I64(a) => Tensor::from(a).into_tvalue(),
        HostTensor::F64(a) => Tensor::from(a).into_tvalue(),
        HostTensor::F16(a) => Tensor::from(a).into_tvalue(),
        HostTensor::BF16(_) => {
            return Err(RuntimeError::Input {
                input: "bfloat16".into(),
                message: "tract has no bfloat16 type; run this model with --engine ort".into(),
            });
        }
        HostTensor::I8(a) => Tensor::from(a).into_tvalue(),
        HostTensor::I16(a) => Tensor::from(a).into_tvalue(),
        HostTensor::I32(a) => Tensor::from(a).into_tvalue(),
        HostTensor::U8(a) => Tensor::from(a).into_tvalue(),
        HostTensor::U16(a) => Tensor::from(a).into_tvalue(),
        HostTensor::U32(a) => Tensor::from(a).into_tvalue(),
        HostTensor::U64(a) => Tensor::from(a).into_tvalue(),
        HostTensor::Bool(a) => Tensor::from(a).into_tvalue(),
    })
}

/// onyx's element type for tract's, where onyx carries it.
fn dtype_of(d: DatumType) -> Option<onyx_compiler::ir::DType> {
    use onyx_compiler::ir::DType;
    Some(match d {
        DatumType::F32 => DType::F32,
        DatumType::F64 => DType::F64,
        DatumType::F16 => DType::F16,
        DatumType::I8 => DType::I8,
        DatumType::I16 => DType::I16,
        DatumType::I32 => DType::I32,
        DatumType::I64 => DType::I64,
        DatumType::U8 => DType::U8,
        DatumType::U16 => DType::U16,
        DatumType::U32 => DType::U32,
        DatumType::U64 => DType::U64,
        DatumType::Bool => DType::Bool,
        _ => return None,
    })
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_else(|| "a panic".into())
}

fn from_tract(v: &TValue) -> Result<HostTensor, RuntimeError> {
    // Sizes tract computed symbolically come out as TDim; they are integers by then.
    if v.datum_type() == DatumType::TDim {
        return from_tract(&v.cast_to::<i64>().map_err(run_error)?.into_owned().into_tvalue());
    }
    let dtype = dtype_of(v.datum_type()).ok_or_else(|| run_error(format!("an output of type {:?}, which onyx does not carry", v.datum_type())))?;
    fn read<T: Element + Datum>(v: &TValue) -> Result<HostTensor, RuntimeError> {
        Ok(T::wrap(v.to_plain_array_view::<T>().map_err(run_error)?.to_owned()))
    }
    use onyx_compiler::ir::DType;
    match dtype {
        DType::F32 => read::<f32>(v),
        DType::F64 => read::<f64>(v),
        DType::F16 => read::<f16>(v),
        DType::I8 => read::<i8>(v),
        DType::I16 => read::<i16>(v),
        DType::I32 => read::<i32>(v),
        DType::I64 => read::<i64>(v),
        DType::U8 => read::<u8>(v),
        DType::U16 => read::<u16>(v),
        DType::U32 => read::<u32>(v),
        DType::U64 => read::<u64>(v),
        DType::Bool => read::<bool>(v),
        DType::BF16 => Err(run_error("tract has no bfloat16 type")),
    }
}

impl TractSession {
    /// Runs the symbolic plan, or one made for these inputs' shapes when there is none or it fails
    /// on them; a panic inside tract becomes a run error.
    fn execute(&self, values: TVec<TValue>) -> Result<TVec<TValue>, RuntimeError> {
        let first_error = match &self.plan {
            Some(plan) => match run_plan(plan, values.clone()) {
                Ok(out) => return Ok(out),
                Err(e) if self.model.is_none() => return Err(e),
                Err(e) => Some(e),
            },
            None => None,
        };
        let plan = self.concrete_plan(&values).map_err(|e| match first_error {
            Some(run) => RuntimeError::Run { engine: "tract", message: format!("{run}; planned for these shapes: {e}") },
            None => e,
        })?;
        run_plan(&plan, values)
    }

    /// The plan for the shapes and types of `values` (and the values of scalar integer inputs, such
    /// as a sample rate a model branches on), made on first use.
    fn concrete_plan(&self, values: &TVec<TValue>) -> Result<Plan, RuntimeError> {
        let Some(model) = &self.model else { return Err(run_error("no model to plan")) };
        let scalar = |v: &TValue| v.rank() == 0 && (v.datum_type().is_integer() || v.datum_type() == DatumType::Bool);
        let key: PlanKey = values.iter().map(|v| (v.shape().to_vec(), scalar(v).then(|| v.as_bytes().to_vec()))).collect();
        if let Some(plan) = self.by_shape.lock().map_err(|_| run_error("a previous run panicked"))?.get(&key) {
            return Ok(plan.clone());
        }
        let facts: Vec<InferenceFact> = values
            .iter()
            .map(|v| if scalar(v) { InferenceFact::from(v.clone().into_tensor()) } else { InferenceFact::dt_shape(v.datum_type(), v.shape()) })
            .collect();
        let with_facts = |mut m: InferenceModel| -> TractResult<Plan> {
            for (i, f) in facts.iter().enumerate() {
                m.set_input_fact(i, f.clone())?;
            }
            optimize(m)
        };
        let mut planned = guarded(|| with_facts(model.clone()));
        // Branches tract cannot plan together, when the facts decide which one runs.
        if planned.is_err()
            && let Some(inlined) = self.proto.as_ref().and_then(|p| crate::tract_rewrite::inline_known_ifs(p, &facts))
        {
            let bytes = onyx_proto::encode_model(&inlined);
            if let Ok(plan) = guarded(|| {
                tract_onnx::onnx()
                    .with_ignore_output_shapes(true)
                    .with_ignore_value_info(true)
                    .model_for_read(&mut bytes.as_slice())
                    .and_then(with_facts)
            }) {
                planned = Ok(plan);
            }
        }
        let plan = planned.map_err(|e| match &self.symbolic_error {
            Some(symbolic) => refused(format!("{e} (planned for any shape: {symbolic})")),
            None => refused(e),
        })?;
        let mut kept = self.by_shape.lock().map_err(|_| run_error("a previous run panicked"))?;
        if kept.len() >= PLANS_KEPT {
            kept.clear();
        }
        kept.insert(key, plan.clone());
        Ok(plan)
    }
}

fn run_plan(plan: &Plan, values: TVec<TValue>) -> Result<TVec<TValue>, RuntimeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| plan.run(values)))
        .map_err(|panic| run_error(format!("tract failed: {}", panic_message(&panic))))?
        .map_err(run_error)
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
        let values: TVec<TValue> = inputs.iter().cloned().map(into_tract).collect::<Result<_, _>>()?;
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
                    EngineTensor::Host(h) => into_tract(h.clone())?,
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
    let dtype = dtype_of(value.datum_type())
        .ok_or_else(|| RuntimeError::Input { input: info.name.clone(), message: format!("{:?} values are not fed by onyx", value.datum_type()) })?;
    check_input(info, dtype, value.shape())
}
