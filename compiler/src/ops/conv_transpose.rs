//! Transposed convolution over 1-D or 2-D maps (NCW / NCHW): the adjoint of Conv, which is how Conv's
//! input gradient is written. The output size comes from the pads and `output_padding`
//! (`output_shape` and `auto_pad` are not supported).
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::conv::{positive_ints, weight_gradient};
use super::{Attrs, Conv, Fact, Op, OpError, Slice, attrs, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{Dim, TensorType, ValueId};

#[derive(Clone, Debug, PartialEq)]
pub struct ConvTranspose {
    pub kernel_shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    /// ONNX order: all begins, then all ends. They crop the full transposed output.
    pub pads: Vec<usize>,
    /// Added at the end of each spatial axis; ONNX asks it to be less than the stride or dilation.
    pub output_padding: Vec<usize>,
    pub group: usize,
}

impl ConvTranspose {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        let unsupported = |name: &str, message: &str| OpError::Attribute { op: "ConvTranspose".into(), name: name.into(), message: message.into() };
        let kernel_shape = positive_ints(a, "kernel_shape", 0, 1)?;
        if kernel_shape.is_empty() {
            return Err(unsupported("kernel_shape", "required by onyx"));
        }
        if a.ints("output_shape").is_some() {
            return Err(unsupported("output_shape", "not supported; use pads and output_padding"));
        }
        if let Some(pad) = a.string("auto_pad")?
            && pad != "NOTSET"
        {
            return Err(unsupported("auto_pad", "not supported; use explicit pads"));
        }
        let rank = kernel_shape.len();
        if a.ints("output_padding").is_some_and(|p| p.len() != rank) {
            return Err(unsupported("output_padding", "needs one value per spatial axis"));
        }
        Ok(Arc::new(ConvTranspose {
            strides: positive_ints(a, "strides", rank, 1)?,
            dilations: positive_ints(a, "dilations", rank, 1)?,
            pads: positive_ints(a, "pads", 2 * rank, 0)?,
            output_padding: a
                .ints("output_padding")
                .unwrap_or_else(|| vec![0; rank])
                .into_iter()
                .map(|v| {
                    usize::try_from(v)
                        .ok()
                        .filter(|&v| v <= super::conv::MAX_WINDOW_VALUE)
                        .ok_or_else(|| unsupported("output_padding", "must be between 0 and 2^20"))
                })
                .collect::<Result<_, _>>()?,
            group: super::conv::group(a)?,
            kernel_shape,
        }))
    }

    /// The adjoint of a window op (Conv, or a pool written as a grouped Conv) over an input of spatial
    /// size `input`: the same kernel, strides, dilations and leading pads, with the trailing pads and
    /// output padding chosen so that the output is exactly `input` long on each axis. Cells of the
    /// padded input that no window reaches get zero.
    pub fn adjoint(input: &[usize], kernel: &[usize], strides: &[usize], dilations: &[usize], pads: &[usize], group: usize) -> ConvTranspose {
        let rank = kernel.len();
        let mut end = vec![0; rank];
        let mut output_padding = vec![0; rank];
        for i in 0..rank {
            let (begin, pad_end) = (pads[i], pads[rank + i]);
            let span = dilations[i] * (kernel[i] - 1) + 1;
            // What the last window leaves of the padded input: less than a stride.
            let uncovered = (input[i] + begin + pad_end - span) % strides[i];
            end[i] = pad_end.saturating_sub(uncovered);
            output_padding[i] = uncovered.saturating_sub(pad_end);
        }
        let mut all_pads = pads[..rank].to_vec();
        all_pads.extend(end);
        ConvTranspose {
            kernel_shape: kernel.to_vec(),
            strides: strides.to_vec(),
            dilations: dilations.to_vec(),
            pads: all_pads,
            output_padding,
            group,
        }
    }
}

