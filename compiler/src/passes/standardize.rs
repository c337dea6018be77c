//! Baking feature standardization into a model: `(x − mean) / scale` become its first nodes, so the
//! trained model takes raw features, as the data it was trained on was before scaling.
use std::sync::Arc;

use super::PassError;
use crate::builder::Builder;
use crate::ir::{Graph, Tensor};
use crate::ops::{Binary, BinaryKind};

/// Prepends `(x − mean) / scale` to the input named `input`; `mean` and `scale` hold one value per
/// element of a sample.
pub fn prepend_standardization(graph: &mut Graph, input: &str, mean: &[f32], scale: &[f32]) -> Result<(), PassError> {
    let sample = sample_shape(graph, input)?;
    let n: usize = sample.iter().product();
    if mean.len() != n || scale.len() != n {
        return Err(PassError::at(input, format!("{n} values per sample, but {} means and {} scales", mean.len(), scale.len())));
    }
    prepend(graph, input, Tensor::from_f32(sample.clone(), mean), Tensor::from_f32(sample, scale))
}

/// Prepends `(x − mean) / std` per channel, the input's axis `channel_axis` (1 for NCHW, the last
/// for NHWC), as an image model's input normalization; one value for every channel, or one for all.
pub fn prepend_channel_normalization(graph: &mut Graph, input: &str, mean: &[f32], std: &[f32], channel_axis: usize) -> Result<(), PassError> {
    let sample = sample_shape(graph, input)?;
    let axis = channel_axis.saturating_sub(1).min(sample.len().saturating_sub(1));
    let channels = sample.get(axis).copied().unwrap_or(1);
    if mean.len() != std.len() || !(mean.len() == channels || mean.len() == 1) {
        return Err(PassError::at(input, format!("{channels} channels, but {} means and {} standard deviations", mean.len(), std.len())));
    }
    // One value per channel on the channel axis, broadcast over the others.
    let dims: Vec<usize> = (0..sample.len().max(1)).map(|i| if i == axis { mean.len() } else { 1 }).collect();
    prepend(graph, input, Tensor::from_f32(dims.clone(), mean), Tensor::from_f32(dims, std))
}

fn sample_shape(graph: &Graph, input: &str) -> Result<Vec<usize>, PassError> {
    let (_, _, ty) = super::model_input(graph, input)?;
    let sample: Option<Vec<usize>> = ty.shape[1..].iter().map(|d| d.fixed()).collect();
    sample.ok_or_else(|| PassError::at(input, "needs a known sample shape"))
}

/// `(x − mean) / scale` in front of the input, `mean` and `scale` broadcasting against a sample.
fn prepend(graph: &mut Graph, input: &str, mean: Tensor, scale: Tensor) -> Result<(), PassError> {
    let (id, slot, ty) = super::model_input(graph, input)?;
    // The raw input takes the standardized one's place among the inputs.
    let (mut b, raw, forward) = super::in_front_of_input(graph, id, slot, format!("{input}/standardized"), ty);
    let mean = b.constant(&format!("{input}/mean"), mean);
    let scale = b.constant(&format!("{input}/scale"), scale);
    let centred = b
        .node1(&format!("{input}/center"), Arc::new(Binary { kind: BinaryKind::Sub }), &[raw, mean])
        .map_err(|e| PassError::at(input, e.to_string()))?;
    b.node_into(&format!("{input}/scale"), Arc::new(Binary { kind: BinaryKind::Div }), &[centred, scale], &[id])
        .map_err(|e| PassError::at(input, e.to_string()))?;
    *graph = b.graph;
    graph.nodes.extend(forward);
    Ok(())
}

/// Appends `y · scale + mean` to the model's only output, so that a model trained on standardized
/// targets answers in their units.
pub fn append_unscaling(graph: &mut Graph, mean: f32, scale: f32) -> Result<(), PassError> {
    let [output] = graph.outputs[..] else { return Err(PassError::at(&graph.name, "unscaling needs a model with one output")) };
    let name = graph.value(output).name.clone();
    graph.values[output.0].name = format!("{name}/standardized");
    let mut b = Builder::from_graph(std::mem::take(graph));
    let (k, m) = (b.constant(&format!("{name}/scale"), Tensor::scalar_f32(scale)), b.constant(&format!("{name}/mean"), Tensor::scalar_f32(mean)));
    let scaled = b
        .node1(&format!("{name}/unscale"), Arc::new(Binary { kind: BinaryKind::Mul }), &[output, k])
        .map_err(|e| PassError::at(&name, e.to_string()))?;
    let out = b
        .node1(&format!("{name}/uncenter"), Arc::new(Binary { kind: BinaryKind::Add }), &[scaled, m])
        .map_err(|e| PassError::at(&name, e.to_string()))?;
    b.graph.values[out.0].name = name;
    b.graph.outputs = vec![out];
    *graph = b.graph;
    Ok(())
}
