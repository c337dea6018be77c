use std::sync::Arc;

use super::{Tensor, TensorType};
use crate::ops::{Fact, Op, OpError};

/// Index of a value in its graph's arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub usize);

/// A penalty on a parameter, added to the training loss: `l1·Σ|w| + l2·Σw²` (Keras' definition).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Regularizer {
    pub l1: f32,
    pub l2: f32,
}

/// What a weight is, for training and for the summary.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamInfo {
    /// Updated by gradient descent (kernels, biases, batch-norm gamma/beta) or not (moving statistics).
    pub trainable: bool,
    pub regularizer: Option<Regularizer>,
    /// The spec layer that owns it.
    pub layer: String,
}

#[derive(Clone, Debug)]
pub struct Value {
    pub name: String,
    pub ty: TensorType,
    /// Set for initializers: parameters and constants.
    pub init: Option<Tensor>,
    /// Set for parameters (weights); constants such as reshape targets have `init` but no `param`.
    pub param: Option<ParamInfo>,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub op: Arc<dyn Op>,
    /// ONNX allows optional inputs to be skipped; `None` is an empty input name.
    pub inputs: Vec<Option<ValueId>>,
    pub outputs: Vec<ValueId>,
    /// The spec layer this node was lowered from, for error messages.
    pub layer: Option<String>,
}

/// A typed graph that mirrors ONNX. Nodes are kept in topological order.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub name: String,
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
    pub values: Vec<Value>,
    pub nodes: Vec<Node>,
    /// Key/value facts carried into the model's `metadata_props`.
    pub metadata: Vec<(String, String)>,
}

impl Graph {
    pub fn new(name: impl Into<String>) -> Graph {
        Graph { name: name.into(), ..Graph::default() }
    }

    pub fn value(&self, id: ValueId) -> &Value {
        &self.values[id.0]
    }

    pub fn add_value(&mut self, value: Value) -> ValueId {
        self.values.push(value);
        ValueId(self.values.len() - 1)
    }

    /// The value of the metadata entry `key`, if the graph has one.
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// A metadata entry holding a JSON list of names (`onyx.constants`, `onyx.frozen`...); empty when
    /// absent or unreadable.
    pub fn metadata_names(&self, key: &str) -> std::collections::HashSet<String> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| serde_json::from_str::<Vec<String>>(v).ok())
            .unwrap_or_default()
            .into_iter()
            .collect()
    }

    pub fn find_value(&self, name: &str) -> Option<ValueId> {
        self.values.iter().position(|v| v.name == name).map(ValueId)
    }

    /// Runs `op`'s shape rule on the values `inputs` name (`None` for an omitted optional input).
    pub fn infer(&self, op: &dyn Op, inputs: &[Option<ValueId>]) -> Result<Vec<TensorType>, OpError> {
        let facts: Vec<Option<Fact>> =
            inputs.iter().map(|i| i.map(|id| Fact { ty: &self.value(id).ty, value: self.value(id).init.as_ref() })).collect();
        let types = op.infer(&facts)?;
        if let Some(t) = types.iter().find(|t| t.bounded_elements().is_none()) {
            return Err(crate::ops::shape_error(op.op_type(), format!("its output {t} would hold more than {} elements", super::MAX_ELEMENTS)));
        }
        Ok(types)
    }

    /// Parameters in creation order.
    pub fn params(&self) -> impl Iterator<Item = (ValueId, &Value, &ParamInfo)> {
        self.values.iter().enumerate().filter_map(|(i, v)| v.param.as_ref().map(|p| (ValueId(i), v, p)))
    }

    /// Elements stored in parameters, split into (trainable, non-trainable), as the file holds them.
    pub fn stored_param_counts(&self) -> (usize, usize) {
        self.params().fold((0, 0), |(t, n), (_, v, p)| {
            let len = v.init.as_ref().map_or(0, Tensor::len);
            if p.trainable { (t + len, n) } else { (t, n + len) }
        })
    }

    /// The part of the graph that computes `outputs` from `inputs`: the nodes between them and the
    /// values they use, renumbered. An input cuts the graph there (the nodes computing it are left
    /// out). Fails, naming the value, when an output needs an input not in `inputs`.
    pub fn extract(&self, name: &str, inputs: &[ValueId], outputs: &[ValueId]) -> Result<Graph, String> {
        let cut: std::collections::HashSet<ValueId> = inputs.iter().copied().collect();
        let mut needed: std::collections::HashSet<ValueId> = outputs.iter().copied().collect();
        let mut keep = vec![false; self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate().rev() {
            if n.outputs.iter().any(|o| needed.contains(o) && !cut.contains(o)) {
                keep[i] = true;
                needed.extend(n.inputs.iter().flatten());
            }
        }
        let produced: std::collections::HashSet<ValueId> =
            self.nodes.iter().zip(&keep).filter(|(_, k)| **k).flat_map(|(n, _)| n.outputs.iter().copied()).collect();
        if let Some(missing) = needed.iter().find(|v| !cut.contains(v) && !produced.contains(v) && self.value(**v).init.is_none()) {
            return Err(format!("`{}` is needed but neither computed nor an input", self.value(*missing).name));
        }
        let mut out = Graph { name: name.to_string(), metadata: self.metadata.clone(), ..Graph::default() };
        let mut ids: Vec<Option<ValueId>> = vec![None; self.values.len()];
        let mut map = |g: &mut Graph, v: ValueId| -> ValueId { *ids[v.0].get_or_insert_with(|| g.add_value(self.value(v).clone())) };
        out.inputs = inputs.iter().map(|&v| map(&mut out, v)).collect();
        for (n, _) in self.nodes.iter().zip(&keep).filter(|(_, k)| **k) {
            let node = Node {
                inputs: n.inputs.iter().map(|i| i.map(|v| map(&mut out, v))).collect(),
                outputs: n.outputs.iter().map(|&v| map(&mut out, v)).collect(),
                ..n.clone()
            };
            out.nodes.push(node);
        }
        out.outputs = outputs.iter().map(|&v| map(&mut out, v)).collect();
        Ok(out)
    }
}
