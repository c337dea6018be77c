//! The integer arithmetic exporters put between a `Shape` and the `Reshape`, `Expand`, `Range` or `If`
//! that reads it (PyTorch's `x.view(x.size(0), -1)`, paddle2onnx's int32 round trips, tf2onnx's
//! strided slices of a shape), evaluated at import when every input it reads is known.
//!
//! Values are integer or boolean tensors of any rank (held as i64), and float tensors only where they
//! come from integers (a Cast to float before a `Range`) or are scalars: larger float computations
//! are the model's, and left to the engine. Semantics are those of opset 17.
use onyx_proto::onnx::NodeProto;

use crate::ir::{DType, Tensor, TensorType};

/// The most elements a folded value may hold: shape arithmetic is small.
const MAX_FOLDED: usize = 1 << 16;

/// A known value: integers (and booleans) exactly, floats as f64.
#[derive(Clone, Debug)]
struct V {
    dtype: DType,
    dims: Vec<usize>,
    ints: Vec<i64>,
    floats: Vec<f64>,
}

impl V {
    fn len(&self) -> usize {
        self.dims.iter().product()
    }

    fn is_float(&self) -> bool {
        self.dtype.is_float()
    }

    fn f(&self, i: usize) -> f64 {
        if self.is_float() { self.floats[i] } else { self.ints[i] as f64 }
    }

    fn i(&self, i: usize) -> i64 {
        if self.is_float() { self.floats[i] as i64 } else { self.ints[i] }
    }

    fn ints(dtype: DType, dims: Vec<usize>, ints: Vec<i64>) -> V {
        V { dtype, dims, ints, floats: vec![] }
    }

    fn floats(dtype: DType, dims: Vec<usize>, floats: Vec<f64>) -> V {
        V { dtype, dims, ints: vec![], floats }
    }

    /// The elements at `picks` (flat positions), in the shape `dims`.
    fn pick(&self, dims: Vec<usize>, picks: &[usize]) -> V {
        if self.is_float() {
            V::floats(self.dtype, dims, picks.iter().map(|&p| self.floats[p]).collect())
        } else {
            V::ints(self.dtype, dims, picks.iter().map(|&p| self.ints[p]).collect())
        }
    }

    fn read(t: &Tensor) -> Option<V> {
        let d = &t.data;
        let ints = |size: usize, f: &dyn Fn(&[u8]) -> i64| V::ints(t.dtype, t.dims.clone(), d.chunks_exact(size).map(f).collect());
        let v = match t.dtype {
            DType::I64 => ints(8, &|c| i64::from_le_bytes(c.try_into().unwrap())),
            DType::I32 => ints(4, &|c| i32::from_le_bytes(c.try_into().unwrap()) as i64),
            DType::I16 => ints(2, &|c| i16::from_le_bytes(c.try_into().unwrap()) as i64),
            DType::U16 => ints(2, &|c| u16::from_le_bytes(c.try_into().unwrap()) as i64),
            DType::U32 => ints(4, &|c| u32::from_le_bytes(c.try_into().unwrap()) as i64),
            DType::U64 => ints(8, &|c| u64::from_le_bytes(c.try_into().unwrap()) as i64),
            DType::I8 => ints(1, &|c| c[0] as i8 as i64),
            DType::U8 | DType::Bool => ints(1, &|c| c[0] as i64),
            DType::F32 => V::floats(t.dtype, t.dims.clone(), d.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect()),
            DType::F64 => V::floats(t.dtype, t.dims.clone(), d.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()),
            DType::F16 | DType::BF16 => return None,
        };
        Some(v)
    }

