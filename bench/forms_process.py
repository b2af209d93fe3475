"""Every form a user runs, each in its own fresh process, against the authors' whole test path.

    python -m bench.forms_process --sizes 256 512 --rounds 2 --calls 3

What a user meets: one process loads one form and inpaints one photo several times.
Per size, `prepare` (a child process) writes the seeded random full-size model once as
a SavedModel (`export_saved_model`, the model's default conv mode), a `save_pretrained`
directory (what `EdgeConnect.from_pretrained` reads) and the `.tflite` fp32 file of that
size (`export_tflite`, its default conv mode). Then, per ISA class (native, and
`bench.forms.AVX2_ENV` on AVX-512 CPUs) and round, each form runs in a fresh process, one
after the other (the order rotates every round, so a load change hits all forms alike):

- `authors`: their `test()` for one image (tests/torch_reference.reference_test: skimage's
  rgb2gray and Canny on the CPU, G1 and G2 in PyTorch, composite, `(x·255).int()`), the
  same seeded-random full-size generators as PyTorch modules;
- `savedmodel`: `tf.saved_model.load(...).signatures["serving_default"]` on float32
  [1, S, S, 3] / [1, S, S, 1] tensors, output read back with `.numpy()`;
- `python_api`: `EdgeConnect.from_pretrained(dir).inpaint(rgb uint8, hole bool)`;
- `tflite`: `TFLiteModel(file, threads=2).inpaint(rgb, hole)` (LiteRT CompiledModel,
  XNNPACK).

Each process times one warm-up call (tracing, weight packing) and then `calls` calls;
a form's time per round is the median of its calls; the table gives, per form, the
best of the rounds' medians and the minimum over all calls, the authors' likewise, and
`authors / ours` for both. Every child also reports the load average at its start and
end. The CPU's model name, family and flags head the table.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

FORMS = ("authors", "savedmodel", "python_api", "tflite")
LABELS = {
    "authors": "authors' test path (skimage Canny, G1, G2 in PyTorch)",
    "savedmodel": "SavedModel `serving_default`",
    "python_api": "Python API `EdgeConnect.inpaint`",
    "tflite": "TFLite fp32 (that size's file), 2 threads",
    "python_api_xla": 'Python API, `from_pretrained(conv_mode="xla")` (not the default)',
}
SEED = 0


def cpu_identity():
    """{"model", "family", "model_number", "flags"} from /proc/cpuinfo."""
    info = {"model": "unknown", "family": None, "model_number": None, "flags": []}
    keys = {"model name": "model", "cpu family": "family", "model": "model_number"}
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in keys and info[keys[key]] in ("unknown", None):
                    info[keys[key]] = value.strip()
                if key == "flags" and not info["flags"]:
                    from bench.forms import cpu_flags

                    info["flags"] = cpu_flags()
                if key == "processor" and value.strip() != "0":
                    break
    except OSError:
        pass
    return info


def _photo(size):
    """(rgb uint8 [S, S, 3], hole bool [S, S]): the astronaut and a free-form hole."""
    from bench.export import photo_inputs

    image, mask = photo_inputs(size)
    return np.round(image[0] * 255).astype(np.uint8), mask[0, ..., 0] > 0


def _paths(workdir):
    return {
        "savedmodel": os.path.join(workdir, "savedmodel", "edgeconnect", "1"),
        "python_api": os.path.join(workdir, "pretrained"),
        "tflite": os.path.join(workdir, "edgeconnect_fp32.tflite"),
    }


def prepare(size, workdir, residual_blocks=8, filters=64, only=None):
    """Writes the forms' files of the seeded random model into workdir (see the module doc).

    `only`: "savedmodel" rewrites just the SavedModel (after a change to the graph code;
    the weights directory and the `.tflite` file stay).
    """
    import shutil

    import keras

    from edgeconnect_tf.deploy.saved_model import export_saved_model
    from edgeconnect_tf.deploy.tflite import export_tflite
    from edgeconnect_tf.edgeconnect import EdgeConnect

    paths = _paths(workdir)
    if only == "savedmodel":  # the same weights as the other forms'
        model = EdgeConnect.from_pretrained(paths["python_api"])
    else:
        keras.utils.set_random_seed(SEED)
        model = EdgeConnect(residual_blocks=residual_blocks, filters=filters)
    model._build_generators()
    seconds = {}
    t0 = time.perf_counter()
    shutil.rmtree(paths["savedmodel"], ignore_errors=True)
    export_saved_model(model, paths["savedmodel"], warmup_size=0)
    seconds["savedmodel"] = time.perf_counter() - t0
    if only == "savedmodel":
        return {"export_seconds": seconds, "conv_mode": model.conv_mode}
    t0 = time.perf_counter()
    model.save_pretrained(paths["python_api"])
    seconds["python_api"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ops = export_tflite(model, paths["tflite"], size=size)
    seconds["tflite"] = time.perf_counter() - t0
    rgb, hole = _photo(size)  # the pixels every form is held to: direct convolutions
    direct = model.with_conv_mode("direct")
    np.save(os.path.join(workdir, "out_direct.npy"), direct.inpaint(rgb, hole)[0])
    return {"export_seconds": seconds, "conv_mode": model.conv_mode, "tflite_ops": ops}


def _authors(size, workdir, residual_blocks, filters):
    import torch
    from torch_reference import EdgeGenerator, InpaintGenerator, reference_test

    torch.manual_seed(SEED)
    g1 = EdgeGenerator(residual_blocks, filters).eval()
    g2 = InpaintGenerator(residual_blocks, filters).eval()
    rgb, hole = _photo(size)
    info = {"torch_threads": torch.get_num_threads()}
    info["torch_capability"] = torch.backends.cpu.get_cpu_capability()
    return (lambda: reference_test(g1, g2, rgb, hole)), info


def _savedmodel(size, workdir, residual_blocks, filters):
    import tensorflow as tf

    rgb, hole = _photo(size)
    image = tf.constant((rgb / 255.0).astype(np.float32)[None])
    mask = tf.constant(hole.astype(np.float32)[None, ..., None])
    loaded = tf.saved_model.load(_paths(workdir)["savedmodel"])
    fn = loaded.signatures["serving_default"]

    def step():
        out = fn(image=image, mask=mask)["inpainted"].numpy()
        return np.round(out[0] * 255).astype(np.uint8)

    step.keep = loaded
    return step, {}


def _python_api(size, workdir, residual_blocks, filters, conv_mode="graph"):
    from edgeconnect_tf.edgeconnect import EdgeConnect

    rgb, hole = _photo(size)
    model = EdgeConnect.from_pretrained(_paths(workdir)["python_api"], conv_mode=conv_mode)
    return (lambda: model.inpaint(rgb, hole)[0]), {"conv_mode": model.conv_mode}


def _tflite(size, workdir, residual_blocks, filters, threads=2):
    from edgeconnect_tf.deploy.tflite_runner import TFLiteModel

    rgb, hole = _photo(size)
    model = TFLiteModel(_paths(workdir)["tflite"], threads=threads, weight_cache=False)
    return (lambda: model.inpaint(rgb, hole)[0]), {"threads": threads}


BUILDERS = {
    "authors": _authors,
    "savedmodel": _savedmodel,
    "python_api": _python_api,
    "tflite": _tflite,
    "python_api_xla": lambda *a: _python_api(*a, conv_mode="xla"),
}


def run_form(form, size, workdir, calls=3, residual_blocks=8, filters=64, tf_threads=None):
    """Case (a fresh process): load `form`, one warm-up call, `calls` timed calls.

    `tf_threads` (inter, intra) sets TensorFlow's thread pools before anything runs
    (None: TensorFlow's defaults, what a user gets). Writes the output of the last
    call to workdir/out_{form}.npy.
    """
    load_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    base = form.removesuffix("_inter1")
    if base != form:
        tf_threads = (1, 0)  # 0: TensorFlow's default intra-op pool
    if tf_threads and base in ("savedmodel", "python_api", "python_api_xla"):
        import tensorflow as tf

        tf.config.threading.set_inter_op_parallelism_threads(tf_threads[0])
        tf.config.threading.set_intra_op_parallelism_threads(tf_threads[1])
    step, info = BUILDERS[base](size, workdir, residual_blocks, filters)
    load_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = step()
    first = time.perf_counter() - t0
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        out = step()
        times.append(time.perf_counter() - t0)
    np.save(os.path.join(workdir, f"out_{form}.npy"), np.asarray(out))
    return {
        "form": form,
        "size": size,
        "times": times,
        "median": statistics.median(times),
        "min": min(times),
        "first_call": first,
        "load_seconds": load_seconds,
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "env": {k: os.environ[k] for k in ("ONEDNN_MAX_CPU_ISA", "XLA_FLAGS") if k in os.environ},
        **info,
    }


# --------------------------------------------------------------------------- bfloat16


def graph_probe(size, workdir, rounds=4, variants=None):
    """Case: the Python API's graph in float32 against candidate variants, one process.

    Same weights (the `python_api` directory), `inference_function` called on the
    photo, interleaved rounds. Variants: "float32" (as shipped); "mirror_pad" (TF's
    MIRROR_PAD for the reflection pads instead of slices, as before 2026-12-07);
    "bf16_policy" (Keras' `mixed_bfloat16`: the 7×7, stride-2 and transposed convs in
    bfloat16, Winograd blocks in float32, as `ResidualBlock` computes them);
    "bf16_products" (that, and the 36 Winograd products of every block with bfloat16
    operands, float32 accumulation: `winograd.conv3x3_graph(product_dtype=tf.bfloat16)`).
    Quality: hole PSNR and the largest level difference of the output, rounded to
    uint8, against "float32".
    """
    import keras
    import tensorflow as tf

    from edgeconnect_tf.edgeconnect import EdgeConnect
    from edgeconnect_tf.nn import winograd
    from edgeconnect_tf.nn.layers import ReflectionPadding2D

    variants = variants or ["float32", "mirror_pad", "bf16_policy", "bf16_products"]
    skipped = []
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper().startswith("AVX2"):
        # oneDNN has no bfloat16 matmul below AVX-512: it aborts the process.
        skipped = [v for v in variants if v.startswith("bf16")]
        variants = [v for v in variants if v not in skipped]
    rgb, hole = _photo(size)
    image = tf.constant((rgb / 255.0).astype(np.float32)[None])
    mask = tf.constant(hole.astype(np.float32)[None, ..., None])
    path = _paths(workdir)["python_api"]
    plain = winograd.conv3x3_graph

    def bf16_products(x, kernel, bias=None, dilation=1):
        return plain(x, kernel, bias, dilation, product_dtype=tf.bfloat16)

    steps = {}
    for name in ["float32", *(v for v in variants if v != "float32")]:
        keras.config.set_dtype_policy("mixed_bfloat16" if name.startswith("bf16") else "float32")
        model = EdgeConnect.from_pretrained(path)
        keras.config.set_dtype_policy("float32")
        if name == "mirror_pad":
            for net in (model.edge_generator, model.inpaint_generator):
                for layer in net._flatten_layers():
                    if isinstance(layer, ReflectionPadding2D):
                        layer.by_slices = False
        fn = model.inference_function()
        winograd.conv3x3_graph = bf16_products if name == "bf16_products" else plain
        try:
            fn(image, mask)  # traced now, with this variant's conv3x3_graph
        finally:
            winograd.conv3x3_graph = plain
        steps[name] = lambda fn=fn: fn(image, mask)["inpainted"].numpy()
    outputs = {name: np.round(step()[0] * 255) for name, step in steps.items()}
    times = {name: [] for name in steps}
    load_start = os.getloadavg()[0]
    for _ in range(rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    rows = {}
    for name in steps:
        diff = (outputs[name] - outputs["float32"])[hole]
        mse = float(np.mean((diff / 255) ** 2))
        rows[name] = {
            "median": statistics.median(times[name]),
            "min": min(times[name]),
            "psnr_hole_db": float("inf") if mse == 0 else float(10 * np.log10(1 / mse)),
            "max_levels": float(np.abs(diff).max()),
        }
    load = [load_start, os.getloadavg()[0]]
    return {"size": size, "rows": rows, "skipped": skipped, "load": load}


# --------------------------------------------------------------------------- op profile

PROFILE_PARTS = (  # (part, test on "scope/name", op type), first match wins
    ("Canny and the pipeline", lambda n, t: "generator" not in n),
    (
        "residual blocks: Winograd products (36 batched matmuls)",
        lambda n, t: "middle" in n and "BatchMatMul" in t,
    ),
    (
        "residual blocks: Winograd transforms (input, output, filter; G1's spectral norm)",
        lambda n, t: "middle" in n and "MatMul" in t,
    ),
    (
        "residual blocks: tiles (pad, slice, concat, transpose) and reflection pads",
        lambda n, t: (
            "middle" in n
            and t
            in (
                "MirrorPad",
                "Pad",
                "StridedSlice",
                "ConcatV2",
                "_MklTranspose",
                "Transpose",
                "Reshape",
            )
        ),
    ),
    ("residual blocks: instance norm, ReLU, residual add", lambda n, t: "middle" in n),
    ("encoder: 4×4 stride-2 convs (matmul form)", lambda n, t: "encoder" in n and "MatMul" in t),
    ("encoder: 7×7 input conv", lambda n, t: "encoder" in n and "Conv2D" in t),
    ("decoder: 4×4 stride-2 transposed convs", lambda n, t: "decoder" in n and "Backprop" in t),
    (
        "decoder: 7×7 output conv (matmul form, shifted adds)",
        lambda n, t: "decoder_7" in n or "decoder" in n and ("MatMul" in t or t == "StridedSlice"),
    ),
    (
        "encoder/decoder: pads, slices, concat, space-to-depth",
        lambda n, t: (
            t
            in (
                "MirrorPad",
                "Pad",
                "StridedSlice",
                "ConcatV2",
                "SpaceToDepth",
                "_MklTranspose",
                "Transpose",
            )
        ),
    ),
)


def _profile_part(name, op_type):
    lowered = name.lower()
    for part, test in PROFILE_PARTS:
        if test(lowered, op_type):
            return part
    return "instance norm, ReLU, bias, activations (encoder/decoder)"


def op_profile(size, workdir, calls=3, inter_op=None):
    """Case: TensorFlow's profiler on the SavedModel's `serving_default` at size².

    Traces `calls` calls after two warm-ups and sums, per call, the time each op ran on
    TensorFlow's executor threads (with `inter_op` 1 these add up to the wall time;
    with TF's default, 2 on 2 cores, ops overlap and the sum exceeds it). Returns
    {"wall": s per traced call, "untraced": s per call, "op_seconds", "parts": {part: s},
    "types": {op type: s}, "matmul_gflops": bench.common.tf_matmul_rate, "macs"}.
    """
    import glob
    import tempfile

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from bench.common import edgeconnect_macs, tf_matmul_rate

    if inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    step, _ = _savedmodel(size, workdir, 8, 64)
    step()
    step()
    untraced = []
    for _ in range(calls):
        t0 = time.perf_counter()
        step()
        untraced.append(time.perf_counter() - t0)
    logdir = tempfile.mkdtemp(prefix="op_profile_")
    tf.profiler.experimental.start(logdir)
    t0 = time.perf_counter()
    for _ in range(calls):
        step()
    wall = (time.perf_counter() - t0) / calls
    tf.profiler.experimental.stop()
    path = max(glob.glob(logdir + "/**/*.xplane.pb", recursive=True), key=os.path.getmtime)
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    parts, types = {}, {}
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name or name.startswith(("Threadpool", "ExecutorState")):
                    continue
                op, _, op_type = name.rpartition(":")
                seconds = event.duration_ps / 1e12 / calls
                part = _profile_part(op, op_type)
                parts[part] = parts.get(part, 0.0) + seconds
                types[op_type] = types.get(op_type, 0.0) + seconds
    rate = tf_matmul_rate()
    return {
        "size": size,
        "inter_op": inter_op,
        "wall": wall,
        "untraced": statistics.median(untraced),
        "op_seconds": sum(parts.values()),
        "parts": dict(sorted(parts.items(), key=lambda kv: -kv[1])),
        "types": dict(sorted(types.items(), key=lambda kv: -kv[1])[:20]),
        "matmul_gflops": rate["gflops"],
        "macs": edgeconnect_macs(size),
        "load": os.getloadavg()[0],
    }


def profile_table(result):
    """Markdown of `op_profile`: share of the op time per part."""
    total = result["op_seconds"]
    macs = result["macs"]
    lines = [
        f"{result['size']}², SavedModel `serving_default`, inter-op threads "
        f"{result['inter_op'] or 'default'}: {result['untraced']:.3f} s per call untraced, "
        f"{result['wall']:.3f} s traced, ops {total:.3f} s; TF fp32 matmul "
        f"{result['matmul_gflops']:.0f} GFLOP/s; direct-convolution work "
        f"{macs / 1e9:.1f} G multiply-adds = {2 * macs / 1e9 / result['matmul_gflops']:.3f} s "
        f"at that rate; load {result['load']:.2f}.",
        "",
        "| part | s per call | share |",
        "|---|---:|---:|",
    ]
    for part, seconds in result["parts"].items():
        lines.append(f"| {part} | {seconds:.3f} | {100 * seconds / total:.1f} % |")
    return "\n".join(lines)


def hole_agreement(workdir, size, form, reference="direct"):
    """(hole PSNR dB, largest level difference) of form's saved uint8 output against
    reference's (default: the same model with direct convolutions, written by `prepare`)."""
    from bench.common import psnr

    _, hole = _photo(size)
    a = np.load(os.path.join(workdir, f"out_{form}.npy")).astype(np.float64)
    b = np.load(os.path.join(workdir, f"out_{reference}.npy")).astype(np.float64)
    return psnr(a / 255, b / 255, np.broadcast_to(hole[..., None], a.shape)), float(
        np.abs(a - b).max()
    )


def compare(
    sizes,
    rounds=2,
    calls=3,
    forms=FORMS,
    isas=None,
    net=(8, 64),
    tf_threads=None,
    workdirs=None,
    log=print,
):
    """Runs the whole comparison; {"cpu", "rows": [...], "prepare": {...}}."""
    import tempfile

    from bench.common import run_case
    from bench.forms import isa_classes

    classes = [c for c in isa_classes() if isas is None or c[0] in isas]
    workdirs = workdirs or {}
    prep = {}
    for size in sizes:
        if size not in workdirs:
            workdirs[size] = tempfile.mkdtemp(prefix=f"forms_process_{size}_")
            prep[size] = run_case(
                "forms_process",
                "prepare",
                size=size,
                workdir=workdirs[size],
                residual_blocks=net[0],
                filters=net[1],
            )
            log(f"prepared {size}²: {json.dumps(prep[size])[:300]}")
    rows = []
    for isa, env in classes:
        for size in sizes:
            results = {form: [] for form in forms}
            for r in range(rounds):
                order = list(forms[r % len(forms) :]) + list(forms[: r % len(forms)])
                for form in order:
                    res = run_case(
                        "forms_process",
                        "run_form",
                        env=env,
                        form=form,
                        size=size,
                        workdir=workdirs[size],
                        calls=calls,
                        residual_blocks=net[0],
                        filters=net[1],
                        tf_threads=tf_threads,
                    )
                    log(f"{isa} {size}² round {r} {form}: {json.dumps(res)[:400]}")
                    results[form].append(res)
            rows.append(
                {
                    "isa": isa,
                    "size": size,
                    "results": results,
                    "psnr": _psnrs(workdirs[size], size, forms),
                }
            )
    return {"cpu": cpu_identity(), "rows": rows, "prepare": prep, "workdirs": workdirs}


def _psnrs(workdir, size, forms):
    out = {}
    for form in forms:
        if form != "authors":
            try:
                out[form] = hole_agreement(workdir, size, form)
            except OSError:
                pass
    return out


def _best(runs):
    ok = [r for r in runs if "median" in r]
    if not ok:
        return None
    return {
        "median": min(r["median"] for r in ok),
        "min": min(r["min"] for r in ok),
        "loads": [r["load_start"] for r in ok] + [r["load_end"] for r in ok],
        "medians": [r["median"] for r in ok],
    }


def _label(form):
    base = form.removesuffix("_inter1")
    return LABELS[base] + (", inter-op threads 1" if base != form else "")


def table(result):
    """Markdown: one row per form, ISA class and size."""
    cpu = result["cpu"]
    lines = [
        f"CPU: {cpu['model']}, family {cpu['family']} model {cpu['model_number']}, "
        f"{os.cpu_count()} cores; flags {' '.join(cpu['flags'])}.",
        "",
        "| ISA | size | form | best median s | min s | authors' best median / min s | "
        "authors / ours (median, min) | medians per round | load (1 min) |",
        "|---|---|---|---:|---:|---:|---:|---|---|",
    ]
    for row in result["rows"]:
        authors = _best(row["results"].get("authors", []))
        for form, runs in row["results"].items():
            best = _best(runs)
            if best is None:
                err = runs[0].get("error", "?") if runs else "not run"
                lines.append(f"| {row['isa']} | {row['size']}² | {_label(form)} | error: {err} |")
                continue
            ratio = ""
            if authors and form != "authors":
                ratio = (
                    f"**{authors['median'] / best['median']:.2f}×**, "
                    f"{authors['min'] / best['min']:.2f}×"
                )
            a = f"{authors['median']:.3f} / {authors['min']:.3f}" if authors else ""
            loads = f"{min(best['loads']):.1f}–{max(best['loads']):.1f}"
            medians = ", ".join(f"{m:.3f}" for m in best["medians"])
            lines.append(
                f"| {row['isa']} | {row['size']}² | {_label(form)} | {best['median']:.3f} | "
                f"{best['min']:.3f} | {a} | {ratio} | {medians} | {loads} |"
            )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--calls", type=int, default=3)
    choices = [*BUILDERS, *(f"{k}_inter1" for k in BUILDERS if k not in ("authors", "tflite"))]
    parser.add_argument("--forms", nargs="+", default=list(FORMS), choices=choices)
    parser.add_argument("--isa", nargs="+", default=None, help="avx512 and/or avx2 (default both)")
    parser.add_argument("--net", default="8,64", help="residual blocks,filters")
    parser.add_argument("--tf-threads", default=None, help="inter,intra for the TF forms")
    parser.add_argument("--workdir", nargs="*", default=[], help="SIZE=DIR of earlier exports")
    parser.add_argument("--json", default=None, help="also write the raw results here")
    parser.add_argument(
        "--probe",
        nargs="*",
        default=None,
        help="only `graph_probe` of these variants (needs --workdir SIZE=DIR)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="only TF's op profile of the SavedModel (needs --workdir SIZE=DIR)",
    )
    args = parser.parse_args(argv)
    if args.probe is not None:
        from bench.common import run_case
        from bench.forms import isa_classes

        for size, workdir in ((int(k), v) for k, v in (w.split("=", 1) for w in args.workdir)):
            for isa, env in isa_classes():
                if args.isa and isa not in args.isa:
                    continue
                res = run_case(
                    "forms_process",
                    "graph_probe",
                    env=env,
                    size=size,
                    workdir=workdir,
                    variants=args.probe or None,
                )
                print(f"\n{isa} {size}²: {json.dumps(res, default=float)}")
        return
    if args.profile:
        from bench.common import run_case
        from bench.forms import isa_classes

        for size, workdir in ((int(k), v) for k, v in (w.split("=", 1) for w in args.workdir)):
            for isa, env in isa_classes():
                if args.isa and isa not in args.isa:
                    continue
                for inter in (None, 1):
                    res = run_case(
                        "forms_process",
                        "op_profile",
                        env=env,
                        size=size,
                        workdir=workdir,
                        inter_op=inter,
                    )
                    print(f"\n{isa}:\n" + (profile_table(res) if "parts" in res else str(res)))
                    print(
                        "op types:",
                        json.dumps({k: round(v, 3) for k, v in res.get("types", {}).items()}),
                    )
        return
    net = tuple(int(v) for v in args.net.split(","))
    threads = tuple(int(v) for v in args.tf_threads.split(",")) if args.tf_threads else None
    workdirs = {int(k): v for k, v in (w.split("=", 1) for w in args.workdir)}
    cmd = "python -m bench.forms_process " + " ".join(argv if argv is not None else sys.argv[1:])
    result = compare(
        args.sizes,
        args.rounds,
        args.calls,
        tuple(args.forms),
        args.isa,
        net,
        threads,
        workdirs,
        log=lambda s: print(s, file=sys.stderr, flush=True),
    )
    result["command"] = cmd
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1, default=float)
    print(f"`{cmd}`\n")
    print(table(result))
    for row in result["rows"]:
        psnrs = ", ".join(
            f"{k} {p:.1f} dB (max {d:.0f} levels)" for k, (p, d) in row["psnr"].items()
        )
        print(f"\n{row['isa']} {row['size']}²: against direct convolutions: {psnrs}")


if __name__ == "__main__":
    main()
