//! `embedding`: a trainable (input_dim, output_dim) table looked up by integer ids (Gather).
use std::sync::Arc;

use super::{Layer, LayerCx, LayerError, parse};
use crate::init::Init;
use crate::ir::{DType, ValueId};
use crate::ops::Gather;
use crate::spec::raw::RawLayer;

#[derive(Debug)]
pub struct Embedding {
    input_dim: usize,
    output_dim: usize,
    init: Init,
}

pub fn parse(raw: &RawLayer) -> Result<Box<dyn Layer>, LayerError> {
    Ok(Box::new(Embedding {
        input_dim: parse::positive(parse::required(&raw.input_dim, "input_dim")?, "input_dim")?,
        output_dim: parse::positive(parse::required(&raw.output_dim, "output_dim")?, "output_dim")?,
        // Keras' embeddings_initializer default, "uniform": U(-0.05, 0.05).
        init: parse::init(&raw.init, "uniform", "init")?,
    }))
}

impl Layer for Embedding {
    fn keras_type(&self) -> &'static str {
        "Embedding"
    }

    fn lower(&self, cx: &mut LayerCx, inputs: &[ValueId]) -> Result<ValueId, LayerError> {
        let ids = inputs[0];
        let dtype = cx.b.ty(ids).dtype;
        if !matches!(dtype, DType::I64 | DType::I32) {
            return Err(LayerError { field: None, message: format!("needs integer ids (give the input dtype = \"int64\"), got {dtype}") });
        }
        let shape = [self.input_dim, self.output_dim];
        let table = cx.draw("embeddings", &self.init, &shape)?;
        let w = cx.param("embeddings", shape.to_vec(), &table, true, None);
        cx.node(Arc::new(Gather { axis: 0 }), &[w, ids])
    }
}
