//! What the passes that rewrite a node together with its only reader share: finding that reader,
//! reading the nodes' typed settings again, and rebuilding the graph with each pair replaced.
use super::PassError;
use crate::builder::Builder;
use crate::ir::{Graph, Node, ValueId};
use crate::ops::{Attrs, OpError};

/// The one node that reads `v`, when exactly one does and `v` is no graph output.
pub(crate) fn sole_reader(graph: &Graph, v: ValueId) -> Option<usize> {
    if graph.outputs.contains(&v) {
        return None;
    }
    let readers: Vec<usize> = (0..graph.nodes.len()).filter(|&n| graph.nodes[n].inputs.contains(&Some(v))).collect();
    match readers[..] {
        [only] => Some(only),
        _ => None,
    }
}

/// `node`'s op, typed again from its attributes (nodes hold `Arc<dyn Op>`).
pub(crate) fn typed<T>(node: &Node, parse: impl FnOnce(&Attrs) -> Result<T, OpError>) -> Option<T> {
    let attributes = node.op.attributes();
    parse(&Attrs { op: node.op.op_type(), list: &attributes }).ok()
}

/// Rebuilds `graph` with each planned pair `(first, reader, plan)` replaced by what `emit` builds
/// for it, in the first node's place (the reader reads nothing else, so it can move up). Returns
/// how many pairs were replaced.
pub(crate) fn replace_pairs<P>(
    graph: &mut Graph,
    plans: Vec<(usize, usize, P)>,
    emit: impl Fn(&P, &mut Builder, &Node, &Node) -> Result<(), OpError>,
) -> Result<usize, PassError> {
    let count = plans.len();
    if count == 0 {
        return Ok(0);
    }
    let nodes = std::mem::take(&mut graph.nodes);
    let mut b = Builder::from_graph(std::mem::take(graph));
    let mut plans = plans.into_iter().peekable();
    let mut skip = vec![];
    for (i, node) in nodes.iter().enumerate() {
        if skip.contains(&i) {
            continue;
        }
        match plans.next_if(|(first, _, _)| *first == i) {
            Some((_, reader, plan)) => {
                emit(&plan, &mut b, node, &nodes[reader]).map_err(|e| PassError::at(&node.name, e.to_string()))?;
                skip.push(reader);
            }
            None => b.graph.nodes.push(node.clone()),
        }
    }
    *graph = b.graph;
    Ok(count)
}
