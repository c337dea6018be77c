//! A Conv read only by a MaxPool whose windows tile its output (stride = kernel, no padding)
//! becomes, in training graphs, the maximum of the conv's q² sub-grids: sub-grid (a, b) holds the
//! outputs at rows q·i + a and columns q·j + b. Each is a conv with q times the stride whose kernel
//! is the original shifted by (s·a, s·b) inside a larger one, so one Conv with q² times the filters
//! computes them all from the same input, and a Reshape and Split take them apart.
//!
//! The forward values are the same numbers; what changes is the gradient. MaxPool's gradient has
//! to place each window's gradient back on the full-size grid (element-wise passes over every cell
//! of the conv's output), and the conv's weight gradient then reads that grid. Here the pooling is
//! element-wise Max over the sub-grids, whose gradient stays on the pooled size, and the shifted
//! kernels' gradients are sliced back and summed into the kernel's. Ties go to the first sub-grid
//! in row-major order, the first cell of the window, as MaxPool's own gradient gives them. For
//! mnist_cnn's first conv and pool, forward and backward, the shifted kernels take less than half
//! the time of Conv and MaxPool on tract and about half on ONNX Runtime (`cargo bench --bench
//! train_step`).
use std::sync::Arc;

use super::PassError;
use super::pairs::{replace_pairs, sole_reader, typed};
use crate::builder::Builder;
use crate::ir::{Graph, Node, Tensor};
use crate::ops::{Binary, BinaryKind, Concat, Conv, OpError, Pad, Pool, PoolKind, Reshape, Split, Squeeze, shape_error};

use crate::train::tuning::{SUBGRID_MAX_CELLS as MAX_CELLS, SUBGRID_MAX_INPUT_CHANNELS as MAX_INPUT_CHANNELS};

