//! Relu then MaxPool becomes MaxPool then Relu in training graphs. A max commutes with any
//! non-decreasing function, so the forward values are the same, and so is the gradient: where a
//! window's maximum is positive both orders route it to the same first maximal cell; where it is
//! not, the slope is 0 either way. After the swap the Relu and its gradient run on the pooled map,
//! a quarter of the cells for 2x2 pooling (`cargo bench --bench train_step`, mnist_cnn).
use crate::ir::Graph;

/// Swaps every Relu whose only reader is a MaxPool (and which is no graph output) with that MaxPool.
/// Returns how many pairs it swapped.
pub fn pool_before_relu(graph: &mut Graph) -> usize {
    let mut swapped = 0;
    for relu in 0..graph.nodes.len() {
        if graph.nodes[relu].op.op_type() != "Relu" {
            continue;
        }
        let r = graph.nodes[relu].outputs[0];
        let Some(pool) = super::pairs::sole_reader(graph, r) else { continue };
        let p = &graph.nodes[pool];
        // MaxPool's second output (Indices) would change meaning; only the plain form is swapped.
        if p.op.op_type() != "MaxPool" || p.outputs.len() != 1 {
            continue;
        }
        let (x, y) = (graph.nodes[relu].inputs[0], p.outputs[0]);
        // The MaxPool now reads x where the Relu stood, into the old Relu value (now pooled); the
        // Relu reads that where the MaxPool stood, into the MaxPool's output, which its readers keep.
        graph.nodes[relu].inputs = vec![Some(r)];
        graph.nodes[relu].outputs = vec![y];
        graph.nodes[pool].inputs = vec![x];
        graph.nodes[pool].outputs = vec![r];
        graph.nodes.swap(relu, pool);
        graph.values[r.0].ty = graph.values[y.0].ty.clone();
        swapped += 1;
    }
    swapped
}
