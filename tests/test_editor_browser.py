"""The editor in a real browser: open an image, paint a hole, draw an edge, inpaint; see
G1's edges in the hole, edit them, repaint with G2 alone.

Runs Debian's Chromium (`apt-get install chromium`) through Playwright with
`executable_path`; skipped where no system Chromium exists. Saves a screenshot
to $EDGECONNECT_ARTIFACTS (default: tests/artifacts/editor.png).
"""

import base64
import os
import shutil

import cv2
import numpy as np
import pytest

sync_api = pytest.importorskip("playwright.sync_api")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _decode_data_url(url):
    raw = base64.b64decode(url.split(",", 1)[1] if url.startswith("data:") else url)
    return cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="system Chromium not installed")
def test_editor_inpaints_only_the_painted_hole(server, tmp_path):
    from skimage import data, transform

    photo = (transform.resize(data.chelsea(), (96, 128), anti_aliasing=True) * 255).round()
    photo = photo.astype(np.uint8)[..., ::-1]
    image_path = tmp_path / "cat.png"
    cv2.imwrite(str(image_path), photo)
    artifacts = os.environ.get(
        "EDGECONNECT_ARTIFACTS", os.path.join(os.path.dirname(__file__), "artifacts")
    )
    os.makedirs(artifacts, exist_ok=True)

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 700})
        page.goto(server + "/")
        page.set_input_files("#file", str(image_path))
        page.wait_for_selector("#view:not([hidden])")
        box = page.locator("#view").bounding_box()
        sx, sy = box["width"] / 128, box["height"] / 96

        def drag(points):
            page.mouse.move(box["x"] + points[0][0] * sx, box["y"] + points[0][1] * sy)
            page.mouse.down()
            for x, y in points[1:]:
                page.mouse.move(box["x"] + x * sx, box["y"] + y * sy, steps=4)
            page.mouse.up()

        page.evaluate("editor.setSize(14)")
        drag([(40, 48), (80, 48)])  # the hole: a thick horizontal stroke
        page.click("#tool-edge")
        drag([(60, 38), (60, 58)])  # a guidance line across it
        page.click("#inpaint")
        page.wait_for_function("editor.resultDataURL() !== null", timeout=120_000)
        assert page.locator("#error").is_hidden()
        page.screenshot(path=os.path.join(artifacts, "editor.png"))
        result = _decode_data_url(page.evaluate("editor.resultDataURL()"))
        mask = _decode_data_url(page.evaluate("editor.maskPNG()"))
        # Ctrl+Z undoes the new edge layer, then the edge line: the result stays on screen.
        page.keyboard.press("Control+z")
        page.keyboard.press("Control+z")
        assert page.evaluate("editor.resultDataURL()") is not None
        assert not _decode_data_url(page.evaluate("editor.edgesPNG()"))[..., 0].any()
        browser.close()

    assert result.shape[:2] == photo.shape[:2]
    hole = (mask[..., 0] if mask.ndim == 3 else mask) > 127
    assert 200 < hole.sum() < 0.5 * hole.size  # the stroke, not the whole image
    result_bgr = result[..., :3]
    np.testing.assert_array_equal(result_bgr[~hole], photo[~hole])
    assert np.abs(result_bgr[hole].astype(int) - photo[hole].astype(int)).mean() > 1


# ------------------------------------------------------------------ edit G1's edges, Repaint

H, W = 96, 128


def _cat():
    from skimage import data, transform

    photo = (transform.resize(data.chelsea(), (H, W), anti_aliasing=True) * 255).round()
    return photo.astype(np.uint8)  # RGB


@pytest.fixture(scope="module")
def oracle(tiny_weights):
    """A server whose G1 draws the photo's true edges in the hole: `predict_edges` answers
    the Canny edges of the whole, unmasked photo (σ 1.5), so the editable layer must hold
    exactly those inside the hole. G2 is the tiny seeded network. Yields (URL, true edges)."""
    import tensorflow as tf
    from conftest import app_in_thread

    from edgeconnect_tf.data.canny import canny
    from edgeconnect_tf.data.image_ops import rgb_to_gray
    from edgeconnect_tf.deploy.saved_model import serving_functions
    from edgeconnect_tf.edgeconnect import EdgeConnect
    from edgeconnect_tf.serving.app import create_app

    photo = _cat()
    gray = rgb_to_gray(tf.constant(photo[None] / 255.0, tf.float32))
    true_edges = canny(gray, sigma=1.5).numpy().astype("float32")  # [1, H, W, 1] in {0, 1}
    model = EdgeConnect.from_pretrained(tiny_weights)

    def oracle_edges(gray, edges, mask, training=False):  # any size: warm-up runs at 32²
        return tf.image.resize(true_edges, tf.shape(gray)[1:3], method="nearest")

    model.predict_edges = oracle_edges
    signatures = {
        name: tf.function(fn, input_signature=spec).get_concrete_function()
        for name, (fn, spec) in serving_functions(model).items()
    }
    signatures["__model__"] = model
    with app_in_thread(create_app(signatures)) as url:
        yield url, true_edges[0, ..., 0] > 0.5


