//! fp16 weight packing: every float32 weight of a model stored as float16 (IEEE half, the `half`
//! crate) and followed by a Cast back to float32, so that engines still compute in float32 while the
//! file takes half the bytes. A weight with values beyond float16's range (|x| > 65504) stays float32
//! and is reported rather than clipped; nonzero values below float16's smallest subnormal (about
//! 6e-8), which become zero, are counted and reported.
use std::sync::Arc;

use half::f16;

use super::PassError;
use crate::builder::Builder;
use crate::ir::{DType, Graph, Tensor, ValueId};
use crate::ops::Cast;

/// Weights smaller than this stay float32: a Cast node and a second name take about 100 bytes of the
/// file, more than packing a few dozen values saves.
pub const MIN_ELEMENTS: usize = 256;

/// What packing did, for the report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Packed {
    /// Weights now stored as float16, and their element count.
    pub packed: Vec<String>,
    pub elements: usize,
    /// Weights kept in float32 because a value is beyond float16's range: (name, largest |value|).
    pub out_of_range: Vec<(String, f32)>,
    /// Nonzero values that float16 rounds to zero: (name, how many).
    pub flushed: Vec<(String, usize)>,
}

impl Packed {
    /// One line for each weight float16 could not hold as it was.
    pub fn notes(&self) -> Vec<String> {
        let kept = self
            .out_of_range
            .iter()
            .map(|(name, largest)| format!("kept `{name}` in float32: its largest |value| {largest:e} is beyond float16's 65504"));
        let flushed =
            self.flushed.iter().map(|(name, count)| format!("`{name}`: {count} nonzero values below float16's smallest (about 6e-8) became 0"));
        kept.chain(flushed).collect()
    }
}

/// Packs every float32 weight of at least `MIN_ELEMENTS` values, in place.
pub fn pack_fp16(graph: &mut Graph) -> Result<Packed, PassError> {
    let mut report = Packed::default();
    let candidates: Vec<ValueId> = graph
        .values
        .iter()
        .enumerate()
        // Weights only: constants such as a baked-in standardization keep their precision.
        .filter(|(_, v)| v.param.is_some() && v.init.as_ref().is_some_and(|t| t.dtype == DType::F32 && t.len() >= MIN_ELEMENTS))
        .map(|(i, _)| ValueId(i))
        .collect();
    let forward = std::mem::take(&mut graph.nodes);
    let mut b = Builder::from_graph(std::mem::take(graph));
    for id in candidates {
        let value = b.graph.values[id.0].clone();
        let Some(values) = value.init.as_ref().and_then(Tensor::as_f32) else { continue };
        let (halves, flushed) = match to_halves(&values) {
            Halves::Fit { bytes, flushed } => (bytes, flushed),
            Halves::OutOfRange { largest } => {
                report.out_of_range.push((value.name.clone(), largest));
                continue;
            }
        };
        if flushed > 0 {
            report.flushed.push((value.name.clone(), flushed));
        }
        let dims = value.init.as_ref().map(|t| t.dims.clone()).unwrap_or_default();
        let stored = Tensor { dtype: DType::F16, dims, data: halves };
        // The half-precision initializer takes a name of its own; a Cast gives the float32 value its
        // old name, so every node reading it stays as it was.
        let half_name = b.unique(&format!("{}/fp16", value.name));
        // A packed model is for running: its weights become constants (export lists them so, and
        // training it again leaves them alone).
        let half = b.graph.add_value(crate::ir::Value { name: half_name.clone(), ty: stored.ty(), init: Some(stored), param: None });
        b.graph.values[id.0].init = None;
        b.graph.values[id.0].param = None;
        b.node_into(&format!("{half_name}/cast"), Arc::new(Cast { to: DType::F32 }), &[half], &[id])
            .map_err(|e| PassError::at(&value.name, e.to_string()))?;
        report.packed.push(value.name);
        report.elements += values.len();
    }
    *graph = b.graph;
    graph.nodes.extend(forward);
    Ok(report)
}

/// Float32 values as float16 would hold them.
pub(crate) enum Halves {
    /// Little-endian float16 bytes, and how many nonzero values became zero.
    Fit { bytes: Vec<u8>, flushed: usize },
    /// A finite value is beyond float16's 65504 (infinities and NaN float16 holds as they are).
    OutOfRange { largest: f32 },
}

pub(crate) fn to_halves(values: &[f32]) -> Halves {
    let largest = values.iter().filter(|v| v.is_finite()).fold(0.0f32, |m, v| m.max(v.abs()));
    if largest > f16::MAX.to_f32() {
        return Halves::OutOfRange { largest };
    }
    let halves: Vec<f16> = values.iter().map(|&v| f16::from_f32(v)).collect();
    let flushed = values.iter().zip(&halves).filter(|(v, h)| **v != 0.0 && h.to_f32() == 0.0).count();
    Halves::Fit { bytes: halves.iter().flat_map(|h| h.to_le_bytes()).collect(), flushed }
}
