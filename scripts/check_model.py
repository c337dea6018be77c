"""Independent checks of one compiled model, run by the Rust tests through the test venv's Python.

usage: check_model.py MODEL.onnx INPUTS.npz OUTPUTS.npz [TOLERANCE]

1. onnx.checker.check_model(full_check=True): the file is valid ONNX and shapes infer consistently.
2. ONNX Runtime (CPU) runs the model on INPUTS; every output must equal the one in OUTPUTS (computed
   by onyx on tract) within TOLERANCE (absolute, default 1e-5).
Prints one line per output with the largest absolute difference; exits 1 on any failure.
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    model_path, inputs_path, outputs_path = sys.argv[1:4]
    tolerance = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-5
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    inputs = dict(np.load(inputs_path))
    expected = dict(np.load(outputs_path))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    results = session.run(names, inputs)
    failed = False
    for name, got in zip(names, results):
        want = expected[name]
        if got.shape != want.shape:
            print(f"{name}: shape {got.shape} from onnxruntime, {want.shape} from onyx")
            failed = True
            continue
        diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) if got.size else 0.0
        print(f"{name}: max abs diff {diff:.3g} over {got.size} values")
        if not diff <= tolerance:
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