/// Rewrites every such Conv and MaxPool pair whose conv reads fewer than [`MAX_INPUT_CHANNELS`]
/// channels; returns how many.
pub fn pool_by_strided_convs(graph: &mut Graph) -> Result<usize, PassError> {
    let plans = (0..graph.nodes.len()).filter_map(|c| Plan::find(graph, c).map(|p| (c, p.pool, p))).collect();
    replace_pairs(graph, plans, Plan::emit)
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

impl Plan {
    fn find(graph: &Graph, c: usize) -> Option<Plan> {
        let node = &graph.nodes[c];
        if node.op.op_type() != "Conv" || node.outputs.len() != 1 {
            return None;
        }
        let z = node.outputs[0];
        let x = node.inputs.first().copied().flatten()?;
        let (xt, zt) = (&graph.value(x).ty, &graph.value(z).ty);
        if xt.rank() != 4 || xt.shape[1].fixed()? >= MAX_INPUT_CHANNELS {
            return None;
        }
        let pool = sole_reader(graph, z)?;
        let p = &graph.nodes[pool];
        if p.op.op_type() != "MaxPool" || p.outputs.len() != 1 {
            return None;
        }
        let window = typed(p, |a| Pool::parse(PoolKind::Max, a))?;
        let kernel = &window.kernel_shape;
        if kernel.len() != 2
            || *kernel != window.strides
            || window.pads.iter().any(|&p| p != 0)
            || kernel[0] * kernel[1] > MAX_CELLS
            || kernel[0] * kernel[1] < 2
        {
            return None;
        }
        let pooled = [zt.shape[2].fixed()? / kernel[0], zt.shape[3].fixed()? / kernel[1]];
        if pooled.contains(&0) {
            return None;
        }
        let conv = typed(node, Conv::parse)?;
        // A dilated or grouped kernel does not embed in a larger one by padding.
        if conv.dilations.iter().any(|&d| d != 1) || conv.group != 1 || conv.kernel_shape.len() != 2 {
            return None;
        }
        Some(Plan { pool, conv, cells: [kernel[0], kernel[1]], pooled })
    }

    /// Emits the conv of shifted kernels and the maximum of its sub-grids, into `pool`'s output.
    fn emit(&self, b: &mut Builder, conv: &Node, pool: &Node) -> Result<(), OpError> {
        let ints = |b: &mut Builder, name: &str, v: &[i64]| b.constant(name, Tensor::from_i64(vec![v.len()], v));
        let name = format!("{}/subgrid", conv.name);
        b.layer = conv.layer.clone();
        let (x, w) = match conv.inputs[..] {
            [Some(x), Some(w), ..] => (x, w),
            _ => return Err(shape_error("Conv", "has no input or no weights")),
        };
        let c = &self.conv;
        let cells = self.cells[0] * self.cells[1];
        // Sub-grid (a, b) reads the input from (s·a, s·b) on: its kernel sits there in one of
        // s·(q − 1) + k cells a side.
        let size = |d: usize| c.strides[d] * (self.cells[d] - 1) + c.kernel_shape[d];
        let mut kernels = vec![];
        for a in 0..self.cells[0] {
            for col in 0..self.cells[1] {
                let (top, left) = ((c.strides[0] * a) as i64, (c.strides[1] * col) as i64);
                let (bottom, right) = ((size(0) - c.kernel_shape[0]) as i64 - top, (size(1) - c.kernel_shape[1]) as i64 - left);
                let pads = ints(b, &format!("{name}/shift"), &[0, 0, top, left, 0, 0, bottom, right]);
                kernels.push(b.node1(&format!("{name}/Pad"), Arc::new(Pad), &[w, pads])?);
            }
        }
        let kernel = b.node1(&format!("{name}/kernels"), Arc::new(Concat { axis: 0 }), &kernels)?;
        let mut inputs = vec![x, kernel];
        if let Some(bias) = conv.inputs.get(2).copied().flatten() {
            inputs.push(b.node1(&format!("{name}/biases"), Arc::new(Concat { axis: 0 }), &vec![bias; cells])?);
        }
        let shifted =
            Conv { kernel_shape: vec![size(0), size(1)], strides: vec![c.strides[0] * self.cells[0], c.strides[1] * self.cells[1]], ..c.clone() };
        let out = b.node1(&format!("{name}/Conv"), Arc::new(shifted), &inputs)?;
        let filters = b.ty(w).shape[0].fixed().ok_or_else(|| shape_error("Conv", "the filters must be known"))?;
        let apart = ints(b, &format!("{name}/apart"), &[0, cells as i64, filters as i64, self.pooled[0] as i64, self.pooled[1] as i64]);
        let out = b.node1(&format!("{name}/Reshape"), Arc::new(Reshape), &[out, apart])?;
        let sizes = ints(b, &format!("{name}/sizes"), &vec![1; cells]);
        let parts = b.node(&format!("{name}/Split"), Arc::new(Split { axis: 1 }), &[Some(out), Some(sizes)])?;
        let axis = ints(b, &format!("{name}/axis"), &[1]);
        let parts =
            parts.into_iter().map(|part| b.node1(&format!("{name}/Squeeze"), Arc::new(Squeeze), &[part, axis])).collect::<Result<Vec<_>, _>>()?;
        // The parts in row-major order of the window, so that Max's ties go to its first cell.
        b.layer = pool.layer.clone();
        let max = |b: &mut Builder, m, part| b.node1(&format!("{}/Max", pool.name), Arc::new(Binary { kind: BinaryKind::Max }), &[m, part]);
        let (last, rest) = parts.split_last().ok_or_else(|| shape_error("MaxPool", "has no cells"))?;
        let mut m = rest[0];
        for &part in &rest[1..] {
            m = max(b, m, part)?;
        }
        b.node_into(&format!("{}/Max", pool.name), Arc::new(Binary { kind: BinaryKind::Max }), &[m, *last], &pool.outputs)?;
        b.layer = None;
        Ok(())
    }
}
