//! Convolution over 1-D or 2-D maps (NCW / NCHW), with stride, explicit padding, dilation and groups.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Concat, ConvTranspose, Fact, Op, OpError, Slice, Transpose, attrs, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{Dim, TensorType, ValueId};
use crate::train::tuning::PATCH_MIN_CHANNELS;

/// The output length of one spatial axis of a window op, or why the window does not fit.
pub fn window_output(input: usize, kernel: usize, stride: usize, dilation: usize, pad_begin: usize, pad_end: usize) -> Result<usize, String> {
    // Attribute values come from files: arithmetic on them is checked.
    let too_large = || "the window's sizes overflow".to_string();
    let span = dilation.checked_mul(kernel.saturating_sub(1)).and_then(|s| s.checked_add(1)).ok_or_else(too_large)?;
    let padded = input.checked_add(pad_begin).and_then(|p| p.checked_add(pad_end)).ok_or_else(too_large)?;
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

/// The largest kernel size, stride, dilation, pad or group a file may give (2²⁰): with shapes
/// bounded too (`ir::MAX_ELEMENTS`), window arithmetic cannot overflow.
pub(crate) const MAX_WINDOW_VALUE: usize = 1 << 20;

/// A window attribute's group count, within [`MAX_WINDOW_VALUE`].
pub(crate) fn group(a: &Attrs) -> Result<usize, OpError> {
    let g = a.int("group", 1)?;
    usize::try_from(g.max(1)).ok().filter(|&g| g <= MAX_WINDOW_VALUE).ok_or_else(|| OpError::Attribute {
        op: a.op.to_string(),
        name: "group".into(),
        message: format!("{g} is not a valid value"),
    })
}

pub(crate) fn positive_ints(a: &Attrs, name: &str, rank: usize, default: usize) -> Result<Vec<usize>, OpError> {
    let values = a.ints(name).unwrap_or_else(|| vec![default as i64; rank]);
    if rank > 0 && values.len() != rank {
        return Err(OpError::Attribute {
            op: a.op.to_string(),
            name: name.to_string(),
            message: format!("{} values where the window needs {rank}", values.len()),
        });
    }
    values
        .into_iter()
        .map(|v| {
            usize::try_from(v).ok().filter(|&v| (v > 0 || name == "pads") && v <= MAX_WINDOW_VALUE).ok_or_else(|| OpError::Attribute {
                op: a.op.to_string(),
                name: name.to_string(),
                message: format!("{v} is not a valid value"),
            })
        })
        .collect()
}

impl Conv {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Conv::parse(a)?))
    }

    /// The typed op from its ONNX attributes, for passes that read a node's settings.
    pub fn parse(a: &Attrs) -> Result<Conv, OpError> {
        let kernel_shape = positive_ints(a, "kernel_shape", 0, 1)?;
        if kernel_shape.is_empty() {
            // ONNX lets the kernel shape be taken from the weights; onyx writes it always and asks the same.
            return Err(OpError::Attribute { op: "Conv".into(), name: "kernel_shape".into(), message: "required by onyx".into() });
        }
        if let Some(pad) = a.string("auto_pad")?
            && pad != "NOTSET"
        {
            return Err(OpError::Attribute {
                op: "Conv".into(),
                name: "auto_pad".into(),
                message: format!("`{pad}` is not supported; use explicit pads"),
            });
        }
        let rank = kernel_shape.len();
        Ok(Conv {
            strides: positive_ints(a, "strides", rank, 1)?,
            dilations: positive_ints(a, "dilations", rank, 1)?,
            pads: positive_ints(a, "pads", 2 * rank, 0)?,
            group: group(a)?,
            kernel_shape,
        })
    }
}

