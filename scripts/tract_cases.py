"""Writes the minimal models behind docs/engines.md's tract entries, each a limit of tract's that
onyx works around (or refuses clearly), with inputs and onnxruntime-python's outputs:
<OUT>/<case>.onnx, <case>.inputs.npz, <case>.outputs.npz. tests/tract_workarounds.rs reads them.

usage: tract_cases.py OUTDIR
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as T
from onnx import helper as h

out = sys.argv[1]
cases = {}


def save(name, graph, inputs, opsets=(("", 17),)):
    model = h.make_model(graph, opset_imports=[h.make_opsetid(d, v) for d, v in opsets])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, f"{out}/{name}.onnx")
    np.savez(f"{out}/{name}.inputs.npz", **inputs)
    session = ort.InferenceSession(f"{out}/{name}.onnx", providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs() if o.type.startswith("tensor")]
    np.savez(f"{out}/{name}.outputs.npz", **dict(zip(names, session.run(names, inputs))))


# A dimension declared as -1, as paddle2onnx writes dynamic sizes: tract finds no fact for the input.
save(
    "minus_one_dim",
    h.make_graph([h.make_node("Relu", ["x"], ["y"])], "g", [h.make_tensor_value_info("x", T.FLOAT, [-1, 3])], [h.make_tensor_value_info("y", T.FLOAT, [-1, 3])]),
    {"x": np.array([[-1, 2, -3], [4, -5, 6]], dtype=np.float32)},
)

# torch.onnx's `squeeze(-1)` on a size known only at run time: an If on that size whose branches
# give outputs of different ranks, which tract refuses even when the shape decides the branch.
squeeze = h.make_graph([h.make_node("Squeeze", ["x", "axes"], ["s"])], "then", [], [h.make_tensor_value_info("s", T.FLOAT, ["N"])], [h.make_tensor("axes", T.INT64, [1], [-1])])
keep = h.make_graph([h.make_node("Identity", ["x"], ["k"])], "else", [], [h.make_tensor_value_info("k", T.FLOAT, ["N", "S"])])
save(
    "if_on_a_shape",
    h.make_graph(
        [
            h.make_node("Shape", ["x"], ["shape"]),
            h.make_node("Gather", ["shape", "last"], ["size"], axis=0),
            h.make_node("Equal", ["size", "one"], ["cond"]),
            h.make_node("If", ["cond"], ["y"], then_branch=squeeze, else_branch=keep),
        ],
        "g",
        [h.make_tensor_value_info("x", T.FLOAT, ["N", "S"])],
        # As torch.onnx declares it: the shape of one branch, wrong for the other.
        [h.make_tensor_value_info("y", T.FLOAT, ["N"])],
        [h.make_tensor("last", T.INT64, [], [-1]), h.make_tensor("one", T.INT64, [], [1])],
    ),
    {"x": np.arange(4, dtype=np.float32).reshape(4, 1)},
)

# A branch chosen by an input's value (silero's sample rate), the branches of different shapes.
double = h.make_graph([h.make_node("Concat", ["x", "x"], ["d"], axis=1)], "then", [], [h.make_tensor_value_info("d", T.FLOAT, ["N", 4])])
same = h.make_graph([h.make_node("Identity", ["x"], ["i"])], "else", [], [h.make_tensor_value_info("i", T.FLOAT, ["N", 2])])
save(
    "if_on_an_input_value",
    h.make_graph(
        [h.make_node("Equal", ["sr", "rate"], ["cond"]), h.make_node("If", ["cond"], ["y"], then_branch=double, else_branch=same)],
        "g",
        [h.make_tensor_value_info("x", T.FLOAT, ["N", 2]), h.make_tensor_value_info("sr", T.INT64, [])],
        [h.make_tensor_value_info("y", T.FLOAT, ["N", 4])],
        [h.make_tensor("rate", T.INT64, [], [16000])],
    ),
    {"x": np.ones((3, 2), dtype=np.float32), "sr": np.array(16000, dtype=np.int64)},
)

# skl2onnx's classifier: ZipMap's sequence of maps, which tract cannot type, beside the label.
save(
    "zipmap_output",
    h.make_graph(
        [
            h.make_node("LinearClassifier", ["x"], ["label", "p"], domain="ai.onnx.ml", classlabels_ints=[0, 1], coefficients=[1.0, -1.0, -1.0, 1.0], intercepts=[0.0, 0.0], post_transform="LOGISTIC"),
            h.make_node("ZipMap", ["p"], ["probabilities"], domain="ai.onnx.ml", classlabels_int64s=[0, 1]),
        ],
        "g",
        [h.make_tensor_value_info("x", T.FLOAT, ["N", 2])],
        [h.make_tensor_value_info("label", T.INT64, ["N"]), h.make_value_info("probabilities", h.make_sequence_type_proto(h.make_map_type_proto(T.INT64, h.make_tensor_type_proto(T.FLOAT, []))))],
    ),
    {"x": np.array([[1, 0], [0, 1], [2, 5]], dtype=np.float32)},
    opsets=(("", 17), ("ai.onnx.ml", 1)),
)

# A contrib op of ONNX Runtime's (com.microsoft), which tract does not implement: refused at load.
save(
    "contrib_op",
    h.make_graph(
        [h.make_node("FusedMatMul", ["x", "w"], ["y"], domain="com.microsoft", alpha=0.5)],
        "g",
        [h.make_tensor_value_info("x", T.FLOAT, ["N", 3])],
        [h.make_tensor_value_info("y", T.FLOAT, ["N", 2])],
        [h.make_tensor("w", T.FLOAT, [3, 2], [1, 2, 3, 4, 5, 6])],
    ),
    {"x": np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3)},
    opsets=(("", 17), ("com.microsoft", 1)),
)
