//! The `ai.onnx.ml` ops scikit-learn's linear models export as (skl2onnx), lowered at import into
//! default-domain ops, so that the model trains (its coefficients become weights) and exports as
//! standard ONNX:
//!
//! | ai.onnx.ml | lowered to |
//! |---|---|
//! | `LinearRegressor` | `Gemm(X, coefficients, intercepts, transB=1)` |
//! | `LinearClassifier` | the same scores, then `Sigmoid` (LOGISTIC) or `Softmax` (SOFTMAX); the label is `ArgMax` of the scores, `Gather`ed from `classlabels_ints` |
//! | `Normalizer` | `X` divided by its row's `ReduceMax`, `ReduceL1` or `ReduceL2` |
//! | `ZipMap` | nothing: its output is a sequence of maps, which the IR cannot hold; the graph output is dropped with a note in the metadata |
//!
//! A binary classifier stored with one row of coefficients scores `[-s, s]`, as ONNX Runtime does.
use onyx_proto::onnx::{AttributeProto, NodeProto};

use super::upgrade::{Known, Upgraded, node};
use crate::ir::{DType, Tensor};
use crate::ops::attrs;

pub use crate::metadata::DROPPED_KEY;

fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name.as_deref() == Some(name))
}

fn text(n: &NodeProto, name: &str) -> Option<String> {
    attr(n, name).and_then(|a| a.s.as_ref()).map(|s| String::from_utf8_lossy(s).into_owned())
}

