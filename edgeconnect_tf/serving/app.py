"""The FastAPI apps: the editor page, the `.tflite` folder and TF Serving's REST routes.

`create_app`: everything, with a model (`POST /v1/models/edgeconnect:predict`,
`GET /v1/models/edgeconnect`, and `GET /metrics`: the process's RSS, its peak, requests
answered by status, sessions the networks opened, in Prometheus' text format).
`create_static_app`: the page and the `.tflite` folder alone, for the page's in-browser
mode: no model, no TensorFlow imported (TF Serving's routes answer 404 there). Both answer
`GET /api/server` with {"model": true|false}: how the page learns whether the server
inpaints without a failing request.
"""

import asyncio
import collections
import contextlib
import dataclasses
import logging
import os
import time

from edgeconnect_tf.serving.limits import Limits, RequestError, TooLargeError
from edgeconnect_tf.serving.model_files import add_model_file_routes
from edgeconnect_tf.serving.predictor import Predictor
from edgeconnect_tf.serving.worker import Worker

MODEL_NAME = "edgeconnect"
STATIC_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "editor", "static")
RETRY_AFTER_S = 5
PARSE_THREADS = 2  # bodies parsed and checked at once (each holds about 3× its size)
# Cross-origin isolation: the page's in-browser mode needs it for WebAssembly threads
# (SharedArrayBuffer); every file it loads is same-origin, so nothing else is blocked.
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}

log = logging.getLogger("edgeconnect.serve")


def create_app(signatures, max_request_bytes=None, limits=None, models_dir=None):
    """The page, the `.tflite` folder and TF Serving's REST predict/status routes.

    `signatures`: `predictor.load_signatures`' dict. `limits`: a `Limits`;
    `max_request_bytes`, if given, replaces its body limit. `models_dir`: the folder
    of `.tflite` files to list and serve (None: an empty list). The inference thread
    is `app.state.worker`; the app's lifespan stops it when the server shuts down.
    """
    from fastapi import FastAPI

    limits = limits or Limits()
    if max_request_bytes is not None:
        limits = dataclasses.replace(limits, max_request_bytes=max_request_bytes)
    worker = Worker(limits.queue_size)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        import anyio

        # After the last response: waits for a network call in progress (if any).
        await anyio.to_thread.run_sync(worker.stop)

    app = FastAPI(title="EdgeConnect editor", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.worker = worker
    add_editor_routes(app, models_dir, serves_model=True)
    predictor = Predictor(signatures, limits, worker.stopping)
    app.state.predictor = predictor
    add_model_routes(app, predictor, limits)
    add_isolation_headers(app)
    return app


def create_static_app(models_dir=None):
    """The page and the `.tflite` folder alone (module docstring); no TensorFlow."""
    from fastapi import FastAPI

    app = FastAPI(title="EdgeConnect editor", docs_url=None, redoc_url=None)
    add_editor_routes(app, models_dir, serves_model=False)
    add_isolation_headers(app)
    return app


def add_editor_routes(app, models_dir=None, serves_model=False):
    """The page, its static files, the folder of `.tflite` files (`model_files`) and
    `GET /api/server` ({"model": serves_model}): how the page learns whether the server
    inpaints, with an answer of 200 either way (a 404 probe would log a console error)."""
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles

    @app.get("/")
    def index():
        return FileResponse(os.path.join(STATIC_DIR, "index.html"))

    @app.get("/api/server")
    def server_info():
        return {"model": serves_model}

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    add_model_file_routes(app, models_dir)


def add_model_routes(app, predictor, limits):
    """TF Serving's REST status and predict routes, run on `app.state.worker`."""
    import anyio
    from fastapi import Request
    from fastapi.responses import JSONResponse, PlainTextResponse

    worker = app.state.worker
    parsing = anyio.CapacityLimiter(PARSE_THREADS)
    answered = collections.Counter()  # predict requests answered, by HTTP status
    app.state.answered = answered

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

    @app.get("/metrics")
    def metrics():
        return PlainTextResponse(
            metrics_text(answered, predictor, worker), media_type="text/plain; version=0.0.4"
        )

    @app.post(f"/v1/models/{MODEL_NAME}:predict")
    async def predict_route(request: Request):
        response = await predict(request)
        answered[response.status_code] += 1
        return response

    async def predict(request):
        if worker.stopping.is_set():
            return busy("the server is stopping; retry later")
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


METRICS = (  # name, type, help
    ("process_resident_memory_bytes", "gauge", "Resident set size of this process (VmRSS)."),
    (
        "edgeconnect_peak_resident_memory_bytes",
        "gauge",
        "Peak resident set size of this process so far (VmHWM).",
    ),
    (
        "edgeconnect_predict_requests_total",
        "counter",
        "Predict requests answered, by HTTP status code.",
    ),
    (
        "edgeconnect_network_sessions_total",
        "counter",
        "Sessions the networks opened: one more every max_shapes new input shapes "
        "(each replaced session frees TensorFlow's per-shape state).",
    ),
    ("edgeconnect_requests_waiting", "gauge", "Requests admitted and not yet answered."),
)


def metrics_text(answered, predictor, worker):
    """`GET /metrics`: Prometheus' text exposition format (version 0.0.4)."""
    from edgeconnect_tf.memory import peak_rss_bytes, rss_bytes

    values = {
        "process_resident_memory_bytes": [("", rss_bytes())],
        "edgeconnect_peak_resident_memory_bytes": [("", peak_rss_bytes())],
        "edgeconnect_predict_requests_total": [
            (f'{{code="{code}"}}', n) for code, n in sorted(answered.items())
        ]
        or [('{code="200"}', 0)],
        "edgeconnect_network_sessions_total": [("", predictor.sessions)],
        "edgeconnect_requests_waiting": [("", worker.admitted)],
    }
    lines = []
    for name, kind, text in METRICS:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{labels} {value}" for labels, value in values[name] if value is not None]
    return "\n".join(lines) + "\n"


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


def _too_large(limit):
    return f"request body larger than {limit} bytes (--max-request-mb)"


async def _result(future, deadline, stopping, poll_s=0.25):
    """(status, payload) of a worker future; (0, None) past `deadline`, (None, None) once
    `stopping` is set (unless the run answered), so a shutdown never waits for a run."""
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


def add_isolation_headers(app):
    """Adds `ISOLATION_HEADERS` to every response of the FastAPI `app`."""

    @app.middleware("http")
    async def isolate(request, call_next):
        response = await call_next(request)
        response.headers.update(ISOLATION_HEADERS)
        return response
