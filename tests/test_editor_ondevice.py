"""The editor's in-browser mode: the exported `.tflite` run by LiteRT.js inside Chromium.

The page (served by `serve --static-only`, cross-origin isolated, so LiteRT.js runs its
threaded WebAssembly build) opens a tiny exported model, a photo is brushed and inpainted
in the page, and the result is compared with `export/tflite_inpaint.py` (the Python
LiteRT interpreter) on the same photo and mask. Skipped where no system Chromium exists.
"""

import importlib.util
import os
import socket
import threading
import time

import cv2
import numpy as np
import pytest

sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from test_editor_browser import CHROMIUM, CHROMIUM_ARGS, _decode_data_url  # noqa: E402

from edgeconnect_tf import serve  # noqa: E402
from edgeconnect_tf.inference import hole_windows  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="system Chromium not installed"),
]

SIZE = 64  # the exported model's input side
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _reference_runner():
    """export/tflite_inpaint.py, imported from its file (it is a script, not package code)."""
    spec = importlib.util.spec_from_file_location(
        "tflite_inpaint", os.path.join(ROOT, "export", "tflite_inpaint.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tflite_model(tmp_path_factory):
    from edgeconnect_tf.deploy.tflite import export_tflite
    from edgeconnect_tf.edgeconnect import EdgeConnect
    from edgeconnect_tf.weights import build_networks, save_networks

    folder = tmp_path_factory.mktemp("ondevice")
    nets = build_networks(1, 8, names=("edge_generator", "inpaint_generator"))
    save_networks(str(folder / "weights"), nets)
    path = str(folder / f"edgeconnect_{SIZE}x{SIZE}_float32.tflite")
    export_tflite(EdgeConnect.from_pretrained(str(folder / "weights")), path, SIZE)
    return path


@pytest.fixture(scope="module")
def static_server():
    app = serve.create_static_app()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, static_server, tflite_model):
    """The editor with the model open in the page; `page.requests` lists what it fetched."""
    page = browser.new_page(viewport={"width": 900, "height": 700})
    requests = []
    page.on("request", lambda r: requests.append((r.method, r.url)))
    page.goto(static_server + "/")
    page.set_input_files("#model-file", tflite_model)
    page.wait_for_function("window.ondevice && ondevice.ready()", timeout=120_000)
    page.requests = requests
    return page


def _photo(h, w):
    from skimage import data, transform

    rgb = transform.resize(data.chelsea(), (h, w), anti_aliasing=True)
    return (rgb * 255).round().astype(np.uint8)


def _inpaint_in_page(page, tmp_path, rgb, strokes, size):
    """Opens `rgb`, brushes `strokes` (lists of (x, y) image points), inpaints in the page.

    Returns (result RGB uint8, hole bool [H, W] as the page saw it).
    """
    h, w = rgb.shape[:2]
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), rgb[..., ::-1])
    page.set_input_files("#file", str(path))
    page.wait_for_function(f"editor.state.original && editor.state.original.width === {w}")
    box = page.locator("#view").bounding_box()
    sx, sy = box["width"] / w, box["height"] / h
    page.evaluate(f"editor.setTool('hole'); editor.setSize({size})")
    for points in strokes:
        page.mouse.move(box["x"] + points[0][0] * sx, box["y"] + points[0][1] * sy)
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x * sx, box["y"] + y * sy, steps=4)
        page.mouse.up()
    page.click("#inpaint")
    page.wait_for_function("editor.resultDataURL() !== null", timeout=120_000)
    assert page.locator("#error").is_hidden(), page.inner_text("#error")
    result = _decode_data_url(page.evaluate("editor.resultDataURL()"))[..., 2::-1]
    mask = _decode_data_url(page.evaluate("editor.maskPNG()"))
    return result, (mask[..., 0] if mask.ndim == 3 else mask) > 127


def test_page_runs_threaded_and_isolated(page):
    info = page.evaluate("ondevice.info()")
    assert info["isolated"] and info["size"] == [SIZE, SIZE] and not info["hasEdges"]
    runtime = page.evaluate("ondevice.runtime()")
    assert runtime["threads"] and runtime["variant"] == "litert_wasm_threaded_internal.js"
    assert "2 threads" in page.inner_text("#model-info")


