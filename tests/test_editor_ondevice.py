"""The editor's in-browser mode: the exported `.tflite` run by LiteRT.js inside Chromium.

The page (served by `serve --static-only`, cross-origin isolated, so LiteRT.js runs its
threaded WebAssembly build in the page's inference worker) opens a tiny exported model, a
photo is brushed and inpainted in the page, and the result is compared with
`TFLiteModel.inpaint` (edgeconnect_tf.deploy.tflite_runner: the Python runner, the same
window rule the page runs in windows.js) on the same file, photo and mask. The
server's model list (`GET /api/models` -> {"models": [{name, url, bytes}]}, files at
`/models/NAME`) is the real one of `serve --static-only --models DIR`.
Skipped where no system Chromium exists.
"""

import os

import cv2
import numpy as np
import pytest
from conftest import app_in_thread

sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from test_editor_browser import CHROMIUM, CHROMIUM_ARGS, _decode_data_url  # noqa: E402

from edgeconnect_tf.inpaint import hole_windows  # noqa: E402
from edgeconnect_tf.serving.app import create_static_app  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="system Chromium not installed"),
]

SIZE = 64  # the exported model's input side


def _python_inpaint(path, rgb, hole, edges=None):
    """The same file through `TFLiteModel.inpaint` (the rule the page runs), one thread.

    Returns (result RGB uint8 [H, W, 3], edge map float32 [H, W] in [0, 1], the model calls
    it made: one per window).
    """
    from edgeconnect_tf.deploy.tflite_runner import TFLiteModel

    model = TFLiteModel(path, threads=1, weight_cache=False)
    result, edge_map = model.inpaint(rgb, hole, edges)
    return result, edge_map, model.calls


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The three files `edgeconnect export --tflite --drawn-edges` writes, tiny networks:
    the pipeline, G2 alone on drawn lines or a full edge map (`_edges`), G1 alone (`_g1`)."""
    import keras

    from edgeconnect_tf.deploy.tflite import export_tflite, tflite_ops
    from edgeconnect_tf.edgeconnect import EdgeConnect
    from edgeconnect_tf.weights import build_networks, save_networks

    keras.utils.set_random_seed(0)  # module fixtures run before the per-test seed
    folder = tmp_path_factory.mktemp("ondevice")
    nets = build_networks(1, 8, names=("edge_generator", "inpaint_generator"))
    save_networks(str(folder / "weights"), nets)
    model = EdgeConnect.from_pretrained(str(folder / "weights"))
    paths = {}
    for drawn in (False, True):
        path = str(folder / f"edgeconnect_{SIZE}x{SIZE}_float32{'_edges' if drawn else ''}.tflite")
        export_tflite(model, path, SIZE, drawn_edges=drawn)
        paths["edges" if drawn else "plain"] = path
    paths["g1"] = str(folder / f"edgeconnect_{SIZE}x{SIZE}_float32_g1.tflite")
    export_tflite(model, paths["g1"], SIZE, stage="edges")
    # Drawn lines replace G1, so the edges file holds G2 alone: 2 of the 4 transposed convs.
    assert tflite_ops(paths["plain"])["TRANSPOSE_CONV"] == 4
    assert tflite_ops(paths["edges"])["TRANSPOSE_CONV"] == 2
    return paths


@pytest.fixture(scope="module")
def tflite_model(exported):
    return exported["plain"]


@pytest.fixture(scope="module")
def quantized(exported, tmp_path_factory):
    """The plain model's network exported as float16 and dynamic-range int8 files."""
    from edgeconnect_tf.deploy.tflite import export_tflite
    from edgeconnect_tf.edgeconnect import EdgeConnect

    folder = os.path.dirname(exported["plain"])
    model = EdgeConnect.from_pretrained(os.path.join(folder, "weights"))
    paths = {}
    for quantize in ("float16", "dynamic"):
        paths[quantize] = os.path.join(folder, f"edgeconnect_{SIZE}x{SIZE}_{quantize}.tflite")
        export_tflite(model, paths[quantize], SIZE, quantize=quantize)
    return paths


