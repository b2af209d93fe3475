"""Peak memory of `.tflite` inpainting through the window rule, in a TensorFlow-free process.

    python -m bench.tflite_memory                       # random full-size nets, 128/192/256 files
    python -m bench.tflite_memory --files a.tflite b.tflite --images 512 2048 4000x3000

Each row is one fresh child process that imports only numpy, OpenCV, LiteRT
and `edgeconnect_tf.deploy.tflite_runner` (as export/tflite_inpaint.py does),
loads a file with `TFLiteModel` and inpaints one photo-sized image with
three holes. Peak = the kernel's VmHWM of that process (all resident pages,
file-backed ones included: the mapped model file, the weight cache, the
libraries); RssAnon/RssFile are read at the end. "cache" rows map XNNPACK's
packed weights from a weight-cache file written by an earlier load (the
steady state: every load after the first); "no cache" rows keep them in
anonymous memory; "interpreter" rows are the classic `Interpreter`
(XNNPACK default delegate, no cache) running the same windows, "no_xnnpack"
rows the classic `Interpreter` with LiteRT's builtin kernels only (no packed
weight copy, slower; not run by default). Memory does not
depend on weight values, so random weights stand in for trained ones.
Prints a markdown table (--output FILE also writes it there); the analysis of a
run is in bench/RESULTS.md, "TFLite memory".
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, sys, time
sys.path.insert(0, {repo!r})
def status():
    out = {{}}
    for line in open("/proc/self/status"):
        key = line.split(":")[0]
        if key in ("VmHWM", "RssAnon", "RssFile"):
            out[key] = int(line.split()[1]) / 1024
    return out
import numpy as np
from edgeconnect_tf.deploy.tflite_runner import TFLiteModel
from edgeconnect_tf.inpaint import inpaint
result = {{"import_mib": status()["VmHWM"]}}
variant = {variant!r}
if variant in ("interpreter", "no_xnnpack"):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    class Classic:  # the same windows through the classic Interpreter
        def __init__(self, path, threads):
            resolver = (OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
                        if variant == "no_xnnpack" else OpResolverType.AUTO)
            self.runner = Interpreter(model_path=path, num_threads=threads,
                                      experimental_op_resolver_type=resolver).get_signature_runner(
                "inpaint")
            _, h, w, _ = self.runner.get_input_details()["image"]["shape"]
            self.size, self.calls = (int(h), int(w)), 0
        def __call__(self, inputs, training=False):
            _, h, w, _ = inputs["image"].shape
            H, W = self.size
            pad = ((0, 0), (0, H - h), (0, W - w), (0, 0))
            out = self.runner(image=np.pad(inputs["image"], pad, mode="symmetric"),
                              mask=np.pad(inputs["mask"], pad))
            self.calls += 1
            return {{k: v[:, :h, :w] for k, v in out.items()}}
    model = Classic({path!r}, {threads})
    options = {{"window": min(model.size), "max_side": min(model.size)}}
else:
    cache = {cache!r} if variant == "cache" else False
    model = TFLiteModel({path!r}, {threads}, weight_cache=cache)
    options = model.inpaint_options
result["loaded_mib"] = status()["VmHWM"]
height, width = {image!r}
rng = np.random.default_rng(0)
image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
hole = np.zeros((height, width), bool)
side = max(8, min(height, width) // {hole_fraction})
for fy, fx in ((0.2, 0.2), (0.6, 0.5), (0.4, 0.8)):
    y, x = int(fy * (height - side)), int(fx * (width - side))
    hole[y : y + side, x : x + side] = True
t = time.perf_counter()
filled, _ = inpaint(model, image, hole, **options)
result["seconds"] = time.perf_counter() - t
for y in range(0, height, 256):  # known pixels unchanged (by row blocks: no full-size temporaries)
    rows = slice(y, y + 256)
    assert (filled[rows][~hole[rows]] == image[rows][~hole[rows]]).all()
end = status()
result.update(peak_mib=end["VmHWM"], anon_mib=end["RssAnon"], file_mib=end["RssFile"],
              calls=model.calls, model_size=list(model.size),
              tensorflow="tensorflow" in sys.modules)
print("MEMORY " + json.dumps(result))
"""


