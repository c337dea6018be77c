#!/usr/bin/env python3
"""Export the seed's own scikit-learn models to ONNX with skl2onnx (the "generated" corpus entries).

    python scripts/corpus/export_skl.py OUT_DIR [--data DATA_DIR] [--only NAME ...] [--verify MANIFEST]

Writes OUT_DIR/<name>.onnx for each model below. Needs the pins of scripts/corpus/requirements.txt
(scikit-learn, skl2onnx, onnx) in the running python; fetch.py runs this with its own interpreter.

Deterministic: fixed data, deterministic solvers, pinned target opsets, no random state involved.
The float coefficients can still differ in the last bits across platforms/BLAS builds, so fetch.py
verifies these entries by structure (op types, inputs, outputs) rather than by sha256 alone.
"""
import argparse
import csv
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# name -> (csv file in data/, estimator kind, conversion options)
MODELS = {
    "skl_linreg_diabetes": ("diabetes.csv", "linreg", None),
    "skl_logreg_breast_cancer": ("breast_cancer.csv", "logreg", None),
    "skl_logreg_breast_cancer_nozipmap": ("breast_cancer.csv", "logreg", {"zipmap": False}),
}
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def pins():
    """The versions required.txt pins, as {lower-case name: version}."""
    out = {}
    with open(os.path.join(HERE, "requirements.txt")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                k, v = line.split("==", 1)
                out[k.strip().lower()] = v.strip()
    return out


def check_versions():
    import onnx
    import sklearn
    import skl2onnx

    want = pins()
    bad = []
    for mod, key in ((sklearn, "scikit-learn"), (skl2onnx, "skl2onnx"), (onnx, "onnx")):
        if key in want and mod.__version__ != want[key]:
            bad.append(f"{key}=={mod.__version__} (pinned {want[key]})")
    if bad:
        print("export_skl: warning: versions differ from scripts/corpus/requirements.txt: "
              + ", ".join(bad), file=sys.stderr)


def load_csv(path):
    import numpy as np

    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    a = np.array([[float(v) for v in r] for r in body], dtype=np.float64)
    return header, a[:, :-1], a[:, -1]


def export(name, data_dir):
    import numpy as np
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    csv_name, kind, options = MODELS[name]
    _, x, y = load_csv(os.path.join(data_dir, csv_name))
    if kind == "linreg":
        est = LinearRegression().fit(x, y)
    else:
        # lbfgs on unscaled features: deterministic, converges well within max_iter
        est = LogisticRegression(max_iter=10000).fit(x, y.astype(np.int64))
    conv_opts = {id(est): options} if options else None
    onx = to_onnx(est, initial_types=[("X", FloatTensorType([None, x.shape[1]]))],
                  target_opset=TARGET_OPSET, options=conv_opts)
    return canonical_opsets(onx)


def canonical_opsets(onx):
    """skl2onnx 1.20 writes opset_import in set order (varies with PYTHONHASHSEED) and can list
    the default domain twice; keep one entry per domain (highest version), sorted by domain, so
    that the bytes are reproducible."""
    best = {}
    for o in onx.opset_import:
        best[o.domain] = max(best.get(o.domain, 0), o.version)
    del onx.opset_import[:]
    for dom in sorted(best):
        op = onx.opset_import.add()
        op.domain, op.version = dom, best[dom]
    return onx


def _dims(tt):
    out = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            out.append(d.dim_value)
        elif d.HasField("dim_param"):
            out.append(d.dim_param)
        else:
            out.append("?")
    return out


def _vinfo(v):
    import onnx

    t = v.type
    if t.HasField("tensor_type"):
        return {"name": v.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.tensor_type.elem_type).name,
                "shape": _dims(t.tensor_type) if t.tensor_type.HasField("shape") else None}
    if t.HasField("sequence_type") and t.sequence_type.elem_type.HasField("map_type"):
        mt = t.sequence_type.elem_type.map_type
        k = onnx.helper.tensor_dtype_to_np_dtype(mt.key_type).name
        val = onnx.helper.tensor_dtype_to_np_dtype(mt.value_type.tensor_type.elem_type).name
        return {"name": v.name, "dtype": f"seq(map({k},{val}))", "shape": None}
    return {"name": v.name, "dtype": str(t).replace("\n", " "), "shape": None}


def _op_types(graph, acc):
    import onnx

    for n in graph.node:
        dom = "" if n.domain in ("", "ai.onnx") else n.domain
        acc.add(f"{dom}.{n.op_type}" if dom else n.op_type)
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                _op_types(a.g, acc)
            for g in a.graphs:
                _op_types(g, acc)
    return acc


def describe(model):
    """The structural signature the manifest records: opsets, inputs, outputs, op types (subgraphs
    included; non-default domains prefixed, e.g. 'ai.onnx.ml.ZipMap')."""
    inits = {i.name for i in model.graph.initializer}
    opsets = {o.domain or "": o.version for o in model.opset_import}
    return {
        "opset": opsets.get("", opsets.get("ai.onnx")),
        "opsets": opsets,
        "ir_version": model.ir_version,
        "inputs": [_vinfo(i) for i in model.graph.input if i.name not in inits],
        "outputs": [_vinfo(o) for o in model.graph.output],
        "op_types": sorted(_op_types(model.graph, set())),
    }


def verify(name, model, manifest_path):
    """Compare the export with its manifest entry by structure; returns a list of differences."""
    import json

    with open(manifest_path) as f:
        entry = next((e for e in json.load(f) if e["name"] == name), None)
    if entry is None:
        return [f"{name}: not in {manifest_path}"]
    got = describe(model)
    diffs = []
    for key in ("opset", "opsets", "ir_version", "inputs", "outputs", "op_types"):
        if got[key] != entry.get(key):
            diffs.append(f"{name}: {key} is {got[key]!r}, manifest says {entry.get(key)!r}")
    exporter = f"{model.producer_name} {model.producer_version}"
    if exporter != entry.get("exporter"):
        diffs.append(f"{name}: exporter is {exporter!r}, manifest says {entry.get('exporter')!r}")
    return diffs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--data", default=os.path.join(REPO, "data"))
    ap.add_argument("--only", nargs="*", help="model names (default: all)")
    ap.add_argument("--verify", metavar="MANIFEST",
                    help="check each export's structure against this manifest; exit 1 on a difference")
    args = ap.parse_args(argv)
    check_versions()
    names = args.only or list(MODELS)
    os.makedirs(args.out_dir, exist_ok=True)
    problems = []
    for name in names:
        if name not in MODELS:
            sys.exit(f"export_skl: unknown model {name!r}; known: {', '.join(MODELS)}")
        onx = export(name, args.data)
        path = os.path.join(args.out_dir, name + ".onnx")
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(onx.SerializeToString())
        os.replace(tmp, path)
        print(f"export_skl: wrote {path}")
        if args.verify:
            problems += verify(name, onx, args.verify)
    if problems:
        print("export_skl: structure differs from the manifest:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