@pytest.fixture(scope="module")
def static_server(exported, quantized):
    """The page as `serve --static-only --models DIR` serves it, DIR holding every export."""
    folder = os.path.dirname(exported["plain"])
    assert all(os.path.dirname(p) == folder for p in quantized.values())
    with app_in_thread(create_static_app(models_dir=folder)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, static_server, tflite_model, exported):
    """The editor with the model open in the page; `page.requests` lists what it fetched."""
    page = browser.new_page(viewport={"width": 900, "height": 700})
    requests, console, failed = [], [], []
    page.on("request", lambda r: requests.append((r.method, r.url)))
    page.on("response", lambda r: r.status >= 400 and failed.append(r.url.split("/", 3)[3]))
    page.on("console", lambda m: console.append((m.type, m.text)))
    page.goto(static_server + "/")
    page.set_input_files("#model-file", [tflite_model, exported["edges"]])
    page.wait_for_function(
        "window.ondevice && Object.keys(ondevice.info().models).length === 2", timeout=120_000
    )
    page.requests, page.console, page.failed = requests, console, failed
    return page


def _photo(h, w):
    from skimage import data, transform

    rgb = transform.resize(data.chelsea(), (h, w), anti_aliasing=True)
    return (rgb * 255).round().astype(np.uint8)


def _inpaint_in_page(page, tmp_path, rgb, strokes, size, lines=()):
    """Opens `rgb`, brushes `strokes` and draws `lines` (lists of (x, y) image points),
    inpaints in the page.

    Returns (result RGB uint8, hole bool [H, W] as the page saw it, drawn lines bool [H, W]).
    """
    h, w = rgb.shape[:2]
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), rgb[..., ::-1])
    page.set_input_files("#file", str(path))
    page.wait_for_function(f"editor.state.original && editor.state.original.width === {w}")
    box = page.locator("#view").bounding_box()
    sx, sy = box["width"] / w, box["height"] / h
    for tool, paths in (("hole", strokes), ("edge", lines)):
        page.evaluate(f"editor.setTool('{tool}'); editor.setSize({size})")
        for points in paths:
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
    drawn = _decode_data_url(page.evaluate("editor.edgesPNG()"))
    gray = [a[..., 0] if a.ndim == 3 else a for a in (mask, drawn)]
    return result, gray[0] > 127, gray[1] > 127


def test_page_runs_threaded_and_isolated(page):
    info = page.evaluate("ondevice.info()")
    # One core is left to the page: hardwareConcurrency - 1 threads, at most 4, at least 1.
    cores = page.evaluate("navigator.hardwareConcurrency")
    threads = max(1, min(cores - 1, 4))
    assert info["isolated"] and info["threads"] == threads
    assert {k: m["size"] for k, m in info["models"].items()} == {
        "plain": [SIZE, SIZE],
        "edges": [SIZE, SIZE],
    }
    runtime = page.evaluate("ondevice.runtime()")
    assert runtime["threads"] and runtime["variant"] == "litert_wasm_threaded_internal.js"
    assert f"WebAssembly, {threads} thread" in page.inner_text("#model-info")


def test_model_size_photo_matches_python_interpreter(page, tflite_model, tmp_path):
    rgb = _photo(SIZE, SIZE)
    result, hole, _ = _inpaint_in_page(page, tmp_path, rgb, [[(16, 30), (44, 34)]], size=12)
    assert 100 < hole.sum() < 0.5 * hole.size
    # A model-size photo is one window, the whole photo at native size, in both.
    assert [tuple(w) for w in page.evaluate("ondevice.lastRun().windows")] == [(0, SIZE, 0, SIZE)]
    expected, _, calls = _python_inpaint(tflite_model, rgb, hole)
    assert calls == 1
    np.testing.assert_array_equal(result[~hole], rgb[~hole])
    assert np.abs(result.astype(int) - expected.astype(int)).max() <= 1
    assert np.abs(result[hole].astype(int) - rgb[hole].astype(int)).mean() > 1


def test_drawn_lines_use_the_edges_model(page, exported, tmp_path):
    rgb = _photo(SIZE, SIZE)
    result, hole, drawn = _inpaint_in_page(
        page, tmp_path, rgb, [[(16, 30), (44, 34)]], size=12, lines=[[(30, 20), (30, 44)]]
    )
    assert page.evaluate("ondevice.lastRun().slot") == os.path.basename(exported["edges"])
    assert (drawn & hole).sum() > 5
    expected, _, _ = _python_inpaint(exported["edges"], rgb, hole, edges=drawn)
    np.testing.assert_array_equal(result[~hole], rgb[~hole])
    assert np.abs(result.astype(int) - expected.astype(int)).max() <= 1
    # The lines changed the fill: the plain model (G1's edges) gives another result.
    plain, _, _ = _python_inpaint(exported["plain"], rgb, hole)
    assert np.abs(plain.astype(int) - expected.astype(int)).max() > 1


