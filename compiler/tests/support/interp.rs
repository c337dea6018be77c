//! A small f64 reference interpreter of the ONNX ops onyx emits, written from the operator spec's text
//! (opset 17). No ONNX engine is reachable from the compiler's tests; this one lets them run a graph
//! in numbers, and in f64, so that finite differences can check gradients tightly.
//!
//! Every value is an `Arr` of f64: floats are widened (f32 initializers included), integers are held
//! exactly and booleans as 0 and 1. `run` evaluates an ONNX model by value name, `run_graph` an IR
//! graph by value id (checking each result against the shape the IR inferred).
use std::collections::HashMap;

use onyx_compiler::ir::{DType, Dim, Graph, Tensor, ValueId};
use onyx_proto::onnx::{AttributeProto, ModelProto, TensorProto};

// ---------------------------------------------------------------------------------------------
// Dense arrays.

#[derive(Clone, Debug, PartialEq)]
pub struct Arr {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Arr {
    pub fn new(shape: Vec<usize>, data: Vec<f64>) -> Arr {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "shape {shape:?}");
        Arr { shape, data }
    }

    pub fn scalar(v: f64) -> Arr {
        Arr::new(vec![], vec![v])
    }

    pub fn filled(shape: Vec<usize>, v: f64) -> Arr {
        let len = shape.iter().product();
        Arr::new(shape, vec![v; len])
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Row-major strides of `shape`.
    pub fn strides(shape: &[usize]) -> Vec<usize> {
        let mut s = vec![1; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            s[i] = s[i + 1] * shape[i + 1];
        }
        s
    }

    /// The multi-index of flat position `flat` in `shape`.
    pub fn unravel(shape: &[usize], mut flat: usize) -> Vec<usize> {
        let mut idx = vec![0; shape.len()];
        for i in (0..shape.len()).rev() {
            idx[i] = flat % shape[i];
            flat /= shape[i];
        }
        idx
    }

    pub fn at(&self, idx: &[usize]) -> f64 {
        let s = Arr::strides(&self.shape);
        self.data[idx.iter().zip(&s).map(|(i, s)| i * s).sum::<usize>()]
    }

    pub fn ints(&self) -> Vec<i64> {
        self.data.iter().map(|&v| v as i64).collect()
    }

    pub fn map(&self, f: impl Fn(f64) -> f64) -> Arr {
        Arr::new(self.shape.clone(), self.data.iter().map(|&v| f(v)).collect())
    }

    pub fn reshaped(&self, shape: Vec<usize>) -> Arr {
        Arr::new(shape, self.data.clone())
    }

    /// An IR constant, widened to f64.
    pub fn from_tensor(t: &Tensor) -> Arr {
        Arr::new(t.dims.clone(), decode(t.dtype, &t.data))
    }
}

fn decode(dtype: DType, raw: &[u8]) -> Vec<f64> {
    match dtype {
        DType::F32 => raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        DType::F64 => raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect(),
        DType::I64 => raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        DType::I32 => raw.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        DType::I8 => raw.iter().map(|&b| b as i8 as f64).collect(),
        DType::U8 | DType::Bool => raw.iter().map(|&b| b as f64).collect(),
        DType::I16 => raw.chunks_exact(2).map(|c| i16::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        DType::U16 => raw.chunks_exact(2).map(|c| u16::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        DType::U32 => raw.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        DType::U64 => raw.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        other => panic!("the test interpreter does not read {other:?}"),
    }
}

fn tensor_arr(t: &TensorProto) -> Arr {
    let dims = t.dims.iter().map(|&d| d as usize).collect();
    let dtype = t.data_type.and_then(DType::from_onnx_code).unwrap_or_else(|| panic!("initializer type {:?}", t.data_type));
    let data = match &t.raw_data {
        Some(raw) => decode(dtype, raw),
        None if !t.float_data.is_empty() => t.float_data.iter().map(|&v| v as f64).collect(),
        None if !t.int64_data.is_empty() => t.int64_data.iter().map(|&v| v as f64).collect(),
        None if !t.int32_data.is_empty() => t.int32_data.iter().map(|&v| v as f64).collect(),
        None => vec![],
    };
    Arr::new(dims, data)
}

/// erf in f64 from its everywhere-convergent series of positive terms,
/// erf(x) = 2/√π · e^(−x²) · Σₙ 2ⁿ·x^(2n+1) / (1·3·…·(2n+1)), so no cancellation: relative error
/// about 1e-15 up to |x| = 6, beyond which erf is ±1 to f64 precision.
pub fn erf(x: f64) -> f64 {
    let a = x.abs();
    if a >= 6.0 {
        return x.signum();
    }
    let (mut term, mut sum, mut n) = (a, a, 0u32);
    loop {
        n += 1;
        term *= 2.0 * a * a / (2 * n + 1) as f64;
        sum += term;
        if term <= 1e-17 * sum {
            break;
        }
    }
    (std::f64::consts::FRAC_2_SQRT_PI * (-a * a).exp() * sum).copysign(x)
}

// ---------------------------------------------------------------------------------------------
// Index walking and broadcasting.

pub fn axis_of(a: i64, rank: usize) -> usize {
    let r = if a < 0 { a + rank as i64 } else { a };
    assert!((0..rank.max(1) as i64).contains(&r), "axis {a} out of range for rank {rank}");
    r as usize
}

pub fn broadcast_shape(shapes: &[&[usize]]) -> Vec<usize> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    (0..rank)
        .map(|i| {
            let dims: Vec<usize> = shapes.iter().map(|s| if i < rank - s.len() { 1 } else { s[i - (rank - s.len())] }).collect();
            let d = dims.iter().copied().filter(|&d| d != 1).max().unwrap_or(1);
            assert!(dims.iter().all(|&x| x == 1 || x == d), "{shapes:?} do not broadcast");
            d
        })
        .collect()
}

/// The strides of `shape` as seen from an array of `out` shape: 0 on broadcast axes.
fn bstrides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let pad = out.len() - shape.len();
    let own = Arr::strides(shape);
    (0..out.len()).map(|i| if i < pad || shape[i - pad] == 1 { 0 } else { own[i - pad] }).collect()
}

/// Calls `f` for every index of `shape` in row-major order with, for each stride list, the offset
/// Σ index·stride.
fn walk(shape: &[usize], strides: &[Vec<usize>], mut f: impl FnMut(&[usize])) {
    let len: usize = shape.iter().product();
    let mut idx = vec![0; shape.len()];
    let mut off = vec![0usize; strides.len()];
    for _ in 0..len {
        f(&off);
        for ax in (0..shape.len()).rev() {
            idx[ax] += 1;
            for (o, s) in off.iter_mut().zip(strides) {
                *o += s[ax];
            }
            if idx[ax] < shape[ax] {
                break;
            }
            for (o, s) in off.iter_mut().zip(strides) {
                *o -= s[ax] * shape[ax];
            }
            idx[ax] = 0;
        }
    }
}

fn broadcast_map(ins: &[&Arr], f: impl Fn(&[f64]) -> f64) -> Arr {
    let shape = broadcast_shape(&ins.iter().map(|a| a.shape.as_slice()).collect::<Vec<_>>());
    let strides: Vec<Vec<usize>> = ins.iter().map(|a| bstrides(&a.shape, &shape)).collect();
    let mut data = Vec::with_capacity(shape.iter().product());
    let mut vals = vec![0.0; ins.len()];
    walk(&shape, &strides, |off| {
        for (j, a) in ins.iter().enumerate() {
            vals[j] = a.data[off[j]];
        }
        data.push(f(&vals));
    });
    Arr::new(shape, data)
}

fn elementwise(a: &Arr, b: &Arr, f: impl Fn(f64, f64) -> f64) -> Arr {
    broadcast_map(&[a, b], |v| f(v[0], v[1]))
}

/// Folds `x` over `axes` (all when empty).
fn reduce(x: &Arr, axes: &[usize], keepdims: bool, init: f64, fold: impl Fn(f64, f64) -> f64) -> Arr {
    let all = axes.is_empty();
    let reduced = |i: usize| all || axes.contains(&i);
    let kept: Vec<usize> = x.shape.iter().enumerate().map(|(i, &d)| if reduced(i) { 1 } else { d }).collect();
    let mut out = vec![init; kept.iter().product()];
    let mut k = 0;
    walk(&x.shape, &[bstrides(&kept, &x.shape)], |off| {
        out[off[0]] = fold(out[off[0]], x.data[k]);
        k += 1;
    });
    let shape = if keepdims { kept } else { x.shape.iter().enumerate().filter(|(i, _)| !reduced(*i)).map(|(_, &d)| d).collect() };
    Arr::new(shape, out)
}

/// (outer, length, inner) of `shape` around `axis`.
fn split(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (shape[..axis].iter().product(), shape[axis], shape[axis + 1..].iter().product())
}

// ---------------------------------------------------------------------------------------------
// Ops.

pub fn matmul(a: &Arr, b: &Arr) -> Arr {
    let (ra, rb) = (a.shape.len(), b.shape.len());
    assert!(ra >= 2 && rb >= 2, "MatMul on rank {ra} and {rb}");
    let (m, k, n) = (a.shape[ra - 2], a.shape[ra - 1], b.shape[rb - 1]);
    assert_eq!(k, b.shape[rb - 2], "MatMul {:?} x {:?}", a.shape, b.shape);
    let batch = broadcast_shape(&[&a.shape[..ra - 2], &b.shape[..rb - 2]]);
    let scaled = |s: Vec<usize>, by: usize| s.into_iter().map(|v| v * by).collect::<Vec<_>>();
    let sa = scaled(bstrides(&a.shape[..ra - 2], &batch), m * k);
    let sb = scaled(bstrides(&b.shape[..rb - 2], &batch), k * n);
    let mut shape = batch.clone();
    shape.extend([m, n]);
    let mut data = Vec::with_capacity(shape.iter().product());
    walk(&batch, &[sa, sb], |off| {
        for i in 0..m {
            for j in 0..n {
                data.push((0..k).map(|kk| a.data[off[0] + i * k + kk] * b.data[off[1] + kk * n + j]).sum());
            }
        }
    });
    Arr::new(shape, data)
}

fn gemm(a: &Arr, b: &Arr, c: Option<&Arr>, alpha: f64, beta: f64, trans_a: bool, trans_b: bool) -> Arr {
    let t = |x: &Arr, yes: bool| if yes { transpose(x, &[1, 0]) } else { x.clone() };
    let mut y = matmul(&t(a, trans_a), &t(b, trans_b)).map(|v| alpha * v);
    if let Some(c) = c {
        y = elementwise(&y, c, |p, q| p + beta * q);
        assert_eq!(y.shape.len(), 2, "Gemm's C must broadcast to the product");
    }
    y
}

pub fn transpose(x: &Arr, perm: &[usize]) -> Arr {
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    let own = Arr::strides(&x.shape);
    let strides: Vec<usize> = perm.iter().map(|&p| own[p]).collect();
    let mut data = Vec::with_capacity(x.len());
    walk(&shape, &[strides], |off| data.push(x.data[off[0]]));
    Arr::new(shape, data)
}

fn slice(x: &Arr, starts: &[i64], ends: &[i64], axes: &[i64], steps: &[i64]) -> Arr {
    let rank = x.shape.len();
    // Per axis, the source positions taken.
    let mut picks: Vec<Vec<usize>> = x.shape.iter().map(|&d| (0..d).collect()).collect();
    for i in 0..starts.len() {
        let axis = axis_of(axes[i], rank);
        let d = x.shape[axis] as i64;
        let step = steps[i];
        assert_ne!(step, 0);
        let fix = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
        let (mut s, mut e) = (fix(starts[i]), fix(ends[i]));
        let mut taken = vec![];
        if step > 0 {
            s = s.clamp(0, d);
            e = e.clamp(0, d);
            while s < e {
                taken.push(s as usize);
                s += step;
            }
        } else {
            s = s.clamp(0, d - 1);
            e = e.clamp(-1, d - 1);
            while s > e {
                taken.push(s as usize);
                s += step;
            }
        }
        picks[axis] = taken;
    }
    let shape: Vec<usize> = picks.iter().map(Vec::len).collect();
    let strides = Arr::strides(&x.shape);
    let data = (0..shape.iter().product())
        .map(|k| {
            let out = Arr::unravel(&shape, k);
            x.data[out.iter().enumerate().map(|(a, &i)| picks[a][i] * strides[a]).sum::<usize>()]
        })
        .collect();
    Arr::new(shape, data)
}

fn pad(x: &Arr, pads: &[i64], value: f64) -> Arr {
    let rank = x.shape.len();
    assert_eq!(pads.len(), 2 * rank, "Pad: {pads:?} for rank {rank}");
    let shape: Vec<usize> = (0..rank).map(|i| (x.shape[i] as i64 + pads[i] + pads[rank + i]) as usize).collect();
    let strides = Arr::strides(&x.shape);
    let data = (0..shape.iter().product())
        .map(|k| {
            let out = Arr::unravel(&shape, k);
            let mut src = 0;
            for i in 0..rank {
                let s = out[i] as i64 - pads[i];
                if s < 0 || s >= x.shape[i] as i64 {
                    return value;
                }
                src += s as usize * strides[i];
            }
            x.data[src]
        })
        .collect();
    Arr::new(shape, data)
}

/// Pad in `reflect` mode (mirrored about the first and last element) or `edge` mode (those repeated),
/// from the operator spec's text.
fn border_pad(x: &Arr, pads: &[i64], reflect: bool) -> Arr {
    let rank = x.shape.len();
    assert_eq!(pads.len(), 2 * rank, "Pad: {pads:?} for rank {rank}");
    let shape: Vec<usize> = (0..rank).map(|i| (x.shape[i] as i64 + pads[i] + pads[rank + i]) as usize).collect();
    let strides = Arr::strides(&x.shape);
    let data = (0..shape.iter().product())
        .map(|k| {
            let out = Arr::unravel(&shape, k);
            let mut src = 0;
            for i in 0..rank {
                let n = x.shape[i] as i64;
                let s = out[i] as i64 - pads[i];
                let s = if reflect {
                    if s < 0 {
                        -s
                    } else if s >= n {
                        2 * (n - 1) - s
                    } else {
                        s
                    }
                } else {
                    s.clamp(0, n - 1)
                };
                assert!((0..n).contains(&s), "reflect pad wider than its dimension");
                src += s as usize * strides[i];
            }
            x.data[src]
        })
        .collect();
    Arr::new(shape, data)
}

fn gather(x: &Arr, indices: &Arr, axis: usize) -> Arr {
    let (outer, len, inner) = split(&x.shape, axis);
    let mut shape = x.shape[..axis].to_vec();
    shape.extend(&indices.shape);
    shape.extend(&x.shape[axis + 1..]);
    let mut data = Vec::with_capacity(shape.iter().product());
    for o in 0..outer {
        for &i in &indices.data {
            let i = i as i64;
            let i = if i < 0 { i + len as i64 } else { i };
            assert!((0..len as i64).contains(&i), "Gather index {i} out of range {len}");
            let start = (o * len + i as usize) * inner;
            data.extend_from_slice(&x.data[start..start + inner]);
        }
    }
    Arr::new(shape, data)
}

fn concat(xs: &[&Arr], axis: usize) -> Arr {
    let mut shape = xs[0].shape.clone();
    shape[axis] = xs.iter().map(|x| x.shape[axis]).sum();
    let (outer, _, inner) = split(&shape, axis);
    let mut data = Vec::with_capacity(shape.iter().product());
    for o in 0..outer {
        for x in xs {
            let chunk = x.shape[axis] * inner;
            data.extend_from_slice(&x.data[o * chunk..(o + 1) * chunk]);
        }
    }
    Arr::new(shape, data)
}

fn softmax(x: &Arr, axis: usize, log: bool) -> Arr {
    let (outer, len, inner) = split(&x.shape, axis);
    let mut out = x.data.clone();
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * len + j) * inner + i;
            let m = (0..len).map(|j| x.data[at(j)]).fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = (0..len).map(|j| (x.data[at(j)] - m).exp()).sum();
            for j in 0..len {
                let v = x.data[at(j)] - m;
                out[at(j)] = if log { v - s.ln() } else { v.exp() / s };
            }
        }
    }
    Arr::new(x.shape.clone(), out)
}

