"""The Triton Python client (tritonclient[http]) against a running onyx server, unchanged.

usage: triton_client.py PORT MODEL INPUTS.npy EXPECTED.npy

Checks is_server_live, is_server_ready, is_model_ready and get_model_metadata, then infers the first
sample (batch 1) and all 32 (batch 32) with InferInput, with the client's default binary tensors and
with JSON ones, and compares the outputs with EXPECTED (onyx predict's) within 1e-6.
Exits 1 on any failure.
"""
import sys

import numpy as np
import tritonclient.http as httpclient


def main():
    port, model, inputs_path, expected_path = sys.argv[1:5]
    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{port}")
    assert client.is_server_live(), "server not live"
    assert client.is_server_ready(), "server not ready"
    assert client.is_model_ready(model), "model not ready"
    assert not client.is_model_ready("no_such_model"), "an unknown model reported ready"
    metadata = client.get_model_metadata(model)
    assert metadata["name"] == model, metadata
    (input_meta,) = metadata["inputs"]
    (output_meta,) = metadata["outputs"]
    x = np.load(inputs_path)
    expected = np.load(expected_path)
    assert input_meta["datatype"] == "FP32" and input_meta["shape"][1:] == list(x.shape[1:]), input_meta
    for batch in (1, 32):
        for binary in (True, False):
            data = x[:batch]
            tensor = httpclient.InferInput(input_meta["name"], list(data.shape), "FP32")
            tensor.set_data_from_numpy(data, binary_data=binary)
            outputs = [httpclient.InferRequestedOutput(output_meta["name"], binary_data=binary)]
            result = client.infer(model, [tensor], outputs=outputs)
            got = result.as_numpy(output_meta["name"])
            diff = float(np.max(np.abs(got - expected[:batch])))
            print(f"batch {batch}, {'binary' if binary else 'JSON'} tensors: shape {got.shape}, max abs diff {diff:.3g}")
            assert got.shape == expected[:batch].shape and diff <= 1e-6, f"batch {batch}: {diff}"
    # The client's default: no outputs named, all of them returned as binary.
    tensor = httpclient.InferInput(input_meta["name"], list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    got = client.infer(model, [tensor]).as_numpy(output_meta["name"])
    assert float(np.max(np.abs(got - expected))) <= 1e-6
    print("tritonclient: live, ready, metadata and inference all as expected")


if __name__ == "__main__":
    main()
