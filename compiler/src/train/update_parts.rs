//! The update graph cut into parts over disjoint sets of parameters, so that a data-parallel step's
//! optimizer update runs on every core rather than on one while the others wait. Each parameter's
//! update reads only its own value, gradient and optimizer state, plus the shared `step` and `lr`:
//! the outputs fall into independent groups, which are dealt to the parts by their cost. Every
//! element gets the same arithmetic as in the whole graph, so the parts' results are its results.
use std::collections::HashSet;

use super::{LR, STEP, ShardedStep, TrainError};
use crate::ir::{Graph, ValueId};

use super::tuning::UPDATE_NODE_COST as NODE_COST;

/// One part of the update graph.
#[derive(Clone, Debug)]
pub struct UpdatePart {
    /// Inputs: the part's parameters, their gradients and optimizer state, `step` and `lr`, in the
    /// whole graph's order (those it reads). Outputs: their next values, in the whole graph's order.
    pub graph: Graph,
    /// The gradients (of `ShardedStep::grads`) the part reads.
    pub grads: Vec<String>,
}

impl ShardedStep {
    /// The update graph in at most `parts` parts whose costs (elements written, plus a fixed cost
    /// per node) are as even as whole parameters allow, largest first onto the least loaded part.
    /// Fewer parts come back when the parameters are fewer.
    pub fn update_parts(&self, parts: usize) -> Result<Vec<UpdatePart>, TrainError> {
        let g = &self.update;
        let mut producer = vec![None; g.values.len()];
        for (i, n) in g.nodes.iter().enumerate() {
            for o in &n.outputs {
                producer[o.0] = Some(i);
            }
        }
        let shared: HashSet<ValueId> = [STEP, LR].iter().filter_map(|n| g.find_value(n)).collect();
        // Per output, the nodes it needs and the inputs it reads.
        let reach: Vec<(HashSet<usize>, HashSet<ValueId>)> = g.outputs.iter().map(|&o| needs(g, &producer, o)).collect();
        // Outputs that read a common input other than `step` and `lr` belong together (a parameter
        // and its state).
        let mut group: Vec<usize> = (0..g.outputs.len()).collect();
        for a in 0..reach.len() {
            for b in (0..a).filter(|&b| reach[a].1.iter().any(|v| !shared.contains(v) && reach[b].1.contains(v))) {
                let (from, to) = (group[a], group[b]);
                group.iter_mut().filter(|k| **k == from).for_each(|k| *k = to);
            }
        }
        let mut groups: Vec<(usize, Vec<usize>)> = vec![];
        for id in group.iter().copied().collect::<std::collections::BTreeSet<_>>() {
            let outputs: Vec<usize> = (0..group.len()).filter(|&k| group[k] == id).collect();
            let nodes: HashSet<usize> = outputs.iter().flat_map(|&k| reach[k].0.iter().copied()).collect();
            let cost = nodes.iter().map(|&i| NODE_COST + g.nodes[i].outputs.iter().map(|&v| elements(g, v)).sum::<usize>()).sum();
            groups.push((cost, outputs));
        }
        groups.sort_by_key(|(cost, _)| std::cmp::Reverse(*cost));
        let mut dealt: Vec<(usize, Vec<usize>)> = vec![(0, vec![]); parts.max(1).min(groups.len().max(1))];
        for (cost, outputs) in groups {
            if let Some(part) = dealt.iter_mut().min_by_key(|(load, _)| *load) {
                part.0 += cost;
                part.1.extend(outputs);
            }
        }
        dealt
            .into_iter()
            .filter(|(_, outputs)| !outputs.is_empty())
            .enumerate()
            .map(|(i, (_, mut outputs))| {
                outputs.sort_unstable();
                let read: HashSet<ValueId> = outputs.iter().flat_map(|&k| reach[k].1.iter().copied()).collect();
                let inputs: Vec<ValueId> = g.inputs.iter().copied().filter(|v| read.contains(v)).collect();
                let outputs: Vec<ValueId> = outputs.iter().map(|&k| g.outputs[k]).collect();
                let graph = g.extract(&format!("{}_part{i}", g.name), &inputs, &outputs).map_err(TrainError::Internal)?;
                let grads = self.grads.iter().filter(|n| inputs.iter().any(|&v| g.value(v).name == **n)).cloned().collect();
                Ok(UpdatePart { graph, grads })
            })
            .collect()
    }
}

/// The nodes `output` is computed by and the graph inputs it reads.
fn needs(g: &Graph, producer: &[Option<usize>], output: ValueId) -> (HashSet<usize>, HashSet<ValueId>) {
    let (mut nodes, mut inputs, mut stack) = (HashSet::new(), HashSet::new(), vec![output]);
    let mut seen = HashSet::new();
    while let Some(v) = stack.pop() {
        if !seen.insert(v) {
            continue;
        }
        match producer[v.0] {
            Some(i) => {
                nodes.insert(i);
                stack.extend(g.nodes[i].inputs.iter().flatten());
            }
            None if g.inputs.contains(&v) => {
                inputs.insert(v);
            }
            None => {}
        }
    }
    (nodes, inputs)
}

fn elements(g: &Graph, v: ValueId) -> usize {
    g.value(v).ty.shape.iter().map(|d| d.fixed().unwrap_or(1)).product()
}