fn argmax(x: &Arr, axis: usize, keepdims: bool) -> Arr {
    let (outer, len, inner) = split(&x.shape, axis);
    let mut data = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let mut best = 0;
            for j in 1..len {
                // The first maximum (select_last_index = 0).
                if x.data[(o * len + j) * inner + i] > x.data[(o * len + best) * inner + i] {
                    best = j;
                }
            }
            data.push(best as f64);
        }
    }
    let mut shape = x.shape.clone();
    if keepdims {
        shape[axis] = 1;
    } else {
        shape.remove(axis);
    }
    Arr::new(shape, data)
}

/// The geometry of a 1-D or 2-D window op, written as 2-D (a 1-D op gets a leading axis of 1).
struct Window {
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
    begin: [usize; 2],
    end: [usize; 2],
    output_padding: [usize; 2],
}

impl Window {
    fn new(at: &At, spatial: usize, kernel: Option<&[usize]>) -> Window {
        assert!(spatial == 1 || spatial == 2, "the test interpreter runs 1-D and 2-D windows, not {spatial}-D");
        let list = |name: &str, default: i64, len: usize| -> Vec<usize> {
            let v = at.ints(name).unwrap_or_else(|| vec![default; len]);
            assert_eq!(v.len(), len, "attribute {name}: {v:?}");
            v.into_iter().map(|x| x as usize).collect()
        };
        let kernel = match at.ints("kernel_shape") {
            Some(k) => k.into_iter().map(|x| x as usize).collect(),
            None => kernel.expect("kernel_shape").to_vec(),
        };
        assert_eq!(kernel.len(), spatial);
        let two = |v: Vec<usize>, fill: usize| if spatial == 1 { [fill, v[0]] } else { [v[0], v[1]] };
        let pads = list("pads", 0, 2 * spatial);
        Window {
            kernel: two(kernel, 1),
            strides: two(list("strides", 1, spatial), 1),
            dilations: two(list("dilations", 1, spatial), 1),
            begin: two(pads[..spatial].to_vec(), 0),
            end: two(pads[spatial..].to_vec(), 0),
            output_padding: two(list("output_padding", 0, spatial), 0),
        }
    }

