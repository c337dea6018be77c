//! Import of the ops real exporters write beyond what onyx's own specs use: each from a small
//! hand-built ONNX graph, checked for the types its shape rule gives (with a symbolic batch), for
//! the attributes written back, and for surviving import → export → import unchanged. Conversions
//! done at import (variadic Min/Mean/Sum, CastLike, Range, Dropout's mask) are also run on the test
//! interpreter.
mod support;

use onyx_compiler::export::{tensor_proto, tensor_type_proto};
use onyx_compiler::ir::{DType, Dim, Graph, Tensor, TensorType};
use onyx_compiler::ops::attrs;
use onyx_compiler::{ImportError, import, to_onnx};
use onyx_proto::onnx::{AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, ValueInfoProto};
use support::interp::{Arr, run};

fn ty(dtype: DType, shape: &[i64]) -> TensorType {
    // −1 is the symbolic batch.
    TensorType::new(dtype, shape.iter().map(|&d| if d < 0 { Dim::Sym("N".into()) } else { Dim::Fixed(d as usize) }).collect())
}

fn info(name: &str, t: &TensorType) -> ValueInfoProto {
    ValueInfoProto { name: Some(name.into()), r#type: Some(tensor_type_proto(t)), ..Default::default() }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        name: Some(format!("{op}_node")),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

/// A model of opset `opset` with the given graph inputs, initializers, nodes and graph outputs.
fn model(opset: i64, inputs: &[(&str, TensorType)], inits: &[(&str, Tensor)], nodes: Vec<NodeProto>, outputs: &[&str]) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(opset) }],
        graph: Some(GraphProto {
            name: Some("ops".into()),
            node: nodes,
            initializer: inits.iter().map(|(n, t)| tensor_proto(n, t)).collect(),
            input: inputs.iter().map(|(n, t)| info(n, t)).collect(),
            output: outputs.iter().map(|n| ValueInfoProto { name: Some(n.to_string()), ..Default::default() }).collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Imports `m`, checks that export → import → export changes nothing, and returns the graph and its
/// export.
fn round_trip(what: &str, m: &ModelProto) -> (Graph, ModelProto) {
    let graph = import(m).unwrap_or_else(|e| panic!("{what}: {e}"));
    let exported = to_onnx(&graph);
    let again = import(&exported).unwrap_or_else(|e| panic!("{what}, imported again: {e}"));
    assert!(to_onnx(&again) == exported, "{what} changed in the round trip");
    (graph, exported)
}

fn output_types(g: &Graph) -> Vec<TensorType> {
    g.outputs.iter().map(|&o| g.value(o).ty.clone()).collect()
}

/// The exported node of type `op`, with its attributes by name.
fn exported_node<'a>(m: &'a ModelProto, op: &str) -> &'a NodeProto {
    m.graph.as_ref().unwrap().node.iter().find(|n| n.op_type.as_deref() == Some(op)).unwrap_or_else(|| panic!("no {op} node"))
}

fn attribute<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name.as_deref() == Some(name))
}