/// Output spatial dims of a window op over `x` (N, C, spatial...).
pub fn window_dims(op: &str, x: &TensorType, kernel: &[usize], strides: &[usize], dilations: &[usize], pads: &[usize]) -> Result<Vec<Dim>, OpError> {
    let rank = kernel.len();
    if x.rank() != rank + 2 {
        return Err(shape_error(op, format!("a {rank}-D window needs an input of rank {}, got {x}", rank + 2)));
    }
    (0..rank)
        .map(|i| match &x.shape[2 + i] {
            Dim::Fixed(n) => {
                window_output(*n, kernel[i], strides[i], dilations[i], pads[i], pads[rank + i]).map(Dim::Fixed).map_err(|m| shape_error(op, m))
            }
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
        let rank = self.kernel_shape.len();
        if w.rank() != rank + 2 || w.shape[2..].iter().zip(&self.kernel_shape).any(|(d, &k)| *d != Dim::Fixed(k)) {
            return Err(shape_error("Conv", format!("weights {w} disagree with kernel {:?}", self.kernel_shape)));
        }
        let filters = w.shape[0].fixed().ok_or_else(|| shape_error("Conv", format!("weights {w} need a known number of filters")))?;
        // The weights' channel axis may be a symbol only where it is the input's own (a gradient
        // correlates over the batch axis).
        match (x.shape.get(1), &w.shape[1]) {
            (Some(Dim::Fixed(c)), Dim::Fixed(per_group)) if *c != per_group * self.group => {
                return Err(shape_error("Conv", format!("input has {c} channels but the weights expect {per_group} x {} groups", self.group)));
            }
            // A missing channel axis is reported by `window_dims` below.
            (None, _) | (Some(Dim::Fixed(_)), Dim::Fixed(_)) | (Some(Dim::Sym(_)), Dim::Fixed(_)) => {}
            (Some(c), d) if c == d && self.group == 1 => {}
            _ => return Err(shape_error("Conv", format!("weights {w} do not match the channels of {x}"))),
        }
        if filters % self.group != 0 {
            return Err(shape_error("Conv", format!("{filters} filters do not split into {} groups", self.group)));
        }
        let mut shape = vec![x.shape[0].clone(), Dim::Fixed(filters)];
        shape.extend(window_dims("Conv", x, &self.kernel_shape, &self.strides, &self.dilations, &self.pads)?);
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![
            attrs::sizes("kernel_shape", &self.kernel_shape),
            attrs::sizes("strides", &self.strides),
            attrs::sizes("dilations", &self.dilations),
            attrs::sizes("pads", &self.pads),
            attrs::int("group", self.group as i64),
        ]
    }

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None, None, None]) };
        let (x, w) = (cx.x(0)?, cx.x(1)?);
        let input = spatial_dims("Conv", &cx.ty(x))?;
        // dX: the transposed convolution with the same weights, sized to X exactly.
        let adjoint = ConvTranspose::adjoint(&input, &self.kernel_shape, &self.strides, &self.dilations, &self.pads, self.group);
        let gx = cx.op(adjoint, &[g, w])?;
        // dW[m, c, k] = Σₙ Σₒ X[n, c, o·s + k·d − pad] · dY[n, m, o]
        let gw = weight_gradient(cx, x, g, self)?;
        let gb = match cx.x_opt(2) {
            Some(_) => Some(cx.channel_sum(g)?),
            None => None,
        };
        Ok(vec![Some(gx), Some(gw), gb])
    }
}

/// The spatial dimensions of (N, C, spatial...), which window gradients need known.
pub(crate) fn spatial_dims(op: &str, t: &TensorType) -> Result<Vec<usize>, OpError> {
    t.shape
        .get(2..)
        .unwrap_or_default()
        .iter()
        .map(Dim::fixed)
        .collect::<Option<_>>()
        .ok_or_else(|| shape_error(op, format!("its gradient needs the spatial dimensions of {t}")))
}

/// The weight gradient shared by Conv and ConvTranspose, for the window geometry of `forward`: for
/// each group, the correlation `R[j, i, k] = Σₙ Σₒ A[n, i, o·s + k·d − pad] · B[n, j, o]` of `a`
/// (N, Ca, ...) with `b` (N, Cb, ...), returned as (Cb, Ca/group, kernel...). It is one Conv with the
/// batch as channels: input Aᵀ, weights Bᵀ, the stride becoming the dilation and the dilation the
/// stride; end padding the forward windows never reached is dropped, and what remains beyond the
/// kernel cropped.
pub(crate) fn weight_gradient(cx: &mut GradCx, a: ValueId, b: ValueId, forward: &Conv) -> Result<ValueId, OpError> {
    // From `PATCH_MIN_CHANNELS` input channels, from patches (below) rather than from a Conv with the
    // batch as channels.
    if cx.tuning.patch_products
        && forward.group == 1
        && forward.kernel_shape.len() == 2
        && channels_of(cx, a).is_some_and(|c| c >= PATCH_MIN_CHANNELS)
    {
        return patch_weight_gradient(cx, a, b, forward);
    }
    let Conv { kernel_shape: kernel, strides, dilations, pads, group } = forward;
    let group = *group;
    let op = cx.node.op.op_type();
    let rank = kernel.len();
    let (ta, tb) = (cx.ty(a), cx.ty(b));
    let (la, lb) = (spatial_dims(op, &ta)?, spatial_dims(op, &tb)?);
    let channels = |t: &TensorType| t.shape[1].fixed().ok_or_else(|| shape_error(op, format!("its gradient needs the channels of {t}")));
    let (ca, cb) = (channels(&ta)? / group, channels(&tb)? / group);
    let mut w_pads = pads.to_vec();
    let mut crop = false;
    for i in 0..rank {
        let needed = strides[i] * (lb[i] - 1) + dilations[i] * (kernel[i] - 1) + 1;
        let excess = (la[i] + pads[i] + pads[rank + i]).checked_sub(needed).ok_or_else(|| shape_error(op, "the windows overrun the padded input"))?;
        let cut = excess.min(pads[rank + i]);
        w_pads[rank + i] -= cut;
        crop |= excess - cut >= dilations[i];
    }
    let conv = Conv { kernel_shape: lb, strides: dilations.to_vec(), dilations: strides.to_vec(), pads: w_pads, group: 1 };
    let swap = Transpose { perm: [1, 0].into_iter().chain(2..rank + 2).collect() };
    let mut parts = vec![];
    for gi in 0..group {
        let mut pick = |v: ValueId, per: usize| -> Result<ValueId, OpError> {
            if group == 1 {
                return Ok(v);
            }
            let (starts, ends, axes) = (cx.ints(&[(gi * per) as i64]), cx.ints(&[((gi + 1) * per) as i64]), cx.ints(&[1]));
            cx.op(Slice, &[v, starts, ends, axes])
        };
        let (ag, bg) = (pick(a, ca)?, pick(b, cb)?);
        let at = cx.op(swap.clone(), &[ag])?;
        let bt = cx.op(swap.clone(), &[bg])?;
        let mut r = cx.op(conv.clone(), &[at, bt])?;
        if crop {
            let axes: Vec<i64> = (2..2 + rank as i64).collect();
            let ends: Vec<i64> = kernel.iter().map(|&k| k as i64).collect();
            let (starts, ends, axes) = (cx.ints(&vec![0; rank]), cx.ints(&ends), cx.ints(&axes));
            r = cx.op(Slice, &[r, starts, ends, axes])?;
        }
        parts.push(cx.op(swap.clone(), &[r])?);
    }
    if parts.len() == 1 { Ok(parts[0]) } else { cx.op(Concat { axis: 0 }, &parts) }
}

