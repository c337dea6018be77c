#!/usr/bin/env bash
# Builds `onyx-runner`, the executable `onyx deploy` appends models to, statically linked (glibc's
# static-pie) so that a deployed app needs nothing on its machine but the kernel. It lands beside
# `onyx` in target/debug (or target/release with --release), where `onyx deploy` looks for it.
#
# Only this binary is linked statically: `cargo rustc` passes crt-static to its final link alone,
# so the dependencies already built are reused and `onyx` itself stays dynamic (it loads ONNX
# Runtime with dlopen, which a static binary cannot do reliably).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo rustc --quiet -p onyx-serve --bin onyx-runner "$@" -- -C target-feature=+crt-static -C strip=symbols