#[test]
fn every_element_wise_op_of_opset_17_imports() {
    let x = ty(DType::F32, &[-1, 3, 4]);
    let b = ty(DType::Bool, &[-1, 3, 4]);
    let f = |name: &str, v: f32| attrs::float(name, v);
    // (op, attributes, input type, inputs, output element type)
    let unary_float: Vec<(&str, Vec<AttributeProto>)> = vec![
        ("Ceil", vec![]),
        ("Round", vec![]),
        ("Reciprocal", vec![]),
        ("Sin", vec![]),
        ("Tan", vec![]),
        ("Asin", vec![]),
        ("Acos", vec![]),
        ("Atan", vec![]),
        ("Sinh", vec![]),
        ("Cosh", vec![]),
        ("Asinh", vec![]),
        ("Acosh", vec![]),
        ("Atanh", vec![]),
        ("Softplus", vec![]),
        ("Softsign", vec![]),
        ("Celu", vec![f("alpha", 0.5)]),
        ("Selu", vec![f("alpha", 1.5), f("gamma", 1.1)]),
        ("Selu", vec![]),
        ("ThresholdedRelu", vec![f("alpha", 0.3)]),
        ("HardSigmoid", vec![f("alpha", 0.3), f("beta", 0.4)]),
        ("HardSigmoid", vec![]),
        ("HardSwish", vec![]),
        ("Shrink", vec![f("lambd", 0.3), f("bias", 0.1)]),
        ("Sqrt", vec![]),
        ("Abs", vec![]),
    ];
    for (op, attributes) in unary_float {
        let m = model(17, &[("x", x.clone())], &[], vec![node(op, &["x"], &["y"], attributes.clone())], &["y"]);
        let (g, e) = round_trip(op, &m);
        assert_eq!(output_types(&g), vec![x.clone()], "{op}");
        // The attributes given come back with their values.
        let n = exported_node(&e, op);
        for a in &attributes {
            assert_eq!(attribute(n, a.name.as_deref().unwrap()).and_then(|b| b.f), a.f, "{op}: {:?}", a.name);
        }
    }
    for (op, input, out) in [("Not", &b, DType::Bool), ("IsNaN", &x, DType::Bool), ("IsInf", &x, DType::Bool)] {
        let m = model(17, &[("x", input.clone())], &[], vec![node(op, &["x"], &["y"], vec![])], &["y"]);
        let (g, _) = round_trip(op, &m);
        assert_eq!(output_types(&g), vec![TensorType::new(out, x.shape.clone())], "{op}");
    }
    // Two inputs, the second broadcast.
    let row = ty(DType::F32, &[4]);
    let row_b = ty(DType::Bool, &[4]);
    for (op, attributes, (a, bt), out) in [
        ("Min", vec![], (&x, &row), DType::F32),
        ("Max", vec![], (&x, &row), DType::F32),
        ("Mod", vec![attrs::int("fmod", 1)], (&x, &row), DType::F32),
        ("PRelu", vec![], (&x, &ty(DType::F32, &[3, 1])), DType::F32),
        ("Pow", vec![], (&x, &row), DType::F32),
        ("GreaterOrEqual", vec![], (&x, &row), DType::Bool),
        ("LessOrEqual", vec![], (&x, &row), DType::Bool),
        ("Equal", vec![], (&x, &row), DType::Bool),
        ("And", vec![], (&b, &row_b), DType::Bool),
        ("Or", vec![], (&b, &row_b), DType::Bool),
        ("Xor", vec![], (&b, &row_b), DType::Bool),
    ] {
        let m = model(17, &[("a", a.clone()), ("b", bt.clone())], &[], vec![node(op, &["a", "b"], &["y"], attributes)], &["y"]);
        let (g, _) = round_trip(op, &m);
        assert_eq!(output_types(&g), vec![TensorType::new(out, x.shape.clone())], "{op}");
    }
    // Where, and a logical op on numbers, refused.
    let m = model(17, &[("c", b.clone()), ("a", x.clone()), ("b", row.clone())], &[], vec![node("Where", &["c", "a", "b"], &["y"], vec![])], &["y"]);
    assert_eq!(output_types(&round_trip("Where", &m).0), vec![x.clone()]);
    let m = model(17, &[("a", x.clone()), ("b", x.clone())], &[], vec![node("And", &["a", "b"], &["y"], vec![])], &["y"]);
    let e = import(&m).unwrap_err();
    assert!(e.to_string().contains("And") && e.to_string().contains("bool"), "{e}");
    // Float Mod needs fmod = 1.
    let m = model(17, &[("a", x.clone()), ("b", x.clone())], &[], vec![node("Mod", &["a", "b"], &["y"], vec![])], &["y"]);
    assert!(import(&m).unwrap_err().to_string().contains("fmod"));
    // BitShift shifts unsigned integers, in the direction it names, and nothing else.
    let u = ty(DType::U32, &[-1, 3, 4]);
    for direction in ["LEFT", "RIGHT"] {
        let m = model(
            17,
            &[("a", u.clone()), ("b", ty(DType::U32, &[4]))],
            &[],
            vec![node("BitShift", &["a", "b"], &["y"], vec![attrs::string("direction", direction)])],
            &["y"],
        );
        let (g, e) = round_trip("BitShift", &m);
        assert_eq!(output_types(&g), vec![u.clone()]);
        assert_eq!(attribute(exported_node(&e, "BitShift"), "direction").and_then(|a| a.s.clone()), Some(direction.as_bytes().to_vec()));
    }
    let m = model(
        17,
        &[("a", x.clone()), ("b", row.clone())],
        &[],
        vec![node("BitShift", &["a", "b"], &["y"], vec![attrs::string("direction", "LEFT")])],
        &["y"],
    );
    assert!(import(&m).unwrap_err().to_string().contains("unsigned"));
}

