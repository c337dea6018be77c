"""Writes docs/performance.md from criterion's estimates (target/criterion/*/…/new/estimates.json):
the corpus table (batch-1 latency per model on tract and ONNX Runtime, and their ratio) and the
median of every other benchmark found, with the machine and the date in the header. Run the
benchmarks first, e.g. `cargo bench --profile dev --bench corpus -- --noplot` (and any others to
report; `--noplot` because criterion's plots need fonts this machine may lack).

usage: performance.py [--criterion DIR] [--out FILE]
"""
import argparse
import datetime
import json
import os

from machine import machine

parser = argparse.ArgumentParser()
parser.add_argument("--criterion", default="target/criterion")
parser.add_argument("--out", default="docs/performance.md")
args = parser.parse_args()


def median_ms(path):
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"] / 1e6


estimates = {}
for root, _, files in os.walk(args.criterion):
    if "estimates.json" in files and os.path.basename(root) == "new":
        bench = os.path.relpath(os.path.dirname(root), args.criterion)
        estimates[bench] = median_ms(os.path.join(root, "estimates.json"))

with open("scripts/corpus/manifest.json") as f:
    manifest = json.load(f)

lines = [
    "# Performance",
    "",
    f"Written by `scripts/performance.py` from criterion's medians on {datetime.date.today().isoformat()}, on {machine()}.",
    "This machine's speed drifts from minute to minute: compare figures taken in the same run.",
    "",
    "## The corpus at batch 1",
    "",
    "`cargo bench --profile dev --bench corpus -- --noplot` (the dev profile optimizes every dependency,",
    "where tract and ONNX Runtime do the work): one call of each model of the real-model corpus (docs/engines.md)",
    "on the inputs `scripts/corpus/reference.py` wrote, ONNX Runtime on one intra-op thread as tract",
    "runs a plan on one core. A ratio above 1 means tract is slower.",
    "",
    "| model | exporter | tract (ms) | ONNX Runtime (ms) | tract / ORT |",
    "|---|---|---|---|---|",
]
ratios = []
for entry in manifest:
    name = entry["name"]
    tract, ort = estimates.get(f"corpus_b1/{name}/tract"), estimates.get(f"corpus_b1/{name}/ort")
    cell = lambda v: f"{v:.3f}" if v is not None else "—"
    ratio = f"{tract / ort:.2f}" if tract and ort else "—"
    if tract and ort:
        ratios.append(tract / ort)
    lines.append(f"| {name} | {entry['exporter'].split(' (')[0]} | {cell(tract)} | {cell(ort)} | {ratio} |")
if ratios:
    ratios.sort()
    lines += ["", f"Median tract/ORT ratio over {len(ratios)} models: {ratios[len(ratios) // 2]:.2f} (from {ratios[0]:.2f} to {ratios[-1]:.2f})."]
others = sorted(k for k in estimates if not k.startswith("corpus_b1/"))
if others:
    lines += ["", "## Other benchmarks", "", "| benchmark | median (ms) |", "|---|---|"]
    lines += [f"| {k} | {estimates[k]:.3f} |" for k in others]
with open(args.out + ".tmp", "w") as f:
    f.write("\n".join(lines) + "\n")
os.replace(args.out + ".tmp", args.out)
print(f"wrote {args.out}: {len(ratios)} corpus models on both engines, {len(others)} other benchmarks")
