//! Convolution over 1-D or 2-D maps (NCW / NCHW), with stride, explicit padding, dilation and groups.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, attrs, required, shape_error};
use crate::ir::{Dim, TensorType};

/// The output length of one spatial axis of a window op, or why the window does not fit.
pub fn window_output(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad_begin: usize,
    pad_end: usize,
) -> Result<usize, String> {
    let span = dilation * (kernel - 1) + 1;
    let padded = input + pad_begin + pad_end;
    if span > padded {
        return Err(format!("a window spanning {span} does not fit an axis of {input} (padded to {padded})"));
    }
    Ok((padded - span) / stride + 1)
}

#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    pub kernel_shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    /// ONNX order: all begins, then all ends.
    pub pads: Vec<usize>,
    pub group: usize,
}

pub(crate) fn positive_ints(a: &Attrs, name: &str, rank: usize, default: usize) -> Result<Vec<usize>, OpError> {
    let values = a.ints(name).unwrap_or_else(|| vec![default as i64; rank]);
    values
        .into_iter()
        .map(|v| {
            usize::try_from(v).ok().filter(|&v| v > 0 || name == "pads").ok_or_else(|| OpError::Attribute {
                op: a.op.to_string(),
                name: name.to_string(),
                message: format!("{v} is not a valid value"),
            })
        })
        .collect()
}

impl Conv {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        let kernel_shape = positive_ints(a, "kernel_shape", 0, 1)?;
        if kernel_shape.is_empty() {
            // ONNX lets the kernel shape be taken from the weights; onyx writes it always and asks the same.
            return Err(OpError::Attribute { op: "Conv".into(), name: "kernel_shape".into(), message: "required by onyx".into() });
        }
        if let Some(pad) = a.string("auto_pad")? {
            if pad != "NOTSET" {
                return Err(OpError::Attribute { op: "Conv".into(), name: "auto_pad".into(), message: format!("`{pad}` is not supported; use explicit pads") });
            }
        }
        let rank = kernel_shape.len();
        Ok(Arc::new(Conv {
            strides: positive_ints(a, "strides", rank, 1)?,
            dilations: positive_ints(a, "dilations", rank, 1)?,
            pads: positive_ints(a, "pads", 2 * rank, 0)?,
            group: a.int("group", 1)?.max(1) as usize,
            kernel_shape,
        }))
    }
}

/// Output spatial dims of a window op over `x` (N, C, spatial...).
pub fn window_dims(
    op: &str,
    x: &TensorType,
    kernel: &[usize],
    strides: &[usize],
    dilations: &[usize],
    pads: &[usize],
) -> Result<Vec<Dim>, OpError> {
    let rank = kernel.len();
    if x.rank() != rank + 2 {
        return Err(shape_error(op, format!("a {rank}-D window needs an input of rank {}, got {x}", rank + 2)));
    }
    (0..rank)
        .map(|i| match &x.shape[2 + i] {
            Dim::Fixed(n) => window_output(*n, kernel[i], strides[i], dilations[i], pads[i], pads[rank + i])
                .map(Dim::Fixed)
                .map_err(|m| shape_error(op, m)),
            Dim::Sym(s) => Err(shape_error(op, format!("spatial dimension `{s}` must be known"))),
        })
        .collect()
}

impl Op for Conv {
    fn op_type(&self) -> &'static str {
        "Conv"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let (x, w) = (required("Conv", inputs, 0)?.ty, required("Conv", inputs, 1)?.ty);
        let w_shape = w.fixed_shape().ok_or_else(|| shape_error("Conv", "weights need a known shape"))?;
        let channels = x.shape.get(1).and_then(Dim::fixed);
        if w_shape.len() != self.kernel_shape.len() + 2 || w_shape[2..] != self.kernel_shape[..] {
            return Err(shape_error("Conv", format!("weights {w} disagree with kernel {:?}", self.kernel_shape)));
        }
        if let Some(c) = channels {
            if c != w_shape[1] * self.group {
                return Err(shape_error(
                    "Conv",
                    format!("input has {c} channels but the weights expect {} x {} groups", w_shape[1], self.group),
                ));
            }
        }
        if w_shape[0] % self.group != 0 {
            return Err(shape_error("Conv", format!("{} filters do not split into {} groups", w_shape[0], self.group)));
        }
        let mut shape = vec![x.shape[0].clone(), Dim::Fixed(w_shape[0])];
        shape.extend(window_dims("Conv", x, &self.kernel_shape, &self.strides, &self.dilations, &self.pads)?);
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        let ints = |v: &[usize]| v.iter().map(|&x| x as i64).collect::<Vec<_>>();
        vec![
            attrs::ints("kernel_shape", &ints(&self.kernel_shape)),
            attrs::ints("strides", &ints(&self.strides)),
            attrs::ints("dilations", &ints(&self.dilations)),
            attrs::ints("pads", &ints(&self.pads)),
            attrs::int("group", self.group as i64),
        ]
    }
}
