#!/usr/bin/env bash
# The run command: builds onyx (release) and takes a bundled model through what onyx does today:
# compile the seed's specs to ONNX, show them as Keras would, inspect a file, and predict with
# tract on bundled data.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
onyx=target/release/onyx
out=out
mkdir -p "$out"
for spec in models/*.toml models/*.json; do
    "$onyx" compile "$spec" -o "$out/$(basename "${spec%.*}").onnx"
done
"$onyx" summary models/mnist_cnn.toml
"$onyx" summary models/lstm_forecast.toml
"$onyx" inspect "$out/mnist_cnn.onnx"
echo "predictions of the (untrained) linear model on 20 rows of diabetes.csv:"
"$onyx" predict "$out/linear_regression.onnx" --input tests/data/diabetes_features.csv
