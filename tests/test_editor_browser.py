"""The editor in a real browser: open an image, paint a hole, draw an edge, inpaint.

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
def test_editor_inpaints_only_the_painted_hole(server, tmp_path):  # noqa: F811
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
        # Ctrl+Z undoes the edge line: the page forgets the result.
        page.keyboard.press("Control+z")
        assert page.evaluate("editor.resultDataURL()") is None
        browser.close()

    assert result.shape[:2] == photo.shape[:2]
    hole = (mask[..., 0] if mask.ndim == 3 else mask) > 127
    assert 200 < hole.sum() < 0.5 * hole.size  # the stroke, not the whole image
    result_bgr = result[..., :3]
    np.testing.assert_array_equal(result_bgr[~hole], photo[~hole])
    assert np.abs(result_bgr[hole].astype(int) - photo[hole].astype(int)).mean() > 1