def test_large_photo_crops_a_model_size_window_around_the_hole(page, tflite_model, tmp_path):
    rgb = _photo(150, 200)
    result, hole, _ = _inpaint_in_page(page, tmp_path, rgb, [[(120, 100), (134, 104)]], size=8)
    windows = hole_windows(hole, SIZE)
    assert [tuple(w) for w in page.evaluate("ondevice.lastRun().windows")] == windows
    assert len(windows) == 1
    y0, y1, x0, x1 = windows[0]
    assert (y1 - y0, x1 - x0) == (SIZE, SIZE)  # small hole: the window runs at native size
    expected, _, calls = _python_inpaint(tflite_model, rgb, hole)  # its crop rule: one window
    assert calls == len(windows)
    np.testing.assert_array_equal(result[~hole], rgb[~hole])
    assert np.abs(result.astype(int) - expected.astype(int)).max() <= 1


def _page_edges(page):
    """The edge map of the page's last Inpaint: uint8 [H, W] (0 outside its windows)."""
    return _decode_data_url(page.evaluate("ondevice.lastEdgesURL()"))[..., 0]


def _levels_apart(a, b, where):
    """(max |a - b|, share of values that differ) over the pixels `where` of uint8 arrays."""
    diff = np.abs(a[where].astype(int) - b[where].astype(int))
    return int(diff.max()), float((diff > 0).mean())


def test_photo_smaller_than_the_model_is_padded_not_stretched(page, tflite_model, tmp_path):
    rgb = _photo(40, 56)
    result, hole, _ = _inpaint_in_page(page, tmp_path, rgb, [[(14, 18), (40, 22)]], size=10)
    # One window, the whole photo, run at its size and padded to the model's (as Python's
    # "full" tiling and TFLiteModel.__call__), not stretched to SIZE×SIZE.
    assert [tuple(w) for w in page.evaluate("ondevice.lastRun().windows")] == [(0, 40, 0, 56)]
    assert "px at" not in page.evaluate("document.getElementById('status').textContent")
    expected, expected_edges, calls = _python_inpaint(tflite_model, rgb, hole)
    assert calls == 1
    np.testing.assert_array_equal(result[~hole], rgb[~hole])
    assert np.abs(result.astype(int) - expected.astype(int)).max() <= 1
    edge_levels = np.round(expected_edges * 255)
    assert np.abs(_page_edges(page).astype(int) - edge_levels).max() <= 1


@pytest.mark.parametrize("lines", [False, True], ids=["plain", "drawn_lines"])
def test_big_hole_window_runs_as_python_runs_it(page, exported, lines, tmp_path):
    """A window larger than the model and not square: area-resized keeping its aspect ratio
    to a long side of SIZE, padded to SIZE×SIZE, the fill upsampled (TFLiteModel.inpaint)."""
    rgb = _photo(150, 200)
    strokes = [[(30, 40), (150, 60)], [(170, 120), (190, 140)]]
    drawn_lines = [[(40, 50), (140, 52)]] if lines else []
    result, hole, drawn = _inpaint_in_page(page, tmp_path, rgb, strokes, 16, drawn_lines)
    windows = [tuple(w) for w in page.evaluate("ondevice.lastRun().windows")]
    assert windows == hole_windows(hole, SIZE)
    big = [(y1 - y0, x1 - x0) for y0, y1, x0, x1 in windows if max(y1 - y0, x1 - x0) > SIZE]
    assert big and all(h != w for h, w in big)
    path = exported["edges" if lines else "plain"]
    assert page.evaluate("ondevice.lastRun().slot") == os.path.basename(path)
    expected, expected_edges, calls = _python_inpaint(path, rgb, hole, drawn if lines else None)
    assert calls == len(windows)  # Python: the same windows
    np.testing.assert_array_equal(result[~hole], rgb[~hole])
    assert np.abs(result[hole].astype(int) - rgb[hole].astype(int)).mean() > 1
    # Measured over 10 random photos and holes (windows 64×230 to 155×147, both files): the
    # fill at most 1 level apart on <= 0.009 % of the hole values, the edge map at most 1
    # level apart on <= 0.03 % of the hole pixels (<= 1.2 % of the window pixels: Canny's
    # 0/1 upsampled, where OpenCV's IPP interpolation rounds a hair differently).
    levels, share = _levels_apart(result, expected, hole)
    assert levels <= 1 and share <= 0.001, (levels, share)
    edges, edge_levels = _page_edges(page), np.round(expected_edges * 255)
    levels, share = _levels_apart(edges, edge_levels, hole)
    assert levels <= 1 and share <= 0.001, (levels, share)
    assert np.abs(edges.astype(int) - edge_levels).max() <= 1


