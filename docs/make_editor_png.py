"""docs/editor.png: the edited-edges workflow in headless Chromium (before / after a correction).

    .venv/bin/python docs/make_editor_png.py WEIGHTS_DIR   # e.g. demo_output/weights

Serves the editor with the model of WEIGHTS_DIR, opens scikit-image's cat, paints a hole,
presses Inpaint, erases part of G1's edges with the Edge eraser, draws one line with the Edge
pen and presses Repaint. Writes docs/editor.png: the page after the correction, beside the
view and the fill after Inpaint and after Repaint (zoomed on the hole). Needs playwright and
a system Chromium (`apt-get install chromium`).
"""

import base64
import os
import shutil
import sys
import tempfile

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
H, W = 192, 256
BACKGROUND = (34, 31, 30)  # the page's, BGR


def capture(weights, folder):
    """Runs the workflow in the page; writes its screenshots and canvases into `folder`."""
    sys.path[:0] = [os.path.join(os.path.dirname(HERE), "tests")]
    from conftest import app_in_thread
    from playwright.sync_api import sync_playwright
    from skimage import data, transform

    from edgeconnect_tf.serving.app import create_app
    from edgeconnect_tf.serving.predictor import load_signatures

    photo = transform.resize(data.chelsea(), (H, W), anti_aliasing=True)
    cv2.imwrite(os.path.join(folder, "cat.png"), (photo * 255).round().astype(np.uint8)[..., ::-1])
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    app = create_app(load_signatures(weights_dir=weights))
    with app_in_thread(app) as url, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 900, "height": 640})
        page.goto(url + "/")
        page.set_input_files("#file", os.path.join(folder, "cat.png"))
        page.wait_for_function("editor.state.server === true")
        box = page.locator("#view").bounding_box()
        sx, sy = box["width"] / W, box["height"] / H

        def drag(points):
            page.mouse.move(box["x"] + points[0][0] * sx, box["y"] + points[0][1] * sy)
            page.mouse.down()
            for x, y in points[1:]:
                page.mouse.move(box["x"] + x * sx, box["y"] + y * sy, steps=8)
            page.mouse.up()

        def run(button):
            page.evaluate("window.shown = editor.state.result")
            page.click(button)
            page.wait_for_function(
                "!editor.state.running && editor.state.result !== window.shown", timeout=300_000
            )

        def save(expression, name):
            url = page.evaluate(expression)
            with open(os.path.join(folder, name), "wb") as f:
                f.write(base64.b64decode(url.split(",", 1)[1]))

        page.evaluate("editor.setSize(26)")
        drag([(150, 60), (160, 150)])  # the hole
        run("#inpaint")
        save("editor.resultDataURL()", "result_before.png")
        save("document.getElementById('view').toDataURL()", "view_before.png")
        page.click("#tool-edge-eraser")
        page.evaluate("editor.setSize(18)")
        drag([(150, 95), (160, 130)])  # part of G1's edges erased
        page.click("#tool-edge")
        page.evaluate("editor.setSize(30)")
        drag([(140, 80), (170, 120)])  # one line drawn
        run("#repaint")
        page.screenshot(path=os.path.join(folder, "after.png"))
        save("editor.resultDataURL()", "result_after.png")
        save("document.getElementById('view').toDataURL()", "view_after.png")
        browser.close()


def compose(folder, box=(40, 176, 100, 220), zoom=2):
    """The page screenshot beside a 2×2 of zoomed panels: [view, fill] after each run."""

    def panel(name, title):
        y0, y1, x0, x1 = box
        image = cv2.imread(os.path.join(folder, name))[y0:y1, x0:x1, :3]
        image = cv2.resize(image, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
        strip = np.full((24, image.shape[1], 3), BACKGROUND, np.uint8)
        cv2.putText(
            strip, title, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (232, 232, 232), 1, cv2.LINE_AA
        )
        return np.concatenate([strip, image], 0)

    def gap(h, w=8):
        return np.full((h, w, 3), BACKGROUND, np.uint8)

    cells = [
        (
            panel("view_before.png", "1. Inpaint: G1's edges (yellow)"),
            panel("result_before.png", "   its fill"),
        ),
        (
            panel("view_after.png", "2. erased some, drew one (blue)"),
            panel("result_after.png", "   Repaint: G2 alone"),
        ),
    ]
    rows = [np.concatenate([a, gap(a.shape[0]), b], 1) for a, b in cells]
    right = np.concatenate([rows[0], gap(8, rows[0].shape[1]), rows[1]], 0)
    shot = cv2.imread(os.path.join(folder, "after.png"))[..., :3]
    h = max(shot.shape[0], right.shape[0])

    def pad(a):
        return np.concatenate([a, gap(h - a.shape[0], a.shape[1])], 0)

    return np.concatenate([pad(shot), gap(h), pad(right)], 1)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as folder:
        capture(argv[0], folder)
        cv2.imwrite(os.path.join(HERE, "editor.png"), compose(folder))


if __name__ == "__main__":
    main()
