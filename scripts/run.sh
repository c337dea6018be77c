#!/usr/bin/env bash
# The run command: builds onyx (release) and does its main job on bundled data: trains the logistic
# regression spec on the breast-cancer data set (its training-step graph running on tract), then
# shows the other specs compiled, summarized, inspected and packed (fp16), lists the cut points of a
# pretrained ResNet-50 and summarizes a head on it, and predicts with the trained model;
# the seed's LSTM forecasts yearly sunspots and draws its forecast; last, the breast-cancer model is
# deployed as one self-contained executable, which predicts and answers an HTTP request.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
scripts/build-runner.sh --release
onyx=target/release/onyx
out=out
mkdir -p "$out"
for spec in models/*.toml models/*.json; do
    "$onyx" compile "$spec" -o "$out/$(basename "${spec%.*}").onnx"
done
"$onyx" train models/logistic_regression.toml --data data/breast_cancer.csv --target benign --standardize -o "$out/breast_cancer.onnx"
"$onyx" summary models/mnist_cnn.toml
"$onyx" summary models/lstm_forecast.toml
"$onyx" inspect "$out/mnist_cnn.onnx"
"$onyx" pack "$out/mnist_cnn.onnx" --fp16 -o "$out/mnist_cnn.fp16.onnx"
echo "where to cut a pretrained ResNet-50 for transfer learning:"
"$onyx" import tests/data/light_resnet50.onnx | tail -4
"$onyx" summary tests/data/resnet50_head.toml
echo "probability of benign for the first rows of breast_cancer.csv (raw features; the scaling is in the model):"
head -6 data/breast_cancer.csv | cut -d, -f1-30 > "$out/first_rows.csv"
"$onyx" predict "$out/breast_cancer.onnx" --input "$out/first_rows.csv"
"$onyx" train models/lstm_forecast.toml --data data/sunspots.csv --window 12 --batch-size 16 --epochs 150 \
    --standardize --validation-split 0.2 -o "$out/sunspots.onnx"
echo "sunspots of the next five years, forecast step by step:"
"$onyx" predict "$out/sunspots.onnx" --series data/sunspots.csv --steps 5 --plot "$out/sunspots_forecast.png"
echo "the breast-cancer model as one executable (statically linked; it runs alone):"
"$onyx" deploy "$out/breast_cancer.onnx" -o "$out/breast_cancer_app"
"$out/breast_cancer_app" --info
"$out/breast_cancer_app" --input "$out/first_rows.csv" | head -3
"$out/breast_cancer_app" serve --port 0 2> "$out/serve.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "http://" "$out/serve.log" && break; sleep 0.1; done
port=$(grep -o '127.0.0.1:[0-9]*' "$out/serve.log" | head -1 | cut -d: -f2)
echo "the same app serving (Open Inference Protocol v2) on port $port, one row by HTTP:"
row=$(sed -n 2p "$out/first_rows.csv")
command -v curl > /dev/null && curl -s -X POST "http://127.0.0.1:$port/v2/models/logistic_regression/infer" \
    -d "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,30],\"datatype\":\"FP32\",\"data\":[$row]}]}"
echo
kill -TERM $server
wait $server