/// `n` (of domain `ai.onnx.ml`) as default-domain nodes; `Ok(None)` for a ZipMap, which is dropped.
pub fn lower(n: &NodeProto, known: &mut dyn Known) -> Result<Option<Upgraded>, String> {
    let op = n.op_type.as_deref().unwrap_or_default();
    let l = n.name.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| op.to_string());
    let x = n.input.first().ok_or("has no input")?.clone();
    let mut up = Upgraded::default();
    // The input as float, as the coefficients are.
    let float_x = |up: &mut Upgraded, known: &mut dyn Known| -> Result<String, String> {
        let ty = known.ty(&x).ok_or_else(|| format!("the type of `{x}` is unknown"))?;
        if ty.rank() != 2 {
            return Err(format!("takes a 2-D input (samples × features), but `{x}` is {ty}"));
        }
        if ty.dtype == DType::F32 {
            return Ok(x.clone());
        }
        let cast = known.fresh(&format!("{l}/float"));
        up.nodes.push(node("Cast", &format!("{l}/cast"), &[&x], &[&cast], vec![attrs::int("to", DType::F32.onnx_code() as i64)]));
        Ok(cast)
    };
    // Gemm of the input with `rows` rows of coefficients and their intercepts: the scores.
    let scores = |up: &mut Upgraded, known: &mut dyn Known, input: &str, rows: usize, out: &str| -> Result<(), String> {
        let coefficients = attr(n, "coefficients").map(|a| a.floats.clone()).ok_or("has no coefficients")?;
        if rows == 0 || coefficients.len() % rows != 0 {
            return Err(format!("{} coefficients do not make {rows} rows", coefficients.len()));
        }
        let features = coefficients.len() / rows;
        let intercepts = attr(n, "intercepts").map(|a| a.floats.clone()).filter(|v| !v.is_empty()).unwrap_or_else(|| vec![0.0; rows]);
        if intercepts.len() != rows {
            return Err(format!("{} intercepts for {rows} rows of coefficients", intercepts.len()));
        }
        let w = known.fresh(&format!("{l}/coefficients"));
        let b = known.fresh(&format!("{l}/intercepts"));
        up.weights.push((w.clone(), Tensor::from_f32(vec![rows, features], &coefficients)));
        up.weights.push((b.clone(), Tensor::from_f32(vec![rows], &intercepts)));
        up.nodes.push(node("Gemm", &format!("{l}/gemm"), &[input, &w, &b], &[out], vec![attrs::int("transB", 1)]));
        Ok(())
    };
    match op {
        "LinearRegressor" => {
            if let Some(t) = text(n, "post_transform").filter(|t| t != "NONE") {
                return Err(format!("post_transform `{t}` is not supported; only NONE"));
            }
            let targets = attr(n, "targets").and_then(|a| a.i).unwrap_or(1);
            let targets = usize::try_from(targets).map_err(|_| format!("targets {targets} is negative"))?;
            let input = float_x(&mut up, known)?;
            scores(&mut up, known, &input, targets, n.output.first().ok_or("has no output")?)?;
            Ok(Some(up))
        }
        "LinearClassifier" => {
            if attr(n, "classlabels_strings").is_some_and(|a| !a.strings.is_empty()) {
                return Err("string class labels are not supported (the IR holds numeric tensors); only classlabels_ints".into());
            }
            let labels = attr(n, "classlabels_ints").map(|a| a.ints.clone()).filter(|v| !v.is_empty()).ok_or("has no classlabels_ints")?;
            let rows = attr(n, "intercepts").map(|a| a.floats.len()).filter(|&r| r > 0).unwrap_or(labels.len());
            let transform = text(n, "post_transform").unwrap_or_else(|| "NONE".into());
            if !matches!(transform.as_str(), "NONE" | "LOGISTIC" | "SOFTMAX") {
                return Err(format!("post_transform `{transform}` is not supported; only NONE, LOGISTIC and SOFTMAX"));
            }
            let input = float_x(&mut up, known)?;
            let raw = known.fresh(&format!("{l}/scores"));
            scores(&mut up, known, &input, rows, &raw)?;
            let raw = match (rows, labels.len()) {
                (r, c) if r == c => raw,
                // One row of a binary classifier: the scores of the two classes are -s and s.
                (1, 2) => {
                    let (neg, both) = (known.fresh(&format!("{l}/negative")), known.fresh(&format!("{l}/both")));
                    up.nodes.push(node("Neg", &format!("{l}/neg"), &[&raw], &[&neg], vec![]));
                    up.nodes.push(node("Concat", &format!("{l}/concat"), &[&neg, &raw], &[&both], vec![attrs::int("axis", 1)]));
                    both
                }
                (r, c) => return Err(format!("{r} rows of coefficients for {c} class labels")),
            };
            let (label, probabilities) = (n.output.first().filter(|s| !s.is_empty()), n.output.get(1).filter(|s| !s.is_empty()));
            if let Some(label) = label {
                let (index, table) = (known.fresh(&format!("{l}/argmax")), known.fresh(&format!("{l}/classlabels")));
                up.constants.push((table.clone(), Tensor::from_i64(vec![labels.len()], &labels)));
                up.nodes.push(node("ArgMax", &format!("{l}/argmax"), &[&raw], &[&index], vec![attrs::int("axis", 1), attrs::int("keepdims", 0)]));
                up.nodes.push(node("Gather", &format!("{l}/label"), &[&table, &index], &[label], vec![attrs::int("axis", 0)]));
            }
            if let Some(p) = probabilities {
                match transform.as_str() {
                    "LOGISTIC" => up.nodes.push(node("Sigmoid", &format!("{l}/logistic"), &[&raw], &[p], vec![])),
                    "SOFTMAX" => up.nodes.push(node("Softmax", &format!("{l}/softmax"), &[&raw], &[p], vec![attrs::int("axis", 1)])),
                    _ => up.nodes.push(node("Identity", &format!("{l}/scores"), &[&raw], &[p], vec![])),
                }
            }
            Ok(Some(up))
        }
        "Normalizer" => {
            let norm = text(n, "norm").unwrap_or_else(|| "MAX".into());
            let reduce = match norm.as_str() {
                "MAX" => "ReduceMax",
                "L1" => "ReduceL1",
                "L2" => "ReduceL2",
                other => return Err(format!("norm `{other}` is not one of MAX, L1, L2")),
            };
            let input = float_x(&mut up, known)?;
            let total = known.fresh(&format!("{l}/norm"));
            up.nodes.push(node(reduce, &format!("{l}/norm"), &[&input], &[&total], vec![attrs::ints("axes", &[1]), attrs::int("keepdims", 1)]));
            up.nodes.push(node("Div", &format!("{l}/div"), &[&input, &total], &[n.output.first().ok_or("has no output")?], vec![]));
            Ok(Some(up))
        }
        "ZipMap" => Ok(None),
        other => Err(format!("`{other}` is not one of the ai.onnx.ml ops onyx lowers (LinearRegressor, LinearClassifier, Normalizer, ZipMap)")),
    }
}
