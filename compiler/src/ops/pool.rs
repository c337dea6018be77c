//! Pooling: MaxPool and AveragePool over windows, GlobalAveragePool over whole maps.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::conv::{positive_ints, spatial_dims, window_dims};
use super::{
    ArgMax, Attrs, BinaryKind, Cast, Compare, CompareKind, Conv, ConvTranspose, Fact, Op, OpError, Pad, Reshape, Resize, Slice, Unsqueeze, Where,
    attrs, required, shape_error,
};
use crate::autodiff::GradCx;
use crate::ir::{DType, Dim, Tensor, TensorType, ValueId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Average,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub kind: PoolKind,
    pub kernel_shape: Vec<usize>,
    pub strides: Vec<usize>,
    /// ONNX order: all begins, then all ends.
    pub pads: Vec<usize>,
    /// Average only: whether padded cells count in the divisor (Keras: they don't, ONNX's default).
    pub count_include_pad: bool,
}

impl Pool {
    pub fn from_attrs(kind: PoolKind, a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Pool::parse(kind, a)?))
    }

    /// The typed op from its ONNX attributes, for passes that read a node's settings.
    pub fn parse(kind: PoolKind, a: &Attrs) -> Result<Pool, OpError> {
        let op = a.op;
        let kernel_shape = positive_ints(a, "kernel_shape", 0, 1)?;
        if kernel_shape.is_empty() {
            return Err(OpError::Attribute { op: op.into(), name: "kernel_shape".into(), message: "is required".into() });
        }
        if let Some(pad) = a.string("auto_pad")?
            && pad != "NOTSET"
        {
            return Err(OpError::Attribute {
                op: op.into(),
                name: "auto_pad".into(),
                message: format!("`{pad}` is not supported; use explicit pads"),
            });
        }
        if a.int("ceil_mode", 0)? != 0 {
            return Err(OpError::Attribute { op: op.into(), name: "ceil_mode".into(), message: "only 0 is supported".into() });
        }
        let rank = kernel_shape.len();
        Ok(Pool {
            kind,
            strides: positive_ints(a, "strides", rank, 1)?,
            pads: positive_ints(a, "pads", 2 * rank, 0)?,
            count_include_pad: a.int("count_include_pad", 0)? != 0,
            kernel_shape,
        })
    }
}

impl Op for Pool {
    fn op_type(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "MaxPool",
            PoolKind::Average => "AveragePool",
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(self.op_type(), inputs, 0)?.ty;
        let ones = vec![1; self.kernel_shape.len()];
        let mut shape = x.shape[..2.min(x.rank())].to_vec();
        shape.extend(window_dims(self.op_type(), x, &self.kernel_shape, &self.strides, &ones, &self.pads)?);
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        let mut out =
            vec![attrs::sizes("kernel_shape", &self.kernel_shape), attrs::sizes("strides", &self.strides), attrs::sizes("pads", &self.pads)];
        if self.kind == PoolKind::Average && self.count_include_pad {
            out.push(attrs::int("count_include_pad", 1));
        }
        out
    }

