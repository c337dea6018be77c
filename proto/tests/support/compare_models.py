"""Checks that pairs of .onnx files hold equal messages according to the onnx Python package.

Each line of LIST_FILE is `ORIGINAL<TAB>REENCODED`. A field that our Rust schema lacks would be
dropped on re-encoding, which this comparison catches and a Rust-only round trip cannot.

usage: compare_models.py LIST_FILE
"""

import sys

from onnx import ModelProto


def load(path):
    model = ModelProto()
    with open(path, "rb") as f:
        model.ParseFromString(f.read())
    return model


def main():
    checked, different = 0, []
    with open(sys.argv[1], encoding="utf-8") as pairs:
        for line in pairs:
            original, reencoded = line.rstrip("\n").split("\t")
            if load(original) != load(reencoded):
                different.append(original)
            checked += 1
    if different:
        sys.exit(f"{len(different)} of {checked} models changed on re-encoding: {different[:20]}")
    print(checked)


main()
