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

No request can cost other users their work (`Limits`):
- image files are sized from their headers before decoding (`image_headers`);
  above `--max-pixels` per request: 413. GIF, animated PNG, malformed files: 400.
- the `inpaint_bytes*` signatures run through `inpaint.inpaint`'s auto
  strategy, so the networks never see more than `inpaint.MAX_SIDE` px a side
  (holes are cropped, large ones scaled down); tensor signatures run at full
  size and take at most MAX_SIDE² pixels (N·H·W). Peak memory therefore depends
  on the limits, not on the image.
- one inference thread; a request that finds `--queue-size` others waiting gets
  503 with Retry-After at once; one that is not answered within `--timeout`
  seconds gets 503 (still queued) or 504 (running; the run stops at its next
  network call).
- SIGTERM / Ctrl+C stop the process within seconds, abandoning a running inference.
"""

import asyncio
import base64
import binascii
import concurrent.futures
import dataclasses
import json
import logging
import os
import queue
import re
import threading
import time

import numpy as np

from edgeconnect_tf import image_headers

MODEL_NAME = "edgeconnect"
DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
STATIC_DIR = os.path.join(os.path.dirname(__file__), "editor", "static")
FILE_SIGNATURES = {  # signatures answered by `inpaint.inpaint`: name -> its network signature
    "inpaint_bytes": "serving_default",
    "inpaint_bytes_with_edges": "inpaint_with_edges",
}
RETRY_AFTER_S = 5
PARSE_THREADS = 2  # bodies parsed and checked at once (each holds about 3× its size)

log = logging.getLogger("edgeconnect.serve")


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one request may cost (module docstring); the defaults keep full-size
    networks under 6 GiB of peak RSS (measured: 1.1 GiB for a 256² request, 1.5 GiB
    at 2048², 2.2 GiB at 4096² with a hole over half the image).

    max_pixels: pixels of all image files of one request together (4096² by default:
        decoding, the result and its PNG take ~60 bytes a pixel, ~1 GiB at 4096²).
    queue_size: requests waiting for the inference thread before 503.
    timeout_s: seconds from arrival to answer, queue included.
    max_request_bytes: body size before 413.
    """

    max_pixels: int = 4096 * 4096
    queue_size: int = 16
    timeout_s: float = 120.0
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES


class RequestError(ValueError):
    """A malformed request: answered with HTTP 400 and this message."""

    status = 400


class TooLargeError(RequestError):
    """A request above a size limit: answered with HTTP 413."""

    status = 413