    /// Both gradients end in the ConvTranspose that is the window's adjoint, grouped per channel:
    /// AveragePool spreads `dY / count` over each window with a kernel of ones; MaxPool routes `dY`
    /// to one cell per window with one-hot kernels (except over tiling windows, which take
    /// `tiled_max_gradient`). MaxPool's windows are read out cell by cell with
    /// a grouped Conv of those one-hot kernels (exact for finite inputs: each output is one input
    /// times 1 plus zeros), the winning cell found with ArgMax; an infinite or NaN input would spread
    /// NaN over its windows.
    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None]) };
        let op = self.op_type();
        let x = cx.x(0)?;
        let tx = cx.ty(x);
        let input = spatial_dims(op, &tx)?;
        let out = spatial_dims(op, &cx.ty(g))?;
        let channels = tx.shape[1].fixed().ok_or_else(|| shape_error(op, format!("its gradient needs the channels of {tx}")))?;
        let geometry = Geometry { input: &input, out: &out, kernel: &self.kernel_shape, strides: &self.strides, pads: &self.pads };
        let ones = vec![1; self.kernel_shape.len()];
        let adjoint = ConvTranspose::adjoint(&input, &self.kernel_shape, &self.strides, &ones, &self.pads, channels);
        let cells: usize = self.kernel_shape.iter().product();
        let mut kernel_dims = vec![channels, 1];
        kernel_dims.extend(&self.kernel_shape);
        let name = format!("{}/grad", cx.node.name);
        let gx = match self.kind {
            PoolKind::Average => {
                let counts = if self.count_include_pad || self.pads.iter().all(|&p| p == 0) {
                    cx.scalar(cells as f32)
                } else {
                    let counts: Vec<f32> = (0..out.iter().product())
                        .map(|o| {
                            let o = unravel(&out, o);
                            (0..o.len()).map(|i| (0..self.kernel_shape[i]).filter(|&k| geometry.inside(i, o[i], k)).count()).product::<usize>() as f32
                        })
                        .collect();
                    cx.b.constant(&format!("{name}/counts"), Tensor::from_f32(out.clone(), &counts))
                };
                let share = cx.binary(BinaryKind::Div, g, counts)?;
                let ones = cx.b.constant(&format!("{name}/ones"), Tensor::from_f32(kernel_dims.clone(), &vec![1.0; channels * cells]));
                cx.op(adjoint, &[share, ones])?
            }
            PoolKind::Max if self.tiles(&input) => self.tiled_max_gradient(cx, x, g, channels, &input, &out)?,
            PoolKind::Max => {
                // Channel c·K + k of the grouped one-hot kernel picks cell k of each window of channel c.
                kernel_dims[0] *= cells;
                let one_hot: Vec<f32> = (0..channels * cells * cells).map(|i| ((i / cells) % cells == i % cells) as u8 as f32).collect();
                let pick = cx.b.constant(&format!("{name}/one_hot"), Tensor::from_f32(kernel_dims, &one_hot));
                let gather = Conv {
                    kernel_shape: self.kernel_shape.clone(),
                    strides: self.strides.clone(),
                    dilations: ones,
                    pads: self.pads.clone(),
                    group: channels,
                };
                let windows = cx.op(gather, &[x, pick])?;
                let dims = |split: &[usize]| -> Vec<i64> { [0].into_iter().chain(split.iter().chain(&out).map(|&d| d as i64)).collect() };
                let by_cell = cx.ints(&dims(&[channels, cells]));
                let mut windows = cx.op(Reshape, &[windows, by_cell])?;
                if self.pads.iter().any(|&p| p != 0) {
                    // Padding cells read as zeros through the Conv; they must never win.
                    let mut valid_dims = vec![1, 1, cells];
                    valid_dims.extend(&out);
                    let valid: Vec<u8> = (0..cells * out.iter().product::<usize>())
                        .map(|i| {
                            let (k, o) =
                                (unravel(&self.kernel_shape, i / out.iter().product::<usize>()), unravel(&out, i % out.iter().product::<usize>()));
                            (0..o.len()).all(|a| geometry.inside(a, o[a], k[a])) as u8
                        })
                        .collect();
                    let valid = cx.b.constant(&format!("{name}/valid"), Tensor { dtype: DType::Bool, dims: valid_dims, data: valid });
                    let low = cx.scalar(f32::NEG_INFINITY);
                    windows = cx.op(Where, &[valid, windows, low])?;
                }
                // Ties go to the window's first maximal cell in row-major order, as ONNX Runtime's
                // MaxPool picks it.
                let first = cx.op(ArgMax { axis: 2, keepdims: true }, &[windows])?;
                let mut cell_dims = vec![1, 1, cells];
                cell_dims.extend(std::iter::repeat_n(1, out.len()));
                let cell_ids = cx.b.constant(&format!("{name}/cells"), Tensor::from_i64(cell_dims, &(0..cells as i64).collect::<Vec<_>>()));
                let winner = cx.op(Compare { kind: CompareKind::Equal }, &[first, cell_ids])?;
                let axis = cx.ints(&[2]);
                let spread = cx.op(Unsqueeze, &[g, axis])?;
                let zero = cx.scalar(0.0);
                let routed = cx.op(Where, &[winner, spread, zero])?;
                let flat = cx.ints(&dims(&[channels * cells]));
                let routed = cx.op(Reshape, &[routed, flat])?;
                cx.op(adjoint, &[routed, pick])?
            }
        };
        Ok(vec![Some(gx)])
    }
}

impl Pool {
    /// Whether the windows tile the input without overlap or padding (stride = kernel, no pads, 2-D),
    /// the usual CNN pooling, with at most 24 cells a window (the tiled gradient's codes are sums
    /// of powers of two, exact in float up to 2²⁴).
    fn tiles(&self, input: &[usize]) -> bool {
        input.len() == 2
            && self.strides == self.kernel_shape
            && self.pads.iter().all(|&p| p == 0)
            && self.kernel_shape.iter().product::<usize>() <= 24
    }

