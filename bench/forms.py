"""Every form a user runs, timed round-robin in one process against the authors' PyTorch code.

`python -m bench --only forms` runs, per size, `prepare` once (exports the
SavedModels and `.tflite` files of one seeded random model) and then
`compare` once per ISA class, each in a fresh process: natively (AVX-512 where
the CPU has it) and with `AVX2_ENV`, so the AVX2 table exists on any x86
machine. Within `compare` all forms, the authors' PyTorch generators
included, run one after the other in each round (interleaved A/B: a load
change on a shared machine hits all of them alike); medians and minima of
the rounds are reported with the load average.

What `AVX2_ENV` covers: oneDNN (TensorFlow's and PyTorch's convolutions and
TF's matmuls, `ONEDNN_MAX_CPU_ISA`), XLA's code generation
(`--xla_cpu_max_isa`), PyTorch's own kernels (`ATEN_CPU_CAPABILITY`) and
MKL (PyTorch's matmuls). Not covered: XNNPACK (TFLite; it picks its kernels
from cpuinfo, with no switch) and Eigen (TF ops without a oneDNN kernel,
compiled for the build's ISA), so TFLite rows of the AVX2 table ran
AVX-512 kernels when the CPU has them.
"""

import os
import statistics
import tempfile
import time

import numpy as np

from bench.common import load_average, psnr, snr

AVX2_ENV = {
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "XLA_FLAGS": "--xla_cpu_max_isa=AVX2",
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
}
TFLITE_FILES = {  # name: (quantize, conv_mode)
    "tflite_fp32": ("none", "direct"),
    "tflite_fp32_winograd": ("none", "graph"),
    "tflite_dynamic_int8": ("dynamic", "direct"),
}
SAVED_MODELS = {"savedmodel": "direct", "savedmodel_winograd": "graph"}  # name: conv_mode


