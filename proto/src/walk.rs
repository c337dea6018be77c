//! Visiting every tensor stored in a model, wherever ONNX allows one to be.

use crate::error::ProtoError;
use crate::onnx::{AttributeProto, GraphProto, ModelProto, NodeProto, SparseTensorProto, TensorProto};

/// Which tensors a walk visits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Dense initializers of every graph, including subgraphs: the tensors that hold weights.
    Initializers,
    /// Also sparse initializers and tensors in attributes (`Constant` values and the like).
    Everything,
}

type Visit<'f> = &'f mut dyn FnMut(&mut TensorProto) -> Result<(), ProtoError>;

struct Walk<'f> {
    scope: Scope,
    max_nesting: u32,
    visit: Visit<'f>,
}

/// Calls `visit` on each tensor in `scope`: the main graph, training graphs, function bodies, and
/// graphs nested in attributes down to `max_nesting` levels (deeper is an error).
pub(crate) fn for_each_tensor(model: &mut ModelProto, scope: Scope, max_nesting: u32, visit: Visit<'_>) -> Result<(), ProtoError> {
    let mut walk = Walk { scope, max_nesting, visit };
    if let Some(graph) = model.graph.as_mut() {
        walk.graph(graph, 0)?;
    }
    for info in &mut model.training_info {
        for graph in [info.initialization.as_mut(), info.algorithm.as_mut()].into_iter().flatten() {
            walk.graph(graph, 0)?;
        }
    }
    for function in &mut model.functions {
        for attribute in &mut function.attribute_proto {
            walk.attribute(attribute, 0)?;
        }
        for node in &mut function.node {
            walk.node(node, 0)?;
        }
    }
    Ok(())
}

impl Walk<'_> {
    fn graph(&mut self, graph: &mut GraphProto, depth: u32) -> Result<(), ProtoError> {
        for tensor in &mut graph.initializer {
            (self.visit)(tensor)?;
        }
        if self.scope == Scope::Everything {
            for sparse in &mut graph.sparse_initializer {
                self.sparse(sparse)?;
            }
        }
        for node in &mut graph.node {
            self.node(node, depth)?;
        }
        Ok(())
    }

    fn node(&mut self, node: &mut NodeProto, depth: u32) -> Result<(), ProtoError> {
        for attribute in &mut node.attribute {
            self.attribute(attribute, depth)?;
        }
        Ok(())
    }

    fn attribute(&mut self, attribute: &mut AttributeProto, depth: u32) -> Result<(), ProtoError> {
        if self.scope == Scope::Everything {
            for tensor in attribute.t.iter_mut().chain(attribute.tensors.iter_mut()) {
                (self.visit)(tensor)?;
            }
            for sparse in attribute.sparse_tensor.iter_mut().chain(attribute.sparse_tensors.iter_mut()) {
                self.sparse(sparse)?;
            }
        }
        let has_subgraphs = attribute.g.is_some() || !attribute.graphs.is_empty();
        if has_subgraphs && depth >= self.max_nesting {
            return Err(ProtoError::TooDeep { limit: self.max_nesting });
        }
        if let Some(graph) = attribute.g.as_deref_mut() {
            self.graph(graph, depth + 1)?;
        }
        for graph in &mut attribute.graphs {
            self.graph(graph, depth + 1)?;
        }
        Ok(())
    }

    fn sparse(&mut self, sparse: &mut SparseTensorProto) -> Result<(), ProtoError> {
        for tensor in sparse.values.iter_mut().chain(sparse.indices.iter_mut()) {
            (self.visit)(tensor)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::f32_tensor;

    fn graph_with(initializer: &str, nested: Option<GraphProto>) -> GraphProto {
        let node = NodeProto {
            attribute: vec![AttributeProto {
                t: Some(f32_tensor(&format!("{initializer}.const"), &[1], &[0.0])),
                g: nested.map(Box::new),
                ..Default::default()
            }],
            ..Default::default()
        };
        GraphProto { initializer: vec![f32_tensor(initializer, &[1], &[1.0])], node: vec![node], ..Default::default() }
    }

    fn names(model: &mut ModelProto, scope: Scope, max_nesting: u32) -> Result<Vec<String>, ProtoError> {
        let mut seen = Vec::new();
        for_each_tensor(model, scope, max_nesting, &mut |t| {
            seen.push(t.display_name().to_string());
            Ok(())
        })?;
        Ok(seen)
    }

    #[test]
    fn visits_nested_graphs_and_respects_scope_and_depth() {
        let inner = graph_with("inner", None);
        let mut model = ModelProto { graph: Some(graph_with("outer", Some(inner))), ..Default::default() };
        let all = names(&mut model, Scope::Everything, 8).ok();
        assert_eq!(all, Some(vec!["outer".to_string(), "outer.const".to_string(), "inner".to_string(), "inner.const".to_string()]));
        let weights = names(&mut model, Scope::Initializers, 8).ok();
        assert_eq!(weights, Some(vec!["outer".to_string(), "inner".to_string()]));
        assert!(names(&mut model, Scope::Everything, 1).is_ok());
        assert!(matches!(names(&mut model, Scope::Everything, 0), Err(ProtoError::TooDeep { limit: 0 })));
    }
}
