//! `conv1d` and `conv2d`: Keras' Conv1D/Conv2D on channels-first maps, lowered to one Conv node with
//! explicit pads (Keras' `same` puts the odd padding cell at the end).
use std::sync::Arc;

use super::parse::{self, Padding};
use super::{Activation, Layer, LayerCx, LayerError};
use crate::init::Init;
use crate::ir::{Dim, Regularizer, ValueId};
use crate::ops::Conv as ConvOp;
use crate::spec::raw::RawLayer;

pub const FIELDS: &[&str] =
    &["filters", "kernel", "stride", "padding", "dilation", "groups", "activation", "use_bias", "init", "bias_init", "regularizer"];

#[derive(Debug)]
pub struct Conv {
    rank: usize,
    filters: usize,
    kernel: Vec<usize>,
    stride: Vec<usize>,
    dilation: Vec<usize>,
    padding: Padding,
    groups: usize,
    activation: Activation,
    use_bias: bool,
    init: Init,
    bias_init: Init,
    regularizer: Option<Regularizer>,
}

pub fn parse(raw: &RawLayer, rank: usize) -> Result<Box<dyn Layer>, LayerError> {
    let ones = Some(vec![1; rank]);
    let conv = Conv {
        rank,
        filters: parse::positive(parse::required(&raw.filters, "filters")?, "filters")?,
        kernel: parse::per_axis(&raw.kernel, None, rank, "kernel")?,
        stride: parse::per_axis(&raw.stride, ones.clone(), rank, "stride")?,
        dilation: parse::per_axis(&raw.dilation, ones, rank, "dilation")?,
        padding: parse::padding(&raw.padding)?,
        groups: parse::positive(raw.groups.unwrap_or(1), "groups")?,
        activation: Activation::field(&raw.activation)?,
        use_bias: raw.use_bias.unwrap_or(true),
        init: parse::init(&raw.init, "glorot_uniform", "init")?,
        bias_init: parse::init(&raw.bias_init, "zeros", "bias_init")?,
        regularizer: parse::regularizer(&raw.regularizer)?,
    };
    if !conv.filters.is_multiple_of(conv.groups) {
        return Err(LayerError::field("groups", format!("{} filters do not split into {} groups", conv.filters, conv.groups)));
    }
    // Keras refuses strides above 1 together with dilation above 1; so does onyx.
    if conv.stride.iter().any(|&s| s > 1) && conv.dilation.iter().any(|&d| d > 1) {
        return Err(LayerError::field("dilation", "a dilation above 1 cannot be combined with a stride above 1"));
    }
    Ok(Box::new(conv))
}

impl Layer for Conv {
    fn keras_type(&self) -> &'static str {
        if self.rank == 1 { "Conv1D" } else { "Conv2D" }
    }

    fn lower(&self, cx: &mut LayerCx, inputs: &[ValueId]) -> Result<ValueId, LayerError> {
        let x = inputs[0];
        let ty = cx.b.ty(x).clone();
        let dims: Option<Vec<usize>> = (ty.rank() == self.rank + 2).then(|| ty.shape[1..].iter().map(Dim::fixed).collect()).flatten();
        let dims = match dims {
            Some(d) => d,
            _ => {
                let want = if self.rank == 1 { "(channels, length)" } else { "(channels, height, width)" };
                return Err(LayerError { field: None, message: format!("needs inputs shaped {want}, got {}", ty.keras_shape()) });
            }
        };
        let (channels, spatial) = (dims[0], &dims[1..]);
        if channels % self.groups != 0 {
            return Err(LayerError::field("groups", format!("{channels} input channels do not split into {} groups", self.groups)));
        }
        let pads = parse::pads(self.padding, spatial, &self.kernel, &self.stride, &self.dilation).map_err(|m| LayerError::field("kernel", m))?;
        // Keras layout (kernel..., in/groups, filters), transposed to ONNX's (filters, in/groups, kernel...).
        let per_group = channels / self.groups;
        let mut keras_shape = self.kernel.clone();
        keras_shape.extend([per_group, self.filters]);
        let keras = cx.draw("kernel", &self.init, &keras_shape)?;
        let window: usize = self.kernel.iter().product();
        let mut onnx = vec![0.0; keras.len()];
        for k in 0..window {
            for c in 0..per_group {
                for f in 0..self.filters {
                    onnx[(f * per_group + c) * window + k] = keras[(k * per_group + c) * self.filters + f];
                }
            }
        }
        let mut w_dims = vec![self.filters, per_group];
        w_dims.extend(&self.kernel);
        let w = cx.param("kernel", w_dims, &onnx, true, self.regularizer);
        let mut args = vec![x, w];
        if self.use_bias {
            let bias = cx.draw("bias", &self.bias_init, &[self.filters])?;
            args.push(cx.param("bias", vec![self.filters], &bias, true, None));
        }
        let op =
            ConvOp { kernel_shape: self.kernel.clone(), strides: self.stride.clone(), dilations: self.dilation.clone(), pads, group: self.groups };
        let y = cx.node(Arc::new(op), &args)?;
        self.activation.lower(cx, y)
    }
}
