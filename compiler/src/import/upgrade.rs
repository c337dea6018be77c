//! Nodes written for another opset (9 to 21), rewritten into the opset-17 form the IR holds, so that an
//! imported model exports under one opset. Each rule turns one node into one or more nodes, moving
//! attributes that became inputs (or inputs that became attributes) and spelling out ops opset 17
//! does not have. Rules need the node's input types where the old form depended on them (Softmax's
//! 2-D coercion, Split's `num_outputs`).
use onyx_proto::onnx::{AttributeProto, NodeProto};

use crate::ir::{DType, Tensor, TensorType};
use crate::ops::attrs;

/// Oldest and newest default-domain opset the importer reads.
pub const OLDEST: i64 = 9;
pub const NEWEST: i64 = 21;

/// What the rules may ask about the graph read so far.
pub trait Known {
    fn ty(&self, name: &str) -> Option<TensorType>;
    fn constant(&self, name: &str) -> Option<Tensor>;
    /// A name the model does not use yet, built from `base`.
    fn fresh(&mut self, base: &str) -> String;
}

/// The node in opset-17 form, and the constants its new inputs read.
#[derive(Default)]
pub struct Upgraded {
    pub nodes: Vec<NodeProto>,
    pub constants: Vec<(String, Tensor)>,
    /// New float inputs that are weights (trainable), such as a lowered LinearRegressor's coefficients.
    pub weights: Vec<(String, Tensor)>,
}

fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name.as_deref() == Some(name))
}

fn without(n: &NodeProto, names: &[&str]) -> NodeProto {
    let mut n = n.clone();
    n.attribute.retain(|a| !names.contains(&a.name.as_deref().unwrap_or("")));
    n
}

