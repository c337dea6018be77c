#!/usr/bin/env bash
# Measures the ONNX backend node tests through onyx (import, round-trip, tract, ONNX Runtime) and
# writes the table to docs/backend-node-tests.md (or the file given as the first argument).
#
#   scripts/backend_nodes.sh [OUT.md]      # needs .venv (scripts/test.sh makes it)
#
# The node tests are `onnx/backend/test/data/node/*/` of the onnx package. Wheels whose install has
# no such folder (onnx 1.23.2's ships the generators, onnx/backend/test/case/node, but not their
# data) get it generated here, the way upstream's `backend-test-tools generate-data` writes it, into
# target/onnx-backend-data/<onnx version>/node. ONYX_NODE_DIR overrides the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/backend-node-tests.md}"
venv="${ONYX_VENV:-$PWD/.venv}"
py="$venv/bin/python"
if [ ! -x "$py" ]; then
    echo "error: no Python at $py; run scripts/test.sh once (it makes .venv with onnx and onnxruntime)" >&2
    exit 2
fi
onnx_version="$("$py" -c 'import onnx; print(onnx.__version__)')"
ort_version="$("$py" -c 'import onnxruntime; print(onnxruntime.__version__)')"
node_dir="${ONYX_NODE_DIR:-$("$py" -c 'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node"))')}"
origin="the onnx $onnx_version package's \`onnx/backend/test/data/node\`"
if [ -z "${ONYX_NODE_DIR:-}" ] && [ ! -d "$node_dir" ]; then
    data="$PWD/target/onnx-backend-data/$onnx_version"
    node_dir="$data/node"
    origin="generated from the onnx $onnx_version package's \`onnx/backend/test/case/node\` (its wheel ships no node data) as upstream's \`backend-test-tools generate-data\` writes it"
    if [ ! -f "$data/complete" ]; then
        echo "generating the node test data into $data" >&2
        rm -rf "$data"
        mkdir -p "$data"
        # cmd_tools.generate_data writes the cases model_test.collect_testcases returns, with the
        # same serialization upstream's committed data has; given the node cases, it writes those.
        "$py" - "$data" <<'EOF' 2> "$data/generate.log"
import argparse, sys
import onnx.backend.test.case.model as model_test
import onnx.backend.test.case.node as node_test
from onnx.backend.test import cmd_tools
model_test.collect_testcases = lambda: node_test.collect_testcases(None)
cmd_tools.generate_data(argparse.Namespace(output=sys.argv[1]))
EOF
        touch "$data/complete"
    fi
fi
if [ ! -d "$node_dir" ]; then
    echo "error: no node test folder at $node_dir" >&2
    exit 2
fi
# The ort engine loads the library the onnxruntime wheel ships.
ORT_DYLIB_PATH="$("$py" -c 'import glob, os, onnxruntime; print(sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so.*")))[0])')"
export ORT_DYLIB_PATH
machine="$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)"
cores="$(nproc)"
# ONYX_COMMIT names the commit of a snapshot taken out of the repository (git archive).
commit="${ONYX_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
if [ -z "${ONYX_COMMIT:-}" ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit="$commit with uncommitted changes"
fi
cargo run --quiet -p onyx-runtime --example backend_nodes --features ort -- "$node_dir" \
    --markdown "$out" \
    --about "date: $(date -u '+%Y-%m-%d %H:%M UTC')" \
    --about "onnx $onnx_version (test data: $origin), onnxruntime $ort_version (\`ORT_DYLIB_PATH\`), tract-onnx $(sed -n '/^name = "tract-onnx"$/{n;s/^version = "\(.*\)"/\1/p;}' Cargo.lock)" \
    --about "onyx: commit $commit, dev profile (\`cargo run -p onyx-runtime --example backend_nodes --features ort\`)" \
    --about "machine: $machine, $cores cores" \
    --about "command: \`scripts/backend_nodes.sh\`"
