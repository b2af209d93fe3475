"""In-page inference: the exported `.tflite` run by LiteRT.js in headless Chromium.

One case, run in its own process by `bench.common.run_case`: random full-size
networks exported with `export_tflite` (float32) at size×size, the editor page
served cross-origin isolated by `serving.app.create_static_app` (so LiteRT.js loads
its threaded WebAssembly build), the model opened in the page and timed there
(`ondevice.time`: tensors in, `model.run`, outputs read back) on the same photo
and hole as the Python TFLite case (`bench.export.photo_inputs`). Chromium is
Debian's (`/usr/bin/chromium`), driven by Playwright; the case is skipped
without it. The page's thread count is min(navigator.hardwareConcurrency, 4).
"""

import os
import shutil
import socket
import statistics
import tempfile
import threading
import time

from bench.common import edgeconnect_macs

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]


def _serve_page():
    """The static editor on a free loopback port, in a thread; returns (url, server)."""
    import uvicorn

    from edgeconnect_tf.serving.app import create_static_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_static_app(), host="127.0.0.1", port=port, log_level="error")
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def browser_inference(size, residual_blocks=8, filters=64, repeat=5):
    """Median seconds of one in-page `inpaint` call at size×size (WebAssembly, threads)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return {"skipped": "no system Chromium (apt-get install chromium)"}
    from playwright.sync_api import sync_playwright

    from bench.export import photo_inputs
    from bench.inference import _edgeconnect
    from edgeconnect_tf.deploy.tflite import export_tflite

    path = os.path.join(tempfile.mkdtemp(prefix="bench_browser_"), f"edgeconnect_{size}.tflite")
    export_tflite(_edgeconnect(residual_blocks, filters), path, size=size)
    image, mask = photo_inputs(size)
    url, server = _serve_page()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(url + "/")
            t0 = time.perf_counter()
            page.set_input_files("#model-file", path)
            page.wait_for_function("window.ondevice && ondevice.ready()", timeout=600_000)
            load_seconds = time.perf_counter() - t0
            times = page.evaluate(
                "([n, image, mask]) => ondevice.time(n, image, mask)",
                [repeat + 1, image.ravel().tolist(), mask.ravel().tolist()],
            )
            info = page.evaluate("ondevice.info()")
            runtime = page.evaluate("ondevice.runtime()")
            browser.close()
    finally:
        server.should_exit = True
    timed = times[1:]  # the first call warms up
    return {
        "framework": "litert.js",
        "variant": runtime["variant"],
        "size": size,
        "seconds": statistics.median(timed),
        "seconds_min": min(timed),
        "runs": len(timed),
        "setup_seconds": load_seconds,
        "first_call_seconds": times[0],
        "threads": info["threads"],
        "isolated": info["isolated"],
        "macs": edgeconnect_macs(size, residual_blocks, filters),
        "file_mib": os.path.getsize(path) / 2**20,
    }