def test_repaint_of_a_resized_window_gives_the_full_runs_pixels(page, tmp_path):
    """A window larger than the model runs area-resized. Repaint of its unedited map gives
    the model the map the run drew at that size (not the upsampled map averaged down again,
    which moved the fill by up to 100 levels with full-size networks: bench/repaint_page.py),
    so the full run's pixels within 1 level; an erased edge still moves the fill."""
    rgb = _photo(150, 200)
    full, hole, _ = _inpaint_in_page(page, tmp_path, rgb, [[(30, 40), (150, 60)]], 16)
    windows = page.evaluate("ondevice.lastRun().windows")
    assert any(max(y1 - y0, x1 - x0) > SIZE for y0, y1, x0, x1 in windows)

    def repaint():
        page.evaluate("window.shown = editor.state.result")
        page.click("#repaint")
        page.wait_for_function(
            "!editor.state.running && (editor.state.result !== window.shown || "
            "!document.getElementById('error').hidden)",
            timeout=120_000,
        )
        assert page.locator("#error").is_hidden(), page.inner_text("#error")
        assert page.evaluate("ondevice.lastRun().stage") == "repaint"
        return _decode_data_url(page.evaluate("editor.resultDataURL()"))[..., 2::-1].astype(int)

    again = repaint()
    assert np.abs(again - full.astype(int)).max() <= 1
    page.evaluate("editor.setTool('edge-eraser'); editor.setSize(30)")
    box = page.locator("#view").bounding_box()
    s = box["width"] / 200
    page.mouse.move(box["x"] + 30 * s, box["y"] + 50 * s)
    page.mouse.down()
    page.mouse.move(box["x"] + 150 * s, box["y"] + 50 * s, steps=8)
    page.mouse.up()
    moved = repaint()
    np.testing.assert_array_equal(moved[~hole], rgb[~hole])
    assert np.abs(moved[hole] - again[hole]).mean() > 1


RESAMPLE_IN_PAGE = """([h, w, side, image, hole, small]) => {
  const {th, tw} = scaledSize(h, w, side);
  return {th, tw,
    image: Array.from(areaResize(image, h, w, 3, th, tw, true)),
    hole: Array.from(areaResize(hole, h, w, 1, th, tw)),
    up: Array.from(linearResize(Float32Array.from(small), th, tw, 3, h, w)),
    pad: Array.from(padded(Float32Array.from(small), th, tw, 3, side, side, true))};
}"""


def test_window_resampling_matches_opencv(page):
    """windows.js's INTER_AREA (image levels, the hole mask), INTER_LINEAR and numpy's
    "symmetric" pad against cv2 / numpy, on windows of the sizes the crop rule makes
    (integer and fractional scales; 128×101 -> 64×50.5 rounds half to even as Python)."""
    rng = np.random.default_rng(0)
    sizes = [(72, 200, 64), (128, 128, 64), (128, 101, 64), (9, 128, 64), (301, 120, 256)]
    worst = 0.0
    for h, w, side in sizes:
        scale = side / max(h, w)
        th, tw = max(9, round(h * scale)), max(9, round(w * scale))
        image = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), np.uint8), (0, 0), 1)
        hole = rng.random((h, w)) < 0.01
        small = rng.random((th, tw, 3), np.float32)
        args = [h, w, side] + [a.ravel().tolist() for a in (image, hole.astype(int), small)]
        got = page.evaluate(RESAMPLE_IN_PAGE, args)
        assert (got["th"], got["tw"]) == (th, tw)
        area = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA)
        np.testing.assert_array_equal(np.reshape(got["image"], (th, tw, 3)), area)
        hole_area = cv2.resize(hole.astype(np.float32), (tw, th), interpolation=cv2.INTER_AREA)
        np.testing.assert_array_equal(np.reshape(got["hole"], (th, tw)) > 0, hole_area > 0)
        up = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        worst = max(worst, np.abs(np.reshape(got["up"], (h, w, 3)) - up).max())
        pad = np.pad(small, ((0, side - th), (0, side - tw), (0, 0)), mode="symmetric")
        np.testing.assert_array_equal(np.reshape(got["pad"], (side, side, 3)), pad)
    assert worst <= 5e-5  # measured 1.2e-5 (OpenCV's IPP path; 1.2e-7 without IPP)


