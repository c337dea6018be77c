//! ONNX Runtime's `com.microsoft` ops that its own quantizer writes into models people ship, lowered
//! at import into default-domain ops:
//!
//! | com.microsoft | lowered to |
//! |---|---|
//! | `DynamicQuantizeLSTM` | `LSTM` with its int8 weights dequantized: `(W − zero_point) · scale`, transposed from `[directions, input, 4·hidden]` to ONNX's `[directions, 4·hidden, input]` |
//!
//! The float LSTM computes what the quantized one approximates: ONNX Runtime also quantizes the
//! input at each step, so outputs differ by the quantization error of the input (about 1% of its
//! range), not by the weights', which the dequantization restores exactly.
use onyx_proto::onnx::NodeProto;

use super::upgrade::{Known, Upgraded};
use crate::ir::{DType, Tensor};

/// `n` (of domain `com.microsoft`) as default-domain nodes.
pub fn lower(n: &NodeProto, known: &mut dyn Known) -> Result<Upgraded, String> {
    match n.op_type.as_deref().unwrap_or_default() {
        "DynamicQuantizeLSTM" => quantized_lstm(n, known),
        other => Err(format!("`{other}` of domain com.microsoft is not one onyx lowers (it lowers DynamicQuantizeLSTM)")),
    }
}

fn quantized_lstm(n: &NodeProto, known: &mut dyn Known) -> Result<Upgraded, String> {
    let input = |i: usize| n.input.get(i).cloned().unwrap_or_default();
    let l = n.name.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "DynamicQuantizeLSTM".into());
    let mut up = Upgraded::default();
    let mut weights = vec![];
    // W and R with their scales and zero points: inputs 1 and 2, then 8 to 11.
    for (w, scale, zero, suffix) in [(1, 8, 9, "W"), (2, 10, 11, "R")] {
        let constant = |i: usize| -> Result<Tensor, String> {
            let name = input(i);
            known.constant(&name).ok_or_else(|| format!("input {i} (`{name}`) must be a constant to be dequantized"))
        };
        let dequantized = dequantize(&constant(w)?, &constant(scale)?, &constant(zero)?).map_err(|m| format!("{suffix}: {m}"))?;
        let name = known.fresh(&format!("{l}/{suffix}"));
        up.weights.push((name.clone(), dequantized));
        weights.push(name);
    }
    let mut inputs: Vec<String> = (0..8).map(input).collect();
    inputs[1] = weights[0].clone();
    inputs[2] = weights[1].clone();
    while inputs.last().is_some_and(|s| s.is_empty()) {
        inputs.pop();
    }
    up.nodes.push(NodeProto { op_type: Some("LSTM".into()), domain: None, input: inputs, ..n.clone() });
    Ok(up)
}

/// `(q − zero) · scale` for `q` of shape [directions, rows, columns], transposed to [directions,
/// columns, rows]; the scale and zero point are one per direction or one per direction and column.
fn dequantize(q: &Tensor, scale: &Tensor, zero: &Tensor) -> Result<Tensor, String> {
    let ints = |t: &Tensor| -> Result<Vec<f32>, String> {
        match t.dtype {
            DType::I8 => Ok(t.data.iter().map(|&b| b as i8 as f32).collect()),
            DType::U8 => Ok(t.data.iter().map(|&b| b as f32).collect()),
            other => Err(format!("holds {}, not 8-bit integers", other.name())),
        }
    };
    let [directions, rows, columns] = q.dims[..] else { return Err(format!("has shape {:?}, not [directions, rows, columns]", q.dims)) };
    let (values, zeros) = (ints(q)?, ints(zero)?);
    let scales = scale.as_f32().ok_or("its scale is not float32")?;
    let per_column = match scales.len() {
        s if s == directions => false,
        s if s == directions * columns => true,
        s => return Err(format!("{s} scales for {directions} directions of {columns} columns")),
    };
    if zeros.len() != scales.len() {
        return Err(format!("{} zero points for {} scales", zeros.len(), scales.len()));
    }
    let mut out = vec![0f32; values.len()];
    for d in 0..directions {
        for r in 0..rows {
            for c in 0..columns {
                let k = if per_column { d * columns + c } else { d };
                out[(d * columns + c) * rows + r] = (values[(d * rows + r) * columns + c] - zeros[k]) * scales[k];
            }
        }
    }
    Ok(Tensor::from_f32(vec![directions, columns, rows], &out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One direction of 2 rows × 3 columns: each column's own scale and zero point, then transposed.
    #[test]
    fn weights_dequantize_per_column_and_transpose() {
        let q = Tensor { dtype: DType::I8, dims: vec![1, 2, 3], data: [1i8, -2, 3, 4, 5, -6].iter().map(|&v| v as u8).collect() };
        let scale = Tensor::from_f32(vec![1, 3], &[0.5, 1.0, 2.0]);
        let zero = Tensor { dtype: DType::I8, dims: vec![1, 3], data: vec![1, 0, 255] };
        let w = dequantize(&q, &scale, &zero).unwrap();
        assert_eq!(w.dims, vec![1, 3, 2]);
        // Column c, row r: (q[r][c] − zero[c]) · scale[c].
        assert_eq!(w.as_f32().unwrap(), vec![0.0, 1.5, -2.0, 5.0, 8.0, -10.0]);
        // One scale per direction.
        let w = dequantize(&q, &Tensor::from_f32(vec![1], &[2.0]), &Tensor { dtype: DType::I8, dims: vec![1], data: vec![0] }).unwrap();
        assert_eq!(w.as_f32().unwrap(), vec![2.0, 8.0, -4.0, 10.0, 6.0, -12.0]);
        assert!(dequantize(&q, &Tensor::from_f32(vec![2], &[1.0, 1.0]), &zero).is_err());
    }
}
