"""Latency of the exported pipeline (Canny + G1 + G2 + composite) per image, and file sizes.

    .venv/bin/python bench/export.py                      # random full-size weights
    .venv/bin/python bench/export.py --weights weights/places2 --sizes 256 512

Variants: `keras` (EdgeConnect under tf.function), `savedmodel` (the serving
signature, loaded with tf.saved_model.load), `tflite-float32`, `tflite-float16`,
`tflite-dynamic` (ai-edge-litert, XNNPACK, --threads threads). `--naive` adds
the conversion as it was first probed, for comparison: `naive-static` (the
same static-shape function converted from a SavedModel that still holds the
variables) and `naive-dynamic` (the same with [1, None, None, C] inputs,
resized at run time). Prints a table with the op counts of each TFLite file
and appends it, with the machine, to bench/HISTORY.md (the run log) under "Export".

Timings are the minimum (and median) of --repeats calls after one warm-up
call, taken round-robin across the variants; on a shared machine the minimum
is the figure least disturbed by others. The last column is each variant's
largest pixel difference from the first variant's output (keras): a sanity
check that a fast file is not a broken one.
"""

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from edgeconnect_tf.deploy import saved_model, tflite  # noqa: E402
from edgeconnect_tf.edgeconnect import EdgeConnect  # noqa: E402
from edgeconnect_tf.weights import build_networks  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "HISTORY.md")
TFLITE = {"tflite-float32": "none", "tflite-float16": "float16", "tflite-dynamic": "dynamic"}


def random_model(seed=0):
    """Full-size G1 + G2 with distinct random weights (N(0, 0.02) kernels and biases)."""
    nets = build_networks(names=("edge_generator", "inpaint_generator"))
    rng = np.random.default_rng(seed)
    for net in nets.values():
        for v in net.weights:
            if v.path.endswith(("kernel", "bias")):
                v.assign(rng.normal(0.0, 0.02, v.shape).astype("float32"))
    return EdgeConnect(nets["edge_generator"], nets["inpaint_generator"])


def photo_inputs(size):
    """scikit-image's astronaut (or a synthetic image) and a free-form hole, [1, S, S, C]."""
    try:
        from skimage import data

        photos = [data.astronaut()]
    except ImportError:
        photos = [np.round(saved_model.sample_inputs(size)[0][0] * 255).astype(np.uint8)]
    image, mask = tflite.calibration_pairs(photos, size, count=1, seed=3)[0]
    return image[None], mask[None]


def _inpainted(result):
    """The inpainted image from any variant's output (tensor, dict of tensors/arrays)."""
    if isinstance(result, dict):
        result = result["inpainted"]
    return result.numpy() if hasattr(result, "numpy") else result


