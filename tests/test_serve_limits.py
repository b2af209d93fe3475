"""Serving that no request can knock over: bombs and hostile inputs against a real
`edgeconnect serve` process and the exported SavedModel, the queue, the time limit,
SIGTERM and Ctrl+C, also during an inference. Tiny networks; the bombs are refused before
decoding. No sleep stands in for synchronisation: tests wait on events the serving code
exposes (`Worker.admitted`, a hooked network call) or poll a condition with a deadline."""

import argparse
import base64
import concurrent.futures
import io
import json
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from conftest import app_in_thread, free_port

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from edgeconnect_tf.files import image_headers  # noqa: E402
from edgeconnect_tf.serving.app import create_app  # noqa: E402
from edgeconnect_tf.serving.limits import Limits  # noqa: E402
from edgeconnect_tf.serving.predictor import Predictor  # noqa: E402

# Peak RSS allowed to the tiny-network processes. Measured here (TF 2.21, tiny networks):
# the server 0.78 GiB after start, 1.87 GiB after the tests below (the accepted 4096² image
# adds ~1 GiB of numpy arrays, ~60 bytes a pixel); the SavedModel process 1.04 GiB. The
# 5000² bomb run as before this limit allocated blocks of 3.2 and 6.4 GB and aborted.
TINY_BUDGET = int(2.5 * 1024**3)
MAX_PIXELS = 4096 * 4096  # serve's default


# ----------------------------------------------------------------------------- files


def _encode(array, ext=".png"):
    ok, buf = cv2.imencode(ext, array)
    assert ok
    return buf.tobytes()


def _pil(image, fmt, **kwargs):
    from PIL import Image

    out = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(out, fmt, **kwargs)
    return out.getvalue()