# Chromium's software WebGPU (SwiftShader's Vulkan): the WebGPU path without a GPU.
SWIFTSHADER_WEBGPU = [
    "--enable-unsafe-webgpu",
    "--enable-unsafe-swiftshader",
    "--use-webgpu-adapter=swiftshader",
    "--enable-features=Vulkan",
    "--use-vulkan=swiftshader",
    "--use-angle=swiftshader",
]


def test_webgpu_matches_python_interpreter(browser, static_server, tflite_model, tmp_path):
    """WebGPU runs what its delegate can (the JSPI build hands WHILE and MIRROR_PAD to the CPU)."""
    args = [a for a in CHROMIUM_ARGS if a != "--disable-gpu"] + SWIFTSHADER_WEBGPU
    gpu_browser = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=args)
    try:
        page = gpu_browser.new_page(viewport={"width": 900, "height": 700})
        page.goto(static_server + "/")
        adapter = "navigator.gpu ? navigator.gpu.requestAdapter().then(Boolean) : false"
        if not page.evaluate(adapter):
            pytest.skip("this Chromium offers no WebGPU adapter, not even SwiftShader's")
        page.set_input_files("#model-file", tflite_model)  # first on the CPU, then switch
        page.wait_for_function("window.ondevice && ondevice.ready()", timeout=120_000)
        assert page.evaluate("ondevice.runtime()")["variant"].startswith("litert_wasm_threaded")
        page.select_option("#accelerator", "webgpu")
        page.set_input_files("#model-file", [])
        page.set_input_files("#model-file", tflite_model)
        page.wait_for_function("ondevice.info().accelerator === 'webgpu'", timeout=120_000)
        assert page.evaluate("ondevice.ready()")
        assert page.evaluate("ondevice.runtime()")["variant"] == "litert_wasm_jspi_internal.js"
        rgb = _photo(SIZE, SIZE)
        result, hole, _ = _inpaint_in_page(page, tmp_path, rgb, [[(16, 30), (44, 34)]], 12)
    finally:
        gpu_browser.close()
    expected, _, _ = _python_inpaint(tflite_model, rgb, hole)
    np.testing.assert_array_equal(result[~hole], rgb[~hole])
    assert np.abs(result.astype(int) - expected.astype(int)).max() <= 1


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
    """Every request the page made is a GET of its own static files, the model list or
    whether the server inpaints; the runtime files were fetched once each."""
    assert page.requests
    for method, url in page.requests:
        if url.startswith(("blob:", "data:")):  # the photo and results, inside the page
            continue
        assert method == "GET", url
        path = url.split("/", 3)[3]
        assert path in ("", "api/models", "api/server") or path.startswith("static/")
    fetched = [url for _, url in page.requests if "/third_party/litert/" in url]
    assert any(u.endswith("litert_wasm_threaded_internal.js") for u in fetched)
    assert sorted(fetched) == sorted(set(fetched)), fetched


def test_litert_output_is_debug_not_error(page):
    """LiteRT's INFO/WARNING lines (XNNPACK's delegate) reach the console at debug level."""
    chatter = [(kind, text) for kind, text in page.console if "[LiteRT]" in text]
    assert chatter and {kind for kind, _ in chatter} == {"debug"}, page.console
    # No failed request: the page asks /api/server, answered 200 by a --static-only server.
    assert page.failed == []
    problems = [m for m in page.console if m[0] in ("error", "warning")]
    assert problems == []


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
    # A model named in the address (?model=, beside the page) that is not there.
    page.goto(static_server + "/?model=missing.tflite")
    page.wait_for_selector("#model-error:not([hidden])", timeout=60_000)
    assert "missing.tflite: the server answered 404" in page.inner_text("#model-error")
    page.close()


def _view_rgb(page):
    """The editor's view canvas as shown, RGB uint8."""
    return _decode_data_url(page.evaluate("document.getElementById('view').toDataURL()"))[
        ..., 2::-1
    ]