/// ONNX Runtime's dynamic quantization: the input quantized per call, integer products of 8-bit
/// values in int32, scaled back by ordinary ops.
#[test]
fn quantized_ops_import_with_integer_types() {
    let x = ty(DType::F32, &[-1, 2, 5, 5]);
    let w = Tensor { dtype: DType::I8, dims: vec![4, 2, 3, 3], data: (0..72).map(|i| (i as i8 - 36) as u8).collect() };
    let zero = Tensor { dtype: DType::I8, dims: vec![], data: vec![0] };
    let nodes = vec![
        node("DynamicQuantizeLinear", &["x"], &["q", "scale", "zero_point"], vec![]),
        node("ConvInteger", &["q", "w", "zero_point", "w_zero"], &["acc"], vec![attrs::ints("kernel_shape", &[3, 3])]),
    ];
    let m = model(17, &[("x", x.clone())], &[("w", w), ("w_zero", zero)], nodes, &["acc", "scale"]);
    let graph = import(&m).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output_types(&graph), vec![ty(DType::I32, &[-1, 4, 3, 3]), TensorType::new(DType::F32, vec![])]);
    let q = ty(DType::U8, &[-1, 6]);
    let b = Tensor { dtype: DType::U8, dims: vec![6, 3], data: vec![1; 18] };
    let m = model(17, &[("q", q)], &[("b", b)], vec![node("MatMulInteger", &["q", "b"], &["y"], vec![])], &["y"]);
    assert_eq!(output_types(&round_trip("MatMulInteger", &m).0), vec![ty(DType::I32, &[-1, 3])]);
    // A float operand is refused, naming the op.
    let m = model(
        17,
        &[("q", ty(DType::F32, &[-1, 6]))],
        &[("b", Tensor::from_f32(vec![6, 3], &[1.0; 18]))],
        vec![node("MatMulInteger", &["q", "b"], &["y"], vec![])],
        &["y"],
    );
    let e = import(&m).unwrap_err().to_string();
    assert!(e.contains("MatMulInteger") && e.contains("8-bit"), "{e}");
}

#[test]
fn dropout_with_its_mask_output() {
    let x = ty(DType::F32, &[-1, 3, 4]);
    // Opset 9, as SqueezeNet 1.0 and VGG-19 of the onnx package: the mask named, nothing reading it.
    let dropout = |outputs: &[&str]| node("Dropout", &["x"], outputs, vec![attrs::float("ratio", 0.3)]);
    let m = model(9, &[("x", x.clone())], &[], vec![dropout(&["y", "mask"])], &["y"]);
    let (g, e) = round_trip("Dropout with an unread mask", &m);
    let n = g.nodes.iter().find(|n| n.op.op_type() == "Dropout").unwrap();
    assert_eq!(n.outputs.len(), 1);
    assert_eq!(exported_node(&e, "Dropout").input.len(), 2, "the ratio became an input");
    // The mask read (here, a graph output): the node gives it, boolean, of x's shape.
    for opset in [9, 13] {
        let node = if opset == 9 { dropout(&["y", "mask"]) } else { node("Dropout", &["x"], &["y", "mask"], vec![]) };
        let m = model(opset, &[("x", x.clone())], &[], vec![node], &["y", "mask"]);
        let (g, e) = round_trip("Dropout with its mask", &m);
        assert_eq!(output_types(&g), vec![x.clone(), TensorType::new(DType::Bool, x.shape.clone())]);
        let values = run(&e, &[("x", Arr::new(vec![2, 3, 4], (0..24).map(f64::from).collect()))]);
        assert_eq!(values["y"].data, (0..24).map(f64::from).collect::<Vec<_>>());
        assert!(values["mask"].data.iter().all(|&v| v == 1.0));
    }
    // A third output is one too many.
    let m = model(13, &[("x", x.clone())], &[], vec![node("Dropout", &["x"], &["y", "mask", "more"], vec![])], &["y", "more"]);
    assert!(matches!(import(&m), Err(ImportError::TooManyOutputs { listed: 3, .. })));
}