def _photo(h=40, w=52, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 4, y * 5, (x + y) * 2], -1) % 256
    return np.clip(base + rng.integers(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def _mask(h=40, w=52, box=(10, 25, 12, 30)):
    mask = np.zeros((h, w), np.uint8)
    mask[box[0] : box[1], box[2] : box[3]] = 255
    return mask


def _png_claiming(width, height):
    """A small valid PNG whose IHDR is rewritten to declare width×height."""
    data = bytearray(_encode(_photo(12, 12)))
    data[16:24] = struct.pack(">II", width, height)
    return bytes(data)


def _jpeg_claiming(width, height):
    data = bytearray(_encode(_photo(16, 16), ".jpg"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _bmp_claiming(width, height):
    data = bytearray(_encode(_photo(12, 12), ".bmp"))
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def _animated(fmt):
    from PIL import Image

    frames = [Image.fromarray(_photo(40, 52, seed=s)) for s in range(3)]
    return _pil(frames[0], fmt, save_all=True, append_images=frames[1:])


def _cmyk_jpeg(array):
    from PIL import Image

    return _pil(Image.fromarray(array).convert("CMYK"), "JPEG", quality=95)


def _b64(data):
    return {"b64": base64.b64encode(data).decode("ascii")}


def _files(image, mask, edges=None, extra_instances=()):
    instance = {"image_bytes": _b64(image), "mask_bytes": _b64(mask)}
    name = "inpaint_bytes"
    if edges is not None:
        instance["edges_bytes"] = _b64(edges)
        name = "inpaint_bytes_with_edges"
    return {"signature_name": name, "instances": [instance, *extra_instances]}


def _ordinary(seed=0):
    return _files(_encode(_photo(seed=seed)), _encode(_mask()))


def _hostile_files():
    """(label, image bytes, mask bytes, expected HTTP status, fragment of the message)."""
    photo, mask = _encode(_photo()), _encode(_mask())
    big = np.zeros((5000, 5000), np.uint8)
    bomb_image, bomb_mask = _encode(big), _encode(big + 255)  # 5000²: ~100 KB of PNG
    x16 = _photo()[..., 0].astype(np.uint16) * 257 + 3
    one = _encode(np.full((1, 1), 255, np.uint8))
    return [
        ("5000² PNG bomb", bomb_image, bomb_mask, 413, "5000×5000 = 25000000 pixels"),
        ("PNG header 60000²", _png_claiming(60000, 60000), mask, 413, "60000×60000"),
        ("JPEG header 60000²", _jpeg_claiming(60000, 60000), mask, 413, "60000×60000"),
        ("BMP header 30000²", _bmp_claiming(30000, -30000), mask, 413, "30000×30000"),
        ("mask is the bomb", photo, bomb_mask, 413, "mask_bytes is 5000×5000"),
        ("truncated PNG", photo[: len(photo) // 2], mask, 400, "image_bytes could not be decoded"),
        ("truncated PNG header", photo[:20], mask, 400, "truncated or malformed PNG"),
        (
            "truncated JPEG",
            _encode(_photo(), ".jpg")[:300],
            mask,
            400,
            "image_bytes could not be decoded",
        ),
        ("empty file", b"", mask, 400, "empty (0 bytes)"),
        ("zero-size PNG", _png_claiming(0, 40), mask, 400, "zero-size"),
        ("1×1 PNG", _encode(np.zeros((1, 1, 3), np.uint8)), one, 400, "at least 9×9"),
        ("mask of another size", photo, _encode(_mask(20, 20, (2, 5, 2, 5))), 400, "same size"),
        ("CMYK JPEG mask", photo, _cmyk_jpeg(_mask()), 400, "CMYK JPEG"),
        ("animated PNG", _animated("PNG"), mask, 400, "animated PNG"),
        ("animated GIF", _animated("GIF"), mask, 400, "GIF"),
        ("WebP", _pil(_photo(), "WEBP"), mask, 400, "a WebP"),
        ("non-image bytes", b"%PDF-1.7 not an image", mask, 400, "not an image file"),
        ("16-bit PNG", _encode(x16), mask, 200, None),
        ("CMYK JPEG image", _cmyk_jpeg(_photo()), mask, 200, None),
    ]


def _hostile_bodies():
    """(label, raw body, expected status, fragment): JSON and tensor inputs."""
    image = _photo()[None].astype(np.float32) / 255
    mask = (_mask()[None, ..., None] > 0).astype(np.float32)

    def tensors(image, mask):
        body = {"signature_name": "serving_default", "inputs": {"image": image, "mask": mask}}
        return json.dumps(body).encode()

    nan = image.copy()
    nan[0, 3, 4, 1] = np.nan
    big_number = image.tolist()
    big_number[0][3][4][1] = "X"
    exponent = tensors(big_number, mask.tolist()).replace(b'"X"', b"1e999")
    photo, small_mask = _encode(_photo()), _encode(_mask())
    instance = {"image_bytes": _b64(photo), "mask_bytes": _b64(small_mask)}
    six = {"signature_name": "inpaint_bytes", "instances": [instance] * 6}
    return [
        ("NaN in a tensor", tensors(nan.tolist(), mask.tolist()), 400, "NaN or infinite"),
        (
            "Infinity in a tensor",
            tensors(image.tolist(), np.where(mask > 0, np.inf, 0.0).tolist()),
            400,
            "NaN or infinite",
        ),
        ("rank-2 tensor", tensors([[0.5] * 20] * 20, mask.tolist()), 400, "rank-4"),
        ("ragged tensor", tensors([[0.1, 0.2], [0.3]], mask.tolist()), 400, "expected numbers"),
        (
            "tensor larger than a window",
            tensors(np.zeros((2, 400, 400, 3), np.uint8).tolist(), mask.tolist()),
            413,
            "320000 pixels",
        ),
        ("string for a tensor", tensors("abc", mask.tolist()), 400, "expected numbers"),
        (
            "number for a file",
            json.dumps(
                _files(photo, small_mask)
                | {"instances": [{"image_bytes": 5, "mask_bytes": _b64(small_mask)}]}
            ).encode(),
            400,
            "must be a file",
        ),
        ("instances not a list", b'{"instances": "x"}', 400, "non-empty list"),
        ("signature_name a number", b'{"signature_name": 3, "instances": [{}]}', 400, "string"),
        (
            "missing input",
            json.dumps(
                {"signature_name": "inpaint_bytes", "instances": [{"image_bytes": _b64(photo)}]}
            ).encode(),
            400,
            "takes inputs",
        ),
        ("deep nesting", b"[" * 100000 + b"]" * 100000, 400, "nested too deeply"),
        ("not JSON", b"\xff\xfe garbage", 400, "not valid JSON"),
        ("1e999 in JSON", exponent, 400, "NaN or infinite"),
        (
            "many files over the total",
            json.dumps(
                _files(
                    _png_claiming(3000, 3000),
                    _png_claiming(3000, 3000),
                    extra_instances=[
                        {
                            "image_bytes": _b64(_png_claiming(3000, 3000)),
                            "mask_bytes": _b64(_png_claiming(3000, 3000)),
                        }
                    ],
                )
            ).encode(),
            413,
            "18000000 pixels together",
        ),
        ("six ordinary instances", json.dumps(six).encode(), 200, None),
    ]


# ---------------------------------------------------------------------------- server


def _post(url, body, timeout=120):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        url + "/v1/models/edgeconnect:predict",
        data=data,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read()), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers


def _peak_rss(pid):
    """VmHWM of a process in bytes."""
    with open(f"/proc/{pid}/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def _png_out(payload, key="inpainted_png_bytes", index=0):
    data = base64.b64decode(payload["predictions"][index][key]["b64"])
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def _assert_filled(payload, image_bgr, mask, index=0):
    out = _png_out(payload, index=index)[..., ::-1]  # the server answers RGB PNGs
    assert out.shape == image_bgr.shape
    known = mask == 0
    np.testing.assert_array_equal(out[known], image_bgr[..., ::-1][known])


@pytest.fixture(scope="module")
def weights_dir(tiny_weights):
    return tiny_weights


def _wait_until(condition, what, timeout=120):
    """Polls `condition()` until it is true; fails naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.02)


def _start_server(log_path, *flags, script=None, ready="/v1/models/edgeconnect"):
    """A real `edgeconnect serve FLAGS` process on a free port (run through `script`, a
    Python source that ends in the CLI, if given); its output goes to `log_path`."""
    port = free_port()
    command = ["-c", script] if script else ["-m", "edgeconnect_tf.cli"]
    with open(log_path, "w") as log:  # a file, not a pipe: a full pipe would block it
        proc = subprocess.Popen(
            [sys.executable, *command, "serve", "--port", str(port), *flags],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def up():
        if proc.poll() is not None:
            with open(log_path) as log:
                raise AssertionError(log.read()[-3000:])
        try:
            with urllib.request.urlopen(url + ready, timeout=5):
                return True
        except OSError:
            return False

    try:
        _wait_until(up, "edgeconnect serve answering", timeout=180)
    except AssertionError:
        proc.kill()
        raise
    return proc, url


@pytest.fixture(scope="module")
def server(weights_dir, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("serve") / "log.txt"
    proc, url = _start_server(log_path, "--weights", weights_dir)
    yield proc, url
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log_path.read_text()[-3000:]


@pytest.mark.slow  # a server subprocess, or 4096² requests
def test_bombs_and_hostile_inputs_then_twelve_concurrent_requests(server):
    proc, url = server
    for label, image, mask, status, fragment in _hostile_files():
        code, payload, _ = _post(url, _files(image, mask))
        assert code == status, (label, payload)
        assert "Traceback" not in json.dumps(payload)
        if fragment is not None:
            assert fragment in payload["error"], (label, payload)
        # The next ordinary request is answered.
        code, payload, _ = _post(url, _ordinary())
        assert code == 200, (label, payload)
    for label, body, status, fragment in _hostile_bodies():
        code, payload, _ = _post(url, body)
        assert code == status, (label, payload)
        assert "Traceback" not in json.dumps(payload)
        if fragment is not None:
            assert fragment in payload["error"], (label, payload)
        assert _post(url, _ordinary())[0] == 200, label

    # An accepted 4096² photo with a hole over its left half is answered, within budget.
    big = np.zeros((4096, 4096, 3), np.uint8)
    big[:, :, 1] = 90
    hole = np.zeros((4096, 4096), np.uint8)
    hole[:, :2048] = 255
    code, payload, _ = _post(url, _files(_encode(big), _encode(hole)))
    assert code == 200, payload
    _assert_filled(payload, big, hole)
    del payload

    bodies = [(_photo(seed=i), _mask(box=(5 + i, 20 + i, 8, 30))) for i in range(12)]
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda b: _post(url, _files(_encode(b[0]), _encode(b[1]))), bodies))
    for (image, mask), (code, payload, _) in zip(bodies, results, strict=True):
        assert code == 200, payload
        _assert_filled(payload, image, mask)

    assert proc.poll() is None
    with urllib.request.urlopen(url + "/v1/models/edgeconnect") as r:
        assert json.loads(r.read())["model_version_status"][0]["state"] == "AVAILABLE"
    assert _peak_rss(proc.pid) <= TINY_BUDGET, _peak_rss(proc.pid)


@pytest.fixture(scope="module")
def app_url(tiny_signatures):
    """The same app as `edgeconnect serve --weights`, in a thread (no process start-up)."""
    with app_in_thread(create_app(tiny_signatures)) as url:
        yield url


def test_sixteen_bit_png_and_cmyk_jpeg_are_read_as_tensorflow_decodes_them(app_url):
    url = app_url
    x16 = _photo()[..., 0].astype(np.uint16) * 257 + 3
    code, payload, _ = _post(url, _files(_encode(x16), _encode(_mask())))
    assert code == 200, payload
    out = _png_out(payload)
    known = _mask() == 0
    expected = (x16 >> 8).astype(np.uint8)  # TF keeps the high byte of 16-bit samples
    for channel in range(3):
        np.testing.assert_array_equal(out[..., channel][known], expected[known])


# The CLI with its first network call held until the server is stopping: it prints a line
# as each network call starts and ends, so the test knows a run is in its network call.
HELD_NETWORK_CALL = textwrap.dedent(
    """
    import itertools, sys
    from edgeconnect_tf.cli import main
    from edgeconnect_tf.serving.predictor import Predictor

    model_of, calls = Predictor._model, itertools.count(1)

    def held_model(self, deadline):
        network = self.runners["serving_default"]
        if not getattr(network, "held", False):
            def call(**inputs):
                n = next(calls)
                print(f"network call {n} started", flush=True)
                if n == 1:
                    self.stopping.wait(120)
                out = network(**inputs)
                print(f"network call {n} ended", flush=True)
                return out

            call.held = True
            self.runners["serving_default"] = call
        return model_of(self, deadline)

    Predictor._model = held_model
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.slow  # a server subprocess, or 4096² requests
def test_sigterm_during_an_inference_answers_503_and_ends_the_process(weights_dir, tmp_path):
    """Two holes far apart in a 700 px wide photo: two network windows. SIGTERM comes while
    the first window's network call runs: that call ends, the second is never made, the
    client gets 503, the process exits 0 without a trace."""
    log_path = tmp_path / "log.txt"
    proc, url = _start_server(log_path, "--weights", weights_dir, script=HELD_NETWORK_CALL)
    image, mask = _photo(300, 700), np.zeros((300, 700), np.uint8)
    mask[100:140, 40:80] = mask[150:190, 600:650] = 255
    body = json.dumps(_files(_encode(image), _encode(mask))).encode()
    answer = {}
    client = threading.Thread(target=lambda: answer.update(result=_safe_post(url, body)))
    client.start()
    _wait_until(lambda: "network call 1 started" in log_path.read_text(), "the first call")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 0
    client.join(timeout=60)
    code, payload = answer["result"]
    assert code == 503 and "stopping" in payload["error"], (code, payload)
    log = log_path.read_text()
    assert "network call 1 ended" in log and "network call 2" not in log, log
    assert "Traceback" not in log and "edgeconnect serve: stopped" in log, log


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.slow  # a server subprocess, or 4096² requests
def test_static_only_stops_on_ctrl_c_and_sigterm(sig, tmp_path):
    log_path = tmp_path / "log.txt"
    proc, url = _start_server(log_path, "--static-only", ready="/api/models")
    with urllib.request.urlopen(url + "/") as r:
        assert r.status == 200
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == 0
    log = log_path.read_text()
    assert "Traceback" not in log and log.rstrip().endswith("edgeconnect serve: stopped"), log


def _safe_post(url, body):
    try:
        code, payload, _ = _post(url, body)
        return code, payload
    except OSError as e:  # the connection closed before an answer
        return None, {"error": str(e)}


# ------------------------------------------------------------- queue and time limit


@pytest.fixture
def slow_server(tiny_signatures, monkeypatch):
    """An in-process server whose file runs wait for `release`: queue 1, 3 s limit.
    Yields (url, release, started: set when a run is on the inference thread, worker)."""
    release, started = threading.Event(), threading.Event()
    run_files = Predictor._run_files

    def blocked(self, files, row_format, deadline, *signature):
        started.set()
        release.wait(30)
        return run_files(self, files, row_format, deadline, *signature)

    monkeypatch.setattr(Predictor, "_run_files", blocked)
    app = create_app(tiny_signatures, limits=Limits(queue_size=1, timeout_s=3))
    # Freezing and a first run optimise the graph (seconds on a loaded machine): not within
    # the 3 s, so before the server opens, through the network the app runs.
    image = _photo()[None].astype(np.float32) / 255
    mask = (_mask()[None, ..., None] > 0).astype(np.float32)
    app.state.predictor.runners["serving_default"](image=image, mask=mask)
    with app_in_thread(app) as url:
        yield url, release, started, app.state.worker
        release.set()


@pytest.mark.slow  # a server subprocess, or 4096² requests
def test_full_queue_answers_503_at_once_and_time_limit_504(slow_server):
    url, release, started, worker = slow_server
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(_post, url, _ordinary(0))
        assert started.wait(30)  # running on the inference thread
        queued = pool.submit(_post, url, _ordinary(1))
        _wait_until(lambda: worker.admitted == 2, "the second request in the waiting place")
        code, payload, headers = _post(url, _ordinary(2))
        assert not running.done()  # answered at once, not when the others time out
        assert code == 503 and "busy" in payload["error"]
        assert int(headers["Retry-After"]) > 0
        code, payload, _ = running.result()
        assert code == 504 and "time limit of 3 s" in payload["error"]
        code, payload, headers = queued.result()
        assert code == 503 and "not started within 3 s" in payload["error"], payload
        assert int(headers["Retry-After"]) > 0
    release.set()
    _wait_until(lambda: worker.admitted == 0, "the abandoned run stopping at its network call")
    code, payload, _ = _post(url, _ordinary())
    assert code == 200, payload


def test_request_body_is_read_in_chunks_joined_once(app_url):
    """A chunked body of many small pieces (no Content-Length) is answered normally."""
    url = app_url
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(_ordinary()).encode()
    pieces = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(
            b"POST /v1/models/edgeconnect:predict HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for piece in pieces:
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        sock.sendall(b"0\r\n\r\n")
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 200"), head[:200]


# ------------------------------------------------------------------------ headers


def test_a_run_gives_its_place_back_before_its_request_is_answered():
    """`/metrics`' waiting gauge read right after an answer shows 0: the inference thread
    frees the place before it hands the result (or error) to the request."""
    from edgeconnect_tf.serving.worker import Worker

    worker = Worker(queue_size=1)
    try:
        seen = []
        for fn in (lambda: "filled", lambda: 1 / 0):
            assert worker.admit()
            future = worker.submit(fn)
            future.add_done_callback(lambda f: seen.append(worker.admitted))
            concurrent.futures.wait([future], timeout=10)
        assert seen == [0, 0]
        assert future.exception().__class__ is ZeroDivisionError
    finally:
        assert worker.stop(timeout=10)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP"])
def test_header_sizes_match_pillow(fmt):
    from PIL import Image

    for h, w in [(9, 9), (37, 53), (300, 17)]:
        data = _pil(_photo(h, w), fmt)
        header = image_headers.read_header(data)
        assert (header.width, header.height) == Image.open(io.BytesIO(data)).size
        assert header.kind == fmt


# -------------------------------------------------------------------- SavedModel


SAVED_MODEL_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    loaded = tf.saved_model.load(sys.argv[1])
    cases = np.load(sys.argv[2], allow_pickle=True)["cases"].item()
    results = {}
    for label, (signature, inputs) in cases.items():
        try:
            out = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
            results[label] = ["ok", {k: list(v.shape) for k, v in out.items()}]
        except tf.errors.InvalidArgumentError as e:
            lines = [l for l in e.message.splitlines() if "assertion failed" in l or "Invalid" in l]
            results[label] = ["InvalidArgument", (lines or [e.message])[0][:400]]
    with open("/proc/self/status") as f:
        hwm = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:"))
    print(json.dumps({"results": results, "peak_rss": hwm}))
    """
)


@pytest.mark.slow  # a server subprocess, or 4096² requests
def test_saved_model_refuses_bombs_and_hostile_tensors(tiny_saved_model, tmp_path):
    model_dir = tiny_saved_model

    def files(image, mask, signature="inpaint_bytes", **more):
        inputs = {"image_bytes": np.array([image], object), "mask_bytes": np.array([mask], object)}
        inputs.update({k: np.array([v], object) for k, v in more.items()})
        return signature, inputs

    def two_files(image, mask):
        return "inpaint_bytes", {
            "image_bytes": np.array([image, image], object),
            "mask_bytes": np.array([mask, mask], object),
        }

    def tensors(image, mask):
        return "serving_default", {"image": image, "mask": mask}

    limit = 2048 * 2048
    cases, expected = {}, {}
    for label, image, mask, status, _ in _hostile_files():
        cases[label] = files(image, mask)
        expected[label] = status
    photo = _photo()[None].astype(np.float32) / 255
    mask = (_mask()[None, ..., None] > 0).astype(np.float32)
    nan = photo.copy()
    nan[0, 1, 2, 0] = np.nan
    cases.update(
        {
            "NaN tensor": tensors(nan, mask),
            "inf mask": tensors(photo, np.where(mask > 0, np.inf, 0.0).astype(np.float32)),
            "empty batch": tensors(photo[:0], mask[:0]),
            "zero-size tensor": tensors(photo[:, :0, :0], mask[:, :0, :0]),
            "huge tensor": tensors(
                np.zeros((1, 2100, 2100, 3), np.float32), np.zeros((1, 2100, 2100, 1), np.float32)
            ),
            "rank-3 tensor": tensors(photo[0], mask[0]),
            "ordinary tensor": tensors(photo, mask),
            "ordinary files": files(_encode(_photo()), _encode(_mask())),
            "3000² header": files(_png_claiming(3000, 3000), _encode(_mask())),
            # Each under the limit, not together: refused before either is decoded.
            "two 1500² headers": two_files(_png_claiming(1500, 1500), _png_claiming(1500, 1500)),
        }
    )
    np.savez(tmp_path / "cases.npz", cases=np.array(cases, dtype=object))
    run = subprocess.run(
        [sys.executable, "-c", SAVED_MODEL_SCRIPT, model_dir, str(tmp_path / "cases.npz")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    results = report["results"]

    def refused(label, *fragments):
        kind, message = results[label]
        assert kind == "InvalidArgument", (label, results[label])
        for fragment in fragments:
            assert fragment in message, (label, message)

    refused("5000² PNG bomb", "`image_bytes` is", "5000", f"limit of {limit} pixels")
    refused("PNG header 60000²", "60000", f"limit of {limit} pixels")
    refused("JPEG header 60000²", "60000", f"limit of {limit} pixels")
    refused("BMP header 30000²", "30000", f"limit of {limit} pixels")
    refused("mask is the bomb", "`mask_bytes` is", "5000")
    refused("3000² header", "3000", f"limit of {limit} pixels")
    refused("two 1500² headers", "4500000 pixels together", f"limit of {limit} pixels")
    refused("truncated PNG")
    refused("truncated PNG header", "PNG, JPEG or BMP")
    refused("truncated JPEG")
    refused("empty file", "PNG, JPEG or BMP")
    refused("zero-size PNG", "zero size")
    refused("1×1 PNG", "at least 9 pixels")
    refused("mask of another size", "`mask` must have the batch size, height and width")
    refused("CMYK JPEG mask", "CMYK JPEG")
    refused("animated PNG", "animated PNG")
    refused("animated GIF", "PNG, JPEG or BMP")
    refused("WebP", "PNG, JPEG or BMP")
    refused("non-image bytes", "PNG, JPEG or BMP")
    refused("NaN tensor", "NaN or infinite")
    refused("inf mask", "NaN or infinite")
    refused("empty batch", "1 to")
    refused("zero-size tensor", "at least 9 pixels")
    refused("huge tensor", f"1 to {limit} pixels")
    refused("rank-3 tensor", "rank-4")
    for label in ("16-bit PNG", "CMYK JPEG image", "ordinary files", "ordinary tensor"):
        assert results[label][0] == "ok", (label, results[label])
    assert results["ordinary tensor"][1]["inpainted"] == [1, 40, 52, 3]
    # The huge tensor itself takes 53 MB; nothing ran at its size.
    assert report["peak_rss"] <= TINY_BUDGET, report["peak_rss"]
    assert set(expected) <= set(results)


def test_export_max_pixels_is_baked_into_the_signatures(weights_dir, tmp_path, capsys):
    import tensorflow as tf

    from edgeconnect_tf.cli.export import add_arguments as add_export_arguments
    from edgeconnect_tf.cli.export import main as export_command
    from edgeconnect_tf.deploy.saved_model import serving_functions
    from edgeconnect_tf.edgeconnect import EdgeConnect

    parser = argparse.ArgumentParser()
    add_export_arguments(parser)
    argv = ["--weights", weights_dir, "--output", str(tmp_path / "m" / "1"), "--max-pixels", "100"]
    assert export_command(parser.parse_args(argv)) == 1  # below the 256² warm-up requests
    assert "--max-pixels 100 is below the warm-up requests' 256² pixels" in capsys.readouterr().err

    fn, spec = serving_functions(EdgeConnect.from_pretrained(weights_dir), 2000)["inpaint_bytes"]
    fn = tf.function(fn, input_signature=spec)
    image, mask = _encode(_photo()), _encode(_mask())  # 52×40 = 2080 pixels
    with pytest.raises(tf.errors.InvalidArgumentError, match="limit of 2000 pixels"):
        fn(tf.constant([image]), tf.constant([mask]))
    small = fn(tf.constant([_encode(_photo(40, 50))]), tf.constant([_encode(_mask(40, 50))]))
    assert small["inpainted_png_bytes"].shape == [1]
    # The rule of `serve --max-pixels`: a request's images together.
    with pytest.raises(tf.errors.InvalidArgumentError, match="4000 pixels together"):
        fn(tf.constant([_encode(_photo(40, 50))] * 2), tf.constant([_encode(_mask(40, 50))] * 2))


@pytest.mark.parametrize("flag", ["--max-pixels", "--queue-size", "--timeout"])
def test_serve_limit_flags_must_be_positive(flag, capsys):
    from edgeconnect_tf.cli.serve import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--weights", "w", flag, "0"])
    assert f"{flag}: expected a positive" in capsys.readouterr().err
    args = parser.parse_args(["--weights", "w", flag, "7"])
    assert getattr(args, flag[2:].replace("-", "_")) == 7