    /// Converted to `dtype` as ONNX's Cast does (floats to integers truncate).
    fn cast(&self, dtype: DType) -> Option<V> {
        let n = self.len();
        Some(match dtype {
            DType::F32 => V::floats(dtype, self.dims.clone(), (0..n).map(|i| self.f(i) as f32 as f64).collect()),
            DType::F64 => V::floats(dtype, self.dims.clone(), (0..n).map(|i| self.f(i)).collect()),
            DType::Bool => V::ints(dtype, self.dims.clone(), (0..n).map(|i| (self.f(i) != 0.0) as i64).collect()),
            DType::F16 | DType::BF16 => return None,
            _ => {
                let wrap = |v: i64| match dtype {
                    DType::I32 => v as i32 as i64,
                    DType::I16 => v as i16 as i64,
                    DType::I8 => v as i8 as i64,
                    DType::U8 => v as u8 as i64,
                    DType::U16 => v as u16 as i64,
                    DType::U32 => v as u32 as i64,
                    _ => v,
                };
                V::ints(dtype, self.dims.clone(), (0..n).map(|i| wrap(self.i(i))).collect())
            }
        })
    }

    fn write(&self) -> Tensor {
        let data: Vec<u8> = match self.dtype {
            DType::F32 => self.floats.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect(),
            DType::F64 => self.floats.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::I64 | DType::U64 => self.ints.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::I32 | DType::U32 => self.ints.iter().flat_map(|&v| (v as i32).to_le_bytes()).collect(),
            DType::I16 | DType::U16 => self.ints.iter().flat_map(|&v| (v as i16).to_le_bytes()).collect(),
            _ => self.ints.iter().map(|&v| v as u8).collect(),
        };
        Tensor { dtype: self.dtype, dims: self.dims.clone(), data }
    }
}

fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// NumPy's broadcast of several shapes, or `None` when they do not broadcast.
fn broadcast(shapes: &[&[usize]]) -> Option<Vec<usize>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    (0..rank)
        .map(|i| {
            let mut d = 1;
            for s in shapes {
                let k = (i + s.len()).checked_sub(rank).map_or(1, |j| s[j]);
                if k != 1 {
                    if d != 1 && d != k {
                        return None;
                    }
                    d = k;
                }
            }
            Some(d)
        })
        .collect()
}

/// For each element of `out`, the flat position it reads in a tensor of shape `dims` broadcast to it.
fn broadcast_positions(dims: &[usize], out: &[usize]) -> Vec<usize> {
    let total: usize = out.iter().product();
    let st = strides(dims);
    let lead = out.len() - dims.len();
    let out_st = strides(out);
    (0..total)
        .map(|flat| {
            (0..dims.len())
                .map(|j| {
                    let idx = (flat / out_st[lead + j]) % out[lead + j];
                    if dims[j] == 1 { 0 } else { idx * st[j] }
                })
                .sum()
        })
        .collect()
}

fn axis(a: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if (0..r).contains(&v) { Ok(v as usize) } else { Err(format!("axis {a} is out of range for rank {rank}")) }
}