def test_show_edges_overlays_the_hole_edges_and_drawn_lines_only(page, tmp_path):
    rgb = _photo(SIZE, SIZE)
    page.evaluate("document.getElementById('show-edges').checked = false")
    result, hole, drawn = _inpaint_in_page(
        page, tmp_path, rgb, [[(16, 30), (44, 34)]], size=12, lines=[[(30, 20), (30, 44)]]
    )
    assert page.is_checked("#show-edges")  # drawing with the Edge pen turned it on
    predicted = _decode_data_url(page.evaluate("editor.predictedEdgesPNG()"))[..., 0] > 127
    assert predicted.any() and not (predicted & ~hole).any()  # the fill's edges, in the hole
    shown = _view_rgb(page)
    overlay = np.any(shown != result, axis=-1)
    assert overlay[drawn].mean() > 0.9  # the drawn lines
    # Nothing outside the hole but the lines (and their anti-aliased rims).
    near_lines = cv2.dilate(drawn.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert not (overlay & ~hole & ~near_lines).any()
    page.click("#show-edges")  # off: the result alone
    np.testing.assert_array_equal(_view_rgb(page), result)


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory):
    """A model whose one call takes about a second here (1 block, 32 filters, 256²), so that
    a call on the page's main thread would freeze it far beyond the 100 ms frame budget."""
    from edgeconnect_tf.deploy.tflite import export_tflite
    from edgeconnect_tf.edgeconnect import EdgeConnect
    from edgeconnect_tf.weights import build_networks, save_networks

    folder = tmp_path_factory.mktemp("slow")
    save_networks(
        str(folder / "weights"),
        build_networks(1, 32, names=("edge_generator", "inpaint_generator")),
    )
    path = str(folder / "edgeconnect_256x256_float32.tflite")
    export_tflite(EdgeConnect.from_pretrained(str(folder / "weights")), path, 256)
    return path


FRAME_GAPS = """() => {
  window.frameGaps = [];
  let last = performance.now();
  const tick = (t) => {
    window.frameGaps.push(t - last);
    last = t;
    if (!window.stopFrames) requestAnimationFrame(tick);
  };
  window.stopFrames = false;
  requestAnimationFrame(tick);
}"""


BUSY_WORKERS = """([n, ms]) => new Promise((resolve) => {
  const code = "onmessage = (e) => { const end = performance.now() + e.data; " +
    "while (performance.now() < end) {} postMessage(0); }";
  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  let left = n;
  for (let k = 0; k < n; k++) {
    const w = new Worker(url);
    w.onmessage = () => { w.terminate(); if (--left === 0) resolve(); };
    w.postMessage(ms);
  }
})"""


def test_ui_stays_responsive_and_cancel_stops_the_run(browser, static_server, slow_model, tmp_path):
    page = browser.new_page(viewport={"width": 900, "height": 700})
    fetched = []
    page.on("request", lambda r: fetched.append(r.url))
    page.goto(static_server + "/")
    page.set_input_files("#model-file", slow_model)
    page.wait_for_function("window.ondevice && ondevice.ready()", timeout=300_000)
    rgb = _photo(256, 256)
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), rgb[..., ::-1])
    page.set_input_files("#file", str(path))
    page.wait_for_function("editor.state.original && editor.state.original.width === 256")
    box = page.locator("#view").bounding_box()
    s = box["width"] / 256
    page.evaluate("editor.setTool('hole'); editor.setSize(30)")
    page.mouse.move(box["x"] + 80 * s, box["y"] + 120 * s)
    page.mouse.down()
    page.mouse.move(box["x"] + 180 * s, box["y"] + 130 * s, steps=6)
    page.mouse.up()

    # Cancel: the run stops, nothing is shown, and a fresh worker takes the model again.
    page.click("#inpaint")
    page.wait_for_function("document.getElementById('status').textContent.includes('window 1')")
    assert page.is_disabled("#inpaint") and page.is_visible("#cancel")
    page.click("#cancel")
    page.wait_for_function("!document.getElementById('inpaint').disabled")
    assert page.inner_text("#status") == "Cancelled."
    assert page.evaluate("editor.resultDataURL()") is None
    assert page.is_hidden("#cancel") and page.is_hidden("#error")
    assert page.evaluate("ondevice.info().workers") == 2

    # Full runs: frames keep coming and keys are handled while the model runs. The machine
    # running the tests may itself starve the page (a shared, loaded box): after each run the
    # page's frames are recorded again while as many plain busy workers as the model's
    # threads spin for as long as the run took (its CPU demand, without LiteRT); a try
    # counts only where those control frames stayed within the budget.
    tries = []
    for _ in range(3):
        page.evaluate("editor.setSize(30)")
        page.evaluate(FRAME_GAPS)
        page.click("#inpaint")
        page.wait_for_function("document.getElementById('status').textContent.includes('window 1')")
        page.keyboard.press("]")  # brush size 30 -> 38, handled during the run
        during = page.evaluate("[editor.state.size, editor.state.running !== null]")
        page.wait_for_function("!editor.state.running && editor.state.result", timeout=300_000)
        page.evaluate("window.stopFrames = true")
        gaps = page.evaluate("window.frameGaps")[1:]
        seconds = page.evaluate("ondevice.lastRun().seconds")
        assert during == [38, True]
        assert seconds > 0.3, "the run was too short to show a frozen page"
        assert sum(gaps) >= seconds * 1000 * 0.9  # frames were recorded across the whole run
        page.evaluate(FRAME_GAPS)
        threads = page.evaluate("ondevice.info().threads")
        page.evaluate(BUSY_WORKERS, [threads, seconds * 1000])
        page.evaluate("window.stopFrames = true")
        control = max(page.evaluate("window.frameGaps")[1:])
        tries.append({"control_ms": control, "run_ms": max(gaps), "run_s": seconds})
        if control <= 100 and max(gaps) <= 100:
            break
    fair = [t for t in tries if t["control_ms"] <= 100]
    if not fair:
        pytest.skip(f"this machine starves the page under the run's CPU demand alone {tries}")
    assert min(t["run_ms"] for t in fair) <= 100, tries
    result = _decode_data_url(page.evaluate("editor.resultDataURL()"))[..., 2::-1]
    hole = _decode_data_url(page.evaluate("editor.maskPNG()"))[..., 0] > 127
    windows = [tuple(w) for w in page.evaluate("ondevice.lastRun().windows")]
    page.close()
    expected, _, calls = _python_inpaint(slow_model, rgb, hole)
    assert windows == [(0, 256, 0, 256)] and calls == 1  # the photo is the model's size
    assert np.abs(result.astype(int) - expected.astype(int)).max() <= 1
    # Two workers, one download of each runtime file.
    runtime = [u for u in fetched if "/third_party/litert/" in u]
    assert len(runtime) == len(set(runtime)) == 4, runtime


