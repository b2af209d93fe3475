"""`edgeconnect serve`: the browser editor and TF Serving's REST contract on one port.

edgeconnect serve --weights weights/places2   # or --saved-model serving/edgeconnect/1
edgeconnect serve --static-only --models tflite/  # the page alone: the model runs in it
"""

import argparse

COMMAND = "serve"


def uses_tensorflow(args):
    return not args.static_only  # the page alone runs the model in the browser


def add_arguments(parser):
    from edgeconnect_tf.serving.limits import Limits

    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--saved-model", help="SavedModel version dir from `edgeconnect export`")
    source.add_argument("--weights", help="weights directory (converted or trained)")
    source.add_argument(
        "--static-only",
        action="store_true",
        help="only the page, for its in-browser mode (.tflite run in the page); no TensorFlow",
    )
    parser.add_argument(
        "--models",
        metavar="DIR",
        help="a folder of exported .tflite files the page lists and loads "
        "(GET /api/models, /models/NAME); with any mode",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--max-request-mb", type=_positive(float), default=32.0)
    defaults = Limits()
    parser.add_argument(
        "--max-pixels",
        type=_positive(int),
        default=defaults.max_pixels,
        help="most pixels of the image files of one request together, read from their "
        f"headers before decoding; more gets 413 (default {defaults.max_pixels} = 4096²)",
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
    parser.add_argument(
        "--max-shapes",
        type=_positive(int),
        default=defaults.max_shapes,
        help="image sizes the networks' session sees before it is replaced, freeing "
        "TensorFlow's per-size state so memory stays bounded under many sizes "
        f"(default {defaults.max_shapes}; more: fewer restarts, more memory)",
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
    from edgeconnect_tf.cli import error

    try:
        import uvicorn  # noqa: F401
    except ImportError:
        return error(COMMAND, 'needs the app extra: pip install "edgeconnect-tf[app]"')
    from edgeconnect_tf.serving.app import create_app, create_static_app
    from edgeconnect_tf.serving.model_files import ModelFolderError, check_folder
    from edgeconnect_tf.serving.server import ServerError, run_until_signalled

    try:
        models_dir = None if args.models is None else check_folder(args.models)
    except ModelFolderError as e:
        return error(COMMAND, e)
    stopping = None
    if args.static_only:
        app = create_static_app(models_dir)
    else:
        from edgeconnect_tf.serving.limits import Limits
        from edgeconnect_tf.serving.predictor import load_signatures

        try:
            signatures = load_signatures(args.saved_model, args.weights)
        except (ValueError, OSError) as e:
            return error(COMMAND, e)
        limits = Limits(
            max_pixels=args.max_pixels,
            queue_size=args.queue_size,
            timeout_s=args.timeout,
            max_request_bytes=int(args.max_request_mb * 1024 * 1024),
            max_shapes=args.max_shapes,
        )
        app = create_app(signatures, limits=limits, models_dir=models_dir)
        app.state.predictor.freeze()  # before the port opens: no first request waits for it
        stopping = app.state.worker.stopping

    def started():
        url = f"http://{args.host}:{args.port}/"
        print(f"EdgeConnect editor on {url}  (Ctrl+C to stop)", flush=True)

    try:
        run_until_signalled(app, args.host, args.port, stopping=stopping, started=started)
    except ServerError as e:
        return error(COMMAND, e)
    print("edgeconnect serve: stopped", flush=True)
    return 0
