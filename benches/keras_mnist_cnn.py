"""Keras' milliseconds per training step of models/mnist_cnn.toml at batch 64, to compare with
`cargo bench --bench train_step -- mnist_cnn` taken in the same minutes: this machine's speed
varies from hour to hour, so only figures taken side by side compare.

The same model (Keras' layers, channels last), Adam at 1e-3, sparse categorical cross-entropy with
accuracy, on synthetic images and labels made as the criterion benchmark makes them. Each round is one `fit` epoch of
200 batches of 64 and prints its wall time per step; TensorFlow uses every core, as onyx does.

TensorFlow is not one of the test command's dependencies (it is 270 MB); run this from an
environment of its own:

    python3 -m venv /tmp/tf-venv && /tmp/tf-venv/bin/pip install tensorflow-cpu==2.21.0
    /tmp/tf-venv/bin/python benches/keras_mnist_cnn.py [rounds]
"""
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

STEPS = 200


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    keras.utils.set_random_seed(42)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    n = 64 * STEPS
    # The criterion benchmark's inputs: pixel i is ((i * 7919) mod 1000) / 1000, label i is i mod 10.
    x = ((np.arange(n * 784) * 7919) % 1000 / 1000.0).astype(np.float32).reshape(n, 28, 28, 1)
    y = (np.arange(n) % 10).astype(np.int64)
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)  # tracing and warm-up
    for _ in range(rounds):
        start = time.perf_counter()
        model.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False)
        print(f"keras mnist_cnn fit: {(time.perf_counter() - start) / STEPS * 1e3:.3f} ms per step", flush=True)


if __name__ == "__main__":
    main()