def test_model_list_opens_a_server_model_and_inpaint_says_why_it_is_off(
    browser, static_server, exported, tmp_path
):
    page = browser.new_page(viewport={"width": 900, "height": 700})
    page.goto(static_server + "/")
    listed = page.evaluate("ondevice.listed()")
    assert {m["name"] for m in listed} >= {os.path.basename(p) for p in exported.values()}
    cv2.imwrite(str(tmp_path / "photo.png"), _photo(SIZE, SIZE)[..., ::-1])
    page.set_input_files("#file", str(tmp_path / "photo.png"))
    page.wait_for_function("editor.state.server === false")
    # No model in the page and a --static-only server: Inpaint is off, and says why.
    assert page.is_disabled("#inpaint")
    hint = page.get_attribute("#inpaint", "title")
    assert hint.startswith("No model: open an exported .tflite") and hint in page.inner_text(
        "#model-info"
    )
    page.select_option("#model-list", os.path.basename(exported["plain"]))
    page.wait_for_function("Object.keys(ondevice.info().models).length === 3", timeout=120_000)
    names = {k: m["name"] for k, m in page.evaluate("ondevice.info().models").items()}
    assert names == {k: os.path.basename(p) for k, p in exported.items()}  # _edges and _g1
    assert page.is_enabled("#inpaint")
    # ?model=NAME opens its companions as picking it in the list does.
    page.goto(static_server + "/?model=" + os.path.basename(exported["plain"]))
    page.wait_for_function(
        "window.ondevice && Object.keys(ondevice.info().models).length === 3", timeout=120_000
    )
    # ?model=NAME opens a listed model by its name.
    page.goto(static_server + "/?model=" + os.path.basename(exported["edges"]))
    page.wait_for_function("window.ondevice && ondevice.ready()", timeout=120_000)
    assert list(page.evaluate("ondevice.info().models")) == ["edges"]
    page.close()


@pytest.mark.parametrize("quantize", ["float16", "dynamic"])
def test_quantized_files_run_in_the_page(browser, static_server, quantized, quantize, tmp_path):
    page = browser.new_page(viewport={"width": 900, "height": 700})
    page.goto(static_server + "/")
    page.set_input_files("#model-file", quantized[quantize])
    page.wait_for_function("window.ondevice && ondevice.ready()", timeout=120_000)
    rgb = _photo(SIZE, SIZE)
    result, hole, _ = _inpaint_in_page(page, tmp_path, rgb, [[(16, 30), (44, 34)]], size=12)
    page.close()
    expected, _, _ = _python_inpaint(quantized[quantize], rgb, hole)
    np.testing.assert_array_equal(result[~hole], rgb[~hole])
    # Dynamic-range int8 quantizes activations per call in each runtime's own kernels
    # (LiteRT.js against native XNNPACK): a flipped bin moved unseeded networks 4 levels.
    bound = 4 if quantize == "dynamic" else 1
    assert np.abs(result.astype(int) - expected.astype(int)).max() <= bound


