//! LRN, local response normalization across channels (AlexNet, GoogLeNet):
//! `y = x / (bias + alpha/size · Σ x²)^beta`, the sum over the `size` channels around each one
//! (⌊(size−1)/2⌋ below, ⌈(size−1)/2⌉ above, cut at the ends).
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, BinaryKind, Conv, Fact, Op, OpError, Reshape, attrs, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{Tensor, TensorType, ValueId};

#[derive(Clone, Debug, PartialEq)]
pub struct Lrn {
    pub size: usize,
    pub alpha: f32,
    pub beta: f32,
    pub bias: f32,
}

impl Lrn {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        let size = a.required_int("size")?;
        let size = usize::try_from(size).ok().filter(|&s| (1..=super::conv::MAX_WINDOW_VALUE).contains(&s)).ok_or_else(|| OpError::Attribute {
            op: "LRN".into(),
            name: "size".into(),
            message: format!("{size} is not a valid window"),
        })?;
        Ok(Arc::new(Lrn { size, alpha: a.float("alpha", 1e-4)?, beta: a.float("beta", 0.75)?, bias: a.float("bias", 1.0)? }))
    }
}

impl Op for Lrn {
    fn op_type(&self) -> &'static str {
        "LRN"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("LRN", inputs, 0)?.ty;
        if x.rank() < 2 || !x.dtype.is_float() {
            return Err(shape_error("LRN", format!("needs a float (N, C, ...) tensor, got {x}")));
        }
        Ok(vec![x.clone()])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![
            attrs::float("alpha", self.alpha),
            attrs::float("beta", self.beta),
            attrs::float("bias", self.bias),
            attrs::int("size", self.size as i64),
        ]
    }

    /// With d = bias + α/size·Σ x² (the window sum S), y = x·d^−β and
    /// dx = g·d^−β − 2αβ/size · x · S*(g·x·d^(−β−1)), where S* is the adjoint window sum (the window
    /// mirrored). Both sums are one Conv over the channels laid out as a (C, spatial) map.
    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        use BinaryKind::{Add, Div, Mul, Pow, Sub};
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None]) };
        let x = cx.x(0)?;
        let tx = cx.ty(x);
        let fixed: Option<Vec<usize>> = tx.shape[1..].iter().map(|d| d.fixed()).collect();
        let fixed = fixed.ok_or_else(|| shape_error("LRN", format!("its gradient needs the channels and spatial dimensions of {tx}")))?;
        let (channels, cells) = (fixed[0], fixed[1..].iter().product::<usize>());
        let below = (self.size - 1) / 2;
        let above = self.size - 1 - below;
        let ones = cx.b.constant(&format!("{}/grad/window", cx.node.name), Tensor::from_f32(vec![1, 1, self.size, 1], &vec![1.0; self.size]));
        let window_sum = |cx: &mut GradCx, v: ValueId, below: usize, above: usize| -> Result<ValueId, OpError> {
            let map = cx.ints(&[0, 1, channels as i64, cells as i64]);
            let map = cx.op(Reshape, &[v, map])?;
            let conv =
                Conv { kernel_shape: vec![self.size, 1], strides: vec![1, 1], dilations: vec![1, 1], pads: vec![below, 0, above, 0], group: 1 };
            let sum = cx.op(conv, &[map, ones])?;
            cx.reshape_to(sum, &tx)
        };
        let square = cx.binary(Mul, x, x)?;
        let sum = window_sum(cx, square, below, above)?;
        let k = cx.scalar(self.alpha / self.size as f32);
        let scaled = cx.binary(Mul, sum, k)?;
        let bias = cx.scalar(self.bias);
        let d = cx.binary(Add, scaled, bias)?;
        let minus_beta = cx.scalar(-self.beta);
        let power = cx.binary(Pow, d, minus_beta)?;
        let direct = cx.binary(Mul, g, power)?;
        let gx = cx.binary(Mul, g, x)?;
        let gxp = cx.binary(Mul, gx, power)?;
        let t = cx.binary(Div, gxp, d)?;
        let back = window_sum(cx, t, above, below)?;
        let c = cx.scalar(2.0 * self.alpha * self.beta / self.size as f32);
        let xc = cx.binary(Mul, x, c)?;
        let cross = cx.binary(Mul, xc, back)?;
        Ok(vec![Some(cx.binary(Sub, direct, cross)?)])
    }
}
