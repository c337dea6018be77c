//! Training graphs compute only the rows and columns something reads. A window op (Conv, MaxPool,
//! AveragePool) whose windows stop short of its input's last rows or columns leaves them unread,
//! and with them whatever made only them: mnist_cnn's second pool reads 10 of its conv's 11 rows,
//! that conv 12 of the first pool's 13, so the first pool needs 24 of its conv's 26 and that conv
//! 26 of the image's 28. The pass finds, from the graph's outputs back, how many leading cells of
//! each map along each spatial axis are read, then has window ops and the element-wise unary ops
//! between them (Relu after a pooling, say) make only those. A map that cannot shrink (a graph
//! input, the output of any other op, one read whole elsewhere) is cut by a Slice in front of the
//! window op that reads less of it.
//!
//! The forward values are the same numbers; every op on the way, and its gradient, shrinks by the
//! unread share, which `cargo bench --bench train_step` (mnist_cnn's gradient shard) measures
//! against a form that cuts only a conv read by a pooling.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::PassError;
use super::pairs::typed;
use crate::builder::Builder;
use crate::ir::{Dim, Graph, Node, Tensor, ValueId};
use crate::ops::{Conv, Op, OpError, Pool, PoolKind, Slice, Unary, UnaryKind};

/// Rewrites every window op that can compute less; returns how many now compute less.
pub fn crop_unread(graph: &mut Graph) -> Result<usize, PassError> {
    let read = read_cells(graph);
    let nodes = std::mem::take(&mut graph.nodes);
    let mut b = Builder::from_graph(std::mem::take(graph));
    let mut cropped = 0;
    for node in nodes {
        let window = Window::of(&node);
        let before = node.outputs.first().map(|&o| b.graph.value(o).ty.clone());
        let emitted = match &window {
            Some(w) => w.emit(&mut b, &node, &read).map_err(|e| PassError::at(&node.name, e.to_string()))?,
            None => false,
        };
        let first = node.outputs.first().copied();
        if !emitted {
            // Element-wise ops and windows that need no cut follow their input's size; every other
            // op reads its inputs whole, and those kept their sizes.
            let types = b.graph.infer(node.op.as_ref(), &node.inputs).map_err(|e| PassError::at(&node.name, e.to_string()))?;
            for (ty, &out) in types.into_iter().zip(&node.outputs) {
                b.graph.values[out.0].ty = ty;
            }
            b.graph.nodes.push(node);
        }
        if window.is_some() && (emitted || before.as_ref() != first.map(|o| &b.graph.value(o).ty)) {
            cropped += 1;
        }
    }
    *graph = b.graph;
    Ok(cropped)
}

/// A map's spatial sizes (N, C, spatial...), where all are known.
fn spatial(graph: &Graph, v: ValueId) -> Option<Vec<usize>> {
    let shape = &graph.value(v).ty.shape;
    if shape.len() < 3 {
        return None;
    }
    shape[2..].iter().map(Dim::fixed).collect()
}

/// Whether `node` computes each output cell from the same cell of its one input.
fn is_elementwise(node: &Node) -> bool {
    node.inputs.len() == 1 && node.outputs.len() == 1 && UnaryKind::ALL.iter().any(|&k| Unary::new(k).op_type() == node.op.op_type())
}

/// For each map some reader reads only in part, how many leading cells of each spatial axis are
/// read. Maps absent are read whole.
fn read_cells(graph: &Graph) -> HashMap<ValueId, Vec<usize>> {
    let mut whole: HashSet<ValueId> = graph.outputs.iter().copied().collect();
    let mut part: HashMap<ValueId, Vec<usize>> = HashMap::new();
    // Readers come after the nodes they read, so going backwards each output is complete.
    for node in graph.nodes.iter().rev() {
        let out_cells = node.outputs.first().and_then(|&o| {
            let all = spatial(graph, o)?;
            // An output nothing reads keeps its size.
            Some(if whole.contains(&o) { all } else { part.get(&o).cloned().unwrap_or(all) })
        });
        let first = match (Window::of(node), out_cells) {
            (Some(w), Some(cells)) => w.input_cells(graph, &node.inputs, &cells),
            (None, Some(cells)) if is_elementwise(node) => Some(cells),
            _ => None,
        };
        for (i, v) in node.inputs.iter().flatten().enumerate() {
            match (i, &first) {
                (0, Some(cells)) => {
                    let entry = part.entry(*v).or_insert_with(|| vec![0; cells.len()]);
                    for (e, &c) in entry.iter_mut().zip(cells) {
                        *e = (*e).max(c);
                    }
                }
                _ => {
                    whole.insert(*v);
                }
            }
        }
    }
    part.retain(|v, cells| !whole.contains(v) && spatial(graph, *v).is_some_and(|all| all != *cells));
    part
}

/// A window op, typed.
enum Window {
    Conv(Conv),
    Pool(Pool),
}

