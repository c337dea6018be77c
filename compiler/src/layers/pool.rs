//! `maxpool2d`, `avgpool2d` (Keras' MaxPooling2D / AveragePooling2D) and `global_avg_pool`.
use std::sync::Arc;

use super::parse::{self, Padding};
use super::{Layer, LayerCx, LayerError};
use crate::ir::ValueId;
use crate::ops::{Flatten, GlobalAveragePool, Pool as PoolOp, PoolKind};
use crate::spec::raw::RawLayer;

pub const FIELDS: &[&str] = &["size", "stride", "padding"];

#[derive(Debug)]
pub struct Pool {
    kind: PoolKind,
    size: Vec<usize>,
    stride: Vec<usize>,
    padding: Padding,
}

pub fn parse(raw: &RawLayer, kind: PoolKind) -> Result<Box<dyn Layer>, LayerError> {
    let size = parse::per_axis(&raw.size, Some(vec![2, 2]), 2, "size")?;
    // Keras: the stride defaults to the pool size.
    let stride = parse::per_axis(&raw.stride, Some(size.clone()), 2, "stride")?;
    Ok(Box::new(Pool { kind, size, stride, padding: parse::padding(&raw.padding)? }))
}

impl Layer for Pool {
    fn keras_type(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "MaxPooling2D",
            PoolKind::Average => "AveragePooling2D",
        }
    }

    fn lower(&self, cx: &mut LayerCx, inputs: &[ValueId]) -> Result<ValueId, LayerError> {
        let x = inputs[0];
        let ty = cx.b.ty(x).clone();
        let spatial: Vec<usize> = ty.shape.iter().skip(2).filter_map(|d| d.fixed()).collect();
        if ty.rank() != 4 || spatial.len() != 2 {
            return Err(LayerError { field: None, message: format!("needs inputs shaped (channels, height, width), got {}", ty.keras_shape()) });
        }
        let pads = parse::pads(self.padding, &spatial, &self.size, &self.stride, &[1, 1]).map_err(|m| LayerError::field("size", m))?;
        let op = PoolOp {
            kind: self.kind,
            kernel_shape: self.size.clone(),
            strides: self.stride.clone(),
            pads,
            // Keras averages over the cells inside the map only.
            count_include_pad: false,
        };
        cx.node(Arc::new(op), &[x])
    }
}

/// Keras' GlobalAveragePooling: (N, C, ...) to (N, C).
#[derive(Debug)]
pub struct GlobalAvgPool;

impl Layer for GlobalAvgPool {
    fn keras_type(&self) -> &'static str {
        "GlobalAveragePooling"
    }

    fn lower(&self, cx: &mut LayerCx, inputs: &[ValueId]) -> Result<ValueId, LayerError> {
        let pooled = cx.node(Arc::new(GlobalAveragePool), &[inputs[0]])?;
        cx.node(Arc::new(Flatten { axis: 1 }), &[pooled])
    }
}