    /// MaxPool's gradient when windows tile the input, computed on the input's grid: a cell wins
    /// when it equals its window's maximum (the pooled value, copied back over the window by a
    /// nearest Resize) and no earlier cell of the window does, which is ONNX Runtime's, PyTorch's and
    /// TensorFlow's tie rule. The cells of a window of K are weighted 2ᴷ, 2ᴷ⁻¹, …, 2 in row-major
    /// order and kept where they equal the maximum; half their sum over the window (a depthwise
    /// Conv) is below a kept cell's weight exactly when no earlier cell was kept, since the earlier
    /// weights each exceed all later ones together. dY, copied back the same way, is kept at the
    /// winners; the rows and columns no window covered get zeros. An infinite input is a maximum
    /// like any other; a NaN input never wins (the loss is NaN already).
    ///
    /// This form beats the same rule cell by cell (slices of a transposed (N, C, Ho, Wo, K) view, a
    /// Concat and a Transpose back) and a second MaxPool in place of the sum (tract's stride-2
    /// MaxPool is slow) on tract, and ties them on ONNX Runtime: `cargo bench --bench train_step`
    /// (mnist_cnn). The weights hold a whole sample's map, (1, C, H, W): engines multiply equal
    /// trailing shapes on their fast path, not (1, 1, H, W).
    fn tiled_max_gradient(
        &self,
        cx: &mut GradCx,
        x: ValueId,
        g: ValueId,
        channels: usize,
        input: &[usize],
        out: &[usize],
    ) -> Result<ValueId, OpError> {
        use BinaryKind::Mul;
        let (kh, kw) = (self.kernel_shape[0], self.kernel_shape[1]);
        let (covered_h, covered_w) = (out[0] * kh, out[1] * kw);
        let name = format!("{}/grad", cx.node.name);
        let mut xc = x;
        if (covered_h, covered_w) != (input[0], input[1]) {
            let (starts, ends, axes) = (cx.ints(&[0, 0]), cx.ints(&[covered_h as i64, covered_w as i64]), cx.ints(&[2, 3]));
            xc = cx.op(Slice, &[x, starts, ends, axes])?;
        }
        let no_roi = cx.b.constant(&format!("{name}/roi"), Tensor::from_f32(vec![0], &[]));
        let scales = cx.b.constant(&format!("{name}/scales"), Tensor::from_f32(vec![4], &[1.0, 1.0, kh as f32, kw as f32]));
        let spread = |cx: &mut GradCx, v: ValueId| cx.op(Resize::blocks_upscale(), &[v, no_roi, scales]);
        let (y, dy) = (cx.y(0), g);
        let maximum = spread(cx, y)?;
        let hit = cx.op(Compare { kind: CompareKind::Equal }, &[xc, maximum])?;
        let hit = cx.op(Cast { to: DType::F32 }, &[hit])?;
        let cells = (kh * kw) as i32;
        let cell = |i: usize| ((i / covered_w % kh) * kw + i % covered_w % kw) as i32;
        let per_map: Vec<f32> = (0..covered_h * covered_w).map(|i| 2f32.powi(cells - cell(i))).collect();
        let weights: Vec<f32> = per_map.iter().copied().cycle().take(channels * per_map.len()).collect();
        let weights = cx.b.constant(&format!("{name}/cell_weights"), Tensor::from_f32(vec![1, channels, covered_h, covered_w], &weights));
        let kept = cx.binary(Mul, hit, weights)?;
        let halves = cx.b.constant(&format!("{name}/halves"), Tensor::from_f32(vec![channels, 1, kh, kw], &vec![0.5; channels * kh * kw]));
        let window_sum = Conv {
            kernel_shape: self.kernel_shape.clone(),
            strides: self.kernel_shape.clone(),
            dilations: vec![1, 1],
            pads: vec![0; 4],
            group: channels,
        };
        let half_sum = cx.op(window_sum, &[kept, halves])?;
        let half_sum = spread(cx, half_sum)?;
        let winner = cx.op(Compare { kind: CompareKind::Less }, &[half_sum, kept])?;
        let winner = cx.op(Cast { to: DType::F32 }, &[winner])?;
        let dy = spread(cx, dy)?;
        let gx = cx.binary(Mul, winner, dy)?;
        if (covered_h, covered_w) == (input[0], input[1]) {
            return Ok(gx);
        }
        let pads = cx.ints(&[0, 0, 0, 0, 0, 0, (input[0] - covered_h) as i64, (input[1] - covered_w) as i64]);
        cx.op(Pad, &[gx, pads])
    }
}

