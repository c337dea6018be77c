#!/usr/bin/env bash
# The CUDA check, prepared to run in one go on a machine with an NVIDIA GPU and no network (see
# ../shared/GPU.md for bringing ONNX Runtime's CUDA provider there). Needs: the onyx binary (ONYX, or
# target/release/onyx), ORT_DYLIB_PATH pointing at the onnxruntime-gpu library (with the CUDA provider
# and the CUDA/cuDNN libraries on LD_LIBRARY_PATH), and python3 with numpy. Trains the mnist_cnn spec
# for 100 steps (batch 64) on the CUDA provider and on the CPU, prints ms per step for each, and the
# largest difference between the two trained models' predictions and between CUDA and CPU inference.
set -euo pipefail
cd "$(dirname "$0")/.."
onyx="${ONYX:-target/release/onyx}"
out="${OUT:-out}/gpu-check"
mkdir -p "$out"
: "${ORT_DYLIB_PATH:?set ORT_DYLIB_PATH to the onnxruntime-gpu library}"
python3 - "$out" <<'PY'
import sys, numpy as np
out = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.random((6400, 1, 28, 28), dtype=np.float32)
y = (x.reshape(6400, -1)[:, :10].argmax(1)).astype(np.int64)  # a learnable labelling
np.savez(f"{out}/train.npz", x=x, y=y)
np.save(f"{out}/x.npy", x[:256])
PY
for device in cuda cpu; do
    "$onyx" train models/mnist_cnn.toml --data "$out/train.npz" --epochs 1 --batch-size 64 --validation-split 0 \
        --engine ort --device "$device" --quiet -o "$out/mnist_$device.onnx"
    seconds=$(tail -1 "$out/mnist_$device.history.csv" | awk -F, '{print $NF}')
    echo "$device: $(python3 -c "print(f'{$seconds * 1000 / 100:.2f}')") ms per training step (100 steps of 64, ort)"
    "$onyx" predict "$out/mnist_$device.onnx" --input "$out/x.npy" --engine ort --device "$device" -o "$out/trained_$device.npy"
done
for device in cuda cpu; do
    "$onyx" predict "$out/mnist_cpu.onnx" --input "$out/x.npy" --engine ort --device "$device" -o "$out/infer_$device.npy"
done
python3 - "$out" <<'PY'
import sys, numpy as np
out = sys.argv[1]
d = lambda a, b: float(np.max(np.abs(np.load(f"{out}/{a}.npy") - np.load(f"{out}/{b}.npy"))))
print(f"trained on CUDA vs on CPU: predictions differ by {d('trained_cuda', 'trained_cpu'):.3e} at most")
print(f"one model, inference on CUDA vs CPU: {d('infer_cuda', 'infer_cpu'):.3e} at most")
PY
