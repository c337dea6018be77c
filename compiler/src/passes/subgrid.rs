//! A Conv read only by a MaxPool whose windows tile its output (stride = kernel, no padding)
//! becomes, in training graphs, the maximum of strided Convs: one per cell (a, b) of the window,
//! each computing the conv's outputs at rows q·i + a and columns q·j + b only. The q² sub-grids are
//! stacked on the batch axis and computed by one Conv, with the window's size times the stride.
//!
//! The forward values are the same numbers; what changes is the gradient. MaxPool's gradient has
//! to place each window's gradient back on the full-size grid (element-wise passes over every cell
//! of the conv's output), and the conv's weight gradient then reads that grid. Here the pooling is
//! element-wise Max over the sub-grids, whose gradient stays on the pooled size, and the stacked
//! Conv takes its weight gradient from there. Ties go to the first sub-grid in row-major order,
//! the first cell of the window, as MaxPool's own gradient gives them. For mnist_cnn's first conv
//! and pool at batch 32, forward and backward: 7.2–7.7 ms on tract as Conv and MaxPool, 4.8–5.3
//! as strided Convs; ONNX Runtime (batch 64) 10.3 against 6.1 ms.
use std::sync::Arc;

use super::PassError;
use crate::builder::Builder;
use crate::ir::{Dim, Graph, Node, Tensor};
use crate::ops::{Attrs, Binary, BinaryKind, Concat, Conv, OpError, Pad, Reshape, Slice, Split, Squeeze, Unsqueeze, shape_error};

/// Windows of more cells would stack as many copies of the conv's input.
const MAX_CELLS: usize = 9;

/// Stacking copies the conv's input once per cell of the window, which pays where the input is thin
/// (an image model's first conv) and not where it is as wide as the output: rewriting mnist_cnn's
/// second conv (32 channels) as well made the gradient shard at batch 32 on tract 28.7–37.8 ms
/// against 21.1–25.9 with the first conv alone, and the whole step on ONNX Runtime 34 against 21.5.
const MAX_INPUT_CHANNELS: usize = 8;

/// Rewrites every such Conv and MaxPool pair whose conv reads fewer than [`MAX_INPUT_CHANNELS`]
/// channels; returns how many.
pub fn pool_by_strided_convs(graph: &mut Graph) -> Result<usize, PassError> {
    let plans: Vec<(usize, Plan)> = (0..graph.nodes.len()).filter_map(|c| Plan::find(graph, c).map(|p| (c, p))).collect();
    if plans.is_empty() {
        return Ok(0);
    }
    let count = plans.len();
    let nodes = std::mem::take(&mut graph.nodes);
    let mut b = Builder::from_graph(std::mem::take(graph));
    let mut plans = plans.into_iter().peekable();
    let mut skip = vec![];
    for (i, node) in nodes.iter().enumerate() {
        if skip.contains(&i) {
            continue;
        }
        match plans.next_if(|(c, _)| *c == i) {
            Some((_, plan)) => {
                plan.emit(&mut b, node, &nodes[plan.pool]).map_err(|e| PassError::at(&node.name, e.to_string()))?;
                skip.push(plan.pool);
            }
            None => b.graph.nodes.push(node.clone()),
        }
    }
    *graph = b.graph;
    Ok(count)
}

/// What one rewrite needs to know.
struct Plan {
    pool: usize,
    conv: Conv,
    /// The window (and stride) of the pooling.
    cells: [usize; 2],
    /// The pooled output's spatial size.
    pooled: [usize; 2],
}

fn attr_ints(node: &Node, name: &str) -> Option<Vec<usize>> {
    let attributes = node.op.attributes();
    let a = Attrs { op: node.op.op_type(), list: &attributes };
    a.ints(name).map(|v| v.into_iter().map(|x| usize::try_from(x).unwrap_or(usize::MAX)).collect())
}

impl Plan {
    fn find(graph: &Graph, c: usize) -> Option<Plan> {
        let node = &graph.nodes[c];
        if node.op.op_type() != "Conv" || node.outputs.len() != 1 {
            return None;
        }
        let z = node.outputs[0];
        let x = node.inputs.first().copied().flatten()?;
        let (xt, zt) = (&graph.value(x).ty, &graph.value(z).ty);
        if xt.rank() != 4 || graph.outputs.contains(&z) || xt.shape[1].fixed()? >= MAX_INPUT_CHANNELS {
            return None;
        }
        let readers: Vec<usize> = (0..graph.nodes.len()).filter(|&n| graph.nodes[n].inputs.contains(&Some(z))).collect();
        let [pool] = readers[..] else { return None };
        let p = &graph.nodes[pool];
        if p.op.op_type() != "MaxPool" || p.outputs.len() != 1 {
            return None;
        }
        let (kernel, strides) = (attr_ints(p, "kernel_shape")?, attr_ints(p, "strides").unwrap_or(vec![1, 1]));
        let pads = attr_ints(p, "pads").unwrap_or(vec![0; 4]);
        if kernel.len() != 2 || kernel != strides || pads.iter().any(|&p| p != 0) || kernel[0] * kernel[1] > MAX_CELLS || kernel[0] * kernel[1] < 2 {
            return None;
        }
        let pooled = [zt.shape[2].fixed()? / kernel[0], zt.shape[3].fixed()? / kernel[1]];
        if pooled.contains(&0) {
            return None;
        }
        let conv = Conv {
            kernel_shape: attr_ints(node, "kernel_shape")?,
            strides: attr_ints(node, "strides").unwrap_or(vec![1, 1]),
            dilations: attr_ints(node, "dilations").unwrap_or(vec![1, 1]),
            pads: attr_ints(node, "pads").unwrap_or(vec![0; 4]),
            group: {
                let attributes = node.op.attributes();
                usize::try_from(Attrs { op: "Conv", list: &attributes }.int("group", 1).ok()?).ok()?
            },
        };
        Some(Plan { pool, conv, cells: [kernel[0], kernel[1]], pooled })
    }

