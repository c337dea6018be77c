"""Models written for other opsets than onyx's 17, for the import tests.

usage: old_opsets.py OUT_DIR

Writes, for each case, CASE.onnx (built with onnx.helper at the case's opset) and CASE_in.npz (a seeded
input). The test imports each model, exports it at opset 17 and checks with check_model.py that
ONNX Runtime computes the same outputs from the converted file as onnxruntime does from the original
(whose outputs this script writes as CASE_out.npz).
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper


def const(name, values, dtype=np.int64):
    return numpy_helper.from_array(np.array(values, dtype=dtype), name)


def model(nodes, x_shape, opset, inits=()):
    x = h.make_tensor_value_info("x", T.FLOAT, x_shape)
    y = h.make_tensor_value_info("y", T.FLOAT, None)
    graph = h.make_graph(nodes, "case", [x], [y], list(inits))
    m = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 7 if opset < 15 else 8 if opset < 19 else 9 if opset < 21 else 10
    return m


CASES = {
    # Sum of three, and the attribute forms of Squeeze/Unsqueeze/ReduceSum (opset 11).
    "sum_squeeze_reduce_11": model(
        [
            h.make_node("Relu", ["x"], ["r"]),
            h.make_node("Sum", ["x", "r", "x"], ["s"]),
            h.make_node("Unsqueeze", ["s"], ["u"], axes=[1]),
            h.make_node("ReduceSum", ["u"], ["t"], axes=[3], keepdims=1),
            h.make_node("Squeeze", ["t"], ["y"], axes=[1, 3]),
        ],
        [2, 3, 4], 11),
    # Max of three (chained in input order, as Sum) with a broadcast operand, then of two.
    "max_of_three_13": model(
        [
            h.make_node("Neg", ["x"], ["n"]),
            h.make_node("Max", ["x", "n", "c"], ["m"]),
            h.make_node("Max", ["m", "x"], ["y"]),
        ],
        [2, 3, 4], 13, [const("c", [0.1, -0.2, 0.3, 0.0], np.float32)]),
    # Softmax over a 3-D input before opset 13: flattened to 2-D at axis 1.
    "softmax_axis1_3d_9": model([h.make_node("Softmax", ["x"], ["y"], axis=1)], [2, 3, 4], 9),
    "log_softmax_last_12": model([h.make_node("LogSoftmax", ["x"], ["y"], axis=2)], [2, 3, 4], 12),
    # Slice's attributes (opset 9), Pad's (opset 10), Dropout's ratio (opset 10), Clip's bounds (opset 10).
    "slice_pad_dropout_clip_10_9": model(
        [
            h.make_node("Slice", ["x"], ["a"], starts=[0, 1], ends=[2, 4], axes=[0, 2]),
            h.make_node("Pad", ["a"], ["p"], pads=[0, 1, 0, 0, 2, 1], value=0.5),
            h.make_node("Dropout", ["p"], ["d"], ratio=0.3),
            h.make_node("Clip", ["d"], ["y"], min=-0.2, max=0.4),
        ],
        [2, 3, 4], 9),
    "clip_inputs_13": model([h.make_node("Clip", ["x", "lo", "hi"], ["y"])], [2, 3, 4], 13, [const("lo", -0.3, np.float32), const("hi", 0.25, np.float32)]),
    # Split's attribute (opset 11) and num_outputs (opset 18); ReduceMean's axes input (opset 18).
    "split_attr_11": model(
        [h.make_node("Split", ["x"], ["a", "b"], axis=2, split=[1, 3]), h.make_node("Mul", ["a", "b"], ["y"])], [2, 3, 4], 11),
    "split_reduce_mean_18": model(
        [
            h.make_node("Split", ["x"], ["a", "b"], axis=2, num_outputs=2),
            h.make_node("Sub", ["a", "b"], ["d"]),
            h.make_node("ReduceMean", ["d", "axes"], ["y"], keepdims=0),
        ],
        [2, 3, 4], 18, [const("axes", [1])]),
    "pad_axes_reduce_max_21": model(
        [
            h.make_node("Pad", ["x", "pads", "", "axes"], ["p"]),
            h.make_node("ReduceMax", ["p", "raxes"], ["y"], keepdims=1),
        ],
        [2, 3, 4], 21, [const("pads", [1, 2, 0, 1]), const("axes", [2, 0]), const("raxes", [0])]),
    "gelu_20": model([h.make_node("Gelu", ["x"], ["g"]), h.make_node("Gelu", ["g"], ["y"], approximate="tanh")], [2, 3, 4], 20),
    # Upsample (opset 9) and Resize (opset 13): nearest by whole factors, and linear.
    "upsample_9": model([h.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")], [1, 2, 3, 4], 9, [const("scales", [1, 1, 2, 3], np.float32)]),
    "resize_13": model(
        [
            h.make_node("Resize", ["x", "", "scales"], ["r"], mode="nearest"),
            h.make_node("Resize", ["r", "", "", "sizes"], ["y"], mode="linear"),
        ],
        [1, 2, 3, 4], 13, [const("scales", [1, 1, 2, 2], np.float32), const("sizes", [1, 2, 5, 7])]),
    # Weights from ConstantOfShape and a Constant node, folded into initializers.
    "folded_weights_9": model(
        [
            h.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([4, 5], np.int64))),
            h.make_node("ConstantOfShape", ["shape"], ["w"], value=numpy_helper.from_array(np.array([0.03], np.float32))),
            h.make_node("MatMul", ["x", "w"], ["y"]),
        ],
        [2, 3, 4], 9),
    # PyTorch's x.view(x.size(0), -1) on a fixed-size input: Shape → Gather → Unsqueeze → Concat →
    # Reshape, folded into a constant target.
    "view_flatten_11": model(
        [
            h.make_node("Shape", ["x"], ["s"]),
            h.make_node("Gather", ["s", "zero"], ["n"], axis=0),
            h.make_node("Unsqueeze", ["n"], ["n1"], axes=[0]),
            h.make_node("Concat", ["n1", "minus_one"], ["target"], axis=0),
            h.make_node("Reshape", ["x", "target"], ["y"]),
        ],
        [2, 3, 4], 11, [const("zero", 0), const("minus_one", [-1])]),
    # BatchNormalization 9 and a Reshape fed by Shape (the batch stays symbolic).
    "batch_norm_reshape_9": model(
        [
            h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["n"], epsilon=1e-3),
            h.make_node("Shape", ["n"], ["sh"]),
            h.make_node("Reshape", ["n", "flat"], ["y"]),
        ],
        ["N", 3, 4], 9,
        [const("s", [1.0, 2.0, 0.5], np.float32), const("b", [0.1, 0.0, -0.2], np.float32), const("m", [0.3, -0.1, 0.0], np.float32),
         const("v", [1.5, 0.7, 2.0], np.float32), const("flat", [0, -1])]),
}


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(0)
    for name, m in CASES.items():
        x = rng.standard_normal(tuple(d.dim_value or 2 for d in m.graph.input[0].type.tensor_type.shape.dim)).astype(np.float32)
        onnx.save(m, f"{out}/{name}.onnx")
        np.savez(f"{out}/{name}_in.npz", x=x)
        y = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        np.savez(f"{out}/{name}_out.npz", y=y)
        print(name)


if __name__ == "__main__":
    main()
