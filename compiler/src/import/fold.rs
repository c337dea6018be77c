//! Constant folding at import: nodes whose result is known before any input arrives become
//! initializers, so the IR holds weights as weights (a model that builds its weights with
//! ConstantOfShape, a `Constant` node for a reshape target, the shape of a fixed-size tensor and the
//! integer arithmetic that turns it into a reshape target).
use onyx_proto::onnx::{NodeProto, attribute_proto::AttributeType};

use super::read_tensor;
use crate::ir::{Tensor, TensorType};

/// What folding a node gives: its one output's value, and whether that value is a weight.
pub struct Folded {
    pub value: Tensor,
    /// ConstantOfShape's float output stands in for a weight (it is how weights are left out of
    /// test models); a `Constant` node's is a constant of the computation.
    pub weight: bool,
}

/// The node's value when every input it reads is known (`None` for an input without a value), or
/// `None` when the node is left to run.
pub fn fold(n: &NodeProto, inputs: &[Option<(&TensorType, Option<&Tensor>)>]) -> Result<Option<Folded>, String> {
    let op = n.op_type.as_deref().unwrap_or_default();
    let attr = |name: &str| n.attribute.iter().find(|a| a.name.as_deref() == Some(name));
    let input = |i: usize| inputs.get(i).copied().flatten();
    let folded = |value: Tensor, weight: bool| Ok(Some(Folded { value, weight }));
    match op {
        "Constant" => {
            let Some(a) = n.attribute.first() else { return Err("Constant has no value".into()) };
            let name = a.name.as_deref().unwrap_or_default();
            let value = match name {
                "value" => read_tensor(a.t.as_ref().ok_or("`value` holds no tensor")?)?,
                "value_float" => Tensor::scalar_f32(a.f.ok_or("`value_float` holds no float")?),
                "value_floats" => Tensor::from_f32(vec![a.floats.len()], &a.floats),
                "value_int" => Tensor::from_i64(vec![], &[a.i.ok_or("`value_int` holds no integer")?]),
                "value_ints" => Tensor::from_i64(vec![a.ints.len()], &a.ints),
                other => return Err(format!("a `{other}` constant is not supported (only numeric tensors)")),
            };
            folded(value, false)
        }
        "ConstantOfShape" => {
            let Some((_, Some(shape))) = input(0) else { return Ok(None) };
            let dims = shape.as_i64().ok_or("its shape is not int64")?;
            let dims: Vec<usize> =
                dims.iter().map(|&d| usize::try_from(d).map_err(|_| format!("shape {dims:?} has a negative size"))).collect::<Result<_, _>>()?;
            let fill = match attr("value") {
                Some(a) if a.r#type == Some(AttributeType::Tensor as i32) => read_tensor(a.t.as_ref().ok_or("`value` holds no tensor")?)?,
                _ => Tensor::scalar_f32(0.0),
            };
            if fill.len() != 1 {
                return Err(format!("`value` holds {} elements; ONNX wants one", fill.len()));
            }
            // A weight made here is held in memory: no larger than a stored tensor may be (4 GiB).
            let len = dims
                .iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d))
                .filter(|&n| n.saturating_mul(fill.dtype.size_of()) as u64 <= onyx_proto::MAX_TENSOR_BYTES);
            let len = len.ok_or_else(|| format!("shape {dims:?} makes a tensor over the 4 GiB a tensor may hold"))?;
            let weight = fill.dtype.is_float();
            folded(Tensor { dtype: fill.dtype, data: fill.data.repeat(len), dims }, weight)
        }
        // Range of known bounds (an exporter's position ids or arange): its length is known only then.
        "Range" => {
            let scalar = |i: usize| input(i).and_then(|(_, v)| v).filter(|t| t.len() == 1);
            let (Some(start), Some(limit), Some(delta)) = (scalar(0), scalar(1), scalar(2)) else { return Ok(None) };
            if let (Some(s), Some(l), Some(d)) = (start.as_i64(), limit.as_i64(), delta.as_i64()) {
                let (s, l, d) = (s[0], l[0], d[0]);
                if d == 0 {
                    return Err("delta is 0".into());
                }
                let len = ((l as f64 - s as f64) / d as f64).ceil().max(0.0) as usize;
                if len > crate::ir::MAX_ELEMENTS {
                    return Err(format!("{len} elements are too many"));
                }
                let values: Vec<i64> = (0..len as i64).map(|i| s + i * d).collect();
                return folded(Tensor::from_i64(vec![len], &values), false);
            }
            if let (Some(s), Some(l), Some(d)) = (start.as_f32(), limit.as_f32(), delta.as_f32()) {
                let (s, l, d) = (s[0], l[0], d[0]);
                let len = ((l - s) / d).ceil();
                if !len.is_finite() {
                    return Err(format!("start {s}, limit {l} and delta {d} give no length"));
                }
                let len = len.max(0.0) as usize;
                if len > crate::ir::MAX_ELEMENTS {
                    return Err(format!("{len} elements are too many"));
                }
                let values: Vec<f32> = (0..len).map(|i| s + i as f32 * d).collect();
                return folded(Tensor::from_f32(vec![len], &values), false);
            }
            Ok(None)
        }
        "Identity" => Ok(input(0).and_then(|(_, v)| v).map(|v| Folded { value: v.clone(), weight: false })),
        "Shape" => {
            let Some((ty, _)) = input(0) else { return Ok(None) };
            let Some(dims) = ty.shape.iter().map(|d| d.fixed().map(|d| d as i64)).collect::<Option<Vec<i64>>>() else { return Ok(None) };
            let rank = dims.len() as i64;
            let bound = |name: &str, default: i64| {
                let v = attr(name).and_then(|a| a.i).unwrap_or(default);
                (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize
            };
            let (start, end) = (bound("start", 0), bound("end", rank));
            let part = &dims[start..end.max(start)];
            folded(Tensor::from_i64(vec![part.len()], part), false)
        }
        _ => super::eval::evaluate(n, inputs).map(|v| v.map(|value| Folded { value, weight: false })),
    }
}
