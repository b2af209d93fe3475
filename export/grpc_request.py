#!/usr/bin/env python3
"""Inpaint a photo through TF Serving's gRPC API (port 8500).

Needs grpcio, tensorflow-serving-api and TensorFlow (for its tensor protos):

    python grpc_request.py --image photo.png --mask mask.png --output filled.png

Sends a `PredictRequest` for the `inpaint_bytes` signature: `image_bytes` and
`mask_bytes` are string tensors of shape [1] holding the files; the reply's
`inpainted_png_bytes` holds the filled PNG.
"""

import argparse
import sys

import grpc
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc


def predict_request(image_path, mask_path, model_name="edgeconnect"):
    """A PredictRequest for one image/mask pair (PNG or JPEG files)."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = "inpaint_bytes"
    for name, path in (("image_bytes", image_path), ("mask_bytes", mask_path)):
        with open(path, "rb") as f:
            request.inputs[name].CopyFrom(tf.make_tensor_proto([f.read()], dtype=tf.string))
    return request


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--mask", required=True)
    parser.add_argument("--output", required=True, help="PNG to write")
    parser.add_argument("--server", default="localhost:8500")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds")
    args = parser.parse_args(argv)

    channel = grpc.insecure_channel(
        args.server, options=[("grpc.max_receive_message_length", 64 << 20)]
    )
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    reply = stub.Predict(predict_request(args.image, args.mask), timeout=args.timeout)
    png = tf.make_ndarray(reply.outputs["inpainted_png_bytes"])[0]
    with open(args.output, "wb") as f:
        f.write(png)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