    /// Output length of window op axis `i` over an input of `n`.
    fn out(&self, i: usize, n: usize) -> usize {
        let span = self.dilations[i] * (self.kernel[i] - 1) + 1;
        (n + self.begin[i] + self.end[i] - span) / self.strides[i] + 1
    }

    /// The input position read by output `o` at kernel offset `k` on axis `i`, when inside the input.
    fn source(&self, i: usize, o: usize, k: usize, n: usize) -> Option<usize> {
        let p = (o * self.strides[i] + k * self.dilations[i]) as i64 - self.begin[i] as i64;
        (0..n as i64).contains(&p).then_some(p as usize)
    }
}

/// (N, C, spatial...) as (N, C, H, W).
fn as_4d(x: &Arr) -> (usize, usize, usize, usize) {
    match x.shape[..] {
        [n, c, w] => (n, c, 1, w),
        [n, c, h, w] => (n, c, h, w),
        _ => panic!("a window op on {:?}", x.shape),
    }
}

/// Back from (N, C, H, W) to the input's spatial rank.
fn from_4d(spatial: usize, n: usize, c: usize, h: usize, w: usize, data: Vec<f64>) -> Arr {
    Arr::new(if spatial == 1 { vec![n, c, w] } else { vec![n, c, h, w] }, data)
}