def cpu_flags():
    """The x86 SIMD flags of /proc/cpuinfo that matter here (avx2, fma, avx512*, amx*)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    keep = ("avx2", "fma", "avx512", "amx", "avx_vnni")
                    return sorted(f for f in flags if f.startswith(keep))
    except OSError:
        pass
    return []


def isa_classes():
    """[(name, extra environment)]: native (avx512 or avx2) and, on AVX-512 CPUs, AVX2 too."""
    native = "avx512" if "avx512f" in cpu_flags() else "avx2"
    return [(native, {})] + ([("avx2", AVX2_ENV)] if native == "avx512" else [])


def prepare(size, workdir, residual_blocks=8, filters=64):
    """Writes the SavedModels and `.tflite` files of the seeded model for `compare` into workdir."""
    from bench.inference import _edgeconnect
    from edgeconnect_tf.deploy.saved_model import export_saved_model
    from edgeconnect_tf.deploy.tflite import export_tflite

    model = _edgeconnect(residual_blocks, filters)
    seconds = {}
    for name, mode in SAVED_MODELS.items():
        t0 = time.perf_counter()
        path = os.path.join(workdir, name, "edgeconnect", "1")
        export_saved_model(model.with_conv_mode(mode), path, warmup_size=0)
        seconds[name] = time.perf_counter() - t0
    ops = {}
    for name, (quantize, mode) in TFLITE_FILES.items():
        t0 = time.perf_counter()
        path = os.path.join(workdir, f"{name}.tflite")
        ops[name] = export_tflite(model, path, size=size, quantize=quantize, conv_mode=mode)
        seconds[name] = time.perf_counter() - t0
    return {"export_seconds": seconds, "tflite_ops": ops}


def compare(size, workdir, rounds=5, residual_blocks=8, filters=64, threads=None, isa=""):
    """All forms at size², batch 1, round-robin for `rounds` rounds; one dict per form.

    Forms: the authors' G1 -> G2 in PyTorch (inference mode, generators only,
    as bench.inference.torch_inference); `EdgeConnect.inpaint` (numpy uint8
    in and out) as it was (the model called eagerly) and as it is now (the
    compiled `inference_function`, "graph" conv mode, the
    `from_pretrained` default); the pipeline as a static-shape `tf.function`
    (direct convs); the serving function traced in this process without
    saving; the SavedModels (direct, Winograd) as TF Serving loads them; the
    `.tflite` files with LiteRT (XNNPACK). Quality: hole PSNR/SNR of each
    form's `inpainted` against the direct fp32 tf.function (the API's
    default: against the API as it was, both uint8).
    """
    import inspect

    import tensorflow as tf
    import torch
    from ai_edge_litert.interpreter import Interpreter
    from torch_reference import EdgeGenerator, InpaintGenerator

    from bench.export import photo_inputs
    from bench.inference import _edgeconnect, _known_edges
    from edgeconnect_tf.deploy.saved_model import serving_functions
    from edgeconnect_tf.edgeconnect import EdgeConnect
    from edgeconnect_tf.inpaint import inpaint

    threads = threads or os.cpu_count()
    image, mask = photo_inputs(size)
    rgb = np.round(image[0] * 255).astype(np.uint8)
    image = (rgb[None] / 255.0).astype("float32")  # what the numpy API feeds the model
    hole = mask[0, ..., 0] > 0
    model = _edgeconnect(residual_blocks, filters)
    default_mode = inspect.signature(EdgeConnect.from_pretrained).parameters["conv_mode"].default
    forms = {}

    torch.manual_seed(0)
    g1 = EdgeGenerator(residual_blocks, filters).eval()
    g2 = InpaintGenerator(residual_blocks, filters).eval()
    gray = (image @ np.array([0.2125, 0.7154, 0.0721], "float32"))[..., None]
    nchw = [
        torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))
        for a in (gray, _known_edges(gray, mask), image, mask)
    ]

    def torch_step():
        t_gray, t_edges, t_image, t_mask = nchw
        with torch.inference_mode():
            known = 1 - t_mask
            e = g1(torch.cat([t_gray * known + t_mask, t_edges * known, t_mask], 1))
            e = e * t_mask + t_edges * known
            return g2(torch.cat([t_image * known + t_mask, e], 1))

    def authors():
        torch_step()  # no output compared: other inputs (fixed edges, no Canny)

    forms["authors_pytorch"] = authors

    def api(mode, eager):
        built = model.with_conv_mode(mode)  # the same weights

        def step():
            out = inpaint(built, rgb, hole) if eager else built.inpaint(rgb, hole)
            return out[0][None].astype("float32") / 255.0

        return step

    forms["python_api_eager_before"] = api("direct", True)
    forms["python_api_default"] = api(default_mode, False)
    pipeline = tf.function(lambda i, m: model({"image": i, "mask": m})["inpainted"])
    args = (tf.constant(image), tf.constant(mask))
    serving, signature = serving_functions(model)["serving_default"]
    serving = tf.function(serving, input_signature=signature, autograph=False)
    pipeline(*args)  # traced now; `model` is direct
    serving(*args)
    forms["tf_function_direct"] = lambda: pipeline(*args).numpy()
    forms["serving_fn_in_process"] = lambda: serving(*args)["inpainted"].numpy()
    for name in SAVED_MODELS:
        loaded = tf.saved_model.load(os.path.join(workdir, name, "edgeconnect", "1"))
        fn = loaded.signatures["serving_default"]
        forms[name] = lambda fn=fn, keep=loaded: fn(image=args[0], mask=args[1])[
            "inpainted"
        ].numpy()
    for name in TFLITE_FILES:
        interpreter = Interpreter(
            model_path=os.path.join(workdir, f"{name}.tflite"), num_threads=threads
        )
        runner = interpreter.get_signature_runner("inpaint")
        forms[name] = lambda r=runner: r(image=image, mask=mask)["inpainted"]

    outputs = {name: step() for name, step in forms.items()}  # warm-up: traces, compiles
    reference = outputs["tf_function_direct"]
    times = {name: [] for name in forms}
    load_start = load_average()
    for _ in range(rounds):
        for name, step in forms.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    results = {}
    for name, ts in times.items():
        row = {"seconds": statistics.median(ts), "seconds_min": min(ts), "runs": len(ts)}
        out = outputs[name]
        # The numpy API returns uint8 (rounding alone is ~59 dB against float32):
        # its default is compared with the API as it was, uint8 with uint8.
        ref = outputs["python_api_eager_before"] if name == "python_api_default" else reference
        if out is not None and name != "tf_function_direct":
            row["psnr_hole_db"] = psnr(out, ref, np.broadcast_to(mask, ref.shape))
            row["snr_hole_db"] = snr(out, ref, np.broadcast_to(mask, ref.shape))
        results[name] = row
    return {
        "size": size,
        "isa": isa,
        "env": {k: os.environ[k] for k in AVX2_ENV if k in os.environ},
        "cpu_flags": cpu_flags(),
        "threads": threads,
        "torch_capability": torch.backends.cpu.get_cpu_capability(),
        "default_winograd": default_mode,
        "load_start": load_start,
        "load_end": load_average(),
        "forms": results,
    }


def tflite_memory(path, size, threads=2, variant="default"):
    """Peak RSS of a process holding only numpy, OpenCV and LiteRT inpainting a size² image.

    A child process of `bench.tflite_memory.peak_memory` (the bench's own
    processes hold TensorFlow). Variants: `default` (`TFLiteModel` as
    export/tflite_inpaint.py runs it: XNNPACK with its weight cache, mapped
    from a file that an earlier load wrote, the steady state), `no_xnnpack`
    (the classic Interpreter with builtin kernels only: no packed weight copy,
    slower). Returns MiB after import, after loading, after the inpaint, and
    the seconds of that inpaint (or {"error": ...}).
    """
    from bench.tflite_memory import peak_memory

    if variant == "no_xnnpack":
        return peak_memory(path, (size, size), "no_xnnpack", threads=threads)
    cache_dir = os.path.join(os.path.dirname(os.path.abspath(path)), "xnnpack_cache")
    peak_memory(path, (64, 64), "cache", cache_dir, threads)  # the first load writes the cache
    return peak_memory(path, (size, size), "cache", cache_dir, threads)


def memory_cases(size, workdir, threads=2):
    """`tflite_memory` of the fp32 (direct, Winograd) and dynamic-int8 files, both variants."""
    rows = {}
    for name in TFLITE_FILES:
        path = os.path.join(workdir, f"{name}.tflite")
        rows[name] = {
            "file_mib": os.path.getsize(path) / 2**20,
            **{v: tflite_memory(path, size, threads, v) for v in ("default", "no_xnnpack")},
        }
    return {"size": size, "memory": rows}


def new_workdir():
    return tempfile.mkdtemp(prefix="bench_forms_")
