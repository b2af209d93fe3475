"""In-page inference: the exported `.tflite` run by LiteRT.js in headless Chromium, against
the Python LiteRT interpreter on the same file, thread count and machine, in the same run.

One case, run in its own process by `bench.common.run_case` (or `python -m bench.browser`):
random full-size networks exported with `export_tflite` at size×size (float32, or `--quantize
float16|dynamic|int8`; int8 calibrated on the timed photo), the editor page served cross-origin
isolated by `serving.app.create_static_app` (so LiteRT.js loads its threaded WebAssembly build
in the page's inference worker), the model opened in the page and timed there (`ondevice.time`:
tensors in, `model.run`, outputs read back, inside the worker) on the same photo and hole as
the Python case (`bench.export.photo_inputs`). The Python interpreter (XNNPACK, as many threads
as the page: hardwareConcurrency - 1, at most 4) runs the same file in this process; the two
are timed in alternating blocks, so a shared machine's load falls on both. Chromium is Debian's
(`/usr/bin/chromium`), driven by Playwright; the case is skipped without it.

    python -m bench.browser --size 256 --repeat 5 [--quantize float16]
    python -m bench.browser --size 256 --probe convs|matmuls   # the kernels alone, below

`--probe` times a file with no EdgeConnect in it, behind the same `inpaint` signature
(image, mask -> inpainted, edges = the mask): at EdgeConnect's residual-block shape (size/4,
256 channels), `PROBE_CONVS` 3×3 convolutions (CONV_2D) or the same MACs as 1×1 matrix
products (FULLY_CONNECTED: XNNPACK's plain matrix-product kernel). Each is one kind of
kernel and nothing else, so its page / Python ratio is what WebAssembly costs that kernel
against the native build on this CPU.
"""

import os
import shutil
import socket
import statistics
import tempfile
import threading
import time

import numpy as np

from bench.common import edgeconnect_macs

PROBE_CONVS = 8  # 3×3 convolutions 256 -> 256 in `--probe convs` (×9 products in matmuls)
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


