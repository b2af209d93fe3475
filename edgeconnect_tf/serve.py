"""`edgeconnect serve`: the browser editor plus a TensorFlow Serving-compatible REST endpoint.

One local process serves the editor page (static files in
`edgeconnect_tf/editor/static`) and `POST /v1/models/edgeconnect:predict` with
TF Serving's REST contract: `{"signature_name": ..., "instances": [...]}` (row
format) or `{"inputs": {...}}` (columnar), binary values as `{"b64": ...}`,
outputs whose name ends in `_bytes` returned base64-encoded. The page only uses
that contract, so it works unchanged against a real TF Serving.

The model is a SavedModel from `edgeconnect export` (`--model`), or a weights
directory (`--weights`) whose signatures are built in memory by the same code.
Needs the `[app]` extra: `pip install "edgeconnect-tf[app]"`.
"""

import base64
import binascii
import json
import logging
import os
import threading

import numpy as np

MODEL_NAME = "edgeconnect"
DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
STATIC_DIR = os.path.join(os.path.dirname(__file__), "editor", "static")

log = logging.getLogger("edgeconnect.serve")


class RequestError(ValueError):
    """A malformed request: answered with HTTP 400 and this message."""


def load_signatures(model_dir=None, weights_dir=None):
    """name -> callable(**tensors) -> dict of tensors, from a SavedModel or a weights dir."""
    import tensorflow as tf

    if (model_dir is None) == (weights_dir is None):
        raise ValueError("give exactly one of model_dir (SavedModel) or weights_dir")
    if model_dir is not None:
        if not os.path.isfile(os.path.join(model_dir, "saved_model.pb")):
            raise ValueError(
                f"{model_dir} holds no saved_model.pb: expected a SavedModel version directory "
                "written by `edgeconnect export` (e.g. models/edgeconnect/1)"
            )
        loaded = tf.saved_model.load(model_dir)
        signatures = dict(loaded.signatures)
        signatures["__loaded__"] = loaded  # keeps the variables alive
        return signatures
    from edgeconnect_tf.deploy.saved_model import serving_functions
    from edgeconnect_tf.edgeconnect import EdgeConnect

    model = EdgeConnect.from_pretrained(weights_dir)
    return {
        name: tf.function(fn, input_signature=spec).get_concrete_function()
        for name, (fn, spec) in serving_functions(model).items()
    }


def _input_names(fn):
    """Input names of a SavedModel signature (keyword specs) or a concrete function."""
    args, kwargs = fn.structured_input_signature
    return set(kwargs) | {spec.name for spec in args}


def _decode_value(value, name):
    """JSON value -> bytes (for {"b64": ...}) or a numpy array."""
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise RequestError(f'input {name!r}: a binary value must be {{"b64": "..."}}')
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(f"input {name!r}: 'b64' is not valid base64") from None
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [_decode_value(v, name) for v in value]
    try:
        return np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise RequestError(f'input {name!r}: expected numbers or {{"b64": ...}}') from None


def _to_tensor(values, name):
    import tensorflow as tf

    if isinstance(values, list) and values and isinstance(values[0], bytes):
        return tf.constant(values, dtype=tf.string)
    try:
        return tf.constant(np.stack([np.asarray(v, np.float32) for v in values]))
    except ValueError:
        raise RequestError(f"input {name!r}: instances have different shapes") from None


def parse_request(body):
    """TF Serving REST body (bytes) -> (signature name, {input name: tensor}, row_format)."""
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RequestError(f"body is not valid JSON: {e.msg if hasattr(e, 'msg') else e}") from None
    if not isinstance(request, dict):
        raise RequestError("body must be a JSON object with 'instances' or 'inputs'")
    signature = request.get("signature_name", "serving_default")
    if not isinstance(signature, str):
        raise RequestError("'signature_name' must be a string")
    if ("instances" in request) == ("inputs" in request):
        raise RequestError("body must have exactly one of 'instances' (rows) or 'inputs' (columns)")
    if "instances" in request:
        rows = request["instances"]
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise RequestError("'instances' must be a non-empty list of objects")
        names = set(rows[0])
        if any(set(r) != names for r in rows):
            raise RequestError("every instance must have the same input names")
        columns = {n: [_decode_value(r[n], n) for r in rows] for n in sorted(names)}
        row_format = True
    else:
        inputs = request["inputs"]
        if not isinstance(inputs, dict) or not inputs:
            raise RequestError("'inputs' must be a non-empty object of named inputs")
        columns = {}
        for n, v in inputs.items():
            decoded = _decode_value(v, n)
            columns[n] = decoded if isinstance(decoded, list) else list(decoded)
        row_format = False
    return signature, {n: _to_tensor(v, n) for n, v in columns.items()}, row_format


def _encode_output(name, array):
    if name.endswith("_bytes"):
        flat = [{"b64": base64.b64encode(bytes(b)).decode("ascii")} for b in array.reshape(-1)]
        return flat if array.ndim else flat[0]
    return array.tolist()