#[test]
fn lrn_as_googlenet_writes_it() {
    let x = ty(DType::F32, &[-1, 8, 5, 5]);
    let a = vec![attrs::int("size", 5), attrs::float("alpha", 1e-4), attrs::float("beta", 0.75), attrs::float("bias", 1.0)];
    for opset in [9, 13, 17] {
        let m = model(opset, &[("x", x.clone())], &[], vec![node("LRN", &["x"], &["y"], a.clone())], &["y"]);
        let (g, e) = round_trip("LRN", &m);
        assert_eq!(output_types(&g), vec![x.clone()]);
        let n = exported_node(&e, "LRN");
        assert_eq!(attribute(n, "size").and_then(|a| a.i), Some(5));
        assert_eq!(attribute(n, "beta").and_then(|a| a.f), Some(0.75));
    }
    let m = model(13, &[("x", x.clone())], &[], vec![node("LRN", &["x"], &["y"], vec![])], &["y"]);
    assert!(import(&m).unwrap_err().to_string().contains("size"));
}

#[test]
fn normalizations() {
    let x = ty(DType::F32, &[-1, 3, 4]);
    let scale = Tensor::from_f32(vec![4], &[1.0, 2.0, 0.5, 1.5]);
    let bias = Tensor::from_f32(vec![4], &[0.0, 0.1, 0.2, 0.3]);
    // LayerNormalization, without and with its statistics outputs.
    let ln =
        |outputs: &[&str]| node("LayerNormalization", &["x", "scale", "bias"], outputs, vec![attrs::int("axis", -1), attrs::float("epsilon", 1e-3)]);
    let inits = [("scale", scale.clone()), ("bias", bias.clone())];
    let m = model(17, &[("x", x.clone())], &inits, vec![ln(&["y"])], &["y"]);
    assert_eq!(output_types(&round_trip("LayerNormalization", &m).0), vec![x.clone()]);
    let m = model(17, &[("x", x.clone())], &inits, vec![ln(&["y", "mean", "inv_std"])], &["y", "mean", "inv_std"]);
    let (g, e) = round_trip("LayerNormalization with statistics", &m);
    let stats = ty(DType::F32, &[-1, 3, 1]);
    assert_eq!(output_types(&g), vec![x.clone(), stats.clone(), stats]);
    let n = exported_node(&e, "LayerNormalization");
    assert_eq!(attribute(n, "stash_type").and_then(|a| a.i), Some(1));
    // Statistics named but not read are left off.
    let m = model(17, &[("x", x.clone())], &inits, vec![ln(&["y", "mean", "inv_std"])], &["y"]);
    assert_eq!(round_trip("LayerNormalization, statistics unread", &m).0.nodes[0].outputs.len(), 1);
    // A scale that does not fit the normalized axes.
    let m = model(
        17,
        &[("x", x.clone())],
        &[("scale", Tensor::from_f32(vec![3], &[1.0; 3]))],
        vec![node("LayerNormalization", &["x", "scale"], &["y"], vec![])],
        &["y"],
    );
    assert!(import(&m).unwrap_err().to_string().contains("scale"));

    let img = ty(DType::F32, &[-1, 3, 4, 4]);
    let per_channel = [("s", Tensor::from_f32(vec![3], &[1.0; 3])), ("b", Tensor::from_f32(vec![3], &[0.0; 3]))];
    let m = model(
        9,
        &[("x", img.clone())],
        &per_channel,
        vec![node("InstanceNormalization", &["x", "s", "b"], &["y"], vec![attrs::float("epsilon", 1e-5)])],
        &["y"],
    );
    assert_eq!(output_types(&round_trip("InstanceNormalization", &m).0), vec![img.clone()]);
    let m = model(9, &[("x", img.clone())], &[], vec![node("GlobalMaxPool", &["x"], &["y"], vec![])], &["y"]);
    assert_eq!(output_types(&round_trip("GlobalMaxPool", &m).0), vec![ty(DType::F32, &[-1, 3, 1, 1])]);
}

#[test]
fn reductions_in_both_axes_forms() {
    let x = ty(DType::F32, &[-1, 3, 4]);
    for op in ["ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ReduceMax", "ReduceMean"] {
        // Opset 13: axes as an attribute.
        let m =
            model(13, &[("x", x.clone())], &[], vec![node(op, &["x"], &["y"], vec![attrs::ints("axes", &[2]), attrs::int("keepdims", 0)])], &["y"]);
        let (g, _) = round_trip(op, &m);
        assert_eq!(output_types(&g), vec![ty(DType::F32, &[-1, 3])], "{op}");
        // Opset 18: axes as a constant input.
        let m = model(18, &[("x", x.clone())], &[("axes", Tensor::from_i64(vec![1], &[1]))], vec![node(op, &["x", "axes"], &["y"], vec![])], &["y"]);
        let (g, _) = round_trip(op, &m);
        assert_eq!(output_types(&g), vec![ty(DType::F32, &[-1, 1, 4])], "{op} at opset 18");
    }
}

