//! A Conv read only by a pooling whose windows stop short of the conv's last rows or columns (a
//! 2x2 stride-2 pool on an odd-sized map) computes, in training graphs, only the outputs the
//! windows read: its input is cut to the part those outputs see, and its end padding to what
//! they still need. The forward values are the same numbers; the conv, its input gradient and its
//! weight gradient all shrink by the unread share. mnist_cnn's second conv makes 11x11 outputs of
//! which its pool reads 10x10, 17% of the three largest products of the step.
use std::sync::Arc;

use super::PassError;
use super::pairs::{replace_pairs, sole_reader, typed};
use crate::builder::Builder;
use crate::ir::{Dim, Graph, Node, Tensor};
use crate::ops::{Conv, OpError, Pool, PoolKind, Slice, shape_error};

/// Rewrites every such Conv; returns how many.
pub fn crop_to_pooled(graph: &mut Graph) -> Result<usize, PassError> {
    let plans = (0..graph.nodes.len()).filter_map(|c| Plan::find(graph, c).map(|p| (c, p.pool, p))).collect();
    replace_pairs(graph, plans, Plan::emit)
}

/// What one rewrite needs to know.
struct Plan {
    pool: usize,
    conv: Conv,
    /// Per spatial axis, where the conv's input is cut (None: kept whole).
    ends: Vec<Option<usize>>,
}

impl Plan {
    fn find(graph: &Graph, c: usize) -> Option<Plan> {
        let node = &graph.nodes[c];
        if node.op.op_type() != "Conv" || node.outputs.len() != 1 {
            return None;
        }
        let z = node.outputs[0];
        let x = node.inputs.first().copied().flatten()?;
        let pool = sole_reader(graph, z)?;
        let p = &graph.nodes[pool];
        let kind = match p.op.op_type() {
            "MaxPool" => PoolKind::Max,
            "AveragePool" => PoolKind::Average,
            _ => return None,
        };
        if p.outputs.len() != 1 {
            return None;
        }
        let window = typed(p, |a| Pool::parse(kind, a))?;
        if window.pads.iter().any(|&p| p != 0) {
            return None;
        }
        let mut conv = typed(node, Conv::parse)?;
        let rank = conv.kernel_shape.len();
        let spatial = |v| -> Option<Vec<usize>> { graph.value(v).ty.shape.get(2..)?.iter().map(Dim::fixed).collect() };
        let (input, output) = (spatial(x)?, spatial(z)?);
        if input.len() != rank || output.len() != rank || window.kernel_shape.len() != rank {
            return None;
        }
        let mut ends = vec![None; rank];
        let mut changed = false;
        for d in 0..rank {
            let (k, s) = (window.kernel_shape[d], window.strides[d]);
            let windows = output[d].checked_sub(k)? / s + 1;
            let read = s * (windows - 1) + k;
            if read == output[d] {
                continue;
            }
            // The padded input the read outputs see: begin padding, then input, then end padding.
            let seen = conv.strides[d] * (read - 1) + conv.dilations[d] * (conv.kernel_shape[d] - 1) + 1;
            let begin = conv.pads[d];
            if seen <= begin {
                return None;
            }
            changed = true;
            if seen < begin + input[d] {
                ends[d] = Some(seen - begin);
            }
            conv.pads[rank + d] = (seen - begin).saturating_sub(input[d]);
        }
        changed.then_some(Plan { pool, conv, ends })
    }

    /// Emits the cut, the smaller conv, and the pool reading it into the pool's own output.
    fn emit(&self, b: &mut Builder, conv: &Node, pool: &Node) -> Result<(), OpError> {
        let name = format!("{}/cropped", conv.name);
        b.layer = conv.layer.clone();
        let mut inputs: Vec<_> = conv.inputs.iter().map(|i| i.ok_or_else(|| shape_error("Conv", "has an empty input"))).collect::<Result<_, _>>()?;
        let cut: Vec<(i64, i64)> = self.ends.iter().enumerate().filter_map(|(d, e)| e.map(|e| (d as i64 + 2, e as i64))).collect();
        if !cut.is_empty() {
            let ints = |b: &mut Builder, name: &str, v: Vec<i64>| b.constant(name, Tensor::from_i64(vec![v.len()], &v));
            let starts = ints(b, &format!("{name}/starts"), vec![0; cut.len()]);
            let ends = ints(b, &format!("{name}/ends"), cut.iter().map(|c| c.1).collect());
            let axes = ints(b, &format!("{name}/axes"), cut.iter().map(|c| c.0).collect());
            inputs[0] = b.node1(&format!("{name}/Slice"), Arc::new(Slice), &[inputs[0], starts, ends, axes])?;
        }
        let out = b.node1(&conv.name, Arc::new(self.conv.clone()), &inputs)?;
        b.layer = pool.layer.clone();
        b.node_into(&pool.name, pool.op.clone(), &[out], &pool.outputs)?;
        b.layer = None;
        Ok(())
    }
}