def naive_tflite(model, size, path, dynamic):
    """The first probe's conversion: variables left in the SavedModel, optionally dynamic H, W."""
    hw = (None, None) if dynamic else (size, size)

    @tf.function(
        input_signature=[
            tf.TensorSpec([1, *hw, 3], tf.float32, name="image"),
            tf.TensorSpec([1, *hw, 1], tf.float32, name="mask"),
        ]
    )
    def inpaint(image, mask):
        out = model({"image": image, "mask": mask}, training=False)
        return {"inpainted": out["inpainted"], "edges": out["edges"]}

    workdir = tempfile.mkdtemp()
    module = tf.Module()
    module.model, module.inpaint = model, inpaint
    tf.saved_model.save(
        module, workdir, signatures={"inpaint": inpaint}, options=saved_model.SAVE_OPTIONS
    )
    converter = tf.lite.TFLiteConverter.from_saved_model(workdir, signature_keys=["inpaint"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    with open(path, "wb") as f:
        f.write(converter.convert())
    return tflite.tflite_ops(path)


def tflite_call(path, size, threads, dynamic=False):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    if dynamic:
        for detail in interpreter.get_input_details():
            shape = [1, size, size, int(detail["shape_signature"][-1])]
            interpreter.resize_tensor_input(detail["index"], shape, strict=False)
        interpreter.allocate_tensors()
    runner = interpreter.get_signature_runner("inpaint")
    image, mask = photo_inputs(size)
    return lambda: runner(image=image, mask=mask)


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores visible, Python {platform.python_version()}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", help="weights directory (default: random full-size nets)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["keras", "savedmodel", *TFLITE],
        choices=["keras", "savedmodel", *TFLITE],
    )
    parser.add_argument("--naive", action="store_true", help="add the naive TFLite conversions")
    parser.add_argument("--no-append", action="store_true", help="don't append to bench/HISTORY.md")
    args = parser.parse_args(argv)

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    model = EdgeConnect.from_pretrained(args.weights) if args.weights else random_model()
    workdir = tempfile.mkdtemp(prefix="bench_export_")
    load_start = os.getloadavg()[0]
    rows, op_lists, failures = [], {}, []

    saved = None
    if "savedmodel" in args.variants:
        path = os.path.join(workdir, "edgeconnect", "1")
        saved_model.export_saved_model(model, path, warmup_size=0)
        saved = tf.saved_model.load(path).signatures["serving_default"]
        size_mb = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
        size_mb /= 1e6

    for size in args.sizes:
        image, mask = photo_inputs(size)
        calls = {}
        if "keras" in args.variants:
            fn = tf.function(lambda i, m: model({"image": i, "mask": m})["inpainted"])
            calls["keras"] = (lambda fn=fn, i=image, m=mask: fn(i, m).numpy(), None)
        if saved is not None:
            calls["savedmodel"] = (
                lambda i=image, m=mask: saved(image=tf.constant(i), mask=tf.constant(m)),
                size_mb,
            )
        for variant, quantize in TFLITE.items():
            if variant not in args.variants:
                continue
            path = os.path.join(workdir, f"{variant}_{size}.tflite")
            op_lists[f"{variant} {size}"] = tflite.export_tflite(model, path, size, quantize)
            calls[variant] = (tflite_call(path, size, args.threads), os.path.getsize(path) / 1e6)
        if args.naive:
            for dynamic in (False, True):
                name = "naive-dynamic" if dynamic else "naive-static"
                path = os.path.join(workdir, f"{name}_{size}.tflite")
                try:
                    op_lists[f"{name} {size}"] = naive_tflite(model, size, path, dynamic)
                except Exception as e:  # ConverterError: dynamic shapes need Flex ops
                    first = "needs Flex ops" if "flex" in str(e).lower() else str(e)[:200]
                    failures.append(f"- {name} {size}: conversion failed ({first})")
                    print(failures[-1], flush=True)
                    continue
                calls[name] = (
                    tflite_call(path, size, args.threads, dynamic),
                    os.path.getsize(path) / 1e6,
                )
        # Round-robin: one call of each variant per round, so that a change in the
        # machine's load (shared with other jobs) hits every variant alike.
        reference = None
        outputs = {}
        for name, (call, _) in calls.items():
            outputs[name] = np.asarray(_inpainted(call()))  # warm-up
            reference = outputs[name] if reference is None else reference
        times = {name: [] for name in calls}
        for _ in range(args.repeats):
            for name, (call, _) in calls.items():
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
        for name, (_, megabytes) in calls.items():
            best, median = min(times[name]), statistics.median(times[name])
            delta = float(np.max(np.abs(outputs[name] - reference)))
            rows.append((name, size, best, median, megabytes, delta))
            print(
                f"{name:16s} {size:4d}²  min {best:6.2f} s  median {median:6.2f} s  "
                f"max|Δ| {delta:.2e}",
                flush=True,
            )

    load_end = os.getloadavg()[0]
    table = [
        "| variant | size | min s | median s | file MB | max abs diff vs first row |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, size, best, median, megabytes, delta in rows:
        mb = "" if megabytes is None else f"{megabytes:.1f}"
        table.append(f"| {name} | {size}² | {best:.2f} | {median:.2f} | {mb} | {delta:.1e} |")
    ops = [
        f"- {key}: " + ", ".join(f"{k} {v}" for k, v in sorted(o.items()))
        for key, o in op_lists.items()
    ]
    import ai_edge_litert

    note = (
        f"{datetime.date.today()}, {machine()}; TF {tf.__version__}, ai-edge-litert "
        f"{getattr(ai_edge_litert, '__version__', '?')}; {args.threads} threads (TF intra-op, "
        f"TFLite XNNPACK); {'weights ' + args.weights if args.weights else 'random weights'}; "
        f"min/median of {args.repeats} after a warm-up; load average {load_start:.1f} at the "
        f"start, {load_end:.1f} at the end (shared machine: noisy)."
    )
    text = "\n".join(
        ["", "### Export latency per image", "", note, "", *table, "", "TFLite ops:", *ops]
        + failures
        + [""]
    )
    print(text)
    if not args.no_append:
        append_results(text)
    return 0


def append_results(text, heading="## Export"):
    """Appends `text` to bench/HISTORY.md, under `heading` unless the last section is it."""
    existing = ""
    if os.path.exists(RESULTS):
        with open(RESULTS, encoding="utf-8") as f:
            existing = f.read()
    sections = [line for line in existing.splitlines() if line.startswith("## ")]
    with open(RESULTS, "a", encoding="utf-8") as f:
        if not sections or sections[-1] != heading:
            f.write(("\n" if existing else "# Benchmark results\n") + f"\n{heading}\n")
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