#[test]
fn shapes_repetition_and_selection() {
    let x = ty(DType::F32, &[-1, 3, 1]);
    let ints = |v: &[i64]| Tensor::from_i64(vec![v.len()], v);
    let case = |what: &str, inits: &[(&str, Tensor)], n: NodeProto, outputs: &[&str]| -> Vec<TensorType> {
        let m = model(17, &[("x", x.clone())], inits, vec![n], outputs);
        output_types(&round_trip(what, &m).0)
    };
    assert_eq!(case("Expand", &[("s", ints(&[1, 3, 5]))], node("Expand", &["x", "s"], &["y"], vec![]), &["y"]), vec![ty(DType::F32, &[-1, 3, 5])]);
    assert_eq!(
        case("Expand to more axes", &[("s", ints(&[2, 1, 1, 1]))], node("Expand", &["x", "s"], &["y"], vec![]), &["y"]),
        vec![ty(DType::F32, &[2, -1, 3, 1])]
    );
    assert_eq!(case("Tile", &[("r", ints(&[1, 2, 4]))], node("Tile", &["x", "r"], &["y"], vec![]), &["y"]), vec![ty(DType::F32, &[-1, 6, 4])]);
    assert_eq!(
        case("Tile over the batch", &[("r", ints(&[2, 1, 1]))], node("Tile", &["x", "r"], &["y"], vec![]), &["y"]),
        vec![TensorType::new(DType::F32, vec![Dim::Sym("N*2".into()), Dim::Fixed(3), Dim::Fixed(1)])]
    );
    assert_eq!(
        case("CumSum", &[("axis", Tensor::from_i64(vec![], &[1]))], node("CumSum", &["x", "axis"], &["y"], vec![attrs::int("reverse", 1)]), &["y"]),
        vec![x.clone()]
    );
    assert_eq!(
        case("TopK", &[("k", ints(&[2]))], node("TopK", &["x", "k"], &["v", "i"], vec![attrs::int("axis", 1)]), &["v", "i"]),
        vec![ty(DType::F32, &[-1, 2, 1]), ty(DType::I64, &[-1, 2, 1])]
    );
    assert_eq!(case("Size", &[], node("Size", &["x"], &["y"], vec![]), &["y"]), vec![ty(DType::I64, &[])]);
    // A target that is not known at import is refused, naming the op.
    let m = model(17, &[("x", x.clone()), ("s", ty(DType::I64, &[3]))], &[], vec![node("Expand", &["x", "s"], &["y"], vec![])], &["y"]);
    let e = import(&m).unwrap_err();
    assert!(e.to_string().contains("Expand") && e.to_string().contains("constant"), "{e}");
}