def test_model_size_photo_matches_python_interpreter(page, tflite_model, tmp_path):
    rgb = _photo(SIZE, SIZE)
    result, hole = _inpaint_in_page(page, tmp_path, rgb, [[(16, 30), (44, 34)]], size=12)
    assert 100 < hole.sum() < 0.5 * hole.size
    reference = _reference_runner()
    runner, size = reference.load_runner(tflite_model, threads=1)
    expected, _ = reference.inpaint(runner, size, rgb, hole)
    np.testing.assert_array_equal(result[~hole], rgb[~hole])
    assert np.abs(result.astype(int) - expected.astype(int)).max() <= 1
    assert np.abs(result[hole].astype(int) - rgb[hole].astype(int)).mean() > 1


def test_large_photo_crops_a_model_size_window_around_the_hole(page, tflite_model, tmp_path):
    rgb = _photo(150, 200)
    result, hole = _inpaint_in_page(page, tmp_path, rgb, [[(120, 100), (134, 104)]], size=8)
    windows = hole_windows(hole, SIZE)
    assert [tuple(w) for w in page.evaluate("ondevice.lastRun().windows")] == windows
    assert len(windows) == 1
    y0, y1, x0, x1 = windows[0]
    assert (y1 - y0, x1 - x0) == (SIZE, SIZE)  # small hole: the window runs at native size
    reference = _reference_runner()
    runner, size = reference.load_runner(tflite_model, threads=1)
    expected = rgb.copy()
    expected[y0:y1, x0:x1], _ = reference.inpaint(
        runner, size, rgb[y0:y1, x0:x1], hole[y0:y1, x0:x1]
    )
    np.testing.assert_array_equal(result[~hole], rgb[~hole])
    assert np.abs(result.astype(int) - expected.astype(int)).max() <= 1


def test_big_hole_window_is_resampled_and_known_pixels_stay(page, tmp_path):
    rgb = _photo(150, 200)
    strokes = [[(30, 40), (150, 60)], [(170, 120), (190, 140)]]
    result, hole = _inpaint_in_page(page, tmp_path, rgb, strokes, size=16)
    windows = [tuple(w) for w in page.evaluate("ondevice.lastRun().windows")]
    assert windows == hole_windows(hole, SIZE)
    assert any(y1 - y0 > SIZE or x1 - x0 > SIZE for y0, y1, x0, x1 in windows)
    np.testing.assert_array_equal(result[~hole], rgb[~hole])
    assert np.abs(result[hole].astype(int) - rgb[hole].astype(int)).mean() > 1


def test_hole_windows_match_python_rule(page):
    rng = np.random.default_rng(0)
    for trial in range(6):
        h, w = rng.integers(40, 160, size=2)
        hole = np.zeros((h, w), np.uint8)
        for _ in range(rng.integers(1, 6)):
            y, x = rng.integers(0, h - 4), rng.integers(0, w - 4)
            hole[y : y + rng.integers(1, 30), x : x + rng.integers(1, 30)] = 1
        got = page.evaluate(
            "([h, w, data, s]) => ondevice.holeWindows(Uint8Array.from(data), h, w, [s, s])",
            [int(h), int(w), hole.ravel().tolist(), 48],
        )
        assert [tuple(b) for b in got] == hole_windows(hole.astype(bool), 48), trial


def test_nothing_is_sent_to_a_server(page):
    """Every request the page made is a GET of the page's own static files."""
    assert page.requests
    for method, url in page.requests:
        if url.startswith(("blob:", "data:")):  # the photo and results, inside the page
            continue
        assert method == "GET", url
        path = url.split("/", 3)[3]
        assert path == "" or path.startswith("static/"), url


def test_a_file_that_is_no_model_gets_a_clear_message(browser, static_server):
    page = browser.new_page()
    page.goto(static_server + "/")
    page.set_input_files(
        "#model-file",
        {"name": "notes.tflite", "mimeType": "application/octet-stream", "buffer": b"hello"},
    )
    page.wait_for_selector("#model-error:not([hidden])", timeout=60_000)
    assert page.inner_text("#model-error").startswith(
        "In-page model: notes.tflite is not a model LiteRT.js can run"
    )
    assert not page.evaluate("ondevice.ready()")
    assert page.inner_text("#status") == ""  # the progress message does not linger
    page.close()
