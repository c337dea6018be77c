#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/fuzz_targets/) with cargo fuzz (libFuzzer, coverage-guided), each for
# SECONDS (600 by default), and prints libFuzzer's final statistics (executions, coverage).
#
# usage: scripts/fuzz.sh [SECONDS] [TARGET...]      targets: onnx_import tract_load spec data_files infer_request
#
# Needs a nightly Rust toolchain and cargo-fuzz (installed from crates.io when missing). The seeds
# under fuzz/corpus/<target>/ stay as committed: what a run discovers goes to fuzz/work/<target>/,
# and a crash to fuzz/artifacts/<target>/ (both ignored by git). Every crash fixed becomes a
# regression test in tests/fuzz_regressions.rs, with its input under tests/data/fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(onnx_import tract_load spec data_files infer_request)
fi
command -v cargo-fuzz > /dev/null || cargo install cargo-fuzz --locked
failed=()
for target in "${targets[@]}"; do
    mkdir -p "fuzz/work/$target" fuzz/work/logs
    log="fuzz/work/logs/$target.log"
    # tract_load reads the same files as onnx_import, and starts from the same seeds; tract's
    # optimizer under the address sanitizer needs seconds for the unrolled GRU seed, not a hang.
    seeds="fuzz/corpus/$target"
    limit=1
    if [ "$target" = tract_load ]; then seeds=fuzz/corpus/onnx_import; limit=10; fi
    echo "== $target: $seconds s (log: $log)"
    # 2 GiB of memory at most (a model or spec asking for more must be refused, not attempted),
    # inputs up to 64 KiB, one second per input (ten for tract_load).
    if ! cargo +nightly fuzz run --fuzz-dir fuzz "$target" "fuzz/work/$target" "$seeds" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=65536 -timeout="$limit" \
        -print_final_stats=1 > "$log" 2>&1; then
        failed+=("$target")
    fi
    grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|cov: [0-9]+ ft: [0-9]+" "$log" | tail -5
    grep -E "ERROR: |panicked at|deadly signal|Test unit written" "$log" || true
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "crashed: ${failed[*]}"
    exit 1
fi