def export_probe(path, size, kind, filters=256, convs=PROBE_CONVS):
    """Writes a `--probe` file (module docstring) to `path`; returns its MACs.

    Both kinds work at EdgeConnect's residual-block shape, size/4 × size/4 × `filters`
    (`space_to_depth` in, `depth_to_space` out) and do the same MACs: `convs` 3×3
    convolutions (CONV_2D), or 9·`convs` 1×1 ones written as matrix products
    (FULLY_CONNECTED). Weights are constants (He-scaled noise), as in an exported model,
    so XNNPACK takes every one of those operations."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    side = size // 4

    def weights(*shape):
        fan_in = np.prod(shape[:-1])
        return tf.constant(rng.normal(0, np.sqrt(2 / fan_in), shape).astype("float32"))

    if kind == "convs":
        kernels = [weights(3, 3, 64, filters)]
        kernels += [weights(3, 3, filters, filters) for _ in range(convs)]
    else:
        kernels = [weights(64, filters)] + [weights(filters, filters) for _ in range(9 * convs)]
    head = weights(filters, 48)

    def layer(x, kernel):
        if kind == "convs":
            return tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME"))
        return tf.nn.relu(tf.matmul(x, kernel))

    @tf.function(
        input_signature=[
            tf.TensorSpec([1, size, size, 3], tf.float32, "image"),
            tf.TensorSpec([1, size, size, 1], tf.float32, "mask"),
        ]
    )
    def inpaint(image, mask):
        x = tf.nn.space_to_depth(tf.concat([image, mask], -1), 4)
        if kind != "convs":
            x = tf.reshape(x, [side * side, 64])
        for kernel in kernels:
            x = layer(x, kernel)
        x = tf.reshape(tf.matmul(tf.reshape(x, [-1, filters]), head), [1, side, side, 48])
        return {"inpainted": tf.nn.depth_to_space(x, 4), "edges": mask}

    saved = path + ".savedmodel"
    tf.saved_model.save(tf.Module(), saved, signatures={"inpaint": inpaint})
    converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=["inpaint"])
    with open(path, "wb") as f:
        f.write(converter.convert())
    return side * side * 9 * filters * filters * convs


def browser_inference(
    size,
    residual_blocks=8,
    filters=64,
    repeat=5,
    quantize="none",
    rounds=3,
    conv_mode=None,
    probe=None,
):
    """Median seconds of one in-page `inpaint` call at size×size and of the Python
    interpreter's on the same file and thread count; `rounds` alternating blocks of `repeat`.
    `conv_mode`: the export's convolution form (None: `export_tflite`'s default);
    `probe`: "convs" or "matmuls" times that kernel probe instead (module docstring)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return {"skipped": "no system Chromium (apt-get install chromium)"}
    from ai_edge_litert.interpreter import Interpreter
    from playwright.sync_api import sync_playwright

    from bench.export import photo_inputs
    from bench.inference import _edgeconnect
    from edgeconnect_tf.deploy.tflite import export_tflite

    folder = tempfile.mkdtemp(prefix="bench_browser_")
    image, mask = photo_inputs(size)
    if probe:
        path = os.path.join(folder, f"probe_{probe}_{size}.tflite")
        macs = export_probe(path, size, probe)
    else:
        path = os.path.join(folder, f"edgeconnect_{size}_{quantize}.tflite")
        model = _edgeconnect(residual_blocks, filters)
        calibration = None
        if quantize == "int8":
            from edgeconnect_tf.deploy.tflite import calibration_pairs

            calibration = calibration_pairs([image[0]], size, count=4)
        export_tflite(
            model, path, size=size, quantize=quantize, calibration=calibration, conv_mode=conv_mode
        )
        macs = edgeconnect_macs(size, residual_blocks, filters)
    url, server = _serve_page()
    page_times, python_times = [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(url + "/")
            t0 = time.perf_counter()
            page.set_input_files("#model-file", path)
            page.wait_for_function(
                "window.ondevice && (ondevice.ready() || !document.getElementById("
                "'model-error').hidden)",
                timeout=600_000,
            )
            if not page.evaluate("ondevice.ready()"):
                raise RuntimeError(f"the page refused {path}: {page.inner_text('#model-error')}")
            load_seconds = time.perf_counter() - t0
            info = page.evaluate("ondevice.info()")
            runtime = page.evaluate("ondevice.runtime()")
            interpreter = Interpreter(model_path=path, num_threads=info["threads"])
            runner = interpreter.get_signature_runner("inpaint")
            values = [image.ravel().tolist(), mask.ravel().tolist()]
            first = page.evaluate("([image, mask]) => ondevice.time(1, image, mask)", values)[
                0
            ]  # warm-up
            runner(image=image, mask=mask)
            for _ in range(rounds):
                page_times += page.evaluate(
                    "([n, image, mask]) => ondevice.time(n, image, mask)", [repeat, *values]
                )
                for _ in range(repeat):
                    t = time.perf_counter()
                    runner(image=image, mask=mask)
                    python_times.append(time.perf_counter() - t)
            browser.close()
    finally:
        server.should_exit = True
    seconds, python_seconds = statistics.median(page_times), statistics.median(python_times)
    return {
        "framework": "litert.js",
        "variant": runtime["variant"],
        "file": f"probe: {probe}" if probe else "edgeconnect",
        "quantize": quantize,
        "conv_mode": conv_mode,
        "size": size,
        "seconds": seconds,
        "seconds_min": min(page_times),
        "python_seconds": python_seconds,
        "python_seconds_min": min(python_times),
        "page_over_python": seconds / python_seconds,
        "page_over_python_min": min(page_times) / min(python_times),
        "runs": len(page_times),
        "setup_seconds": load_seconds,
        "first_call_seconds": first,
        "threads": info["threads"],
        "isolated": info["isolated"],
        "macs": macs,
        "file_mib": os.path.getsize(path) / 2**20,
    }


def main(argv=None):
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--quantize", default="none", choices=["none", "float16", "dynamic", "int8"]
    )
    parser.add_argument(
        "--conv-mode", choices=["graph", "direct"], help="convolution form (default: the export's)"
    )
    parser.add_argument(
        "--probe",
        choices=["convs", "matmuls"],
        help="time a plain convolution / matrix-product stack (module docstring)",
    )
    args = parser.parse_args(argv)
    result = browser_inference(
        args.size,
        repeat=args.repeat,
        rounds=args.rounds,
        quantize=args.quantize,
        conv_mode=args.conv_mode,
        probe=args.probe,
    )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