class Abandoned(Exception):
    """A run stopped before it finished: time limit (504) or server shutdown (503)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


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
    except (TypeError, ValueError, OverflowError):
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
    """TF Serving REST body (bytes) -> (signature name, {input name: values}, row_format).

    Values: a list (one per instance) of bytes (`{"b64": ...}`) or float32 arrays.
    """
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RequestError(f"body is not valid JSON: {e.msg if hasattr(e, 'msg') else e}") from None
    except RecursionError:
        raise RequestError("body is not valid JSON: nested too deeply") from None
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
            if isinstance(decoded, bytes):
                decoded = [decoded]
            elif not isinstance(decoded, list) and decoded.ndim == 0:
                raise RequestError(f"input {n!r}: expected a batch (a list), got one number")
            columns[n] = decoded if isinstance(decoded, list) else list(decoded)
        row_format = False
    return signature, columns, row_format


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


def predict(signatures, body, limits=None, deadline=None):
    """Runs one REST predict body; returns (HTTP status, JSON-able dict).

    `limits`: a `Limits` (default one); `deadline`: a `time.monotonic()` after which
    the run stops at its next network call (504).
    """
    try:
        job = Predictor(signatures, limits).prepare(body)
    except RequestError as e:
        return e.status, {"error": str(e)}
    return job(deadline)


class Predictor:
    """Checks predict bodies against `Limits` and turns them into runs for the worker."""

    def __init__(self, signatures, limits=None, stopping=None):
        self.signatures = signatures
        self.limits = limits or Limits()
        self.stopping = stopping or threading.Event()

    def prepare(self, body):
        """Body -> job(deadline) -> (status, payload). Raises RequestError (4xx) at once.

        Everything that needs no network runs here, before the request queues:
        JSON, base64, input names, file headers and sizes, tensor shapes.
        """
        try:
            return self._prepare(body)
        except RequestError:
            raise
        except (ValueError, TypeError) as e:
            raise RequestError(_error_summary(str(e))) from None

    def _prepare(self, body):
        from edgeconnect_tf.deploy.saved_model import FILE_INPUTS

        name, columns, row_format = parse_request(body)
        fn = self.signatures.get(name)
        if fn is None or name.startswith("__"):
            known = sorted(n for n in self.signatures if not n.startswith("__"))
            raise RequestError(f"unknown signature_name {name!r}; this model has {known}")
        expected = _input_names(fn)
        if set(columns) != expected:
            raise RequestError(
                f"signature {name!r} takes inputs {sorted(expected)}, got {sorted(columns)}"
            )
        if name in FILE_SIGNATURES:
            files = self._check_files(columns, [n for n in FILE_INPUTS if n in expected])
            return lambda deadline: self._guarded(self._run_files, files, row_format, deadline)
        tensors = {n: _to_tensor(v, n) for n, v in columns.items()}
        self._check_tensor_pixels(tensors)

        def run(deadline):
            self._check_time(deadline)
            return format_response(fn(**tensors), row_format)

        return lambda deadline: self._guarded(run, deadline)

    # ------------------------------------------------------------------ checks

    def _check_files(self, columns, names):
        """[(image, mask[, edges]) bytes of each instance], after checking every header."""
        from edgeconnect_tf.inpaint import MIN_SIDE

        count = len(columns[names[0]])
        if any(len(columns[n]) != count for n in names):
            raise RequestError(f"inputs {names} must hold as many files each")
        total = 0
        for i in range(count):
            sizes = {}
            for n in names:
                data = columns[n][i]
                label = n if count == 1 else f"{n}[{i}]"
                if not isinstance(data, bytes):
                    raise RequestError(f'input {label!r} must be a file as {{"b64": "..."}}')
                try:
                    header = image_headers.read_header(data, label)
                    image_headers.check_pixels(
                        header.width, header.height, self.limits.max_pixels, label
                    )
                except image_headers.ImageTooLarge as e:
                    raise TooLargeError(str(e)) from None
                except image_headers.ImageRejected as e:
                    raise RequestError(str(e)) from None
                if header.cmyk and n != "image_bytes":  # decoded to gray: TF cannot
                    raise RequestError(f"{label} is a CMYK JPEG; send a grayscale or RGB file")
                sizes[label] = (header.width, header.height)
            (first, (width, height)), *others = sizes.items()
            for label, (w, h) in others:
                if (w, h) != (width, height):
                    raise RequestError(
                        f"{label} is {w}×{h} pixels but {first} is {width}×{height}; "
                        "they must be the same size"
                    )
            if min(width, height) < MIN_SIDE:
                raise RequestError(
                    f"{first} is {width}×{height} pixels; at least {MIN_SIDE}×{MIN_SIDE} needed"
                )
            total += width * height
        if total > self.limits.max_pixels:
            raise TooLargeError(
                f"the request's {count} images hold {total} pixels together; the limit is "
                f"{self.limits.max_pixels} pixels per request (--max-pixels)"
            )
        return list(zip(*(columns[n] for n in names), strict=True))

    def _check_tensor_pixels(self, tensors):
        from edgeconnect_tf.inpaint import MAX_SIDE

        image = tensors.get("image")
        if image is not None and image.shape.rank == 4:
            pixels = int(np.prod(image.shape[:3]))
            if pixels > MAX_SIDE * MAX_SIDE:
                raise TooLargeError(
                    f"input 'image' of shape {image.shape.as_list()} holds {pixels} pixels "
                    f"(N·H·W); tensor signatures run the networks at full size and take at "
                    f"most {MAX_SIDE * MAX_SIDE}: send files (inpaint_bytes) for larger images"
                )

    # ------------------------------------------------------------------ runs

    def _check_time(self, deadline):
        if self.stopping.is_set():
            raise Abandoned(503, "the server is stopping; retry later")
        if deadline is not None and time.monotonic() > deadline:
            raise Abandoned(504, f"no answer within the time limit of {self.limits.timeout_s:g} s")

    def _model(self, deadline):
        """Calls the tensor signatures like an `EdgeConnect`; refuses once `deadline` is past."""
        import tensorflow as tf

        def model(inputs, training=False):
            self._check_time(deadline)
            name = "inpaint_bytes_with_edges" if "edges" in inputs else "inpaint_bytes"
            fn = self.signatures[FILE_SIGNATURES[name]]
            return fn(**{k: tf.constant(v) for k, v in inputs.items()})

        return model

    def _run_files(self, files, row_format, deadline):
        """Decodes, inpaints (auto strategy: at most MAX_SIDE px a side) and encodes."""
        from edgeconnect_tf.deploy.saved_model import MASK_THRESHOLD, encode_png
        from edgeconnect_tf.inpaint import inpaint

        model = self._model(deadline)
        pngs, edge_pngs = [], []
        for instance in files:
            image = _decode_file(instance[0], 3, "image_bytes")
            hole = _decode_file(instance[1], 1, "mask_bytes")[..., 0] > MASK_THRESHOLD
            edges = None
            if len(instance) == 3:
                edges = _decode_file(instance[2], 1, "edges_bytes")[..., 0] > MASK_THRESHOLD
            result, edge_map = inpaint(model, image, hole, edges, strategy="auto")
            del image, hole, edges
            pngs.append(encode_png(result))
            edge_pngs.append(encode_png(edge_map[..., None]))
            del result, edge_map
        outputs = {"inpainted_png_bytes": pngs, "edges_png_bytes": edge_pngs}
        return format_response({n: _object_array(v) for n, v in outputs.items()}, row_format)

    def _guarded(self, run, *args):
        """(status, payload) of run(*args): errors become one clear message, never a trace."""
        import tensorflow as tf

        from edgeconnect_tf.inpaint import InpaintError

        try:
            return 200, run(*args)
        except Abandoned as e:
            return e.status, {"error": e.message}
        except RequestError as e:
            return e.status, {"error": str(e)}
        except InpaintError as e:
            return 400, {"error": str(e)}
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
            return 400, {"error": _error_summary(getattr(e, "message", None) or str(e))}
        except Exception:  # never a stack trace to the client
            log.exception("predict failed")
            return 500, {"error": "internal error while running the model; see the server log"}


def _decode_file(data, channels, name):
    """File bytes -> uint8 [H, W, channels] numpy, as the SavedModel decodes them."""
    import tensorflow as tf

    from edgeconnect_tf.deploy.saved_model import decode_file

    try:
        return decode_file(data, channels).numpy()
    except tf.errors.InvalidArgumentError as e:
        raise RequestError(f"{name} could not be decoded: {_error_summary(e.message)}") from None


def _object_array(items):
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _error_summary(message):
    """The line of a TensorFlow error that says what was wrong, without graph details."""
    message = re.sub(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\]", "", message)
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


class Worker:
    """The one inference thread, with `queue_size` waiting places (one more runs).

    `admit()` takes a place or answers False at once; a submitted job gives its
    place back when it ends, so runs that outlive their request still count.
    """

    def __init__(self, queue_size):
        self._places = threading.Semaphore(queue_size + 1)
        self._jobs = queue.SimpleQueue()
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="edgeconnect-inference")
        self._thread.daemon = True  # never keeps the process alive (serve_command)
        self._thread.start()

    def admit(self):
        return self._places.acquire(blocking=False)

    def release(self):
        """Gives back a place taken by `admit` for a request that was never submitted."""
        self._places.release()

    def submit(self, fn):
        """Runs fn() on the inference thread; a `concurrent.futures.Future` of its result."""
        future = concurrent.futures.Future()
        self._jobs.put((fn, future))
        return future

    def _loop(self):
        while True:
            fn, future = self._jobs.get()
            if fn is None:
                return
            try:
                if future.set_running_or_notify_cancel():  # False: cancelled while queued
                    try:
                        future.set_result(fn())
                    except BaseException as e:  # noqa: BLE001 - handed to the request
                        future.set_exception(e)
            finally:
                self._places.release()

    def stop(self, timeout):
        """Asks runs to stop at their next network call; True if the thread ended in time."""
        self.stopping.set()
        self._jobs.put((None, None))
        self._thread.join(timeout)
        return not self._thread.is_alive()


async def _read_body(request, limit):
    """The request body (bytes), read in chunks joined once; TooLargeError past `limit`."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise TooLargeError(_too_large(limit))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLargeError(_too_large(limit))
        chunks.append(chunk)
    return b"".join(chunks)