fn channels_of(cx: &GradCx, v: ValueId) -> Option<usize> {
    cx.ty(v).shape.get(1).and_then(Dim::fixed)
}

/// The weight gradient of a 2-D, ungrouped Conv as one 2-D product over patches:
/// `R[k·Ca + i, j] = Σₙ Σₒ P[k·Ca + i, n, o] · B[j, n, o]`, where the patch tensor P stacks, for each
/// kernel cell k, the slice of `a` that cell reads (a strided Slice of the padded input, channels
/// before the batch), and B is `b` with the same two axes swapped. The product's inner dimension is
/// the whole batch's output cells (N·Ho·Wo, thousands), where the batch-as-channels Conv runs a GEMM
/// only kernel-cells wide. One GEMM rather than a MatMul per sample summed over the batch: the
/// per-sample products and their sum cost tract a third of the layer's gradient, and ONNX Runtime
/// runs both forms alike (`cargo bench --bench train_step`, mnist_cnn's second conv).
fn patch_weight_gradient(cx: &mut GradCx, a: ValueId, b: ValueId, forward: &Conv) -> Result<ValueId, OpError> {
    use crate::ops::{Gemm, Pad, Reshape};
    let Conv { kernel_shape: kernel, strides, dilations, pads, .. } = forward;
    let op = cx.node.op.op_type();
    let (ta, tb) = (cx.ty(a), cx.ty(b));
    let out = spatial_dims(op, &tb)?;
    let known = |t: &TensorType| t.shape[1].fixed().ok_or_else(|| shape_error(op, format!("its gradient needs the channels of {t}")));
    let (ca, cb) = (known(&ta)?, known(&tb)?);
    let swap = Transpose { perm: vec![1, 0, 2, 3] };
    let mut padded = cx.op(swap.clone(), &[a])?;
    if pads.iter().any(|&p| p != 0) {
        let p: Vec<i64> = [0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]].iter().map(|&v| v as i64).collect();
        let p = cx.ints(&p);
        padded = cx.op(Pad, &[padded, p])?;
    }
    let (axes, steps) = (cx.ints(&[2, 3]), cx.ints(&[strides[0] as i64, strides[1] as i64]));
    let mut taps = vec![];
    for kh in 0..kernel[0] {
        for kw in 0..kernel[1] {
            let start = [kh * dilations[0], kw * dilations[1]];
            let end: Vec<i64> = (0..2).map(|i| (start[i] + (out[i] - 1) * strides[i] + 1) as i64).collect();
            let (starts, ends) = (cx.ints(&[start[0] as i64, start[1] as i64]), cx.ints(&end));
            taps.push(cx.op(Slice, &[padded, starts, ends, axes, steps])?);
        }
    }
    let taps_n = taps.len();
    let patches = cx.op(Concat { axis: 0 }, &taps)?;
    let rows = cx.ints(&[(taps_n * ca) as i64, -1]);
    let patches = cx.op(Reshape, &[patches, rows])?;
    let bt = cx.op(swap, &[b])?;
    let rows = cx.ints(&[cb as i64, -1]);
    let bt = cx.op(Reshape, &[bt, rows])?;
    let summed = cx.op(Gemm { trans_b: true, ..Gemm::default() }, &[patches, bt])?;
    let by_cell = cx.ints(&[kernel[0] as i64, kernel[1] as i64, ca as i64, cb as i64]);
    let by_cell = cx.op(Reshape, &[summed, by_cell])?;
    cx.op(Transpose { perm: vec![3, 2, 0, 1] }, &[by_cell])
}
