//! Forecasting on changes: a model trained on the step-to-step changes of a series window, and on
//! the change from the window's last value to its target, becomes a model of raw windows. Trends
//! and levels the training part of a series never reached then look like the changes it did see.
use std::sync::Arc;

use super::PassError;
use crate::builder::Builder;
use crate::ir::{Dim, Graph, Tensor};
use crate::ops::{Binary, BinaryKind, Reshape, Slice};

/// The model's input `input`, (steps, features) per sample, becomes the raw window of steps + 1
/// values whose changes it reads; the model's one output (a change, one value per sample) becomes
/// that change added to the window's last value.
pub fn difference_series(graph: &mut Graph, input: &str) -> Result<(), PassError> {
    let (id, slot, ty) = super::model_input(graph, input)?;
    let [output] = graph.outputs[..] else { return Err(PassError::at(input, "differencing needs a model with one output")) };
    let (Some(steps), 3) = (ty.shape.get(1).and_then(Dim::fixed), ty.rank()) else {
        return Err(PassError::at(input, format!("needs (batch, steps, features) with known steps, got {ty}")));
    };
    if graph.value(output).ty.shape.get(1).and_then(Dim::fixed) != Some(1) || graph.value(output).ty.rank() != 2 {
        return Err(PassError::at(input, format!("the output must be one value per sample, got {}", graph.value(output).ty)));
    }
    let out_name = graph.value(output).name.clone();
    graph.values[output.0].name = format!("{out_name}/change");
    let mut raw_ty = ty;
    raw_ty.shape[1] = Dim::Fixed(steps + 1);
    let (mut b, raw, forward) = super::in_front_of_input(graph, id, slot, format!("{input}/changes"), raw_ty);
    let ints = |b: &mut Builder, name: &str, v: &[i64]| b.constant(&format!("{input}/{name}"), Tensor::from_i64(vec![v.len()], v));
    let slice = |b: &mut Builder, name: &str, from: i64, to: i64| -> Result<_, PassError> {
        let (starts, ends, axes) = (ints(b, "starts", &[from]), ints(b, "ends", &[to]), ints(b, "axes", &[1]));
        b.node1(&format!("{input}/{name}"), Arc::new(Slice), &[raw, starts, ends, axes]).map_err(|e| PassError::at(input, e.to_string()))
    };
    let (later, earlier) = (slice(&mut b, "later", 1, steps as i64 + 1)?, slice(&mut b, "earlier", 0, steps as i64)?);
    b.node_into(&format!("{input}/difference"), Arc::new(Binary { kind: BinaryKind::Sub }), &[later, earlier], &[id])
        .map_err(|e| PassError::at(input, e.to_string()))?;
    let last = slice(&mut b, "last", steps as i64, steps as i64 + 1)?;
    let per_sample = ints(&mut b, "per_sample", &[0, -1]);
    let last = b.node1(&format!("{input}/last_value"), Arc::new(Reshape), &[last, per_sample]).map_err(|e| PassError::at(input, e.to_string()))?;
    // Nodes so far read `raw`; the model's own follow, then the output's.
    b.graph.nodes.extend(forward);
    let sum = b
        .node1(&format!("{out_name}/add_last"), Arc::new(Binary { kind: BinaryKind::Add }), &[output, last])
        .map_err(|e| PassError::at(&out_name, e.to_string()))?;
    b.graph.values[sum.0].name = out_name;
    b.graph.outputs = vec![sum];
    *graph = b.graph;
    Ok(())
}
