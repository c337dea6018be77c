#!/usr/bin/env python3
"""Reference outputs of the model corpus, from onnxruntime (CPUExecutionProvider).

    python scripts/corpus/reference.py [--dir DIR] [--only NAME ...] [--runs N]

For each entry of scripts/corpus/manifest.json whose model is in the cache dir (fetch.py puts
it there as <DIR>/<name>.onnx), builds the inputs from the entry's `feed` with
numpy.random.default_rng(0) (one generator per model, inputs drawn in the manifest's input order),
runs onnxruntime and writes

    <DIR>/<name>.inputs.npz    one array per input name
    <DIR>/<name>.outputs.npz   one array per output name (tensor outputs only: a non-tensor
                               output such as ZipMap's sequence of maps is skipped and reported)

then prints one line per model: name, exporter, input shapes, output shapes, ms per run.
Exits non-zero if a model is missing, fails to run, or gives a non-finite float output.

Feed kinds (per input: `shape` is concrete, `kind` one of):
    uniform01  numpy rng.random(shape)                  [0, 1)
    normal     rng.standard_normal(shape)
    int_range  rng.integers(lo, hi, shape)              lo inclusive, hi exclusive
    zeros / ones
    value      numpy.full(shape, value)
    csv_rows   rows [lo, hi) of `path` (a CSV relative to the repo root, header skipped) without its
               last column (the target): real samples for the models fit on the seed's data
optional `scale` (multiplies uniform01/normal draws) and `offset` (added). The array is then cast to
the input's dtype from the manifest.

npz keys are the tensor names exactly as in the model (they may contain '/', ':', '.', even JSON).
"""
import argparse
import os
import sys
import time

import manifest_entries
from manifest_entries import HERE, MANIFEST, default_dir
REPO = os.path.dirname(os.path.dirname(HERE))




def make_input(rng, spec, dtype):
    import numpy as np

    shape = tuple(spec["shape"])
    kind = spec["kind"]
    if kind == "uniform01":
        a = rng.random(shape)
    elif kind == "normal":
        a = rng.standard_normal(shape)
    elif kind == "int_range":
        a = rng.integers(spec["lo"], spec["hi"], size=shape)
    elif kind == "zeros":
        a = np.zeros(shape)
    elif kind == "ones":
        a = np.ones(shape)
    elif kind == "value":
        a = np.full(shape, spec["value"])
    elif kind == "csv_rows":
        import csv

        with open(os.path.join(REPO, spec["path"]), newline="") as f:
            rows = list(csv.reader(f))[1:]
        lo, hi = spec["rows"]
        a = np.array([[float(v) for v in r[:-1]] for r in rows[lo:hi]])
        if a.shape != shape:
            raise ValueError(f"csv_rows gives shape {a.shape}, feed says {shape}")
    else:
        raise ValueError(f"unknown feed kind {kind!r}")
    if kind in ("uniform01", "normal"):
        a = a * spec.get("scale", 1.0) + spec.get("offset", 0.0)
    return np.asarray(a).astype(dtype)


def build_feed(entry):
    import numpy as np

    rng = np.random.default_rng(0)
    feeds = {}
    for inp in entry["inputs"]:
        feeds[inp["name"]] = make_input(rng, entry["feed"][inp["name"]], np.dtype(inp["dtype"]))
    return feeds


def fmt_shapes(d):
    return ", ".join(f"{k}{list(v.shape)}" for k, v in d.items())


def run_one(entry, cache, runs):
    import numpy as np
    import onnxruntime as ort

    path = os.path.join(cache, entry["name"] + ".onnx")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} missing: run scripts/corpus/fetch.py first")
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feeds = build_feed(entry)
    outs = sess.run(None, feeds)  # warm-up, and the reference result
    t0 = time.perf_counter()
    for _ in range(runs):
        sess.run(None, feeds)
    ms = (time.perf_counter() - t0) * 1000.0 / max(runs, 1)

    tensors, skipped, bad = {}, [], []
    for meta, val in zip(sess.get_outputs(), outs):
        if isinstance(val, np.ndarray):
            tensors[meta.name] = val
            if val.dtype.kind == "f" and not np.all(np.isfinite(val)):
                bad.append(meta.name)
        else:
            skipped.append(f"{meta.name} ({meta.type})")
    np.savez(os.path.join(cache, entry["name"] + ".inputs.npz"), **feeds)
    np.savez(os.path.join(cache, entry["name"] + ".outputs.npz"), **tensors)
    return feeds, tensors, skipped, bad, ms


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=default_dir(), help="cache dir (default $ONYX_CORPUS_DIR or ~/.cache/onyx/corpus)")
    ap.add_argument("--manifest", default=MANIFEST)
    ap.add_argument("--only", nargs="*", help="entry names (default: all)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs after one warm-up (default 5)")
    args = ap.parse_args(argv)

    import onnxruntime as ort

    entries = manifest_entries.load(args.manifest, args.only, "reference")
    print(f"onnxruntime {ort.__version__}, cache {args.dir}")
    failed = []
    for e in entries:
        try:
            feeds, tensors, skipped, bad, ms = run_one(e, args.dir, args.runs)
        except Exception as ex:  # report and go on with the others
            print(f"{e['name']}: FAILED: {type(ex).__name__}: {ex}")
            failed.append(e["name"])
            continue
        line = (f"{e['name']} | {e['exporter'].split(' (')[0]} | in: {fmt_shapes(feeds)} | "
                f"out: {fmt_shapes(tensors)} | {ms:.2f} ms/run")
        if skipped:
            line += f" | skipped non-tensor: {', '.join(skipped)}"
        if bad:
            line += f" | NON-FINITE: {', '.join(bad)}"
            failed.append(e["name"])
        print(line)
    if failed:
        sys.exit(f"reference: {len(failed)} failed: {', '.join(failed)}")
    print(f"reference: {len(entries)} models, outputs in {args.dir}")


if __name__ == "__main__":
    main()