/// Where a pool's windows fall on its input.
struct Geometry<'a> {
    input: &'a [usize],
    out: &'a [usize],
    kernel: &'a [usize],
    strides: &'a [usize],
    pads: &'a [usize],
}

impl Geometry<'_> {
    /// Whether cell `k` of window `o` on axis `i` lies on the input rather than its padding.
    fn inside(&self, i: usize, o: usize, k: usize) -> bool {
        debug_assert!(o < self.out[i] && k < self.kernel[i]);
        let p = (o * self.strides[i] + k) as i64 - self.pads[i] as i64;
        (0..self.input[i] as i64).contains(&p)
    }
}

fn unravel(shape: &[usize], mut flat: usize) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for i in (0..shape.len()).rev() {
        idx[i] = flat % shape[i];
        flat /= shape[i];
    }
    idx
}

#[derive(Clone, Debug, PartialEq)]
pub struct GlobalAveragePool;

impl GlobalAveragePool {
    pub fn from_attrs(_: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(GlobalAveragePool))
    }
}

impl Op for GlobalAveragePool {
    fn op_type(&self) -> &'static str {
        "GlobalAveragePool"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        global_pool_shape("GlobalAveragePool", inputs)
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None]) };
        let x = cx.x(0)?;
        let cells: usize = spatial_dims("GlobalAveragePool", &cx.ty(x))?.iter().product();
        // Spread over x's shape, which may have a symbolic batch: g + 0·x broadcasts without a Shape op.
        let zero = cx.scalar(0.0);
        let zeros = cx.binary(BinaryKind::Mul, x, zero)?;
        let spread = cx.binary(BinaryKind::Add, zeros, g)?;
        let count = cx.scalar(cells as f32);
        Ok(vec![Some(cx.binary(BinaryKind::Div, spread, count)?)])
    }
}

/// The shape rule of the global poolings: one cell per map, (N, C, 1, …).
fn global_pool_shape(op: &str, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
    let x = required(op, inputs, 0)?.ty;
    if x.rank() < 3 {
        return Err(shape_error(op, format!("needs (N, C, spatial...), got {x}")));
    }
    let mut shape = x.shape[..2].to_vec();
    shape.extend(std::iter::repeat_n(Dim::Fixed(1), x.rank() - 2));
    Ok(vec![TensorType::new(x.dtype, shape)])
}

/// GlobalMaxPool: the largest value of each whole map.
#[derive(Clone, Debug, PartialEq)]
pub struct GlobalMaxPool;

impl GlobalMaxPool {
    pub fn from_attrs(_: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(GlobalMaxPool))
    }
}

impl Op for GlobalMaxPool {
    fn op_type(&self) -> &'static str {
        "GlobalMaxPool"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        global_pool_shape("GlobalMaxPool", inputs)
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }

    /// dY goes to the first largest cell of each map (as MaxPool's ties): the maps flattened, the
    /// winner found with ArgMax and matched against the cell numbers.
    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None]) };
        let x = cx.x(0)?;
        let tx = cx.ty(x);
        let cells: usize = spatial_dims("GlobalMaxPool", &tx)?.iter().product();
        let channels = tx.shape[1].fixed().ok_or_else(|| shape_error("GlobalMaxPool", format!("its gradient needs the channels of {tx}")))?;
        let by_map = cx.ints(&[0, channels as i64, cells as i64]);
        let flat = cx.op(Reshape, &[x, by_map])?;
        let winner = cx.op(ArgMax { axis: 2, keepdims: true }, &[flat])?;
        let numbers: Vec<i64> = (0..cells as i64).collect();
        let numbers = cx.b.constant(&format!("{}/grad/cells", cx.node.name), Tensor::from_i64(vec![cells], &numbers));
        let hit = cx.op(Compare { kind: CompareKind::Equal }, &[winner, numbers])?;
        let hit = cx.op(Cast { to: DType::F32 }, &[hit])?;
        let per_map = cx.ints(&[0, channels as i64, 1]);
        let g = cx.op(Reshape, &[g, per_map])?;
        let gx = cx.binary(BinaryKind::Mul, hit, g)?;
        Ok(vec![Some(cx.reshape_to(gx, &tx)?)])
    }
}