impl Window {
    fn of(node: &Node) -> Option<Window> {
        if node.outputs.len() != 1 {
            return None;
        }
        match node.op.op_type() {
            "Conv" => typed(node, Conv::parse).map(Window::Conv),
            "MaxPool" => typed(node, |a| Pool::parse(PoolKind::Max, a)).map(Window::Pool),
            "AveragePool" => typed(node, |a| Pool::parse(PoolKind::Average, a)).map(Window::Pool),
            _ => None,
        }
    }

    /// Kernel, strides, dilations and pads (all begins, then all ends).
    fn geometry(&self) -> (&[usize], &[usize], Vec<usize>, &[usize]) {
        match self {
            Window::Conv(c) => (&c.kernel_shape, &c.strides, c.dilations.clone(), &c.pads),
            Window::Pool(p) => (&p.kernel_shape, &p.strides, vec![1; p.kernel_shape.len()], &p.pads),
        }
    }

    /// Per spatial axis, the padded input the first `out` outputs see, from the padded start.
    fn seen(&self, out: &[usize]) -> Vec<usize> {
        let (kernel, strides, dilations, _) = self.geometry();
        (0..kernel.len()).map(|d| strides[d] * (out[d] - 1) + dilations[d] * (kernel[d] - 1) + 1).collect()
    }

    /// How many leading cells of its input the first `out` outputs read per axis; `None` where that
    /// is not known (or the windows would read only padding).
    fn input_cells(&self, graph: &Graph, inputs: &[Option<ValueId>], out: &[usize]) -> Option<Vec<usize>> {
        let x = inputs.first().copied().flatten()?;
        let input = spatial(graph, x)?;
        let (kernel, _, _, pads) = self.geometry();
        if input.len() != kernel.len() || out.len() != kernel.len() || out.contains(&0) {
            return None;
        }
        let seen = self.seen(out);
        (0..kernel.len()).map(|d| seen[d].checked_sub(pads[d]).filter(|&c| c > 0).map(|c| c.min(input[d]))).collect()
    }

    /// The same op with other end pads.
    fn with_end_pads(&self, ends: &[usize]) -> Arc<dyn Op> {
        let rank = ends.len();
        let pads = |old: &[usize]| old[..rank].iter().chain(ends).copied().collect();
        match self {
            Window::Conv(c) => Arc::new(Conv { pads: pads(&c.pads), ..c.clone() }),
            Window::Pool(p) => Arc::new(Pool { pads: pads(&p.pads), ..p.clone() }),
        }
    }

    /// Emits the op computing only the outputs `read` says are read, its input cut first where it
    /// holds more than those outputs see; false (nothing emitted) where the op as it is does that.
    fn emit(&self, b: &mut Builder, node: &Node, read: &HashMap<ValueId, Vec<usize>>) -> Result<bool, OpError> {
        let (Some(x), out) = (node.inputs.first().copied().flatten(), node.outputs[0]) else { return Ok(false) };
        let (Some(have), Some(all)) = (spatial(&b.graph, x), spatial(&b.graph, out)) else { return Ok(false) };
        let (kernel, _, _, pads) = self.geometry();
        let rank = kernel.len();
        if have.len() != rank || all.len() != rank {
            return Ok(false);
        }
        // An op whose outputs are all read computes them as it is: on an input its producer cut to
        // what it reads, its windows still fit.
        let Some(target) = read.get(&out).cloned() else { return Ok(false) };
        let seen = self.seen(&target);
        let mut cut = vec![];
        let mut ends = vec![0; rank];
        for d in 0..rank {
            // What the target outputs see past the begin padding: part of the input, then padding.
            let Some(past) = seen[d].checked_sub(pads[d]).filter(|&p| p > 0) else { return Ok(false) };
            if past < have[d] {
                cut.push((d + 2, past));
            }
            ends[d] = past.saturating_sub(have[d]);
        }
        if cut.is_empty() && ends == pads[rank..] {
            return Ok(false);
        }
        b.layer = node.layer.clone();
        let mut inputs: Vec<ValueId> = node.inputs.iter().flatten().copied().collect();
        if !cut.is_empty() {
            let name = format!("{}/cropped", node.name);
            let ints = |b: &mut Builder, part: &str, v: Vec<i64>| b.constant(&format!("{name}/{part}"), Tensor::from_i64(vec![v.len()], &v));
            let starts = ints(b, "starts", vec![0; cut.len()]);
            let ends = ints(b, "ends", cut.iter().map(|c| c.1 as i64).collect());
            let axes = ints(b, "axes", cut.iter().map(|c| c.0 as i64).collect());
            inputs[0] = b.node1(&format!("{name}/Slice"), Arc::new(Slice), &[inputs[0], starts, ends, axes])?;
        }
        let op = self.with_end_pads(&ends);
        let types = b.graph.infer(op.as_ref(), &inputs.iter().copied().map(Some).collect::<Vec<_>>())?;
        if let Some(ty) = types.into_iter().next() {
            b.graph.values[out.0].ty = ty;
        }
        b.node_into(&node.name, op, &inputs, &node.outputs)?;
        b.layer = None;
        Ok(true)
    }
}
