"""Loads a model written with external data and runs the full ONNX checker on it.

Prints the first initializer named W as a flat list, so the caller can compare values.

usage: check_external.py MODEL_PATH
"""

import sys

import onnx
from onnx import numpy_helper


def main():
    path = sys.argv[1]
    # The path form lets the checker resolve and validate the external data files itself.
    onnx.checker.check_model(path, full_check=True)
    model = onnx.load(path)
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    print(" ".join(repr(float(v)) for v in weights["W"].reshape(-1)))


main()
