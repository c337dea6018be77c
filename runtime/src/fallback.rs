//! `--engine auto`: one engine first, the other for each model the first cannot load.
use ndarray::ArrayViewD;
use onyx_proto::onnx::ModelProto;

use crate::engine::{Engine, EngineTensor, Session, TrainingEngine};
use crate::error::RuntimeError;
use crate::tensor::HostTensor;

/// Loads each model on `first`, or on `second` where `first` refuses it, telling `note` why. Every
/// other call goes to `first`: training keeps its tensors in one engine's form.
pub struct FallbackEngine {
    pub first: Box<dyn TrainingEngine + Send>,
    pub second: Box<dyn TrainingEngine + Send>,
    pub note: Box<dyn Fn(&str) + Send + Sync>,
}

impl Engine for FallbackEngine {
    fn name(&self) -> &'static str {
        self.first.name()
    }

    fn load(&self, model: &ModelProto) -> Result<Box<dyn Session>, RuntimeError> {
        match self.first.load(model) {
            // A model no engine may run is refused as it is.
            Err(e @ RuntimeError::Proto(_)) => Err(e),
            Err(e) => {
                let session = self.second.load(model).map_err(|second| RuntimeError::Load {
                    engine: "auto",
                    message: format!("{}: {e}; {}: {second}", self.first.name(), self.second.name()),
                })?;
                (self.note)(&format!("running on {} instead: {e}", self.second.name()));
                Ok(session)
            }
            ok => ok,
        }
    }
}

impl TrainingEngine for FallbackEngine {
    fn upload(&self, t: HostTensor) -> Result<EngineTensor, RuntimeError> {
        self.first.upload(t)
    }

    fn step_threads(&self) -> usize {
        self.first.step_threads()
    }

    fn load_shard(&self, model: &ModelProto) -> Result<Box<dyn Session>, RuntimeError> {
        self.first.load_shard(model)
    }

    fn shares_sessions(&self) -> bool {
        self.first.shares_sessions()
    }

    fn download(&self, t: &EngineTensor) -> Result<HostTensor, RuntimeError> {
        self.first.download(t)
    }

    fn read_f32(&self, t: &EngineTensor, f: &mut dyn FnMut(ArrayViewD<'_, f32>)) -> Result<Option<()>, RuntimeError> {
        self.first.read_f32(t, f)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use onyx_proto::onnx::{GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorShapeProto, TypeProto, ValueInfoProto};
    use onyx_proto::onnx::{tensor_shape_proto::Dimension, tensor_shape_proto::dimension, type_proto};

    use super::*;
    use crate::TractEngine;

    /// An engine that refuses every model as an engine would.
    struct Refuses;

    impl Engine for Refuses {
        fn name(&self) -> &'static str {
            "refuses"
        }

        fn load(&self, _: &ModelProto) -> Result<Box<dyn Session>, RuntimeError> {
            Err(RuntimeError::Load { engine: "refuses", message: "no such op".into() })
        }
    }

    impl TrainingEngine for Refuses {}

    fn relu(opset: i64) -> ModelProto {
        let info = |name: &str| ValueInfoProto {
            name: Some(name.into()),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: Some(onyx_proto::onnx::tensor_proto::DataType::Float as i32),
                    shape: Some(TensorShapeProto { dim: vec![Dimension { value: Some(dimension::Value::DimValue(2)), ..Default::default() }] }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        ModelProto {
            ir_version: Some(9),
            opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(opset) }],
            graph: Some(GraphProto {
                node: vec![NodeProto { op_type: Some("Relu".into()), input: vec!["x".into()], output: vec!["y".into()], ..Default::default() }],
                input: vec![info("x")],
                output: vec![info("y")],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn fallback(notes: &Arc<Mutex<Vec<String>>>) -> FallbackEngine {
        let sink = Arc::clone(notes);
        FallbackEngine { first: Box::new(Refuses), second: Box::new(TractEngine), note: Box::new(move |n| sink.lock().unwrap().push(n.to_string())) }
    }

    #[test]
    fn a_model_the_first_engine_refuses_runs_on_the_second_with_a_note() {
        let notes = Arc::new(Mutex::new(vec![]));
        let session = fallback(&notes).load(&relu(17)).unwrap();
        let y = session.run(&[HostTensor::F32(ndarray::arr1(&[-1.0f32, 2.0]).into_dyn())]).unwrap();
        assert_eq!(y[0].to_f64_vec(), [0.0, 2.0]);
        let notes = notes.lock().unwrap();
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("running on tract instead") && notes[0].contains("no such op"), "{}", notes[0]);
    }

    #[test]
    fn a_model_no_engine_may_run_is_not_tried_twice() {
        let notes = Arc::new(Mutex::new(vec![]));
        let engine = FallbackEngine { first: Box::new(TractEngine), second: Box::new(Refuses), note: Box::new(|_| {}) };
        assert!(matches!(engine.load(&relu(999)), Err(RuntimeError::Proto(_))));
        let both = fallback(&notes).load(&relu(999));
        assert!(matches!(both, Err(RuntimeError::Load { engine: "auto", .. })), "the refusing engine is first, then tract refuses the opset");
        assert!(notes.lock().unwrap().is_empty());
    }
}
