"""Writes the ONNX backend node-test models (`<OUT_DIR>/<test name>/model.onnx`).

Some onnx wheels ship `backend/test/data/` without the `node/` folder; the models are defined in
`onnx.backend.test.case.node`, which is what onnx itself generates that folder from. Only the
models are written here: the round-trip tests do not need the input and output data sets.

usage: gen_node_models.py OUT_DIR
"""

import os
import sys
import warnings

import onnx.backend.test.case.node as node_cases


def main():
    out = sys.argv[1]
    # Building the expected outputs trips numpy warnings (divide by zero, ...) that are expected.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = node_cases.collect_testcases()
    for case in cases:
        folder = os.path.join(out, case.name)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
    print(len(cases))


main()