def format_response(outputs, row_format):
    """Signature outputs -> TF Serving's {"predictions": rows} or {"outputs": columns}."""
    arrays = {n: np.asarray(t.numpy() if hasattr(t, "numpy") else t) for n, t in outputs.items()}
    encoded = {n: _encode_output(n, a) for n, a in arrays.items()}
    if not row_format:
        return {"outputs": encoded if len(encoded) > 1 else next(iter(encoded.values()))}
    batch = len(next(iter(encoded.values())))
    if len(encoded) == 1:
        return {"predictions": next(iter(encoded.values()))}
    return {"predictions": [{n: v[i] for n, v in encoded.items()} for i in range(batch)]}


def predict(signatures, body):
    """Runs one REST predict body; returns (HTTP status, JSON-able dict)."""
    import tensorflow as tf

    try:
        name, tensors, row_format = parse_request(body)
        fn = signatures.get(name)
        if fn is None or name.startswith("__"):
            known = sorted(n for n in signatures if not n.startswith("__"))
            raise RequestError(f"unknown signature_name {name!r}; this model has {known}")
        expected = _input_names(fn)
        if set(tensors) != expected:
            raise RequestError(
                f"signature {name!r} takes inputs {sorted(expected)}, got {sorted(tensors)}"
            )
        return 200, format_response(fn(**tensors), row_format)
    except RequestError as e:
        return 400, {"error": str(e)}
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
        return 400, {"error": _error_summary(getattr(e, "message", None) or str(e))}
    except Exception:  # never a stack trace to the client
        log.exception("predict failed")
        return 500, {"error": "internal error while running the model; see the server log"}


def _error_summary(message):
    """The line of a TensorFlow error that says what was wrong, without graph details."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    for line in lines:
        if "assertion failed" in line or "Expected" in line or "must" in line:
            return line[:500]
    useful = [
        line
        for line in lines
        if not line.startswith(("Graph execution error", "Detected at node", "[[", "File "))
    ]
    return (useful[-1] if useful else lines[0] if lines else "invalid request")[:500]


def create_app(signatures, max_request_bytes=DEFAULT_MAX_REQUEST_BYTES):
    """The FastAPI app: the editor page and TF Serving's REST predict/status routes."""
    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles

    app = FastAPI(title="EdgeConnect editor", docs_url=None, redoc_url=None)
    lock = threading.Lock()  # TF functions are thread-safe; this only bounds peak memory

    @app.get("/")
    def index():
        return FileResponse(os.path.join(STATIC_DIR, "index.html"))

    @app.get(f"/v1/models/{MODEL_NAME}")
    def status():
        return {
            "model_version_status": [
                {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK"}}
            ]
        }

    @app.post(f"/v1/models/{MODEL_NAME}:predict")
    async def predict_route(request: Request):
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_request_bytes:
            return JSONResponse(_too_large(max_request_bytes), status_code=413)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_request_bytes:
                return JSONResponse(_too_large(max_request_bytes), status_code=413)
        from starlette.concurrency import run_in_threadpool

        def run():
            with lock:
                return predict(signatures, body)

        code, payload = await run_in_threadpool(run)
        return JSONResponse(payload, status_code=code)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    add_isolation_headers(app)
    return app


# Cross-origin isolation: the page's in-browser mode needs it for WebAssembly threads
# (SharedArrayBuffer); every file it loads is same-origin, so nothing else is blocked.
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def add_isolation_headers(app):
    """Adds `ISOLATION_HEADERS` to every response of the FastAPI `app`."""

    @app.middleware("http")
    async def isolate(request, call_next):
        response = await call_next(request)
        response.headers.update(ISOLATION_HEADERS)
        return response


def create_static_app():
    """The editor page alone, for its in-browser mode: no model, no TensorFlow imported."""
    from fastapi import FastAPI
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles

    app = FastAPI(title="EdgeConnect editor", docs_url=None, redoc_url=None)
    app.get("/")(lambda: FileResponse(os.path.join(STATIC_DIR, "index.html")))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    add_isolation_headers(app)
    return app


def _too_large(limit):
    return {"error": f"request body larger than {limit} bytes (--max-request-mb)"}


def add_serve_arguments(parser):
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


def serve_command(args):
    try:
        import uvicorn
    except ImportError:
        print('edgeconnect serve needs the app extra: pip install "edgeconnect-tf[app]"')
        return 1
    if args.static_only:
        app = create_static_app()
    else:
        try:
            signatures = load_signatures(args.model, args.weights)
        except ValueError as e:
            print(f"edgeconnect serve: {e}")
            return 1
        app = create_app(signatures, int(args.max_request_mb * 1024 * 1024))
    print(f"EdgeConnect editor on http://{args.host}:{args.port}/  (Ctrl+C to stop)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