#[test]
fn conversions_at_import_compute_the_same() {
    let x = ty(DType::F32, &[-1, 3]);
    let feed = |seed: f64| Arr::new(vec![2, 3], (0..6).map(|i| (i as f64 * 0.7 + seed).sin()).collect());
    let (a, b, c) = (feed(0.1), feed(1.3), feed(2.9));
    let inputs = [("a", x.clone()), ("b", x.clone()), ("c", x.clone())];
    for (op, f) in [
        ("Sum", (|v: &[f64]| v.iter().sum::<f64>()) as fn(&[f64]) -> f64),
        ("Mean", |v| v.iter().sum::<f64>() / 3.0),
        ("Min", |v| v.iter().copied().fold(f64::INFINITY, f64::min)),
        ("Max", |v| v.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
    ] {
        let m = model(9, &inputs, &[], vec![node(op, &["a", "b", "c"], &["y"], vec![])], &["y"]);
        let (g, e) = round_trip(op, &m);
        assert_eq!(output_types(&g), vec![x.clone()]);
        let y = &run(&e, &[("a", a.clone()), ("b", b.clone()), ("c", c.clone())])["y"];
        for i in 0..6 {
            let want = f(&[a.data[i], b.data[i], c.data[i]]);
            assert!((y.data[i] - want).abs() < 1e-6, "{op}[{i}]: {} against {want}", y.data[i]);
        }
    }
    // CastLike is a Cast to the other input's element type.
    let m = model(15, &[("a", x.clone()), ("like", ty(DType::I64, &[1]))], &[], vec![node("CastLike", &["a", "like"], &["y"], vec![])], &["y"]);
    let (g, e) = round_trip("CastLike", &m);
    assert_eq!(output_types(&g), vec![ty(DType::I64, &[-1, 3])]);
    assert_eq!(attribute(exported_node(&e, "Cast"), "to").and_then(|a| a.i), Some(7));
    // Range of constant bounds becomes a constant.
    let scalar = |v: i64| Tensor::from_i64(vec![], &[v]);
    let m = model(11, &[], &[("s", scalar(2)), ("l", scalar(11)), ("d", scalar(3))], vec![node("Range", &["s", "l", "d"], &["y"], vec![])], &["y"]);
    let g = import(&m).unwrap();
    let y = g.value(g.outputs[0]).init.as_ref().unwrap();
    assert_eq!(y.as_i64().unwrap(), vec![2, 5, 8]);
    // Gelu (opset 20) spelled out in opset-17 ops.
    let m = model(20, &[("a", x.clone())], &[], vec![node("Gelu", &["a"], &["y"], vec![])], &["y"]);
    let (_, e) = round_trip("Gelu", &m);
    let y = &run(&e, &[("a", a.clone())])["y"];
    for i in 0..6 {
        let v = a.data[i];
        let want = 0.5 * v * (1.0 + support::interp::erf(v / std::f64::consts::SQRT_2));
        assert!((y.data[i] - want).abs() < 1e-6, "Gelu[{i}]");
    }
}

/// A graph attribute (an If's branch).
fn branch(name: &str, nodes: Vec<NodeProto>, outputs: &[&str]) -> AttributeProto {
    let g = GraphProto {
        name: Some(name.into()),
        node: nodes,
        output: outputs.iter().map(|n| ValueInfoProto { name: Some(n.to_string()), ..Default::default() }).collect(),
        ..Default::default()
    };
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(onyx_proto::onnx::attribute_proto::AttributeType::Graph as i32),
        g: Some(Box::new(g)),
        ..Default::default()
    }
}