impl Op for ConvTranspose {
    fn op_type(&self) -> &'static str {
        "ConvTranspose"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let op = "ConvTranspose";
        let (x, w) = (required(op, inputs, 0)?.ty, required(op, inputs, 1)?.ty);
        let rank = self.kernel_shape.len();
        let w_shape = w.fixed_shape().ok_or_else(|| shape_error(op, "weights need a known shape"))?;
        if x.rank() != rank + 2 {
            return Err(shape_error(op, format!("a {rank}-D kernel needs an input of rank {}, got {x}", rank + 2)));
        }
        if w_shape.len() != rank + 2 || w_shape[2..] != self.kernel_shape[..] {
            return Err(shape_error(op, format!("weights {w} disagree with kernel {:?}", self.kernel_shape)));
        }
        if let Some(c) = x.shape[1].fixed()
            && c != w_shape[0]
        {
            return Err(shape_error(op, format!("input has {c} channels but the weights expect {}", w_shape[0])));
        }
        if w_shape[0] % self.group != 0 {
            return Err(shape_error(op, format!("{} input channels do not split into {} groups", w_shape[0], self.group)));
        }
        let channels = w_shape[1] * self.group;
        if let Some(b) = inputs.get(2).copied().flatten()
            && b.ty.shape != [Dim::Fixed(channels)]
        {
            return Err(shape_error(op, format!("bias {} for {channels} output channels", b.ty)));
        }
        let mut shape = vec![x.shape[0].clone(), Dim::Fixed(channels)];
        for i in 0..rank {
            let n = x.shape[2 + i].fixed().ok_or_else(|| shape_error(op, format!("spatial dimension `{}` must be known", x.shape[2 + i])))?;
            let full = self.strides[i] * (n.max(1) - 1) + self.output_padding[i] + self.dilations[i] * (self.kernel_shape[i] - 1) + 1;
            let cropped = self.pads[i] + self.pads[rank + i];
            if n == 0 || full <= cropped {
                return Err(shape_error(op, format!("pads {:?} leave nothing of axis {} ({full} long)", self.pads, 2 + i)));
            }
            shape.push(Dim::Fixed(full - cropped));
        }
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        let mut out = vec![
            attrs::sizes("kernel_shape", &self.kernel_shape),
            attrs::sizes("strides", &self.strides),
            attrs::sizes("dilations", &self.dilations),
            attrs::sizes("pads", &self.pads),
            attrs::int("group", self.group as i64),
        ];
        if self.output_padding.iter().any(|&p| p != 0) {
            out.push(attrs::sizes("output_padding", &self.output_padding));
        }
        out
    }

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None, None, None]) };
        let (x, w) = (cx.x(0)?, cx.x(1)?);
        let rank = self.kernel_shape.len();
        let tx = cx.ty(x);
        let input: Vec<usize> = tx.shape[2..]
            .iter()
            .map(Dim::fixed)
            .collect::<Option<_>>()
            .ok_or_else(|| shape_error("ConvTranspose", "spatial dimensions must be known"))?;
        // dX: the forward Conv with the same geometry, which is this op's adjoint.
        let conv = Conv {
            kernel_shape: self.kernel_shape.clone(),
            strides: self.strides.clone(),
            dilations: self.dilations.clone(),
            pads: self.pads.clone(),
            group: self.group,
        };
        let mut gx = cx.op(conv.clone(), &[g, w])?;
        let got: Vec<usize> = cx.ty(gx).shape[2..].iter().filter_map(Dim::fixed).collect();
        if got != input {
            // An output padding of a stride or more adds whole windows; they fall outside X.
            let axes: Vec<i64> = (2..2 + rank as i64).collect();
            let (starts, ends, axes) = (cx.ints(&vec![0; rank]), cx.ints(&input.iter().map(|&n| n as i64).collect::<Vec<_>>()), cx.ints(&axes));
            gx = cx.op(Slice, &[gx, starts, ends, axes])?;
        }
        // dW[ci, co, k] = Σₙ Σᵢ X[n, ci, i] · dY[n, co, i·s + k·d − pad]
        let gw = weight_gradient(cx, g, x, &conv)?;
        let gb = match cx.x_opt(2) {
            Some(_) => Some(cx.channel_sum(g)?),
            None => None,
        };
        Ok(vec![Some(gx), Some(gw), gb])
    }
}