fn conv(x: &Arr, w: &Arr, b: Option<&Arr>, at: &At) -> Arr {
    let spatial = x.shape.len() - 2;
    let win = Window::new(at, spatial, Some(&w.shape[2..]));
    let group = at.int("group", 1) as usize;
    let (n, c, h, wd) = as_4d(x);
    let (m, cg) = (w.shape[0], w.shape[1]);
    assert_eq!(c, cg * group, "Conv: {c} channels, weights {:?}, {group} groups", w.shape);
    let mg = m / group;
    let [kh, kw] = win.kernel;
    let (oh, ow) = (win.out(0, h), win.out(1, wd));
    // For each (output, kernel offset) pair, the input row or column it reads.
    let rows: Vec<Option<usize>> = (0..oh * kh).map(|i| win.source(0, i / kh, i % kh, h)).collect();
    let cols: Vec<Option<usize>> = (0..ow * kw).map(|i| win.source(1, i / kw, i % kw, wd)).collect();
    let mut data = vec![0.0; n * m * oh * ow];
    for ni in 0..n {
        for mi in 0..m {
            let g = mi / mg;
            let out = &mut data[(ni * m + mi) * oh * ow..][..oh * ow];
            out.fill(b.map_or(0.0, |b| b.data[mi]));
            for cl in 0..cg {
                let plane = &x.data[(ni * c + g * cg + cl) * h * wd..][..h * wd];
                for ky in 0..kh {
                    for kx in 0..kw {
                        let wv = w.data[((mi * cg + cl) * kh + ky) * kw + kx];
                        for oy in 0..oh {
                            let Some(iy) = rows[oy * kh + ky] else { continue };
                            for ox in 0..ow {
                                if let Some(ix) = cols[ox * kw + kx] {
                                    out[oy * ow + ox] += plane[iy * wd + ix] * wv;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    from_4d(spatial, n, m, oh, ow, data)
}

fn conv_transpose(x: &Arr, w: &Arr, b: Option<&Arr>, at: &At) -> Arr {
    assert!(at.get("output_shape").is_none(), "the test interpreter takes ConvTranspose's shape from its pads");
    let spatial = x.shape.len() - 2;
    let win = Window::new(at, spatial, Some(&w.shape[2..]));
    let group = at.int("group", 1) as usize;
    let (n, cin, h, wd) = as_4d(x);
    assert_eq!(w.shape[0], cin, "ConvTranspose: {cin} channels, weights {:?}", w.shape);
    let (cing, coutg) = (cin / group, w.shape[1]);
    let cout = coutg * group;
    let [kh, kw] = win.kernel;
    let size = |i: usize, n: usize| {
        win.strides[i] * (n - 1) + win.output_padding[i] + win.dilations[i] * (win.kernel[i] - 1) + 1 - win.begin[i] - win.end[i]
    };
    let (oh, ow) = (size(0, h), size(1, wd));
    let mut out = vec![0.0; n * cout * oh * ow];
    for ni in 0..n {
        for ci in 0..cin {
            let g = ci / cing;
            for iy in 0..h {
                for ix in 0..wd {
                    let v = x.data[((ni * cin + ci) * h + iy) * wd + ix];
                    for col in 0..coutg {
                        let co = g * coutg + col;
                        for ky in 0..kh {
                            let Some(oy) = win.source(0, iy, ky, oh) else { continue };
                            for kx in 0..kw {
                                let Some(ox) = win.source(1, ix, kx, ow) else { continue };
                                out[((ni * cout + co) * oh + oy) * ow + ox] += v * w.data[((ci * coutg + col) * kh + ky) * kw + kx];
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(b) = b {
        for (k, o) in out.iter_mut().enumerate() {
            *o += b.data[(k / (oh * ow)) % cout];
        }
    }
    from_4d(spatial, n, cout, oh, ow, out)
}

fn pool(x: &Arr, at: &At, max: bool) -> Arr {
    let spatial = x.shape.len() - 2;
    let win = Window::new(at, spatial, None);
    assert_eq!(at.int("ceil_mode", 0), 0, "ceil_mode");
    let include_pad = at.int("count_include_pad", 0) != 0;
    let (n, c, h, wd) = as_4d(x);
    let (oh, ow) = (win.out(0, h), win.out(1, wd));
    let [kh, kw] = win.kernel;
    let mut data = Vec::with_capacity(n * c * oh * ow);
    for nc in 0..n * c {
        for oy in 0..oh {
            for ox in 0..ow {
                let (mut best, mut sum, mut count) = (f64::NEG_INFINITY, 0.0, 0usize);
                for ky in 0..kh {
                    let Some(iy) = win.source(0, oy, ky, h) else { continue };
                    for kx in 0..kw {
                        let Some(ix) = win.source(1, ox, kx, wd) else { continue };
                        let v = x.data[(nc * h + iy) * wd + ix];
                        best = best.max(v);
                        sum += v;
                        count += 1;
                    }
                }
                data.push(if max { best } else { sum / if include_pad { (kh * kw) as f64 } else { count as f64 } });
            }
        }
    }
    from_4d(spatial, n, c, oh, ow, data)
}

fn batch_norm(x: &Arr, scale: &Arr, bias: &Arr, mean: &Arr, var: &Arr, epsilon: f64) -> Arr {
    let c = x.shape[1];
    let inner: usize = x.shape[2..].iter().product();
    let data = x
        .data
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            let ch = (k / inner) % c;
            scale.data[ch] * (v - mean.data[ch]) / (var.data[ch] + epsilon).sqrt() + bias.data[ch]
        })
        .collect();
    Arr::new(x.shape.clone(), data)
}

fn reshape(x: &Arr, target: &[i64]) -> Arr {
    let mut shape: Vec<usize> = target.iter().enumerate().map(|(i, &t)| if t == 0 { x.shape[i] } else { t.max(1) as usize }).collect();
    if let Some(hole) = target.iter().position(|&t| t == -1) {
        let known: usize = shape.iter().enumerate().filter(|(i, _)| *i != hole).map(|(_, &d)| d).product();
        shape[hole] = x.len() / known;
    }
    assert_eq!(shape.iter().product::<usize>(), x.len(), "Reshape {:?} to {target:?}", x.shape);
    x.reshaped(shape)
}

fn cast(x: &Arr, to: i64) -> Arr {
    match DType::from_onnx_code(to as i32) {
        Some(d) if d.is_float() => x.clone(),
        Some(DType::Bool) => x.map(|v| (v != 0.0) as u8 as f64),
        Some(_) => x.map(f64::trunc),
        None => panic!("Cast to {to}"),
    }
}

/// A node's attributes.
struct At<'a>(&'a [AttributeProto]);

impl At<'_> {
    fn get(&self, name: &str) -> Option<&AttributeProto> {
        self.0.iter().find(|a| a.name.as_deref() == Some(name))
    }

    fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).and_then(|a| a.i).unwrap_or(default)
    }

    fn float(&self, name: &str, default: f32) -> f64 {
        self.get(name).and_then(|a| a.f).unwrap_or(default) as f64
    }

    fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.get(name).map(|a| a.ints.clone())
    }

    fn string(&self, name: &str) -> Option<String> {
        self.get(name).and_then(|a| a.s.clone()).map(|s| String::from_utf8(s).unwrap())
    }
}

/// Evaluates one node from its op type, attributes and inputs (`None` for an omitted optional one).
pub fn eval(op: &str, attributes: &[AttributeProto], ins: &[Option<&Arr>]) -> Vec<Arr> {
    let at = At(attributes);
    let input = |i: usize| ins.get(i).copied().flatten().unwrap_or_else(|| panic!("{op}: input {i} is missing"));
    let opt = |i: usize| ins.get(i).copied().flatten();
    let x = || input(0);
    let bin = |f: fn(f64, f64) -> f64| elementwise(input(0), input(1), f);
    let rank = || x().shape.len();
    let out = match op {
        "Identity" => x().clone(),
        // Inference: the identity, and a mask of all true.
        "Dropout" => return vec![x().clone(), x().map(|_| 1.0)],
        "Relu" => x().map(|v| v.max(0.0)),
        "LeakyRelu" => {
            let alpha = at.float("alpha", 0.01);
            x().map(|v| if v >= 0.0 { v } else { alpha * v })
        }
        "Elu" => {
            let alpha = at.float("alpha", 1.0);
            x().map(|v| if v >= 0.0 { v } else { alpha * (v.exp() - 1.0) })
        }
        "Sigmoid" => x().map(|v| 1.0 / (1.0 + (-v).exp())),
        "Tanh" => x().map(f64::tanh),
        "Erf" => x().map(erf),
        "Neg" => x().map(|v| -v),
        "Exp" => x().map(f64::exp),
        "Log" => x().map(f64::ln),
        "Sqrt" => x().map(f64::sqrt),
        "Abs" => x().map(f64::abs),
        "Sign" => x().map(|v| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                0.0
            }
        }),
        "Floor" => x().map(f64::floor),
        "Ceil" => x().map(f64::ceil),
        // Halves to even.
        "Round" => x().map(|v| if (v - v.trunc()).abs() == 0.5 { 2.0 * (v / 2.0).round() } else { v.round() }),
        "Reciprocal" => x().map(|v| 1.0 / v),
        "Cos" => x().map(f64::cos),
        "Sin" => x().map(f64::sin),
        "Tan" => x().map(f64::tan),
        "Asin" => x().map(f64::asin),
        "Acos" => x().map(f64::acos),
        "Atan" => x().map(f64::atan),
        "Sinh" => x().map(f64::sinh),
        "Cosh" => x().map(f64::cosh),
        "Asinh" => x().map(f64::asinh),
        "Acosh" => x().map(f64::acosh),
        "Atanh" => x().map(f64::atanh),
        "Softplus" => x().map(|v| v.exp().ln_1p()),
        "Softsign" => x().map(|v| v / (1.0 + v.abs())),
        "Celu" => {
            let alpha = at.float("alpha", 1.0);
            x().map(|v| v.max(0.0) + (alpha * ((v / alpha).exp() - 1.0)).min(0.0))
        }
        "Selu" => {
            let (alpha, gamma) = (at.float("alpha", 1.673_263_2), at.float("gamma", 1.050_701));
            x().map(|v| if v > 0.0 { gamma * v } else { gamma * alpha * (v.exp() - 1.0) })
        }
        "ThresholdedRelu" => {
            let alpha = at.float("alpha", 1.0);
            x().map(|v| if v > alpha { v } else { 0.0 })
        }
        "HardSigmoid" => {
            let (alpha, beta) = (at.float("alpha", 0.2), at.float("beta", 0.5));
            x().map(|v| (alpha * v + beta).clamp(0.0, 1.0))
        }
        "HardSwish" => x().map(|v| v * (v / 6.0 + 0.5).clamp(0.0, 1.0)),
        "Shrink" => {
            let (lambd, bias) = (at.float("lambd", 0.5), at.float("bias", 0.0));
            x().map(|v| {
                if v < -lambd {
                    v + bias
                } else if v > lambd {
                    v - bias
                } else {
                    0.0
                }
            })
        }
        "Not" => x().map(|v| (v == 0.0) as u8 as f64),
        "IsNaN" => x().map(|v| v.is_nan() as u8 as f64),
        "IsInf" => {
            let (neg, pos) = (at.int("detect_negative", 1) != 0, at.int("detect_positive", 1) != 0);
            x().map(|v| ((v == f64::INFINITY && pos) || (v == f64::NEG_INFINITY && neg)) as u8 as f64)
        }
        // Nearest upscaling by whole factors (the case whose gradient onyx has): cell j reads ⌊j/k⌋.
        "Resize" => {
            let scales = input(2);
            let shape: Vec<usize> = x().shape.iter().zip(&scales.data).map(|(&d, &s)| d * s as usize).collect();
            let n: usize = shape.iter().product();
            let data = (0..n)
                .map(|flat| {
                    let mut rest = flat;
                    let mut src = 0;
                    let mut stride = 1;
                    let mut index = vec![0; shape.len()];
                    for a in (0..shape.len()).rev() {
                        index[a] = rest % shape[a];
                        rest /= shape[a];
                    }
                    for a in (0..shape.len()).rev() {
                        src += index[a] / scales.data[a] as usize * stride;
                        stride *= x().shape[a];
                    }
                    x().data[src]
                })
                .collect();
            Arr::new(shape, data)
        }
        "Clip" => {
            let (lo, hi) = (opt(1).map_or(f64::NEG_INFINITY, |a| a.data[0]), opt(2).map_or(f64::INFINITY, |a| a.data[0]));
            x().map(|v| v.max(lo).min(hi))
        }
        "Shape" => Arr::new(vec![rank()], x().shape.iter().map(|&d| d as f64).collect()),
        "Add" => bin(|a, b| a + b),
        "Sub" => bin(|a, b| a - b),
        "Mul" => bin(|a, b| a * b),
        "Div" => bin(|a, b| a / b),
        "Pow" => bin(f64::powf),
        "Max" => bin(f64::max),
        "Min" => bin(f64::min),
        "PRelu" => bin(|x, slope| if x < 0.0 { slope * x } else { x }),
        "Mod" if at.int("fmod", 0) != 0 => bin(|a, b| a % b),
        "Mod" => bin(|a, b| a - b * (a / b).floor()),
        "Greater" => bin(|a, b| (a > b) as u8 as f64),
        "Less" => bin(|a, b| (a < b) as u8 as f64),
        "Equal" => bin(|a, b| (a == b) as u8 as f64),
        "GreaterOrEqual" => bin(|a, b| (a >= b) as u8 as f64),
        "LessOrEqual" => bin(|a, b| (a <= b) as u8 as f64),
        "And" => bin(|a, b| (a != 0.0 && b != 0.0) as u8 as f64),
        "Or" => bin(|a, b| (a != 0.0 || b != 0.0) as u8 as f64),
        "Xor" => bin(|a, b| ((a != 0.0) != (b != 0.0)) as u8 as f64),
        "Expand" => {
            let shape: Vec<usize> = input(1).ints().iter().map(|&d| d as usize).collect();
            broadcast_map(&[x(), &Arr::filled(shape, 0.0)], |v| v[0])
        }
        "Tile" => {
            let repeats: Vec<usize> = input(1).ints().iter().map(|&r| r as usize).collect();
            let shape: Vec<usize> = x().shape.iter().zip(&repeats).map(|(d, r)| d * r).collect();
            let data = (0..shape.iter().product())
                .map(|k| {
                    let idx: Vec<usize> = Arr::unravel(&shape, k).iter().zip(&x().shape).map(|(i, d)| i % d).collect();
                    x().at(&idx)
                })
                .collect();
            Arr::new(shape, data)
        }
        "CumSum" => {
            let axis = axis_of(input(1).ints()[0], rank());
            let (exclusive, reverse) = (at.int("exclusive", 0) != 0, at.int("reverse", 0) != 0);
            let (outer, len, inner) = split(&x().shape, axis);
            let mut out = vec![0.0; x().len()];
            for o in 0..outer {
                for i in 0..inner {
                    let mut sum = 0.0;
                    for step in 0..len {
                        let j = if reverse { len - 1 - step } else { step };
                        let k = (o * len + j) * inner + i;
                        if exclusive {
                            out[k] = sum;
                            sum += x().data[k];
                        } else {
                            sum += x().data[k];
                            out[k] = sum;
                        }
                    }
                }
            }
            Arr::new(x().shape.clone(), out)
        }
        "LRN" => {
            let size = at.int("size", 0) as usize;
            let (alpha, beta, bias) = (at.float("alpha", 1e-4), at.float("beta", 0.75), at.float("bias", 1.0));
            let (below, above) = ((size - 1) / 2, size - 1 - (size - 1) / 2);
            let (outer, c, inner) = split(&x().shape, 1);
            let mut out = vec![0.0; x().len()];
            for o in 0..outer {
                for ch in 0..c {
                    for i in 0..inner {
                        let sum: f64 = (ch.saturating_sub(below)..=(ch + above).min(c - 1)).map(|j| x().data[(o * c + j) * inner + i].powi(2)).sum();
                        let k = (o * c + ch) * inner + i;
                        out[k] = x().data[k] / (bias + alpha / size as f64 * sum).powf(beta);
                    }
                }
            }
            Arr::new(x().shape.clone(), out)
        }
        "LayerNormalization" | "InstanceNormalization" => {
            let layer = op == "LayerNormalization";
            let first = if layer { axis_of(at.int("axis", -1), rank()) } else { 2 };
            let eps = at.float("epsilon", 1e-5);
            let axes: Vec<usize> = (first..rank()).collect();
            let count = axes.iter().map(|&a| x().shape[a]).product::<usize>() as f64;
            let mean = reduce(x(), &axes, true, 0.0, |a, b| a + b).map(|v| v / count);
            let centered = elementwise(x(), &mean, |a, b| a - b);
            let var = reduce(&centered.map(|v| v * v), &axes, true, 0.0, |a, b| a + b).map(|v| v / count);
            let normalized = elementwise(&centered, &var, |c, v| c / (v + eps).sqrt());
            let (scale, bias) = if layer {
                (input(1).clone(), opt(2).cloned().unwrap_or_else(|| Arr::scalar(0.0)))
            } else {
                let per_channel = |a: &Arr| a.reshaped(std::iter::once(a.len()).chain(std::iter::repeat_n(1, rank() - 2)).collect());
                (per_channel(input(1)), per_channel(input(2)))
            };
            let y = elementwise(&elementwise(&normalized, &scale, |a, b| a * b), &bias, |a, b| a + b);
            if layer {
                return vec![y, mean, var.map(|v| 1.0 / (v + eps).sqrt())];
            }
            y
        }
        "GlobalMaxPool" => reduce(x(), &(2..rank()).collect::<Vec<_>>(), true, f64::NEG_INFINITY, f64::max),
        "Size" => Arr::scalar(x().len() as f64),
        "Where" => broadcast_map(&[input(0), input(1), input(2)], |v| if v[0] != 0.0 { v[1] } else { v[2] }),
        "Cast" => cast(x(), at.int("to", 0)),
        "MatMul" => matmul(x(), input(1)),
        "Gemm" => gemm(x(), input(1), opt(2), at.float("alpha", 1.0), at.float("beta", 1.0), at.int("transA", 0) != 0, at.int("transB", 0) != 0),
        "Softmax" | "LogSoftmax" => softmax(x(), axis_of(at.int("axis", -1), rank()), op == "LogSoftmax"),
        "ArgMax" => {
            assert_eq!(at.int("select_last_index", 0), 0);
            argmax(x(), axis_of(at.int("axis", 0), rank()), at.int("keepdims", 1) != 0)
        }
        "Flatten" => {
            let a = at.int("axis", 1);
            let axis = if a == rank() as i64 { rank() } else { axis_of(a, rank()) };
            let outer = x().shape[..axis].iter().product::<usize>();
            x().reshaped(vec![outer, x().len() / outer.max(1)])
        }
        "Reshape" => reshape(x(), &input(1).ints()),
        "Transpose" => {
            let perm: Vec<usize> = at.ints("perm").map_or_else(|| (0..rank()).rev().collect(), |p| p.iter().map(|&p| p as usize).collect());
            transpose(x(), &perm)
        }
        "Squeeze" => {
            let axes: Vec<usize> = match opt(1) {
                Some(a) => a.ints().iter().map(|&a| axis_of(a, rank())).collect(),
                None => (0..rank()).filter(|&i| x().shape[i] == 1).collect(),
            };
            for &a in &axes {
                assert_eq!(x().shape[a], 1, "Squeeze axis {a} of {:?}", x().shape);
            }
            let shape = x().shape.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect();
            x().reshaped(shape)
        }
        "Unsqueeze" => {
            let axes = input(1).ints();
            let r = rank() + axes.len();
            let axes: Vec<usize> = axes.iter().map(|&a| axis_of(a, r)).collect();
            let mut rest = x().shape.iter();
            let shape = (0..r).map(|i| if axes.contains(&i) { 1 } else { *rest.next().unwrap() }).collect();
            x().reshaped(shape)
        }
        "Slice" => {
            let starts = input(1).ints();
            let ends = input(2).ints();
            let axes = opt(3).map_or_else(|| (0..starts.len() as i64).collect(), Arr::ints);
            let steps = opt(4).map_or_else(|| vec![1; starts.len()], Arr::ints);
            slice(x(), &starts, &ends, &axes, &steps)
        }
        "Split" => {
            let axis = axis_of(at.int("axis", 0), rank());
            let mut start = 0;
            return input(1)
                .ints()
                .iter()
                .map(|&len| {
                    let part = slice(x(), &[start], &[start + len], &[axis as i64], &[1]);
                    start += len;
                    part
                })
                .collect();
        }
        "Pad" => {
            let mode = at.string("mode").unwrap_or_else(|| "constant".into());
            match mode.as_str() {
                "constant" => pad(x(), &input(1).ints(), opt(2).map_or(0.0, |v| v.data[0])),
                "reflect" | "edge" => border_pad(x(), &input(1).ints(), mode == "reflect"),
                other => panic!("Pad mode {other}"),
            }
        }
        "Gather" => gather(x(), input(1), axis_of(at.int("axis", 0), rank())),
        "Concat" => {
            let xs: Vec<&Arr> = ins.iter().map(|i| i.expect("Concat input")).collect();
            concat(&xs, axis_of(at.int("axis", 0), xs[0].shape.len()))
        }
        _ if op.starts_with("Reduce") => {
            assert_eq!(at.int("noop_with_empty_axes", 0), 0);
            let axes = if op == "ReduceSum" { opt(1).map(Arr::ints) } else { at.ints("axes") };
            let axes: Vec<usize> = axes.unwrap_or_default().iter().map(|&a| axis_of(a, rank())).collect();
            let keepdims = at.int("keepdims", 1) != 0;
            let sum = |x: &Arr| reduce(x, &axes, keepdims, 0.0, |a, b| a + b);
            match op {
                "ReduceSum" => sum(x()),
                "ReduceMax" => reduce(x(), &axes, keepdims, f64::NEG_INFINITY, f64::max),
                "ReduceMin" => reduce(x(), &axes, keepdims, f64::INFINITY, f64::min),
                "ReduceProd" => reduce(x(), &axes, keepdims, 1.0, |a, b| a * b),
                "ReduceL1" => sum(&x().map(f64::abs)),
                "ReduceL2" => sum(&x().map(|v| v * v)).map(f64::sqrt),
                "ReduceSumSquare" => sum(&x().map(|v| v * v)),
                "ReduceLogSum" => sum(x()).map(f64::ln),
                "ReduceLogSumExp" => sum(&x().map(f64::exp)).map(f64::ln),
                "ReduceMean" => {
                    let total = sum(x());
                    let count = (x().len() / total.len().max(1)) as f64;
                    total.map(|v| v / count)
                }
                other => panic!("the test interpreter does not know {other}"),
            }
        }
        "TopK" => {
            let axis = axis_of(at.int("axis", -1), rank());
            let k = input(1).ints()[0] as usize;
            let largest = at.int("largest", 1) != 0;
            let (outer, len, inner) = split(&x().shape, axis);
            let mut shape = x().shape.clone();
            shape[axis] = k;
            let (mut values, mut indices) = (vec![0.0; outer * k * inner], vec![0.0; outer * k * inner]);
            for o in 0..outer {
                for i in 0..inner {
                    let v = |j: usize| x().data[(o * len + j) * inner + i];
                    let mut order: Vec<usize> = (0..len).collect();
                    // Stable: equal values keep the lower index first.
                    order.sort_by(|&a, &b| if largest { v(b).total_cmp(&v(a)) } else { v(a).total_cmp(&v(b)) });
                    for (r, &j) in order.iter().take(k).enumerate() {
                        values[(o * k + r) * inner + i] = v(j);
                        indices[(o * k + r) * inner + i] = j as f64;
                    }
                }
            }
            return vec![Arr::new(shape.clone(), values), Arr::new(shape, indices)];
        }
        "Conv" => conv(x(), input(1), opt(2), &at),
        "ConvTranspose" => conv_transpose(x(), input(1), opt(2), &at),
        "MaxPool" => {
            assert!(at.ints("dilations").is_none_or(|d| d.iter().all(|&d| d == 1)), "MaxPool dilations");
            pool(x(), &at, true)
        }
        "AveragePool" => pool(x(), &at, false),
        "GlobalAveragePool" => {
            let axes: Vec<usize> = (2..rank()).collect();
            let sum = reduce(x(), &axes, true, 0.0, |a, b| a + b);
            let count = (x().len() / sum.len().max(1)) as f64;
            sum.map(|v| v / count)
        }
        "BatchNormalization" => {
            assert_eq!(at.int("training_mode", 0), 0, "BatchNormalization training mode");
            batch_norm(x(), input(1), input(2), input(3), input(4), at.float("epsilon", 1e-5))
        }
        other => panic!("the test interpreter does not know {other}"),
    };
    vec![out]
}

// ---------------------------------------------------------------------------------------------
// Drivers.

/// Runs a model on the given inputs; returns every value by name.
pub fn run(model: &ModelProto, inputs: &[(&str, Arr)]) -> HashMap<String, Arr> {
    let g = model.graph.as_ref().unwrap();
    let mut env: HashMap<String, Arr> = HashMap::new();
    for t in &g.initializer {
        env.insert(t.name.clone().unwrap(), tensor_arr(t));
    }
    for (name, a) in inputs {
        env.insert(name.to_string(), a.clone());
    }
    for n in &g.node {
        let ins: Vec<Option<&Arr>> =
            n.input.iter().map(|i| (!i.is_empty()).then(|| env.get(i).unwrap_or_else(|| panic!("`{i}` is not computed yet")))).collect();
        let outs = eval(n.op_type.as_deref().unwrap(), &n.attribute, &ins);
        assert!(outs.len() >= n.output.len(), "{:?} gives {} outputs", n.op_type, outs.len());
        for (name, v) in n.output.iter().zip(outs) {
            env.insert(name.clone(), v);
        }
    }
    env
}

/// Runs an IR graph: `feeds` give the graph inputs and may override initializers. Returns every value
/// by id (`None` for one nothing computes). Each computed shape must match the inferred type.
pub fn run_graph(graph: &Graph, feeds: &HashMap<ValueId, Arr>) -> Vec<Option<Arr>> {
    let mut env: Vec<Option<Arr>> =
        graph.values.iter().enumerate().map(|(i, v)| feeds.get(&ValueId(i)).cloned().or_else(|| v.init.as_ref().map(Arr::from_tensor))).collect();
    for &i in &graph.inputs {
        assert!(env[i.0].is_some(), "input `{}` is not fed", graph.value(i).name);
    }
    for n in &graph.nodes {
        let ins: Vec<Option<&Arr>> = n
            .inputs
            .iter()
            .map(|i| i.map(|id| env[id.0].as_ref().unwrap_or_else(|| panic!("`{}` is not computed yet", graph.value(id).name))))
            .collect();
        let outs = eval(n.op.op_type(), &n.op.attributes(), &ins);
        assert!(outs.len() >= n.outputs.len(), "node `{}` gives {} outputs", n.name, outs.len());
        for (&id, v) in n.outputs.iter().zip(outs) {
            let ty = &graph.value(id).ty;
            let agrees =
                ty.shape.len() == v.shape.len() && ty.shape.iter().zip(&v.shape).all(|(d, &n)| matches!(d, Dim::Sym(_)) || *d == Dim::Fixed(n));
            assert!(agrees, "node `{}` ({}): computed {:?}, inferred {ty}", n.name, n.op.op_type(), v.shape);
            env[id.0] = Some(v);
        }
    }
    env
}