/// The node's value, when it is one of the ops evaluated here and every input it reads is known;
/// `None` leaves the node to run.
pub fn evaluate(n: &NodeProto, inputs: &[Option<(&TensorType, Option<&Tensor>)>]) -> Result<Option<Tensor>, String> {
    let op = n.op_type.as_deref().unwrap_or_default();
    const OPS: &[&str] = &[
        "Gather",
        "Unsqueeze",
        "Squeeze",
        "Concat",
        "Slice",
        "Cast",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Mod",
        "Max",
        "Min",
        "Neg",
        "Abs",
        "Equal",
        "Less",
        "Greater",
        "LessOrEqual",
        "GreaterOrEqual",
        "Not",
        "And",
        "Or",
        "Xor",
        "Where",
        "Reshape",
        "Expand",
        "Size",
        "ReduceProd",
        "ReduceSum",
        "ReduceMin",
        "ReduceMax",
        "Tile",
        "Flatten",
        "Identity",
        "Floor",
        "Ceil",
        "Sqrt",
        "Transpose",
    ];
    if !OPS.contains(&op) {
        return Ok(None);
    }
    // Size reads only its input's type.
    if op == "Size" {
        let Some((ty, _)) = inputs.first().copied().flatten() else { return Ok(None) };
        let Some(dims) = ty.fixed_shape() else { return Ok(None) };
        return Ok(Some(Tensor::from_i64(vec![], &[dims.iter().product::<usize>() as i64])));
    }
    let mut values: Vec<Option<V>> = vec![];
    for i in inputs {
        match i {
            None => values.push(None),
            Some((_, Some(t))) if t.len() <= MAX_FOLDED => match V::read(t) {
                Some(v) => values.push(Some(v)),
                None => return Ok(None),
            },
            Some(_) => return Ok(None),
        }
    }
    // Floats only from integers (Cast) or as scalars: a float computation on tensors is the model's.
    let any_float = values.iter().flatten().any(|v| v.is_float());
    if any_float && op != "Cast" && values.iter().flatten().any(|v| v.len() > 1) {
        return Ok(None);
    }
    let attr = |name: &str| n.attribute.iter().find(|a| a.name.as_deref() == Some(name));
    let int_attr = |name: &str, default: i64| attr(name).and_then(|a| a.i).unwrap_or(default);
    let arg = |i: usize| values.get(i).cloned().flatten().ok_or_else(|| format!("{op} lacks input {i}"));
    let opt = |i: usize| values.get(i).cloned().flatten();
    let x = arg(0)?;
    let out = match op {
        "Identity" => x,
        "Cast" => {
            let to = int_attr("to", 0);
            let Some(dtype) = DType::from_onnx_code(to as i32) else { return Ok(None) };
            if dtype.is_float() && x.is_float() && x.len() > 1 {
                return Ok(None);
            }
            match x.cast(dtype) {
                Some(v) => v,
                None => return Ok(None),
            }
        }
        "Gather" => {
            let idx = arg(1)?;
            let a = axis(int_attr("axis", 0), x.dims.len())?;
            let (outer, dim) = (x.dims[..a].iter().product::<usize>(), x.dims[a]);
            let inner: usize = x.dims[a + 1..].iter().product();
            let mut picks = vec![];
            for o in 0..outer {
                for k in 0..idx.len() {
                    let i = idx.i(k);
                    let i = if i < 0 { i + dim as i64 } else { i };
                    if !(0..dim as i64).contains(&i) {
                        return Err(format!("index {} is out of range for a dimension of {dim}", idx.i(k)));
                    }
                    for j in 0..inner {
                        picks.push((o * dim + i as usize) * inner + j);
                    }
                }
            }
            let dims = [&x.dims[..a], &idx.dims[..], &x.dims[a + 1..]].concat();
            x.pick(dims, &picks)
        }
        "Unsqueeze" => {
            let axes = arg(1)?;
            let rank = x.dims.len() + axes.len();
            let mut axes: Vec<usize> = (0..axes.len()).map(|i| axis(axes.i(i), rank)).collect::<Result<_, _>>()?;
            axes.sort();
            let mut dims = x.dims.clone();
            for a in axes {
                dims.insert(a, 1);
            }
            V { dims, ..x }
        }
        "Transpose" => {
            let rank = x.dims.len();
            let perm: Vec<usize> = match attr("perm") {
                Some(p) => p.ints.iter().map(|&a| axis(a, rank)).collect::<Result<_, _>>()?,
                None => (0..rank).rev().collect(),
            };
            if perm.len() != rank {
                return Err(format!("perm {perm:?} does not fit rank {rank}"));
            }
            let dims: Vec<usize> = perm.iter().map(|&p| x.dims[p]).collect();
            let (st, out_st) = (strides(&x.dims), strides(&dims));
            let picks: Vec<usize> = (0..x.len()).map(|flat| (0..rank).map(|j| (flat / out_st[j]) % dims[j] * st[perm[j]]).sum()).collect();
            x.pick(dims, &picks)
        }
        "Squeeze" => {
            let dims = match opt(1) {
                Some(axes) => {
                    let axes: Vec<usize> = (0..axes.len()).map(|i| axis(axes.i(i), x.dims.len())).collect::<Result<_, _>>()?;
                    x.dims.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
                }
                None => x.dims.iter().copied().filter(|&d| d != 1).collect(),
            };
            V { dims, ..x }
        }
        "Flatten" => {
            let a = if x.dims.is_empty() { 0 } else { axis(int_attr("axis", 1), x.dims.len() + 1)? };
            let dims = vec![x.dims[..a].iter().product(), x.dims[a..].iter().product()];
            V { dims, ..x }
        }
        "Reshape" => {
            let shape = arg(1)?;
            let mut dims: Vec<i64> = (0..shape.len()).map(|i| shape.i(i)).collect();
            for (i, d) in dims.iter_mut().enumerate() {
                if *d == 0 && int_attr("allowzero", 0) == 0 {
                    *d = *x.dims.get(i).ok_or("a 0 in the target past the input's rank")? as i64;
                }
            }
            let known: i64 = dims.iter().filter(|&&d| d != -1).product();
            let dims: Vec<usize> = dims.iter().map(|&d| if d == -1 { x.len() / known.max(1) as usize } else { d as usize }).collect();
            if dims.iter().product::<usize>() != x.len() {
                return Err(format!("cannot reshape {:?} to {dims:?}", x.dims));
            }
            V { dims, ..x }
        }
        "Concat" => {
            let parts: Vec<V> = values.iter().flatten().cloned().collect();
            let rank = x.dims.len();
            let a = axis(int_attr("axis", 0), rank)?;
            let outer: usize = x.dims[..a].iter().product();
            let mut dims = x.dims.clone();
            dims[a] = parts.iter().map(|p| p.dims.get(a).copied().unwrap_or(0)).sum();
            let mut out = V { dims, ints: vec![], floats: vec![], ..x.clone() };
            for o in 0..outer {
                for p in &parts {
                    let chunk: usize = p.dims[a..].iter().product();
                    for k in o * chunk..(o + 1) * chunk {
                        if p.is_float() { out.floats.push(p.floats[k]) } else { out.ints.push(p.ints[k]) }
                    }
                }
            }
            out
        }
        "Slice" => {
            let (starts, ends) = (arg(1)?, arg(2)?);
            let rank = x.dims.len();
            let axes: Vec<usize> = match opt(3) {
                Some(a) => (0..a.len()).map(|i| axis(a.i(i), rank)).collect::<Result<_, _>>()?,
                None => (0..starts.len()).collect(),
            };
            let steps: Vec<i64> = match opt(4) {
                Some(s) => (0..s.len()).map(|i| s.i(i)).collect(),
                None => vec![1; axes.len()],
            };
            // Per axis, the positions it keeps.
            let mut keep: Vec<Vec<usize>> = x.dims.iter().map(|&d| (0..d).collect()).collect();
            for (k, &a) in axes.iter().enumerate() {
                let (d, step) = (x.dims[a] as i64, steps[k]);
                if step == 0 {
                    return Err("a step of 0".into());
                }
                let norm = |v: i64| if v < 0 { v + d } else { v };
                let (lo, hi) = if step > 0 { (0, d) } else { (-1, d - 1) };
                let (mut s, e) = (norm(starts.i(k)).clamp(lo, hi), norm(ends.i(k)).clamp(lo, hi));
                let mut picked = vec![];
                while (step > 0 && s < e) || (step < 0 && s > e) {
                    picked.push(s as usize);
                    s += step;
                }
                keep[a] = picked;
            }
            let dims: Vec<usize> = keep.iter().map(Vec::len).collect();
            let st = strides(&x.dims);
            let total: usize = dims.iter().product();
            let out_st = strides(&dims);
            let picks: Vec<usize> = (0..total).map(|flat| (0..rank).map(|j| keep[j][(flat / out_st[j]) % dims[j]] * st[j]).sum()).collect();
            x.pick(dims, &picks)
        }
        "Expand" | "Tile" => {
            let shape = arg(1)?;
            let target: Vec<usize> = (0..shape.len()).map(|i| shape.i(i).max(0) as usize).collect();
            if op == "Tile" {
                if target.len() != x.dims.len() {
                    return Err("repeats do not match the rank".into());
                }
                let dims: Vec<usize> = x.dims.iter().zip(&target).map(|(d, r)| d * r).collect();
                if dims.iter().product::<usize>() > MAX_FOLDED {
                    return Ok(None);
                }
                let st = strides(&x.dims);
                let out_st = strides(&dims);
                let total: usize = dims.iter().product();
                let picks: Vec<usize> =
                    (0..total).map(|flat| (0..dims.len()).map(|j| ((flat / out_st[j]) % dims[j]) % x.dims[j] * st[j]).sum()).collect();
                x.pick(dims, &picks)
            } else {
                let dims = broadcast(&[&x.dims, &target]).ok_or_else(|| format!("cannot expand {:?} to {target:?}", x.dims))?;
                if dims.iter().product::<usize>() > MAX_FOLDED {
                    return Ok(None);
                }
                let picks = broadcast_positions(&x.dims, &dims);
                x.pick(dims, &picks)
            }
        }
        "ReduceProd" | "ReduceSum" | "ReduceMin" | "ReduceMax" => {
            if x.is_float() {
                return Ok(None);
            }
            let rank = x.dims.len();
            // ReduceSum takes its axes as an input at opset 13; the others as an attribute until 18.
            let axes: Vec<i64> = match (op, opt(1)) {
                ("ReduceSum", Some(a)) => (0..a.len()).map(|i| a.i(i)).collect(),
                _ => attr("axes").map(|a| a.ints.clone()).unwrap_or_default(),
            };
            let axes: Vec<usize> = if axes.is_empty() {
                if op == "ReduceSum" && int_attr("noop_with_empty_axes", 0) == 1 {
                    return Ok(Some(x.write()));
                }
                (0..rank).collect()
            } else {
                axes.iter().map(|&a| axis(a, rank)).collect::<Result<_, _>>()?
            };
            let keep = int_attr("keepdims", 1) == 1;
            let kept: Vec<usize> = x.dims.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect();
            let st = strides(&kept);
            let (init, f): (i64, fn(i64, i64) -> i64) = match op {
                "ReduceProd" => (1, |a, b| a * b),
                "ReduceSum" => (0, |a, b| a + b),
                "ReduceMin" => (i64::MAX, |a, b| a.min(b)),
                _ => (i64::MIN, |a, b| a.max(b)),
            };
            let mut acc = vec![init; kept.iter().product()];
            let xst = strides(&x.dims);
            for flat in 0..x.len() {
                let pos: usize = (0..rank).map(|j| if axes.contains(&j) { 0 } else { (flat / xst[j]) % x.dims[j] * st[j] }).sum();
                acc[pos] = f(acc[pos], x.ints[flat]);
            }
            let dims = if keep { kept } else { x.dims.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect() };
            V::ints(x.dtype, dims, acc)
        }
        "Neg" | "Abs" | "Not" | "Floor" | "Ceil" | "Sqrt" => {
            if x.is_float() {
                let f = |v: f64| match op {
                    "Neg" => -v,
                    "Abs" => v.abs(),
                    "Floor" => v.floor(),
                    "Ceil" => v.ceil(),
                    "Sqrt" => v.sqrt(),
                    _ => v,
                };
                let mut floats: Vec<f64> = x.floats.iter().map(|&v| f(v)).collect();
                if x.dtype == DType::F32 {
                    floats.iter_mut().for_each(|v| *v = *v as f32 as f64);
                }
                V::floats(x.dtype, x.dims.clone(), floats)
            } else {
                let f = |v: i64| match op {
                    "Neg" => -v,
                    "Abs" => v.abs(),
                    "Not" => (v == 0) as i64,
                    _ => v,
                };
                if op == "Sqrt" {
                    return Ok(None);
                }
                V::ints(x.dtype, x.dims.clone(), x.ints.iter().map(|&v| f(v)).collect())
            }
        }
        "Where" => {
            let (a, b) = (arg(1)?, arg(2)?);
            let dims = broadcast(&[&x.dims, &a.dims, &b.dims]).ok_or("the inputs do not broadcast")?;
            let (pc, pa, pb) = (broadcast_positions(&x.dims, &dims), broadcast_positions(&a.dims, &dims), broadcast_positions(&b.dims, &dims));
            if a.is_float() {
                let floats = (0..pc.len()).map(|k| if x.i(pc[k]) != 0 { a.f(pa[k]) } else { b.f(pb[k]) }).collect();
                V::floats(a.dtype, dims, floats)
            } else {
                let ints = (0..pc.len()).map(|k| if x.i(pc[k]) != 0 { a.i(pa[k]) } else { b.i(pb[k]) }).collect();
                V::ints(a.dtype, dims, ints)
            }
        }
        // Elementwise with two inputs, broadcasting.
        _ => {
            let y = arg(1)?;
            let dims = broadcast(&[&x.dims, &y.dims]).ok_or_else(|| format!("{:?} and {:?} do not broadcast", x.dims, y.dims))?;
            let (px, py) = (broadcast_positions(&x.dims, &dims), broadcast_positions(&y.dims, &dims));
            let compare = matches!(op, "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "And" | "Or" | "Xor");
            if x.is_float() || y.is_float() {
                let floats: Vec<f64> = (0..px.len())
                    .map(|k| {
                        let (a, b) = (x.f(px[k]), y.f(py[k]));
                        let t = |c: bool| c as i64 as f64;
                        match op {
                            "Add" => a + b,
                            "Sub" => a - b,
                            "Mul" => a * b,
                            "Div" => a / b,
                            "Mod" => a % b,
                            "Max" => a.max(b),
                            "Min" => a.min(b),
                            "Equal" => t(a == b),
                            "Less" => t(a < b),
                            "Greater" => t(a > b),
                            "LessOrEqual" => t(a <= b),
                            _ => t(a >= b),
                        }
                    })
                    .collect();
                if compare {
                    V::ints(DType::Bool, dims, floats.iter().map(|&v| v as i64).collect())
                } else {
                    let round = |v: f64| if x.dtype == DType::F32 { v as f32 as f64 } else { v };
                    V::floats(x.dtype, dims, floats.into_iter().map(round).collect())
                }
            } else {
                let ints: Vec<i64> = (0..px.len())
                    .map(|k| {
                        let (a, b) = (x.ints[px[k]], y.ints[py[k]]);
                        let t = |c: bool| c as i64;
                        Ok(match op {
                            "Add" => a.wrapping_add(b),
                            "Sub" => a.wrapping_sub(b),
                            "Mul" => a.wrapping_mul(b),
                            "Div" | "Mod" if b == 0 => return Err("division by zero".to_string()),
                            // ONNX's integer Div truncates, as C does.
                            "Div" => a / b,
                            "Mod" if int_attr("fmod", 0) == 1 => a % b,
                            // Mod with fmod=0 takes the divisor's sign, as Python's %.
                            "Mod" => ((a % b) + b) % b,
                            "Max" => a.max(b),
                            "Min" => a.min(b),
                            "Equal" => t(a == b),
                            "Less" => t(a < b),
                            "Greater" => t(a > b),
                            "LessOrEqual" => t(a <= b),
                            "GreaterOrEqual" => t(a >= b),
                            "And" => t(a != 0 && b != 0),
                            "Or" => t(a != 0 || b != 0),
                            _ => t((a != 0) != (b != 0)),
                        })
                    })
                    .collect::<Result<_, String>>()?;
                V::ints(if compare { DType::Bool } else { x.dtype }, dims, ints)
            }
        }
    };
    if out.len() > MAX_FOLDED {
        return Ok(None);
    }
    Ok(Some(out.write()))
}
