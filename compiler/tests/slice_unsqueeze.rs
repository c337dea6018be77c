//! Shape rules of Slice and Unsqueeze (opset 13 forms, constant int64 inputs), and their table entries.
use onyx_compiler::ir::{DType, Dim, Tensor, TensorType};
use onyx_compiler::ops::{Fact, OpError, from_onnx, slice_len};

fn ty(dims: &[Dim]) -> TensorType {
    TensorType::new(DType::F32, dims.to_vec())
}

fn fixed(dims: &[usize]) -> Vec<Dim> {
    dims.iter().map(|&d| Dim::Fixed(d)).collect()
}

fn ints(values: &[i64]) -> (TensorType, Tensor) {
    (TensorType::new(DType::I64, vec![Dim::Fixed(values.len())]), Tensor::from_i64(vec![values.len()], values))
}

/// Runs `op`'s shape rule on `x` and constant int64 inputs.
fn infer(op: &str, x: &TensorType, consts: &[&[i64]]) -> Result<Vec<Dim>, OpError> {
    let consts: Vec<(TensorType, Tensor)> = consts.iter().map(|c| ints(c)).collect();
    let mut facts = vec![Some(Fact { ty: x, value: None })];
    facts.extend(consts.iter().map(|(t, v)| Some(Fact { ty: t, value: Some(v) })));
    let op = from_onnx(op, &[])?;
    Ok(op.infer(&facts)?.remove(0).shape)
}

#[test]
fn slice_lengths_follow_onnx_clamping() {
    assert_eq!(slice_len(10, 0, 3, 1), 3);
    assert_eq!(slice_len(10, 2, 100, 1), 8);
    assert_eq!(slice_len(10, -3, i64::MAX, 1), 3);
    assert_eq!(slice_len(10, 0, 10, 3), 4);
    assert_eq!(slice_len(10, 5, 2, 1), 0);
    assert_eq!(slice_len(10, -1, i64::MIN, -1), 10);
    assert_eq!(slice_len(10, 8, 1, -2), 4);
    assert_eq!(slice_len(10, 100, -100, -1), 10);
    assert_eq!(slice_len(0, 0, 5, 1), 0);
    assert_eq!(slice_len(0, -1, -5, -1), 0);
    assert_eq!(slice_len(10, 0, 10, i64::MAX), 1);
}

#[test]
fn slice_shapes() {
    let x = ty(&[Dim::batch(), Dim::Fixed(12)]);
    assert_eq!(infer("Slice", &x, &[&[3], &[9], &[1]]).unwrap(), vec![Dim::batch(), Dim::Fixed(6)]);
    assert_eq!(infer("Slice", &x, &[&[0], &[-1], &[-1], &[2]]).unwrap(), vec![Dim::batch(), Dim::Fixed(6)]);
    // Without axes, starts and ends cover the leading axes; a symbolic one may only be kept whole.
    let y = ty(&fixed(&[4, 5, 6]));
    assert_eq!(infer("Slice", &y, &[&[1, 0], &[3, 2]]).unwrap(), fixed(&[2, 2, 6]));
    assert_eq!(infer("Slice", &x, &[&[0], &[i64::MAX], &[0]]).unwrap(), vec![Dim::batch(), Dim::Fixed(12)]);
    assert!(infer("Slice", &x, &[&[1], &[i64::MAX], &[0]]).unwrap_err().to_string().contains("symbolic"));
    assert!(infer("Slice", &y, &[&[0], &[1], &[0], &[0]]).unwrap_err().to_string().contains("step 0"));
    assert!(infer("Slice", &y, &[&[0, 0], &[1], &[0]]).is_err(), "lengths differ");
    assert!(infer("Slice", &y, &[&[0, 0], &[1, 1], &[1, -2]]).is_err(), "an axis twice");
    assert!(infer("Slice", &y, &[&[0], &[1], &[3]]).is_err(), "axis out of range");
    // starts must be a constant.
    let (it, _) = ints(&[0]);
    let (et, ev) = ints(&[1]);
    let op = from_onnx("Slice", &[]).unwrap();
    let e = op.infer(&[Some(Fact { ty: &y, value: None }), Some(Fact { ty: &it, value: None }), Some(Fact { ty: &et, value: Some(&ev) })]);
    assert!(e.unwrap_err().to_string().contains("constant"));
}

#[test]
fn unsqueeze_shapes() {
    let x = ty(&[Dim::batch(), Dim::Fixed(5)]);
    assert_eq!(infer("Unsqueeze", &x, &[&[0]]).unwrap(), vec![Dim::Fixed(1), Dim::batch(), Dim::Fixed(5)]);
    assert_eq!(infer("Unsqueeze", &x, &[&[-1]]).unwrap(), vec![Dim::batch(), Dim::Fixed(5), Dim::Fixed(1)]);
    assert_eq!(infer("Unsqueeze", &x, &[&[3, 0]]).unwrap(), vec![Dim::Fixed(1), Dim::batch(), Dim::Fixed(5), Dim::Fixed(1)]);
    assert!(infer("Unsqueeze", &x, &[&[1, 1]]).is_err(), "an axis twice");
    assert!(infer("Unsqueeze", &x, &[&[4]]).is_err(), "axis out of range");
    assert!(from_onnx("Unsqueeze", &[]).unwrap().infer(&[Some(Fact { ty: &x, value: None })]).is_err(), "axes missing");
}