async def _result(future, deadline, stopping, poll_s=0.25):
    """(status, payload) of a worker future; (0, None) past `deadline`, (None, None) once
    `stopping` is set, so that a shutdown never waits for a network call to end."""
    waiter = asyncio.wrap_future(future)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return 0, None
        done, _ = await asyncio.wait({waiter}, timeout=min(remaining, poll_s))
        if done:
            return waiter.result()
        if stopping.is_set():
            return None, None


def create_app(signatures, max_request_bytes=None, limits=None):
    """The FastAPI app: the editor page and TF Serving's REST predict/status routes.

    `limits`: a `Limits`; `max_request_bytes`, if given, replaces its body limit.
    The inference thread is `app.state.worker` (`serve_command` stops it).
    """
    from fastapi import FastAPI

    limits = limits or Limits()
    if max_request_bytes is not None:
        limits = dataclasses.replace(limits, max_request_bytes=max_request_bytes)
    app = FastAPI(title="EdgeConnect editor", docs_url=None, redoc_url=None)
    app.state.worker = Worker(limits.queue_size)
    add_editor_routes(app)
    add_model_routes(app, Predictor(signatures, limits, app.state.worker.stopping), limits)
    add_isolation_headers(app)
    return app


def add_editor_routes(app):
    """The page and its static files."""
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles

    @app.get("/")
    def index():
        return FileResponse(os.path.join(STATIC_DIR, "index.html"))

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def add_model_routes(app, predictor, limits):
    """TF Serving's REST status and predict routes, run on `app.state.worker`."""
    import anyio
    from fastapi import Request
    from fastapi.responses import JSONResponse

    worker = app.state.worker
    parsing = anyio.CapacityLimiter(PARSE_THREADS)

    def busy(message):
        headers = {"Retry-After": str(RETRY_AFTER_S)}
        return JSONResponse({"error": message}, status_code=503, headers=headers)

    @app.get(f"/v1/models/{MODEL_NAME}")
    def status():
        return {
            "model_version_status": [
                {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK"}}
            ]
        }

    @app.post(f"/v1/models/{MODEL_NAME}:predict")
    async def predict_route(request: Request):
        if not worker.admit():
            return busy(f"busy: {limits.queue_size} requests are waiting; retry later")
        submitted = False
        try:
            deadline = time.monotonic() + limits.timeout_s
            try:
                body = await asyncio.wait_for(
                    _read_body(request, limits.max_request_bytes), limits.timeout_s
                )
                job = await anyio.to_thread.run_sync(predictor.prepare, body, limiter=parsing)
            except RequestError as e:
                return JSONResponse({"error": str(e)}, status_code=e.status)
            except TimeoutError:
                return JSONResponse({"error": "request body not received in time"}, 408)
            except Exception:  # never a stack trace to the client
                log.exception("predict request could not be read")
                return JSONResponse({"error": "internal error; see the server log"}, 500)
            del body
            future = worker.submit(lambda: job(deadline))
            submitted = True
            code, payload = await _result(future, deadline, worker.stopping)
            if code is None:  # stopping
                future.cancel()
                return busy("the server is stopping; retry later")
            if code == 0:  # time limit
                if future.cancel():  # never started: the queue was too slow
                    return busy(f"busy: not started within {limits.timeout_s:g} s; retry later")
                message = f"no answer within the time limit of {limits.timeout_s:g} s"
                return JSONResponse({"error": message}, status_code=504)
            return JSONResponse(payload, status_code=code)
        finally:
            if not submitted:
                worker.release()


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

    app = FastAPI(title="EdgeConnect editor", docs_url=None, redoc_url=None)
    add_editor_routes(app)
    add_isolation_headers(app)
    return app


def _too_large(limit):
    return f"request body larger than {limit} bytes (--max-request-mb)"


def serve_command(args):
    try:
        import uvicorn
    except ImportError:
        print('edgeconnect serve needs the app extra: pip install "edgeconnect-tf[app]"')
        return 1
    if args.static_only:
        print(f"EdgeConnect editor on http://{args.host}:{args.port}/  (Ctrl+C to stop)")
        uvicorn.run(create_static_app(), host=args.host, port=args.port, log_level="warning")
        return 0
    try:
        signatures = load_signatures(args.model, args.weights)
    except ValueError as e:
        print(f"edgeconnect serve: {e}")
        return 1
    limits = Limits(
        max_pixels=args.max_pixels,
        queue_size=args.queue_size,
        timeout_s=args.timeout,
        max_request_bytes=int(args.max_request_mb * 1024 * 1024),
    )
    app = create_app(signatures, limits=limits)
    worker = app.state.worker
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    handle_exit = server.handle_exit

    def stop_runs_first(sig, frame):  # a running inference answers 503 at its next network call
        worker.stopping.set()
        handle_exit(sig, frame)

    server.handle_exit = stop_runs_first
    print(f"EdgeConnect editor on http://{args.host}:{args.port}/  (Ctrl+C to stop)", flush=True)
    try:
        server.run()  # after SIGTERM uvicorn re-raises it: the process ends there
    except KeyboardInterrupt:  # Ctrl+C, re-raised by uvicorn once it has shut down
        pass
    finally:
        if not worker.stop(timeout=2):
            # A network call cannot be interrupted, and a normal exit would tear
            # TensorFlow down under it. Nothing is left to write: leave at once.
            print("edgeconnect serve: stopped; a running inference was abandoned", flush=True)
            os._exit(0)
    return 0