def _gray(url):
    a = _decode_data_url(url)
    return a[..., 0] if a.ndim == 3 else a


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="system Chromium not installed")
def test_edit_the_predicted_edges_and_repaint(oracle, tmp_path):
    url, true_edges = oracle
    photo = _cat()
    cv2.imwrite(str(tmp_path / "cat.png"), photo[..., ::-1])
    new_result = "(before) => editor.state.result !== window[before] && !editor.state.running"

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 900, "height": 700}, has_touch=True)
        page = page.new_page()
        console = []
        page.on("console", lambda m: console.append((m.type, m.text)))
        page.on("pageerror", lambda e: console.append(("pageerror", str(e))))
        page.goto(url + "/")
        page.set_input_files("#file", str(tmp_path / "cat.png"))
        page.wait_for_function("editor.state.server === true")
        box = page.locator("#view").bounding_box()
        sx, sy = box["width"] / W, box["height"] / H

        def drag(points):
            page.mouse.move(box["x"] + points[0][0] * sx, box["y"] + points[0][1] * sy)
            page.mouse.down()
            for x, y in points[1:]:
                page.mouse.move(box["x"] + x * sx, box["y"] + y * sy, steps=6)
            page.mouse.up()

        def run(button):
            page.evaluate("window.shown = editor.state.result")
            page.click(button)
            page.wait_for_function(
                f"({new_result})('shown') || !document.getElementById('error').hidden",
                timeout=120_000,
            )
            assert page.locator("#error").is_hidden(), page.inner_text("#error")
            return _decode_data_url(page.evaluate("editor.resultDataURL()"))[..., 2::-1]

        assert page.is_disabled("#repaint")  # nothing to repaint before a run
        page.evaluate("editor.setSize(16)")
        drag([(30, 50), (98, 50)])  # the hole: a thick horizontal stroke
        hole = _gray(page.evaluate("editor.maskPNG()")) > 127
        assert (true_edges & hole).sum() > 30  # the photo has edges to draw there

        full = run("#inpaint")
        layer = _gray(page.evaluate("editor.layerLevelsURL()"))
        # The editable layer holds G1's edges in the hole, and nothing outside it.
        np.testing.assert_array_equal(layer > 127, true_edges & hole)
        assert not layer[~hole].any()
        assert page.is_enabled("#repaint") and page.is_enabled("#redraw-edges")

        # Repaint along the unedited edges: the full run's pixels (the map went through PNG).
        again = run("#repaint")
        assert np.abs(again.astype(int) - full.astype(int)).max() <= 1

        # The edge eraser removes the predicted edges under it, not the hole; the result stays
        # on screen through the stroke.
        page.click("#tool-edge-eraser")
        page.evaluate("editor.setSize(20)")
        drag([(34, 50), (60, 50)])
        assert page.evaluate("editor.resultDataURL()") is not None
        np.testing.assert_array_equal(_gray(page.evaluate("editor.maskPNG()")) > 127, hole)
        erased_layer = _gray(page.evaluate("editor.layerLevelsURL()"))
        erased = (layer > 127) & (erased_layer < 128)
        assert erased.sum() > 10 and not erased[:, 70:].any()  # only where the eraser went
        np.testing.assert_array_equal(erased_layer[:, 70:], layer[:, 70:])
        # Repaint's map: the layer's levels in the hole (no lines drawn), Canny outside.
        edited_map = _gray(page.evaluate("editor.editedEdgeMapURL()"))
        np.testing.assert_array_equal(edited_map[hole], erased_layer[hole])

        moved = run("#repaint")
        np.testing.assert_array_equal(moved[~hole], photo[~hole])  # known pixels untouched
        change = np.abs(moved.astype(int) - again.astype(int)).max(axis=-1)
        near = cv2.dilate(erased.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        assert change[near & hole].mean() > 1  # the fill moved where the edges were erased

        # Undo brings the erased edges back, redo erases them again; the result stays.
        page.keyboard.press("Control+z")
        np.testing.assert_array_equal(_gray(page.evaluate("editor.layerLevelsURL()")), layer)
        page.keyboard.press("Control+Shift+z")
        assert (_gray(page.evaluate("editor.layerLevelsURL()")) == erased_layer).all()
        assert page.evaluate("editor.resultDataURL()") is not None

        # Redraw edges: G1's edges again; the result on screen is kept until the next run.
        page.evaluate("window.layerBefore = editor.state.predictedEdges")
        page.click("#redraw-edges")
        page.wait_for_function(
            "!editor.state.running && (editor.state.predictedEdges !== window.layerBefore "
            "|| !document.getElementById('error').hidden)",
            timeout=120_000,
        )
        assert page.locator("#error").is_hidden(), page.inner_text("#error")
        np.testing.assert_array_equal(_gray(page.evaluate("editor.layerLevelsURL()")), layer)
        shown = _decode_data_url(page.evaluate("editor.resultDataURL()"))[..., 2::-1]
        np.testing.assert_array_equal(shown, moved)

        # Touch: a tap with the hole brush paints the hole; the edges no longer fit it, so
        # Repaint waits for Redraw edges (or Inpaint), and the result stays on screen.
        page.click("#tool-hole")
        page.touchscreen.tap(box["x"] + 110 * sx, box["y"] + 20 * sy)
        grown = _gray(page.evaluate("editor.maskPNG()")) > 127
        assert grown[20, 110] and (grown & ~hole).sum() > 50
        assert page.is_disabled("#repaint")
        assert "hole changed" in page.get_attribute("#repaint", "title")
        assert page.evaluate("editor.resultDataURL()") is not None
        browser.close()


# ------------------------------------------------------------------ the page's 16-bit PNGs


def _filtered_png(values, depth):
    """A gray PNG of `values` [H, W] (uint8 or uint16), row y filtered with PNG filter y % 5
    (none, sub, up, average, Paeth), written here, independently of the page's code."""
    import struct
    import zlib

    h, w = values.shape
    bpp = depth // 8
    rows = values.astype(">u2" if depth == 16 else "u1").view(np.uint8).reshape(h, w * bpp)
    raw, previous = bytearray(), np.zeros(w * bpp, int)
    for y, row in enumerate(rows.astype(int)):
        kind, out = y % 5, bytearray([y % 5])
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b, c = previous[i], previous[i - bpp] if i >= bpp else 0
            p = a + b - c
            paeth = min((abs(p - a), 0, a), (abs(p - b), 1, b), (abs(p - c), 2, c))[2]
            out.append((x - [0, a, b, (a + b) // 2, paeth][kind]) % 256)
        raw += out
        previous = row

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="system Chromium not installed")
def test_page_reads_and_writes_16_bit_gray_pngs(server):
    """graypng.js against TensorFlow: 16- and 8-bit gray PNGs (all five row filters, and
    TensorFlow's own encoder) decode to the values TensorFlow reads (8-bit: × 257); a map
    the page encodes decodes in TensorFlow to the page's values, as a 16-bit gray PNG."""
    import tensorflow as tf

    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:23, 0:31]
    values = ((y * 2851 + x * 1013) % 65536 + rng.integers(0, 300, y.shape)) % 65536
    values = values.astype(np.uint16)
    files = {
        "filters, 16-bit": _filtered_png(values, 16),
        "filters, 8-bit": _filtered_png((values >> 8).astype(np.uint8), 8),
        "TensorFlow, 16-bit": tf.io.encode_png(values[..., None]).numpy(),
    }
    decode = "async (b64) => Array.from((await decodeGrayPNG(base64ToBytes(b64))).values)"
    encode = (
        "async ([w, h, v]) => bytesToBase64(await encodeGray16PNG("
        "{width: w, height: h, values: Uint16Array.from(v)}))"
    )
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(server + "/")
        decoded = {
            name: page.evaluate(decode, base64.b64encode(data).decode())
            for name, data in files.items()
        }
        written = base64.b64decode(page.evaluate(encode, [31, 23, values.ravel().tolist()]))
        browser.close()
    for name, data in files.items():
        want = tf.io.decode_png(data, dtype=tf.uint16).numpy()[..., 0]
        np.testing.assert_array_equal(np.reshape(decoded[name], want.shape), want, err_msg=name)
    assert written[:8] == b"\x89PNG\r\n\x1a\n" and written[24:26] == b"\x10\x00"  # 16-bit gray
    np.testing.assert_array_equal(tf.io.decode_png(written, dtype=tf.uint16)[..., 0], values)