    /// Emits the strided Convs and their maximum for `conv`, into `pool`'s output.
    fn emit(&self, b: &mut Builder, conv: &Node, pool: &Node) -> Result<(), OpError> {
        let ints = |b: &mut Builder, name: &str, v: &[i64]| b.constant(name, Tensor::from_i64(vec![v.len()], v));
        let name = format!("{}/subgrid", conv.name);
        b.layer = conv.layer.clone();
        let mut x = conv.inputs[0].ok_or_else(|| shape_error("Conv", "has no input"))?;
        let c = &self.conv;
        if c.pads.iter().any(|&p| p != 0) {
            let p = |i: usize| c.pads[i] as i64;
            let pads = ints(b, &format!("{name}/pads"), &[0, 0, p(0), p(1), 0, 0, p(2), p(3)]);
            x = b.node1(&format!("{name}/Pad"), Arc::new(Pad), &[x, pads])?;
        }
        let channels = b.ty(x).shape[1].clone();
        // The rows one sub-grid's conv reads: `pooled` outputs `stride · cells` apart, and a kernel.
        let span = |d: usize| c.strides[d] * self.cells[d] * (self.pooled[d] - 1) + c.dilations[d] * (c.kernel_shape[d] - 1) + 1;
        let axes = ints(b, &format!("{name}/axes"), &[2, 3]);
        let zero = ints(b, &format!("{name}/axis0"), &[0]);
        let mut grids = vec![];
        for a in 0..self.cells[0] {
            for col in 0..self.cells[1] {
                let start = [(c.strides[0] * a) as i64, (c.strides[1] * col) as i64];
                let starts = ints(b, &format!("{name}/starts"), &start);
                let ends = ints(b, &format!("{name}/ends"), &[start[0] + span(0) as i64, start[1] + span(1) as i64]);
                let grid = b.node1(&format!("{name}/Slice"), Arc::new(Slice), &[x, starts, ends, axes])?;
                grids.push(b.node1(&format!("{name}/Unsqueeze"), Arc::new(Unsqueeze), &[grid, zero])?);
            }
        }
        let stacked = b.node1(&format!("{name}/Concat"), Arc::new(Concat { axis: 0 }), &grids)?;
        let Dim::Fixed(channels) = channels else { return Err(shape_error("Conv", "the channels must be known")) };
        let flat = ints(b, &format!("{name}/shape"), &[-1, channels as i64, span(0) as i64, span(1) as i64]);
        let stacked = b.node1(&format!("{name}/Reshape"), Arc::new(Reshape), &[stacked, flat])?;
        let strided = Conv { strides: vec![c.strides[0] * self.cells[0], c.strides[1] * self.cells[1]], pads: vec![0; 4], ..c.clone() };
        let mut inputs = vec![stacked];
        inputs.extend(conv.inputs[1..].iter().flatten());
        let out = b.node1(&format!("{name}/Conv"), Arc::new(strided), &inputs)?;
        let Some(Dim::Fixed(filters)) = b.ty(out).shape.get(1).cloned() else { return Err(shape_error("Conv", "the filters must be known")) };
        let cells = self.cells[0] * self.cells[1];
        let unstack = ints(b, &format!("{name}/unstack"), &[cells as i64, -1, filters as i64, self.pooled[0] as i64, self.pooled[1] as i64]);
        let out = b.node1(&format!("{name}/Reshape"), Arc::new(Reshape), &[out, unstack])?;
        let sizes = ints(b, &format!("{name}/sizes"), &vec![1; cells]);
        let parts = b.node(&format!("{name}/Split"), Arc::new(Split { axis: 0 }), &[Some(out), Some(sizes)])?;
        b.layer = pool.layer.clone();
        let mut max = None;
        for (k, part) in parts.into_iter().enumerate() {
            let part = b.node1(&format!("{name}/Squeeze"), Arc::new(Squeeze), &[part, zero])?;
            max = Some(match max {
                None => part,
                Some(m) if k + 1 < cells => b.node1(&format!("{}/Max", pool.name), Arc::new(Binary { kind: BinaryKind::Max }), &[m, part])?,
                Some(m) => {
                    b.node_into(&format!("{}/Max", pool.name), Arc::new(Binary { kind: BinaryKind::Max }), &[m, part], &pool.outputs)?;
                    part
                }
            });
        }
        b.layer = None;
        Ok(())
    }
}
