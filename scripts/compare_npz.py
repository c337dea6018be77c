"""Exits 0 when every array of WANT is in GOT with the same shape and values (compared as float64
for floats and exactly for integers and bools), else prints what differs and exits 1.

usage: compare_npz.py GOT.npz WANT.npz
"""
import sys

import ml_dtypes
import numpy as np

got, want = np.load(sys.argv[1]), np.load(sys.argv[2])
bad = []
for name in want.files:
    w = want[name]
    if name not in got.files:
        bad.append(f"{name}: missing")
        continue
    g = got[name]
    # NumPy saves bfloat16 as two opaque bytes.
    if w.dtype.kind == "V" and w.dtype.itemsize == 2:
        w = w.view(ml_dtypes.bfloat16)
    if g.shape != w.shape:
        bad.append(f"{name}: shape {g.shape}, want {w.shape}")
    elif w.dtype.kind in "iub":
        if not np.array_equal(g.astype(np.int64) if g.dtype.kind in "iub" else g, w.astype(np.int64)) and not np.array_equal(g, w):
            bad.append(f"{name}: {g.ravel()[:6]} ({g.dtype}), want {w.ravel()[:6]} ({w.dtype})")
    elif not np.array_equal(g.astype(np.float64), w.astype(np.float64)):
        bad.append(f"{name}: {g.ravel()[:6]} ({g.dtype}), want {w.ravel()[:6]} ({w.dtype})")
print("\n".join(bad) or "equal")
sys.exit(1 if bad else 0)
