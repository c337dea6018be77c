//! Lowering a whole spec: model inputs, then each layer in dependency order, into one IR graph.
use crate::image_format::{CHANNELS_KEY, LAYOUT_KEY, Layout};
use crate::metadata;
use std::collections::HashMap;

use crate::builder::Builder;
use crate::ir::{Dim, Graph, TensorType, ValueId};
use crate::layers::LayerCx;
use crate::spec::{Seg, Spec, SpecError};
use crate::transfer;

/// What the summary shows of one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerInfo {
    pub name: String,
    pub kind: String,
    pub keras_type: String,
    pub inputs: Vec<String>,
    pub output: TensorType,
    /// Parameters as Keras counts them.
    pub trainable: usize,
    pub non_trainable: usize,
    /// Elements the ONNX file stores beyond Keras' count (the recurrent ops' second bias).
    pub onnx_only: usize,
}

impl LayerInfo {
    pub fn params(&self) -> usize {
        self.trainable + self.non_trainable
    }
}

/// A compiled model: its graph and, per layer in file order, what the summary shows.
#[derive(Clone, Debug)]
pub struct Model {
    pub graph: Graph,
    pub layers: Vec<LayerInfo>,
}

impl Model {
    /// (total, trainable, non-trainable) as Keras counts them.
    pub fn keras_counts(&self) -> (usize, usize, usize) {
        let trainable: usize = self.layers.iter().map(|l| l.trainable).sum();
        let non: usize = self.layers.iter().map(|l| l.non_trainable).sum();
        (trainable + non, trainable, non)
    }

    /// Elements stored in the file beyond Keras' count.
    pub fn onnx_only(&self) -> usize {
        self.layers.iter().map(|l| l.onnx_only).sum()
    }
}

pub fn compile(spec: &Spec) -> Result<Model, SpecError> {
    let mut values: HashMap<String, ValueId> = HashMap::new();
    let mut base_info = None;
    let mut b = match &spec.base {
        None => Builder::new(&spec.name),
        Some(base) => {
            let loaded = transfer::load(base)
                .map_err(|e| spec.source.error(&[Seg::Key("model".into()), Seg::Key("base".into())], None, Some("base"), e.to_string()))?;
            let (trainable, non_trainable) = loaded.graph.stored_param_counts();
            let input = loaded.graph.inputs.iter().map(|&i| loaded.graph.value(i).name.clone()).collect();
            base_info = Some(LayerInfo {
                name: base.name.clone(),
                kind: "base".into(),
                keras_type: "Functional".into(),
                inputs: input,
                output: loaded.graph.value(loaded.output).ty.clone(),
                trainable,
                non_trainable,
                onnx_only: 0,
            });
            values.insert(base.name.clone(), loaded.output);
            let mut graph = loaded.graph;
            graph.name = spec.name.clone();
            graph.metadata = vec![
                (transfer::BASE_CUT_KEY.into(), graph.value(loaded.output).name.clone()),
                (transfer::INFERENCE_MODE_KEY.into(), serde_json::to_string(&loaded.batch_norms).unwrap_or_default()),
            ];
            Builder::from_graph(graph)
        }
    };
    for input in &spec.inputs {
        let mut shape = vec![Dim::batch()];
        shape.extend(input.shape.iter().map(|&d| Dim::Fixed(d)));
        let id = b.input(&input.name, TensorType::new(input.dtype, shape));
        values.insert(input.name.clone(), id);
    }
    let mut infos: Vec<Option<LayerInfo>> = vec![None; spec.layers.len()];
    for &i in &spec.order {
        let l = &spec.layers[i];
        let inputs: Vec<ValueId> = l.inputs.iter().map(|n| values[n]).collect();
        let params_before = b.graph.values.len();
        b.layer = Some(l.name.clone());
        let mut cx = LayerCx { b: &mut b, name: l.name.clone(), seed: spec.seed, onnx_only_params: 0 };
        let out = l.layer.lower(&mut cx, &inputs).map_err(|e| spec.source.layer_error(l.index, e))?;
        let onnx_only = cx.onnx_only_params;
        let (mut trainable, mut non_trainable) = (0, 0);
        for v in &b.graph.values[params_before..] {
            if let (Some(p), Some(t)) = (&v.param, &v.init) {
                if p.trainable { trainable += t.len() } else { non_trainable += t.len() }
            }
        }
        // Name the layer's output after the layer, as Keras and tf2onnx do.
        let out = rename_output(&mut b, out, &inputs, &l.name);
        values.insert(l.name.clone(), out);
        infos[i] = Some(LayerInfo {
            name: l.name.clone(),
            kind: l.kind.to_string(),
            keras_type: l.layer.keras_type().to_string(),
            inputs: l.inputs.clone(),
            output: b.ty(out).clone(),
            trainable: trainable - onnx_only,
            non_trainable,
            onnx_only,
        });
    }
    b.graph.outputs = spec.outputs.iter().map(|o| values[o]).collect();
    for (i, output) in b.graph.outputs.clone().into_iter().enumerate() {
        if b.graph.inputs.contains(&output) {
            let l = spec.layer(&spec.outputs[i]).map_or(0, |l| l.index);
            return Err(spec.source.error(&[Seg::Key("model".into())], Some(l), None, "an output may not be a model input"));
        }
    }
    if let Some((mean, std)) = &spec.normalize {
        let [input] = b.graph.inputs[..] else {
            return Err(spec.source.error(
                &[Seg::Key("model".into()), Seg::Key("normalize".into())],
                None,
                Some("normalize"),
                "normalizes a model with one input",
            ));
        };
        let name = b.graph.value(input).name.clone();
        let shape = &b.graph.value(input).ty.shape;
        let axis = spec.layout.unwrap_or_else(|| Layout::detect(shape)).channel_axis(shape.len());
        crate::passes::prepend_channel_normalization(&mut b.graph, &name, mean, std, axis)
            .map_err(|e| spec.source.error(&[Seg::Key("model".into()), Seg::Key("normalize".into())], None, Some("normalize"), e.to_string()))?;
    }
    let base_metadata = std::mem::take(&mut b.graph.metadata);
    b.graph.metadata = vec![
        (metadata::SPEC_KEY.into(), spec.name.clone()),
        (metadata::SEED_KEY.into(), spec.seed.to_string()),
        (metadata::VERSION_KEY.into(), env!("CARGO_PKG_VERSION").into()),
    ];
    b.graph.metadata.extend(base_metadata);
    // Whatever feeds the model images lays them out as the spec says.
    b.graph.metadata.extend(spec.layout.map(|l| (LAYOUT_KEY.to_string(), l.name().to_string())));
    b.graph.metadata.extend(spec.channels.map(|c| (CHANNELS_KEY.to_string(), c.name().to_string())));
    if spec.train.is_some() {
        b.graph.metadata.extend(spec.train_json().map(|t| (metadata::TRAIN_KEY.to_string(), t)));
    }
    Ok(Model { graph: b.graph, layers: base_info.into_iter().chain(infos.into_iter().flatten()).collect() })
}

/// Renames the value a layer produced to the layer's name, unless it is one of the layer's own
/// inputs (a pass-through) or the name is taken.
fn rename_output(b: &mut Builder, out: ValueId, inputs: &[ValueId], name: &str) -> ValueId {
    if inputs.contains(&out) || b.graph.value(out).init.is_some() || b.graph.find_value(name).is_some() {
        return out;
    }
    b.graph.values[out.0].name = name.to_string();
    out
}
