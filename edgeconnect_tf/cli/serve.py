"""`edgeconnect serve`: the browser editor and TF Serving's REST contract on one port.

edgeconnect serve --weights weights/places2   # or --model serving/edgeconnect/1
edgeconnect serve --static-only               # the page alone: the model runs in it
"""

import argparse


def uses_tensorflow(args):
    return not args.static_only  # the page alone runs the model in the browser


def add_arguments(parser):
    from edgeconnect_tf.serve import Limits

    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="SavedModel version dir from `edgeconnect export`")
    source.add_argument("--weights", help="weights directory (converted or trained)")
    source.add_argument(
        "--static-only",
        action="store_true",
        help="only the page, for its in-browser mode (.tflite run in the page); no TensorFlow",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--max-request-mb", type=float, default=32.0)
    defaults = Limits()
    parser.add_argument(
        "--max-pixels",
        type=_positive(int),
        default=defaults.max_pixels,
        help="most pixels of the image files of one request, read from their headers "
        f"before decoding; more gets 413 (default {defaults.max_pixels} = 4096²)",
    )
    parser.add_argument(
        "--queue-size",
        type=_positive(int),
        default=defaults.queue_size,
        help="requests waiting for the inference thread before 503 + Retry-After "
        f"(default {defaults.queue_size})",
    )
    parser.add_argument(
        "--timeout",
        type=_positive(float),
        default=defaults.timeout_s,
        help=f"seconds to answer a request, queue included (default {defaults.timeout_s:g})",
    )


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value

    return parse


def main(args):
    from edgeconnect_tf.serve import serve_command

    return serve_command(args)
