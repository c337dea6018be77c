"""Writes, for one NumPy element type, what tests/input_types.rs feeds onyx predict: an ONNX model
with two inputs (`a` of that type with a symbolic batch and a symbolic width, `b` int64) and two
outputs (`a` and `b` passed through), the inputs as NumPy writes them (a.npy, ab.npz) and as CSV
(a.csv, for 2-D numbers), and the outputs onnxruntime-python gives (want.npz).

usage: dtype_model.py DTYPE OUTDIR
       dtype_model.py --single OUTDIR   (after the first: single.onnx, the model without `b`, and
                                         want_single.npz, its output on a.npy)
"""
import sys

import ml_dtypes  # registers bfloat16 with NumPy
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

name, out = sys.argv[1], sys.argv[2]
if name == "--single":
    model = onnx.load(f"{out}/model.onnx")
    g = model.graph
    del g.node[1], g.input[1], g.output[1]
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, f"{out}/single.onnx")
    a = np.load(f"{out}/a.npy")
    (a_out,) = ort.InferenceSession(f"{out}/single.onnx", providers=["CPUExecutionProvider"]).run(None, {"a": a})
    np.savez(f"{out}/want_single.npz", a_out=a_out)
    sys.exit(0)
dtype = np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)
code = helper.np_dtype_to_tensor_dtype(dtype)
rng = np.random.default_rng(7)
if dtype == np.bool_:
    a = rng.integers(0, 2, (4, 3)).astype(bool)
elif dtype.kind in "iu":
    info = np.iinfo(dtype)
    # The extremes of the type, where a cast through float or a narrower integer would show.
    a = np.array([[info.min, info.max, 0], [1, 2, 3], [info.max - 1, info.min + 1, 7], [5, 6, 9]], dtype=dtype)
else:
    a = (rng.standard_normal((4, 3)) * 100).astype(dtype)
b = np.arange(4, dtype=np.int64).reshape(4, 1) * 1_000_000_007
graph = helper.make_graph(
    [helper.make_node("Identity", ["a"], ["a_out"]), helper.make_node("Identity", ["b"], ["b_out"])],
    "types",
    [helper.make_tensor_value_info("a", code, ["N", "W"]), helper.make_tensor_value_info("b", TensorProto.INT64, ["N", 1])],
    [helper.make_tensor_value_info("a_out", code, ["N", "W"]), helper.make_tensor_value_info("b_out", TensorProto.INT64, ["N", 1])],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 9
onnx.checker.check_model(model, full_check=True)
onnx.save(model, f"{out}/model.onnx")
np.save(f"{out}/a.npy", a)
np.savez(f"{out}/ab.npz", a=a, b=b)
if dtype.kind in "iuf" and dtype != np.float16:
    np.savetxt(f"{out}/a.csv", a, delimiter=",", fmt="%d" if dtype.kind in "iu" else "%.9g", header="c0,c1,c2", comments="")
session = ort.InferenceSession(f"{out}/model.onnx", providers=["CPUExecutionProvider"])
try:
    a_out, b_out = session.run(None, {"a": a, "b": b})
except RuntimeError:
    # onnxruntime-python takes no bfloat16 arrays; Identity's outputs are its inputs.
    assert dtype.name == "bfloat16"
    a_out, b_out = a, b
np.savez(f"{out}/want.npz", a_out=a_out, b_out=b_out)
