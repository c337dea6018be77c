//! Appends nodes to a graph, running each op's shape rule as it goes, so every value has a type and a
//! shape error surfaces at the node (and the layer) that caused it.
use std::collections::HashSet;
use std::sync::Arc;

use crate::ir::{Graph, Node, ParamInfo, Tensor, TensorType, Value, ValueId};
use crate::ops::{Op, OpError, shape_error};

pub struct Builder {
    pub graph: Graph,
    names: HashSet<String>,
    /// The layer being lowered, recorded on each node.
    pub layer: Option<String>,
}

impl Builder {
    pub fn new(name: &str) -> Builder {
        Builder { graph: Graph::new(name), names: HashSet::new(), layer: None }
    }

    /// Continues an existing graph, for passes: its value and node names are taken.
    pub fn from_graph(graph: Graph) -> Builder {
        let names = graph.values.iter().map(|v| v.name.clone()).chain(graph.nodes.iter().map(|n| n.name.clone())).collect();
        Builder { graph, names, layer: None }
    }

    /// `base`, or `base_1`, `base_2`... if taken.
    pub fn unique(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut i = 0;
        while self.names.contains(&name) {
            i += 1;
            name = format!("{base}_{i}");
        }
        self.names.insert(name.clone());
        name
    }

    pub fn ty(&self, id: ValueId) -> &TensorType {
        &self.graph.value(id).ty
    }

    pub fn input(&mut self, name: &str, ty: TensorType) -> ValueId {
        let name = self.unique(name);
        let id = self.graph.add_value(Value { name, ty, init: None, param: None });
        self.graph.inputs.push(id);
        id
    }

    pub fn param(&mut self, name: &str, tensor: Tensor, info: ParamInfo) -> ValueId {
        self.initializer(name, tensor, Some(info))
    }

    pub fn constant(&mut self, name: &str, tensor: Tensor) -> ValueId {
        self.initializer(name, tensor, None)
    }

    fn initializer(&mut self, name: &str, tensor: Tensor, param: Option<ParamInfo>) -> ValueId {
        let name = self.unique(name);
        self.graph.add_value(Value { name, ty: tensor.ty(), init: Some(tensor), param })
    }

    /// Adds a node named `name` (made unique) and returns its outputs.
    pub fn node(&mut self, name: &str, op: Arc<dyn Op>, inputs: &[Option<ValueId>]) -> Result<Vec<ValueId>, OpError> {
        let types = self.graph.infer(op.as_ref(), inputs)?;
        let name = self.unique(name);
        let outputs: Vec<ValueId> = types
            .into_iter()
            .enumerate()
            .map(|(i, ty)| {
                let value_name = if i == 0 { name.clone() } else { self.unique(&format!("{name}:{i}")) };
                self.graph.add_value(Value { name: value_name, ty, init: None, param: None })
            })
            .collect();
        self.graph.nodes.push(Node { name, op, inputs: inputs.to_vec(), outputs: outputs.clone(), layer: self.layer.clone() });
        Ok(outputs)
    }

    /// Adds a node that defines values which already exist (a pass rebinding a replaced node's outputs),
    /// checking that the op's shape rule gives them the types they have.
    pub fn node_into(&mut self, name: &str, op: Arc<dyn Op>, inputs: &[ValueId], outputs: &[ValueId]) -> Result<(), OpError> {
        let inputs: Vec<Option<ValueId>> = inputs.iter().copied().map(Some).collect();
        let types = self.graph.infer(op.as_ref(), &inputs)?;
        if types.len() < outputs.len() {
            return Err(shape_error(op.op_type(), format!("gives {} outputs, {} are bound", types.len(), outputs.len())));
        }
        for (ty, &id) in types.iter().zip(outputs) {
            let expected = &self.graph.value(id).ty;
            if ty != expected {
                return Err(shape_error(op.op_type(), format!("gives {ty} for `{}`, which is {expected}", self.graph.value(id).name)));
            }
        }
        let name = self.unique(name);
        self.graph.nodes.push(Node { name, op, inputs, outputs: outputs.to_vec(), layer: self.layer.clone() });
        Ok(())
    }

    /// Adds a node with one output.
    pub fn node1(&mut self, name: &str, op: Arc<dyn Op>, inputs: &[ValueId]) -> Result<ValueId, OpError> {
        let inputs: Vec<Option<ValueId>> = inputs.iter().copied().map(Some).collect();
        Ok(self.node(name, op, &inputs)?[0])
    }
}