/// With the input's shape given, the shape arithmetic exporters write (an int32 round trip, a
/// Gather, a comparison) folds to constants; the If it decides is replaced by the branch taken, and
/// `auto_pad` becomes explicit pads. Without the shape, the If is refused, naming the input.
#[test]
fn given_shapes_fold_shape_arithmetic_and_inline_if() {
    let x = ty(DType::F32, &[-1, 1, -1, -1]);
    let one = Tensor::from_i64(vec![1], &[2]);
    let weight = Tensor::from_f32(vec![1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let nodes = vec![
        node("Shape", &["x"], &["shape"], vec![]),
        node("Cast", &["shape"], &["shape32"], vec![attrs::int("to", 6)]),
        node("Gather", &["shape32", "two"], &["height"], vec![attrs::int("axis", 0)]),
        node("Cast", &["height"], &["height64"], vec![attrs::int("to", 7)]),
        node("Greater", &["height64", "two"], &["tall"], vec![]),
        node(
            "If",
            &["tall"],
            &["y"],
            vec![
                branch(
                    "then_branch",
                    vec![node("Conv", &["x", "w"], &["conv"], vec![attrs::string("auto_pad", "SAME_UPPER"), attrs::ints("kernel_shape", &[2, 2])])],
                    &["conv"],
                ),
                branch("else_branch", vec![], &["x"]),
            ],
        ),
    ];
    let m = model(13, &[("x", x)], &[("two", one), ("w", weight)], nodes, &["y"]);
    let e = import(&m).unwrap_err();
    assert!(matches!(e, ImportError::RunTimeCondition { .. }), "{e}");
    assert!(e.to_string().contains("depends on `x` at run time"), "{e}");
    let shape = |h: usize| vec![("x".to_string(), vec![Dim::Fixed(1), Dim::Fixed(1), Dim::Fixed(h), Dim::Fixed(5)])];
    // Taller than 2: the Conv, padded as SAME_UPPER pads a 2x2 kernel (0 before, 1 after).
    let g = onyx_compiler::import_with_shapes(&m, &shape(4)).unwrap();
    assert_eq!(output_types(&g), vec![ty(DType::F32, &[1, 1, 4, 5])]);
    let e = to_onnx(&g);
    assert_eq!(e.graph.as_ref().unwrap().node.len(), 1, "only the Conv is left");
    assert_eq!(attribute(exported_node(&e, "Conv"), "pads").map(|a| a.ints.clone()), Some(vec![0, 0, 1, 1]));
    assert_eq!(g.value(g.outputs[0]).name, "y");
    // Not taller: the else branch passes `x` through, copied into `y`.
    let g = onyx_compiler::import_with_shapes(&m, &shape(2)).unwrap();
    let e = to_onnx(&g);
    assert_eq!(e.graph.as_ref().unwrap().node.iter().map(|n| n.op_type.clone().unwrap()).collect::<Vec<_>>(), vec!["Identity"]);
    // A shape of another rank, a size the file fixes, or a name that is no input is refused.
    let bad = |dims: Vec<Dim>, name: &str| onyx_compiler::import_with_shapes(&m, &[(name.to_string(), dims)]).unwrap_err().to_string();
    assert!(bad(vec![Dim::Fixed(1); 3], "x").contains("rank 3"));
    assert!(bad(vec![Dim::Fixed(1), Dim::Fixed(2), Dim::Fixed(3), Dim::Fixed(3)], "x").contains("fixes it at 1"));
    assert!(bad(vec![Dim::Fixed(1); 4], "image").contains("is not an input"));
}

/// Pad in reflect and edge modes imports, keeps its mode in the export, and computes as the spec says.
#[test]
fn reflect_and_edge_pads_import() {
    let x = ty(DType::F32, &[-1, 3]);
    let pads = Tensor::from_i64(vec![4], &[0, 2, 0, 1]);
    let a = Arr::new(vec![1, 3], vec![1.0, 2.0, 3.0]);
    for (mode, want) in [("reflect", [3.0, 2.0, 1.0, 2.0, 3.0, 2.0]), ("edge", [1.0, 1.0, 1.0, 2.0, 3.0, 3.0])] {
        let m = model(
            13,
            &[("x", x.clone())],
            &[("pads", pads.clone())],
            vec![node("Pad", &["x", "pads"], &["y"], vec![attrs::string("mode", mode)])],
            &["y"],
        );
        let (g, e) = round_trip(mode, &m);
        assert_eq!(output_types(&g), vec![ty(DType::F32, &[-1, 6])]);
        let y = &run(&e, &[("x", a.clone())])["y"];
        assert_eq!(y.data, want, "{mode}");
    }
    let m = model(
        13,
        &[("x", x.clone())],
        &[("pads", Tensor::from_i64(vec![4], &[0, 3, 0, 0]))],
        vec![node("Pad", &["x", "pads"], &["y"], vec![attrs::string("mode", "reflect")])],
        &["y"],
    );
    assert!(import(&m).unwrap_err().to_string().contains("smaller than its size 3"));
}

/// scikit-learn's linear models (skl2onnx's ai.onnx.ml LinearRegressor, LinearClassifier and
/// ZipMap) are lowered into Gemm, Sigmoid, ArgMax and Gather; the coefficients become weights, and
/// the ZipMap's output is dropped with a note.
#[test]
fn scikit_learn_linear_models_are_lowered() {
    let ml = |m: &mut ModelProto, op: &str, out: &[&str], attribute: Vec<AttributeProto>| {
        m.opset_import.push(OperatorSetIdProto { domain: Some("ai.onnx.ml".into()), version: Some(1) });
        let mut n = node(op, &["x"], out, attribute);
        n.domain = Some("ai.onnx.ml".into());
        m.graph.as_mut().unwrap().node.insert(0, n);
    };
    let x = ty(DType::F32, &[-1, 2]);
    let a = Arr::new(vec![2, 2], vec![1.0, 2.0, 3.0, 0.5]);
    let mut m = model(17, &[("x", x.clone())], &[], vec![], &["y"]);
    ml(&mut m, "LinearRegressor", &["y"], vec![attrs::floats("coefficients", &[0.5, -1.0]), attrs::floats("intercepts", &[2.0])]);
    let (g, e) = round_trip("LinearRegressor", &m);
    assert_eq!(output_types(&g), vec![ty(DType::F32, &[-1, 1])]);
    assert_eq!(g.params().count(), 2, "coefficients and intercepts are weights");
    assert_eq!(run(&e, &[("x", a.clone())])["y"].data, vec![0.5, 3.0]);

    let mut m = model(17, &[("x", x.clone())], &[], vec![node("Cast", &["label"], &["label64"], vec![attrs::int("to", 7)])], &["label64", "maps"]);
    m.graph.as_mut().unwrap().node.push(NodeProto { domain: Some("ai.onnx.ml".into()), ..node("ZipMap", &["probabilities"], &["maps"], vec![]) });
    let classifier = vec![
        attrs::floats("coefficients", &[-1.0, 1.0, 1.0, -1.0]),
        attrs::floats("intercepts", &[0.0, 0.0]),
        AttributeProto { ints: vec![7, 9], ..attrs::ints("classlabels_ints", &[]) },
        attrs::string("post_transform", "LOGISTIC"),
    ];
    ml(&mut m, "LinearClassifier", &["label", "probabilities"], classifier);
    let g = import(&m).unwrap();
    assert_eq!(g.outputs.len(), 1, "the ZipMap's maps are dropped");
    assert!(g.metadata.iter().any(|(k, v)| k == onyx_compiler::import::ml::DROPPED_KEY && v.contains("maps")));
    let e = to_onnx(&g);
    // Scores: row 1 gives [1, -1] (label 7), row 2 [-2.5, 2.5] (label 9).
    assert_eq!(run(&e, &[("x", a.clone())])["label64"].data, vec![7.0, 9.0]);
    let mut m = model(17, &[("x", x.clone())], &[], vec![], &["label", "p"]);
    let classifier = vec![
        attrs::floats("coefficients", &[-1.0, 1.0, 1.0, -1.0]),
        AttributeProto { ints: vec![7, 9], ..attrs::ints("classlabels_ints", &[]) },
        attrs::string("post_transform", "SOFTMAX"),
    ];
    ml(&mut m, "LinearClassifier", &["label", "p"], classifier);
    let (_, e) = round_trip("LinearClassifier", &m);
    let p = &run(&e, &[("x", a)])["p"];
    let s = |v: f64| 1.0 / (1.0 + (-v).exp());
    assert!((p.data[0] - s(2.0)).abs() < 1e-6 && (p.data[3] - s(5.0)).abs() < 1e-6, "{:?}", p.data);
}

/// An `If` on a value computed from an input (openWakeWord's score threshold), whose branches give
/// outputs of one type: both branches are read and `Where` picks, which computes what the If does
/// for either side of the threshold.
#[test]
fn an_if_on_a_run_time_value_with_like_branches_becomes_a_where() {
    let x = ty(DType::F32, &[1, 2]);
    let zero = Tensor::from_f32(vec![], &[0.0]);
    let nodes = vec![
        node("ReduceSum", &["x"], &["total"], vec![attrs::int("keepdims", 0)]),
        node("Greater", &["total", "zero"], &["positive"], vec![]),
        node(
            "If",
            &["positive"],
            &["y"],
            vec![
                branch("then_branch", vec![node("Mul", &["x", "x"], &["square"], vec![])], &["square"]),
                branch("else_branch", vec![node("Neg", &["x"], &["negated"], vec![])], &["negated"]),
            ],
        ),
    ];
    let m = model(11, &[("x", x.clone())], &[("zero", zero)], nodes, &["y"]);
    let g = import(&m).unwrap();
    assert_eq!(output_types(&g), vec![x]);
    assert!(g.nodes.iter().any(|n| n.op.op_type() == "Where"));
    let e = to_onnx(&g);
    for (input, want) in [(vec![1.0, 2.0], vec![1.0, 4.0]), (vec![-3.0, 1.0], vec![3.0, -1.0])] {
        let values = run(&e, &[("x", Arr::new(vec![1, 2], input))]);
        assert_eq!(values["y"].data, want);
    }
    // Branches of different shapes cannot both be computed: the error names the input deciding it.
    let nodes = vec![
        node("ReduceSum", &["x"], &["total"], vec![attrs::int("keepdims", 0)]),
        node("Greater", &["total", "zero"], &["positive"], vec![]),
        node(
            "If",
            &["positive"],
            &["y"],
            vec![
                branch("then_branch", vec![node("ReduceSum", &["x"], &["sum"], vec![attrs::int("keepdims", 0)])], &["sum"]),
                branch("else_branch", vec![], &["x"]),
            ],
        ),
    ];
    let m = model(11, &[("x", ty(DType::F32, &[1, 2]))], &[("zero", Tensor::from_f32(vec![], &[0.0]))], nodes, &["y"]);
    let e = import(&m).unwrap_err().to_string();
    assert!(e.contains("depends on `x` at run time") && e.contains("its branches give `y` as float32[] and float32[1, 2]"), "{e}");
}