def test_edit_the_predicted_edges_and_repaint_in_the_page(
    browser, static_server, exported, tmp_path
):
    """Inpaint, then the page's Repaint (the `_edges` file on the edited map) and Redraw edges
    (the `_g1` file): unedited, Repaint gives the full run's pixels; erased edges move the
    fill, in the hole only; Redraw edges gives G1's map of the full run again."""
    page = browser.new_page(viewport={"width": 900, "height": 700})
    page.goto(static_server + "/")
    page.set_input_files("#model-file", [exported["plain"], exported["edges"], exported["g1"]])
    page.wait_for_function(
        "window.ondevice && Object.keys(ondevice.info().models).length === 3", timeout=120_000
    )
    rgb = _photo(SIZE, SIZE)
    full, hole, _ = _inpaint_in_page(page, tmp_path, rgb, [[(12, 30), (50, 34)]], size=14)
    gray = lambda url: _decode_data_url(url)[..., 0]  # noqa: E731
    layer = gray(page.evaluate("editor.layerLevelsURL()"))
    edge_map = gray(page.evaluate("ondevice.lastEdgesURL()"))
    np.testing.assert_array_equal(layer[hole], edge_map[hole])  # G1's levels, editable
    assert not layer[~hole].any() and layer[hole].max() > 0
    # The map Repaint gets, unedited, as the 16-bit PNG the server would get: G1's values at
    # 16 bits (finer than the 8-bit levels on screen), as Python's interpreter computes them.
    sent = _decode_data_url(page.evaluate("editor.editedEdgeMapPNG16()"))
    assert sent.dtype == np.uint16 and np.count_nonzero(sent[hole] % 257) > 0.5 * hole.sum()
    _, python_edges, _ = _python_inpaint(exported["plain"], rgb, hole)
    apart = np.abs(sent[hole].astype(int) - np.round(python_edges[hole] * 65535)).max()
    assert apart <= 4, apart  # float32 rounding, WebAssembly against native (measured: 1)

    def run(button):
        page.evaluate("window.shown = editor.state.result")
        page.click(button)
        page.wait_for_function(
            "!editor.state.running && (editor.state.result !== window.shown || "
            "!document.getElementById('error').hidden)",
            timeout=120_000,
        )
        assert page.locator("#error").is_hidden(), page.inner_text("#error")
        return _decode_data_url(page.evaluate("editor.resultDataURL()"))[..., 2::-1]

    again = run("#repaint")
    assert page.evaluate("ondevice.lastRun().slot") == os.path.basename(exported["edges"])
    assert np.abs(again.astype(int) - full.astype(int)).max() <= 1

    # Erase the left half of the predicted edges (edge eraser), then Repaint.
    page.click("#tool-edge-eraser")
    page.evaluate("editor.setSize(24)")
    box = page.locator("#view").bounding_box()
    s = box["width"] / SIZE
    page.mouse.move(box["x"] + 8 * s, box["y"] + 32 * s)
    page.mouse.down()
    page.mouse.move(box["x"] + 28 * s, box["y"] + 32 * s, steps=6)
    page.mouse.up()
    erased = (layer > 0) & (gray(page.evaluate("editor.layerLevelsURL()")) == 0)
    assert erased.sum() > 20
    moved = run("#repaint")
    np.testing.assert_array_equal(moved[~hole], rgb[~hole])
    assert np.abs(moved[hole].astype(int) - again[hole].astype(int)).mean() > 1

    # Redraw edges (the _g1 file): G1's map of the full run again, the result kept.
    page.evaluate("window.layerBefore = editor.state.predictedEdges")
    page.click("#redraw-edges")
    page.wait_for_function(
        "!editor.state.running && editor.state.predictedEdges !== window.layerBefore",
        timeout=120_000,
    )
    assert page.evaluate("ondevice.lastRun().slot") == os.path.basename(exported["g1"])
    redrawn = gray(page.evaluate("editor.layerLevelsURL()"))
    assert np.abs(redrawn.astype(int) - layer.astype(int)).max() <= 1
    shown = _decode_data_url(page.evaluate("editor.resultDataURL()"))[..., 2::-1]
    np.testing.assert_array_equal(shown, moved)
    page.close()
