"""Repaint (G2 alone on the edge map) against a full run, in the page: LiteRT.js in Chromium.

    .venv/bin/python -m bench.repaint_page               # full-size random networks, 5 rounds
    .venv/bin/python -m bench.repaint_page --rounds 2 --blocks 1 --filters 8   # a quick check

The in-page counterpart of bench/repaint.py: seeded random networks exported as
`edgeconnect export --tflite --drawn-edges` writes them (float32, SIZE×SIZE): the pipeline
(Inpaint) and the `_edges` file (Repaint: G2 alone on the full edge map), opened in the editor
page (served cross-origin isolated, so LiteRT.js runs its threaded WebAssembly build in the
page's inference worker) in headless Chromium (`/usr/bin/chromium`, Playwright). The cases
are bench/repaint.py's (`photos`): 256² (astronaut, free-form hole) and the 512×600 coffee
photo with a lamp post, which the page's crop rule runs as one 512×256 window area-resized
to 256×128 and padded to 256². Inpaint and Repaint alternate (round robin, after one
warm-up each); each time is the page's own (`ondevice.lastRun().seconds`: windows, worker
calls, the model, resampling and the paste, not the clicks); the table gives the medians,
Repaint's ratio to a full run and how far Repaint's pixels are from the full run's (levels;
the edge map kept at 16 bits in the page).
"""

import argparse
import base64
import os
import shutil
import statistics
import tempfile

import numpy as np

SIZE = 256  # the exported models' side
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
# The hole as the page's mask canvas holds it: opaque where painted.
PAINT_HOLE = """async (b64) => {
  const img = new Image();
  img.src = "data:image/png;base64," + b64;
  await img.decode();
  editor.state.mask.getContext("2d").drawImage(img, 0, 0);
  editor.state.holeVersion += 1;
}"""
NEW_RESULT = "!editor.state.running && editor.state.result !== window.shown"


def _export(folder, blocks, filters):
    """{"plain", "edges"}: the two .tflite files of seeded random networks."""
    import keras

    from edgeconnect_tf.deploy.tflite import export_tflite
    from edgeconnect_tf.edgeconnect import EdgeConnect
    from edgeconnect_tf.weights import build_networks, save_networks

    keras.utils.set_random_seed(0)
    nets = build_networks(blocks, filters, names=("edge_generator", "inpaint_generator"))
    save_networks(os.path.join(folder, "weights"), nets, sigma=2.0)
    model = EdgeConnect.from_pretrained(os.path.join(folder, "weights"))
    paths = {}
    for key, drawn in (("plain", False), ("edges", True)):
        paths[key] = os.path.join(folder, f"edgeconnect_{SIZE}x{SIZE}_float32_{key}.tflite")
        export_tflite(model, paths[key], SIZE, drawn_edges=drawn)
    return paths


def _result(page):
    import cv2

    url = page.evaluate("editor.resultDataURL()")
    raw = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
    return cv2.imdecode(raw, cv2.IMREAD_COLOR).astype(int)


def _click(page, button):
    """Runs Inpaint or Repaint in the page; returns the page's seconds for it."""
    page.evaluate("window.shown = editor.state.result")
    page.click(button)
    page.wait_for_function(
        f"({NEW_RESULT}) || !document.getElementById('error').hidden", timeout=600_000
    )
    if page.locator("#error").is_visible():
        raise RuntimeError(page.inner_text("#error"))
    return page.evaluate("ondevice.lastRun().seconds")


def bench(rounds=5, blocks=8, filters=64):
    import cv2
    from playwright.sync_api import sync_playwright

    from bench.browser import _serve_page
    from bench.common import machine_info
    from bench.repaint import photos

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return {"skipped": "no system Chromium (apt-get install chromium)"}
    folder = tempfile.mkdtemp(prefix="bench_repaint_page_")
    files = _export(folder, blocks, filters)
    url, server = _serve_page()
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 900, "height": 700})
            page.goto(url + "/")
            page.set_input_files("#model-file", [files["plain"], files["edges"]])
            page.wait_for_function(
                "window.ondevice && Object.keys(ondevice.info().models).length === 2",
                timeout=600_000,
            )
            threads = page.evaluate("ondevice.info().threads")
            for k, (name, (rgb, hole)) in enumerate(photos().items()):
                path = os.path.join(folder, f"photo{k}.png")  # a new name: a change event
                cv2.imwrite(path, rgb[..., ::-1])
                page.set_input_files("#file", path)
                h, w = hole.shape
                page.wait_for_function(
                    f"editor.state.original && editor.state.original.width === {w}", timeout=60_000
                )
                paint = np.zeros((h, w, 4), np.uint8)
                paint[hole] = 255
                ok, png = cv2.imencode(".png", paint)
                page.evaluate(PAINT_HOLE, base64.b64encode(png.tobytes()).decode())
                times = {"full": [], "repaint": []}
                _click(page, "#inpaint")  # warm-ups
                _click(page, "#repaint")
                for _ in range(rounds):
                    times["full"].append(_click(page, "#inpaint"))
                    full = _result(page)
                    times["repaint"].append(_click(page, "#repaint"))
                    repainted = _result(page)
                medians = {key: statistics.median(t) for key, t in times.items()}
                rows.append(
                    {
                        "case": name,
                        **medians,
                        "ratio": medians["repaint"] / medians["full"],
                        "levels": int(np.abs(repainted - full).max()),
                        "windows": page.evaluate("ondevice.lastRun().windows"),
                        "rounds": rounds,
                    }
                )
            browser.close()
    finally:
        server.should_exit = True
    networks = f"{blocks} blocks, {filters} filters, random; float32 .tflite at {SIZE}²"
    return {"rows": rows, "machine": machine_info(), "networks": networks, "threads": threads}


def table(result):
    lines = [
        "| case | window (H×W) | Inpaint (s) | Repaint (s) | Repaint / full | "
        "Repaint vs full run (levels) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        windows = ", ".join(f"{y1 - y0}×{x1 - x0}" for y0, y1, x0, x1 in r["windows"])
        lines.append(
            f"| {r['case']} | {windows} | {r['full']:.3f} | {r['repaint']:.3f} | "
            f"{r['ratio']:.2f}× | {r['levels']} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--blocks", type=int, default=8, help="residual blocks (default 8)")
    parser.add_argument("--filters", type=int, default=64, help="filters (default 64)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = bench(args.rounds, args.blocks, args.filters)
    if "skipped" in result:
        print(result["skipped"])
        return
    print(
        f"networks: {result['networks']}; page threads: {result['threads']}; "
        f"machine: {result['machine']}"
    )
    print(table(result))


if __name__ == "__main__":
    main()
