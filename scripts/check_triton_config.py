"""Parses a Triton model repository's config.pbtxt into Triton's own schema and checks it against
the ONNX model beside it.

usage: check_triton_config.py MODEL_DIR

MODEL_DIR/config.pbtxt is parsed by protobuf's text_format into
tritonclient.grpc.model_config_pb2.ModelConfig (an unknown field or a wrong type fails); its inputs
and outputs must name the model's (MODEL_DIR/1/model.onnx), with the right data types and dims
(without the batch axis when max_batch_size > 0). Exits 1 on any failure.
"""
import os
import sys

import onnx
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

ONNX_TO_TRITON = {
    onnx.TensorProto.FLOAT: "TYPE_FP32",
    onnx.TensorProto.FLOAT16: "TYPE_FP16",
    onnx.TensorProto.DOUBLE: "TYPE_FP64",
    onnx.TensorProto.INT64: "TYPE_INT64",
    onnx.TensorProto.INT32: "TYPE_INT32",
}


def main():
    folder = sys.argv[1]
    with open(os.path.join(folder, "config.pbtxt")) as f:
        config = text_format.Parse(f.read(), model_config_pb2.ModelConfig())
    model = onnx.load(os.path.join(folder, "1", "model.onnx"))
    assert config.name == os.path.basename(os.path.normpath(folder)), config.name
    assert config.backend == "onnxruntime" and config.platform == "onnxruntime_onnx", config
    skip = 1 if config.max_batch_size > 0 else 0
    initializers = {t.name for t in model.graph.initializer}
    for kind, declared, actual in (
        ("input", config.input, [v for v in model.graph.input if v.name not in initializers]),
        ("output", config.output, list(model.graph.output)),
    ):
        assert [d.name for d in declared] == [v.name for v in actual], (kind, declared, actual)
        for d, v in zip(declared, actual):
            t = v.type.tensor_type
            dims = [x.dim_value if x.HasField("dim_value") else -1 for x in t.shape.dim][skip:]
            data_type = model_config_pb2.DataType.Name(d.data_type)
            assert data_type == ONNX_TO_TRITON[t.elem_type], (d.name, data_type)
            assert list(d.dims) == dims, (d.name, list(d.dims), dims)
            print(f"{kind} {d.name}: {data_type} {list(d.dims)}")
    print(f"max_batch_size {config.max_batch_size}, dynamic batching: {config.HasField('dynamic_batching')}")


if __name__ == "__main__":
    main()