pub(super) fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        name: Some(name.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

impl Upgraded {
    fn one(n: NodeProto) -> Upgraded {
        Upgraded { nodes: vec![n], ..Default::default() }
    }

    /// A new constant input named after the node.
    fn constant(&mut self, known: &mut dyn Known, n: &NodeProto, what: &str, t: Tensor) -> String {
        let name = known.fresh(&format!("{}/{what}", label(n)));
        self.constants.push((name.clone(), t));
        name
    }
}

fn label(n: &NodeProto) -> String {
    match n.name.as_deref() {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => n.output.first().cloned().unwrap_or_else(|| n.op_type.clone().unwrap_or_default()),
    }
}

fn ints_tensor(v: &[i64]) -> Tensor {
    Tensor::from_i64(vec![v.len()], v)
}

/// `node` (from a model of opset `version`) in opset-17 form.
pub fn upgrade(n: &NodeProto, version: i64, known: &mut dyn Known) -> Result<Upgraded, String> {
    let op = n.op_type.as_deref().unwrap_or_default();
    let mut up = Upgraded::default();
    match op {
        // `auto_pad` spelled out as the explicit pads it means for the input's known spatial sizes.
        "Conv" | "MaxPool" | "AveragePool" | "LpPool" if attr(n, "auto_pad").and_then(|a| a.s.as_deref()).is_some_and(|s| s != b"NOTSET") => {
            let mode = String::from_utf8_lossy(attr(n, "auto_pad").and_then(|a| a.s.as_deref()).unwrap_or_default()).into_owned();
            let x = n.input.first().ok_or("has no input")?;
            let tx = known.ty(x).ok_or_else(|| format!("the type of `{x}` is unknown"))?;
            let spatial: Vec<usize> = tx
                .shape
                .iter()
                .skip(2)
                .map(|d| d.fixed())
                .collect::<Option<_>>()
                .ok_or_else(|| format!("auto_pad `{mode}` needs the spatial sizes of `{x}` known, but it is {tx}"))?;
            let kernel: Vec<i64> = match attr(n, "kernel_shape") {
                Some(k) => k.ints.clone(),
                None => {
                    let w = n.input.get(1).ok_or("has no kernel_shape and no weight")?;
                    let tw = known.ty(w).ok_or_else(|| format!("the type of `{w}` is unknown"))?;
                    tw.shape.iter().skip(2).map(|d| d.fixed().map(|d| d as i64)).collect::<Option<_>>().ok_or("the kernel's size is unknown")?
                }
            };
            let r = spatial.len();
            let get = |name: &str| attr(n, name).map(|a| a.ints.clone()).filter(|v| v.len() == r).unwrap_or_else(|| vec![1; r]);
            let (strides, dilations) = (get("strides"), get("dilations"));
            if kernel.len() != r {
                return Err(format!("kernel_shape {kernel:?} does not fit {r} spatial dimensions"));
            }
            let mut pads = vec![0i64; 2 * r];
            for i in 0..r {
                let total = match mode.as_str() {
                    "VALID" => 0,
                    "SAME_UPPER" | "SAME_LOWER" => {
                        let size = spatial[i] as i64;
                        let out = (size + strides[i] - 1) / strides[i];
                        ((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size).max(0)
                    }
                    other => return Err(format!("auto_pad `{other}` is not one ONNX defines")),
                };
                let small = total / 2;
                (pads[i], pads[i + r]) = if mode == "SAME_LOWER" { (total - small, small) } else { (small, total - small) };
            }
            let mut m = without(n, &["auto_pad", "pads"]);
            m.attribute.push(attrs::ints("pads", &pads));
            up.nodes.push(m);
            Ok(up)
        }
        // kernel_shape is optional (the weight's spatial sizes), and the dynamo exporter (and ONNX
        // Runtime's quantizer, for ConvInteger) leaves it out;
        // the IR's Conv holds it.
        "Conv" | "ConvTranspose" | "ConvInteger" if attr(n, "kernel_shape").is_none() => {
            let w = n.input.get(1).ok_or("has no kernel_shape and no weight")?;
            let tw = known.ty(w).ok_or_else(|| format!("the type of `{w}` is unknown"))?;
            let kernel: Vec<i64> = tw
                .shape
                .iter()
                .skip(2)
                .map(|d| d.fixed().map(|d| d as i64))
                .collect::<Option<_>>()
                .ok_or_else(|| format!("has no kernel_shape, and the weight's sizes {tw} are not known"))?;
            let mut m = n.clone();
            m.attribute.push(attrs::ints("kernel_shape", &kernel));
            // Spelled out, it may still need its auto_pad made explicit.
            let mut rest = upgrade(&m, version, known)?;
            up.constants.append(&mut rest.constants);
            up.weights.append(&mut rest.weights);
            up.nodes.append(&mut rest.nodes);
            Ok(up)
        }
        // Slice's indices may be int32 (tf2onnx writes them so); the IR holds them as int64.
        "Slice" if n.input.iter().skip(1).any(|i| known.constant(i).is_some_and(|t| t.dtype == DType::I32)) => {
            let mut m = n.clone();
            for i in 1..m.input.len() {
                if let Some(t) = known.constant(&m.input[i]).filter(|t| t.dtype == DType::I32) {
                    let values: Vec<i64> = t.data.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64).collect();
                    m.input[i] = up.constant(known, n, &format!("int64_{i}"), Tensor::from_i64(t.dims.clone(), &values));
                }
            }
            up.nodes.push(m);
            Ok(up)
        }
        // ReduceSum asked to do nothing when given no axes: an Identity then, else the axes as given.
        "ReduceSum" if attr(n, "noop_with_empty_axes").and_then(|a| a.i) == Some(1) => {
            let axes = n.input.get(1).filter(|a| !a.is_empty());
            match axes {
                None => up.nodes.push(node("Identity", &label(n), &[&n.input[0]], &[n.output.first().ok_or("has no output")?], vec![])),
                Some(a) => {
                    let given = known.constant(a).ok_or_else(|| format!("with noop_with_empty_axes, its axes `{a}` must be a constant"))?;
                    if given.is_empty() {
                        up.nodes.push(node("Identity", &label(n), &[&n.input[0]], &[n.output.first().ok_or("has no output")?], vec![]));
                    } else {
                        up.nodes.push(without(n, &["noop_with_empty_axes"]));
                    }
                }
            }
            Ok(up)
        }
        // Sum is variadic Add, which broadcasts the same way; onyx's Max and Min take two inputs. All
        // become a chain, in input order (Max's and Min's gradients give ties to the first); Mean is
        // the Sum divided by the count.
        "Sum" | "Max" | "Min" | "Mean" => {
            let pair = match op {
                "Sum" | "Mean" => "Add",
                other => other,
            };
            let [first, rest @ ..] = n.input.as_slice() else { return Err(format!("{op} has no inputs")) };
            let out = n.output.first().ok_or_else(|| format!("{op} has no output"))?;
            if rest.len() == 1 && matches!(op, "Max" | "Min") {
                up.nodes.push(n.clone());
                return Ok(up);
            }
            // Mean's sum goes to a value of its own, then is divided into the output.
            let total = if op == "Mean" { known.fresh(&format!("{}/total", label(n))) } else { out.clone() };
            if rest.is_empty() {
                up.nodes.push(node("Identity", &label(n), &[first], &[&total], vec![]));
            }
            let mut acc = first.clone();
            for (i, x) in rest.iter().enumerate() {
                let next = if i + 1 == rest.len() { total.clone() } else { known.fresh(&format!("{}/sum{i}", label(n))) };
                up.nodes.push(node(pair, &format!("{}/{}{i}", label(n), pair.to_lowercase()), &[&acc, x], &[&next], vec![]));
                acc = next;
            }
            if op == "Mean" {
                let count = up.constant(known, n, "count", Tensor::scalar_f32(n.input.len() as f32));
                up.nodes.push(node("Div", &format!("{}/mean", label(n)), &[&total, &count], &[out], vec![]));
            }
            Ok(up)
        }
        // CastLike (opset 15) is a Cast to the element type of its second input.
        "CastLike" => {
            let [x, like] = n.input.as_slice() else { return Err("takes an input and a tensor of the target type".into()) };
            let to = known.ty(like).ok_or_else(|| format!("the type of `{like}` is unknown"))?.dtype;
            let out = n.output.first().ok_or("has no output")?;
            up.nodes.push(node("Cast", &label(n), &[x], &[out], vec![attrs::int("to", to.onnx_code() as i64)]));
            Ok(up)
        }
        // Attributes that became inputs in opset 13 (Squeeze, Unsqueeze, ReduceSum, Split) or 10/11
        // (Slice, Pad, Clip, Dropout's ratio).
        "Squeeze" | "Unsqueeze" | "ReduceSum" if version < 13 => move_to_input(n, known, "axes", 1, ints_tensor),
        "Split" if version < 13 => move_to_input(n, known, "split", 1, ints_tensor),
        "Slice" if version < 10 => {
            let mut m = without(n, &["starts", "ends", "axes"]);
            for what in ["starts", "ends", "axes"] {
                if let Some(a) = attr(n, what) {
                    let name = up.constant(known, n, what, ints_tensor(&a.ints));
                    m.input.push(name);
                }
            }
            up.nodes.push(m);
            Ok(up)
        }
        "Pad" if version < 11 => {
            let pads = attr(n, "pads").ok_or("Pad has no `pads`")?.ints.clone();
            let value = attr(n, "value").and_then(|a| a.f).unwrap_or(0.0);
            let mut m = without(n, &["pads", "value"]);
            m.input.push(up.constant(known, n, "pads", ints_tensor(&pads)));
            m.input.push(up.constant(known, n, "value", Tensor::scalar_f32(value)));
            up.nodes.push(m);
            Ok(up)
        }
        "Clip" if version < 11 => {
            let mut m = without(n, &["min", "max"]);
            for (what, default) in [("min", f32::NEG_INFINITY), ("max", f32::INFINITY)] {
                let v = attr(n, what).and_then(|a| a.f).unwrap_or(default);
                m.input.push(up.constant(known, n, what, Tensor::scalar_f32(v)));
            }
            up.nodes.push(m);
            Ok(up)
        }
        "Dropout" if version < 12 => {
            let ratio = attr(n, "ratio").and_then(|a| a.f).unwrap_or(0.5);
            let mut m = without(n, &["ratio", "is_test"]);
            m.input.push(up.constant(known, n, "ratio", Tensor::scalar_f32(ratio)));
            up.nodes.push(m);
            Ok(up)
        }
        // Before opset 13, Softmax flattened the input to 2-D at `axis` (default 1) and normalized
        // over everything after it.
        "Softmax" | "LogSoftmax" if version < 13 => {
            let x = n.input.first().ok_or("has no input")?;
            let rank = known.ty(x).map(|t| t.rank()).ok_or_else(|| format!("the rank of `{x}` is unknown"))? as i64;
            let axis = attr(n, "axis").and_then(|a| a.i).unwrap_or(1);
            let axis = if axis < 0 { axis + rank } else { axis };
            if axis == rank - 1 {
                let mut m = without(n, &["axis"]);
                m.attribute.push(attrs::int("axis", -1));
                return Ok(Upgraded::one(m));
            }
            let out = n.output.first().ok_or("has no output")?;
            let (flat, soft, shape) = (known.fresh(&format!("{x}/flat")), known.fresh(&format!("{out}/flat")), known.fresh(&format!("{x}/shape")));
            let l = label(n);
            up.nodes.push(node("Flatten", &format!("{l}/flatten"), &[x], &[&flat], vec![attrs::int("axis", axis)]));
            up.nodes.push(node(op, &l, &[&flat], &[&soft], vec![attrs::int("axis", -1)]));
            up.nodes.push(node("Shape", &format!("{l}/shape"), &[x], &[&shape], vec![]));
            up.nodes.push(node("Reshape", &format!("{l}/unflatten"), &[&soft, &shape], &[out], vec![]));
            Ok(up)
        }
        // Upsample (opset 9) is Resize with Upsample's coordinates: output cell j reads input j / scale,
        // nearest rounding down. Resize before opset 11 took the same two inputs.
        "Upsample" | "Resize" if version < 11 => {
            let [x, scales] = n.input.as_slice() else { return Err("takes X and scales".into()) };
            let mode =
                attr(n, "mode").and_then(|a| a.s.clone()).map(|s| String::from_utf8_lossy(&s).into_owned()).unwrap_or_else(|| "nearest".into());
            let mode = if mode == "bilinear" { "linear".to_string() } else { mode };
            let attribute = vec![
                attrs::string("mode", &mode),
                attrs::string("coordinate_transformation_mode", "asymmetric"),
                attrs::string("nearest_mode", "floor"),
            ];
            let mut m =
                node("Resize", &label(n), &[x.as_str(), "", scales.as_str()], &n.output.iter().map(String::as_str).collect::<Vec<_>>(), attribute);
            m.domain = n.domain.clone();
            up.nodes.push(m);
            Ok(up)
        }
        "BatchNormalization" if version < 9 => {
            if attr(n, "spatial").and_then(|a| a.i) == Some(0) {
                return Err("per-activation normalization (`spatial = 0`) has no opset-17 form".into());
            }
            Ok(Upgraded::one(without(n, &["spatial", "is_test", "consumed_inputs"])))
        }
        // Opset 18 moved the reductions' axes (ReduceSum's already in 13) from attribute to input.
        _ if version >= 18 && op.starts_with("Reduce") && op != "ReduceSum" => {
            let mut m = n.clone();
            if let Some(axes) = m.input.get(1).filter(|a| !a.is_empty()).cloned() {
                let t = known.constant(&axes).and_then(|t| t.as_i64()).ok_or("its axes are not a constant; opset 17 needs them fixed")?;
                m.input.truncate(1);
                m.attribute.push(attrs::ints("axes", &t));
            }
            Ok(Upgraded::one(m))
        }
        "Split" if version >= 18 => {
            let Some(count) = attr(n, "num_outputs").and_then(|a| a.i) else { return Ok(Upgraded::one(n.clone())) };
            let x = n.input.first().ok_or("has no input")?;
            let ty = known.ty(x).ok_or_else(|| format!("the type of `{x}` is unknown"))?;
            let axis = attr(n, "axis").and_then(|a| a.i).unwrap_or(0);
            let axis = if axis < 0 { axis + ty.rank() as i64 } else { axis } as usize;
            let len = ty.shape.get(axis).and_then(|d| d.fixed()).ok_or("`num_outputs` needs the split axis' size")?;
            let count = count.max(1) as usize;
            // Opset 18: every part ceil(len / count) long, the last one shorter.
            let part = len.div_ceil(count);
            let sizes: Vec<i64> = (0..count).map(|i| part.min(len.saturating_sub(i * part)) as i64).collect();
            let mut m = without(n, &["num_outputs"]);
            m.input.truncate(1);
            m.input.push(up.constant(known, n, "split", ints_tensor(&sizes)));
            up.nodes.push(m);
            Ok(up)
        }
        "Pad" if version >= 18 && n.input.get(3).is_some_and(|a| !a.is_empty()) => {
            let x = n.input.first().ok_or("has no input")?;
            let rank = known.ty(x).map(|t| t.rank()).ok_or_else(|| format!("the rank of `{x}` is unknown"))?;
            let constant = |i: usize| n.input.get(i).and_then(|a| known.constant(a)).and_then(|t| t.as_i64());
            let (pads, axes) = (constant(1).ok_or("its pads are not a constant")?, constant(3).ok_or("its axes are not a constant")?);
            let mut full = vec![0; 2 * rank];
            for (i, &a) in axes.iter().enumerate() {
                let a = if a < 0 { a + rank as i64 } else { a } as usize;
                if a >= rank || pads.len() != 2 * axes.len() {
                    return Err(format!("its axes {axes:?} do not fit a rank-{rank} input"));
                }
                full[a] = pads[i];
                full[a + rank] = pads[i + axes.len()];
            }
            let mut m = n.clone();
            m.input.truncate(3);
            m.input[1] = up.constant(known, n, "pads", ints_tensor(&full));
            up.nodes.push(m);
            Ok(up)
        }
        // Opset 20's Gelu, spelled out as opset 17 computes it.
        "Gelu" => {
            let x = n.input.first().ok_or("has no input")?;
            let out = n.output.first().ok_or("has no output")?;
            let l = label(n);
            let approximate = attr(n, "approximate").and_then(|a| a.s.clone()).map(|s| String::from_utf8_lossy(&s).into_owned());
            let c = |up: &mut Upgraded, known: &mut dyn Known, what: &str, v: f32| up.constant(known, n, what, Tensor::scalar_f32(v));
            let v = |known: &mut dyn Known, what: &str| known.fresh(&format!("{l}/{what}"));
            let (half, one) = (c(&mut up, known, "half", 0.5), c(&mut up, known, "one", 1.0));
            let inner = v(known, "inner");
            match approximate.as_deref() {
                None | Some("none") => {
                    let root2 = c(&mut up, known, "sqrt2", std::f32::consts::SQRT_2);
                    let scaled = v(known, "scaled");
                    up.nodes.push(node("Div", &format!("{l}/div"), &[x, &root2], &[&scaled], vec![]));
                    up.nodes.push(node("Erf", &format!("{l}/erf"), &[&scaled], &[&inner], vec![]));
                }
                Some("tanh") => {
                    let (k, a) = (c(&mut up, known, "k", (2.0 / std::f32::consts::PI).sqrt()), c(&mut up, known, "a", 0.044715));
                    let (cube, term, sum, arg) = (v(known, "cube"), v(known, "term"), v(known, "sum"), v(known, "arg"));
                    up.nodes.push(node("Mul", &format!("{l}/sq"), &[x, x], &[&cube], vec![]));
                    let cube3 = v(known, "cube3");
                    up.nodes.push(node("Mul", &format!("{l}/cube"), &[&cube, x], &[&cube3], vec![]));
                    up.nodes.push(node("Mul", &format!("{l}/term"), &[&cube3, &a], &[&term], vec![]));
                    up.nodes.push(node("Add", &format!("{l}/sum"), &[x, &term], &[&sum], vec![]));
                    up.nodes.push(node("Mul", &format!("{l}/arg"), &[&sum, &k], &[&arg], vec![]));
                    up.nodes.push(node("Tanh", &format!("{l}/tanh"), &[&arg], &[&inner], vec![]));
                }
                Some(other) => return Err(format!("approximation `{other}` is not one ONNX defines")),
            }
            let (plus, halfx) = (v(known, "plus"), v(known, "halfx"));
            up.nodes.push(node("Add", &format!("{l}/plus"), &[&inner, &one], &[&plus], vec![]));
            up.nodes.push(node("Mul", &format!("{l}/halfx"), &[x, &half], &[&halfx], vec![]));
            up.nodes.push(node("Mul", &l, &[&halfx, &plus], &[out], vec![]));
            Ok(up)
        }
        _ => Ok(Upgraded::one(n.clone())),
    }
}

/// Moves attribute `what` to input `index` as a constant (left off when the attribute is absent).
fn move_to_input(n: &NodeProto, known: &mut dyn Known, what: &str, index: usize, make: fn(&[i64]) -> Tensor) -> Result<Upgraded, String> {
    let mut up = Upgraded::default();
    let mut m = without(n, &[what]);
    if let Some(a) = attr(n, what) {
        let name = up.constant(known, n, what, make(&a.ints));
        while m.input.len() < index {
            m.input.push(String::new());
        }
        m.input.insert(index, name);
    }
    up.nodes.push(m);
    Ok(up)
}
