#!/usr/bin/env bash
# The test command: installs the reference tools the tests compare against (a Python virtual
# environment with pinned onnx and onnxruntime, in .venv) and runs every test of the workspace,
# benchmarks included (criterion runs each benchmark once under `cargo test`).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${ONYX_VENV:-$PWD/.venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
export ONYX_PYTHON="$venv/bin/python"
cargo test --workspace --all-targets "$@"