def peak_memory(
    path, image, variant="cache", cache_dir=None, threads=2, hole_fraction=8, timeout=900
):
    """One child process: `path` inpaints an `image` = (H, W) random image with 3 square holes.

    variant: "cache" (weight cache in `cache_dir`), "no_cache", "interpreter" or
    "no_xnnpack" (module docstring).
    hole_fraction: hole side = min(H, W) // hole_fraction. Returns the child's
    {"import_mib", "loaded_mib", "peak_mib", "anon_mib", "file_mib", "seconds",
    "calls", "model_size", "tensorflow"} or {"error": ...}.
    """
    code = CHILD.format(
        repo=REPO,
        variant=variant,
        path=os.fspath(path),
        threads=threads,
        cache=os.fspath(cache_dir) if cache_dir else True,
        image=tuple(image),
        hole_fraction=hole_fraction,
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
    )
    for line in proc.stdout.splitlines():
        if line.startswith("MEMORY "):
            return json.loads(line[len("MEMORY ") :])
    return {"error": (proc.stderr.strip() or proc.stdout.strip())[-500:]}


def _image(text):
    parts = [int(p) for p in text.lower().split("x")]
    return (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])


def export_files(directory, sizes, formats):
    """Random full-size G1 + G2 exported at each size and format; {label: path}."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, REPO)
    from bench.export import random_model
    from edgeconnect_tf.deploy import tflite, tflite_name
    from edgeconnect_tf.deploy.tflite import load_photos

    model = random_model()
    files = {}
    for size in sizes:
        for quantize in formats:
            path = os.path.join(directory, tflite_name(size, quantize))
            calibration = None
            if quantize == "int8":
                calibration = tflite.calibration_pairs(load_photos(), size, count=4)
            if not os.path.exists(path):
                tflite.export_tflite(model, path, size, quantize, calibration=calibration)
            files[os.path.basename(path)] = path
    return files


def table(rows):
    lines = [
        "| file | file MiB | image | variant | calls | after import | after load | peak | "
        "RssAnon / RssFile at end | s |",
        "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for r in rows:
        m = r["result"]
        if "error" in m:
            lines.append(f"| {r['file']} | | {r['image']} | {r['variant']} | error: {m['error']} |")
            continue
        lines.append(
            f"| {r['file']} | {r['file_mib']:.1f} | {r['image']} | {r['variant']} | {m['calls']} "
            f"| {m['import_mib']:.0f} | {m['loaded_mib']:.0f} | **{m['peak_mib']:.0f}** | "
            f"{m['anon_mib']:.0f} / {m['file_mib']:.0f} | {m['seconds']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", nargs="+", help=".tflite files (default: export random ones)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 192, 256])
    parser.add_argument("--formats", nargs="+", default=["none", "dynamic", "int8"])
    parser.add_argument("--images", type=_image, nargs="+", default=[(512, 512), (3000, 4000)])
    parser.add_argument(
        "--variants", nargs="+", default=["cache", "no_cache", "interpreter"],
        choices=["cache", "no_cache", "interpreter", "no_xnnpack"],
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="", help="also write the table to this markdown file")
    args = parser.parse_args(argv)

    workdir = tempfile.mkdtemp(prefix="bench_tflite_memory_")
    if args.files:
        files = {os.path.basename(p): p for p in args.files}
    else:
        files = export_files(workdir, args.sizes, args.formats)
    cache_dir = os.path.join(workdir, "xnnpack_cache")
    load_start = os.getloadavg()[0]
    rows = []
    for name, path in files.items():
        for image in args.images:
            for variant in args.variants:
                if variant == "cache":  # first load writes the cache; measure the next one
                    peak_memory(path, (64, 64), "cache", cache_dir, args.threads)
                result = peak_memory(path, image, variant, cache_dir, args.threads)
                row = {"file": name, "file_mib": os.path.getsize(path) / 2**20}
                rows.append({**row, "image": f"{image[1]}×{image[0]}", "variant": variant})
                rows[-1]["result"] = result
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    text = table(rows)
    sys.path.insert(0, REPO)
    from bench.common import machine_info

    info = machine_info()
    header = (
        f"`python -m bench.tflite_memory {' '.join(argv or sys.argv[1:])}`, "
        f"{info.get('date', '')}; {info.get('cpu', '')}; threads {args.threads}; "
        f"load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.\n\n"
    )
    print(header + text)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(header + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
