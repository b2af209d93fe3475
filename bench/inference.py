"""Inference benchmarks: EdgeConnect G1+G2 in TensorFlow, TFLite and the PyTorch reference.

Each function is one case, run in its own process by `bench.common.run_case`,
and returns a dict with `seconds` (median per image, batch 1), `macs` (the
convolutions' multiply-adds it ran) and case details. Weights are random (the
reference's N(0, 0.02) initialization, seeded): speed does not depend on them;
quality figures of lossy variants are therefore also given as SNR, which does
not flatter nearly flat outputs the way PSNR does.

Variants (TensorFlow):
- `generators`: G1 -> composite edges -> G2 (what the PyTorch case runs),
  one `tf.function`;
- `generators_xla`: the same with `jit_compile=True`;
- `_winograd`: `EdgeConnect(conv_mode="xla")`, the residual blocks through
  `edgeconnect_tf.nn.winograd` (Winograd F(4×4, 3×3), phase-split dilated conv),
  each block its own XLA cluster, or inside the caller's with `_xla`
  (the other variants build their models with `conv_mode="direct"`);
- `_bf16`: Keras' `mixed_bfloat16` policy;
- `pipeline...`: the whole `EdgeConnect` call (adds Canny, padding,
  compositing);
- `savedmodel`: `export.export_saved_model` of the model in "graph" conv
  mode (`edgeconnect export`'s default), reloaded, `serving_default` (adds
  the input checks);
- `tflite(quantize)`: `export.export_tflite` run with LiteRT's interpreter
  (XNNPACK, all cores).
"""

import os
import tempfile
import time

import numpy as np

from bench.common import (
    edgeconnect_macs,
    measure,
    psnr,
    reset_peak_rss,
    snr,
)

SEED = 0


def _threads():
    return os.cpu_count() or 1


def _inputs(size):
    from edgeconnect_tf.deploy.saved_model import sample_inputs

    return sample_inputs(size, seed=SEED)


def _edgeconnect(residual_blocks, filters, conv_mode="direct"):
    """The seeded random model (the same weights in every conv mode)."""
    import keras

    from edgeconnect_tf.edgeconnect import EdgeConnect
    from edgeconnect_tf.weights import build_networks

    keras.utils.set_random_seed(SEED)
    names = ("edge_generator", "inpaint_generator")
    nets = build_networks(residual_blocks, filters, names=names, conv_mode=conv_mode)
    return EdgeConnect(
        nets["edge_generator"],
        nets["inpaint_generator"],
        residual_blocks=residual_blocks,
        filters=filters,
        conv_mode=conv_mode,
        dtype="float32",  # the wrapper's inputs stay float32 under a mixed policy
    )


def _known_edges(gray, mask):
    """Stand-in for Canny's edges in the generator-only cases: a fixed sparse pattern."""
    rng = np.random.default_rng(SEED)
    return ((rng.random(gray.shape) > 0.9) * (1.0 - mask)).astype("float32")


def generators_fn(model):
    """(gray, edges, image, mask) -> G2 output: the two networks as EdgeConnect chains them."""
    import tensorflow as tf

    g1, g2 = model.edge_generator, model.inpaint_generator

    def run(gray, edges, image, mask):
        known = 1.0 - mask
        e = g1(tf.concat([gray * known + mask, edges * known, mask], axis=-1))
        e = e * mask + edges * known
        return g2(tf.concat([image * known + mask, e], axis=-1))

    return run


BASES = ("generators", "pipeline", "savedmodel")
MODIFIERS = ("winograd", "bf16", "xla")


def parse_variant(variant):
    """Splits e.g. `generators_winograd_xla` into ("generators", {"winograd", "xla"}); checks it."""
    base, *mods = variant.split("_")
    if base not in BASES or not set(mods) <= set(MODIFIERS) or len(set(mods)) != len(mods):
        raise ValueError(
            f"variant must be one of {BASES} followed by any of _winograd, _bf16, _xla; "
            f"got {variant!r}"
        )
    if base == "savedmodel" and mods:
        raise ValueError("the savedmodel variant takes no modifiers")
    return base, set(mods)


def tf_inference(
    size,
    variant="generators",
    residual_blocks=8,
    filters=64,
    repeat=5,
    max_seconds=60.0,
    warmup=1,
    quality=True,
):
    """One TensorFlow variant at size×size, batch 1 (see the module docstring).

    Variant = base (`generators`, `pipeline`, `savedmodel`) + modifiers:
    `_winograd` builds the model with `conv_mode="xla"` (the residual blocks through
    `edgeconnect_tf.nn.winograd`: Winograd, phase-split dilated conv; each block
    its own XLA cluster, or part of the caller's under `_xla`), `_bf16` runs
    under Keras' `mixed_bfloat16` policy (oneDNN bf16 convolutions where the
    CPU has them), `_xla` compiles the call with XLA. With `quality`, lossy
    variants (`_winograd`, `_bf16`) are compared on the hole with the fp32
    direct path.
    """
    import keras
    import tensorflow as tf

    base, mods = parse_variant(variant)
    xla = "xla" in mods
    image, mask = _inputs(size)
    gray = (image @ np.array([0.2125, 0.7154, 0.0721], "float32"))[..., None]
    edges = _known_edges(gray, mask)
    model = _edgeconnect(residual_blocks, filters)
    reference = None
    if quality and mods & {"winograd", "bf16"}:
        if base == "generators":
            reference = generators_fn(model)(gray, edges, image, mask).numpy()
        else:
            reference = model({"image": image, "mask": mask})["inpainted"].numpy()
    if "bf16" in mods:
        keras.config.set_dtype_policy("mixed_bfloat16")
        fp32_weights = {k: net.get_weights() for k, net in _generators(model).items()}
        model = _edgeconnect(residual_blocks, filters)
        for k, net in _generators(model).items():
            net.set_weights(fp32_weights[k])
    model = model.with_conv_mode("xla" if "winograd" in mods else "direct")
    t0 = time.perf_counter()
    if base == "generators":
        fn = tf.function(generators_fn(model), jit_compile=xla, autograph=False)
        args = [tf.constant(a) for a in (gray, edges, image, mask)]

        def step():
            return fn(*args).numpy()

    elif base == "pipeline":
        fn = tf.function(lambda i, m: model({"image": i, "mask": m})["inpainted"], jit_compile=xla)
        args = [tf.constant(image), tf.constant(mask)]

        def step():
            return fn(*args).numpy()

    else:  # savedmodel
        from edgeconnect_tf.deploy.saved_model import export_saved_model

        workdir = tempfile.mkdtemp(prefix="bench_savedmodel_")
        path = os.path.join(workdir, "edgeconnect", "1")  # graph: `edgeconnect export`'s default
        path = export_saved_model(model.with_conv_mode("graph"), path, warmup_size=0)
        loaded = tf.saved_model.load(path)
        serve = loaded.signatures["serving_default"]
        args = {"image": tf.constant(image), "mask": tf.constant(mask)}

        def step():
            return serve(**args)["inpainted"].numpy()

    out = step()  # trace / compile
    first = time.perf_counter() - t0
    timing = measure(step, warmup=warmup, repeat=repeat, max_seconds=max_seconds)
    result = {
        "framework": "tensorflow",
        "variant": variant,
        "size": size,
        "seconds": timing["median"],
        "seconds_min": timing["min"],
        "runs": len(timing["times"]),
        "setup_seconds": first,
        "macs": edgeconnect_macs(size, residual_blocks, filters),
        "output_mean": float(np.mean(out)),
    }
    if reference is not None:
        result["psnr_hole_db"] = psnr(out, reference, mask)
        result["snr_hole_db"] = snr(out, reference, mask)
    return result


def _generators(model):
    return {"g1": model.edge_generator, "g2": model.inpaint_generator}


def tflite_inference(
    size,
    quantize="none",
    residual_blocks=8,
    filters=64,
    repeat=5,
    max_seconds=60.0,
    threads=None,
    calibration_count=8,
):
    """`export_tflite` at size×size run with LiteRT; quality against TF's fp32 pipeline."""
    import tensorflow as tf

    from bench.export import photo_inputs, tflite_call
    from edgeconnect_tf.deploy.tflite import calibration_pairs, export_tflite

    image, mask = photo_inputs(size)  # a real photo: quality on realistic content
    model = _edgeconnect(residual_blocks, filters)
    reference = model({"image": tf.constant(image), "mask": tf.constant(mask)})
    ref_image = reference["inpainted"].numpy()
    ref_edges = reference["edges"].numpy()
    calibration = None
    if quantize == "int8":
        calibration = calibration_pairs(_photos(), size, count=calibration_count, seed=SEED)
    t0 = time.perf_counter()
    path = os.path.join(tempfile.mkdtemp(prefix="bench_tflite_"), f"edgeconnect_{size}.tflite")
    ops = export_tflite(model, path, size=size, quantize=quantize, calibration=calibration)
    convert_seconds = time.perf_counter() - t0
    del model, reference
    import gc

    gc.collect()
    reset_peak_rss()
    call = tflite_call(path, size, threads or _threads())  # bench/export.py's runner
    # tflite_call feeds its own photo_inputs(size): the same image and mask as above.
    out = call()
    timing = measure(call, warmup=1, repeat=repeat, max_seconds=max_seconds)
    got = out["inpainted"]
    return {
        "framework": "tflite",
        "variant": f"tflite_{quantize}",
        "size": size,
        "seconds": timing["median"],
        "seconds_min": timing["min"],
        "runs": len(timing["times"]),
        "setup_seconds": convert_seconds,
        "macs": edgeconnect_macs(size, residual_blocks, filters),
        "file_mib": os.path.getsize(path) / 2**20,
        "ops": ops,
        "psnr_hole_db": psnr(got, ref_image, mask),
        "snr_hole_db": snr(got, ref_image, mask),
        "edges_psnr_hole_db": psnr(out["edges"], ref_edges, mask),
    }


def _photos():
    """Real photos for int8 calibration (scikit-image's bundled samples)."""
    from skimage import data

    return [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]


def torch_inference(size, residual_blocks=8, filters=64, repeat=5, max_seconds=60.0):
    """The PyTorch reference G1 -> composite -> G2 (NCHW fp32, inference mode)."""
    import torch
    from torch_reference import EdgeGenerator, InpaintGenerator

    torch.manual_seed(SEED)
    g1 = EdgeGenerator(residual_blocks, filters).eval()
    g2 = InpaintGenerator(residual_blocks, filters).eval()
    image, mask = _inputs(size)
    gray = (image @ np.array([0.2125, 0.7154, 0.0721], "float32"))[..., None]
    edges = _known_edges(gray, mask)

    def nchw(a):
        return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))

    gray, edges, image, mask = (nchw(a) for a in (gray, edges, image, mask))

    def step():
        with torch.inference_mode():
            known = 1 - mask
            e = g1(torch.cat([gray * known + mask, edges * known, mask], 1))
            e = e * mask + edges * known
            return g2(torch.cat([image * known + mask, e], 1))

    t0 = time.perf_counter()
    out = step()
    first = time.perf_counter() - t0
    timing = measure(step, warmup=1, repeat=repeat, max_seconds=max_seconds)
    return {
        "framework": "torch",
        "variant": "reference",
        "size": size,
        "seconds": timing["median"],
        "seconds_min": timing["min"],
        "runs": len(timing["times"]),
        "setup_seconds": first,
        "macs": edgeconnect_macs(size, residual_blocks, filters),
        "threads": torch.get_num_threads(),
        "output_mean": float(out.mean()),
    }


def layer_profile(size=256, residual_blocks=8, filters=64, repeat=5, winograd=False, xla=False):
    """Where G2's time goes: each layer (and each part of a residual block) timed alone.

    Every layer runs as its own `tf.function` on the activation the generator
    feeds it; the sum of the parts next to the whole generator's time shows
    the per-call overhead. Returns {"layers": [[name, macs, seconds], ...],
    "total_seconds", "sum_seconds"}.
    """
    import tensorflow as tf

    from edgeconnect_tf.nn.layers import ResidualBlock

    # winograd: each block its own XLA cluster, or inside the global one
    model = _edgeconnect(residual_blocks, filters, "xla" if winograd else "direct")
    g2 = model.inpaint_generator
    x = tf.constant(np.random.default_rng(SEED).random((1, size, size, 4)).astype("float32"))
    rows = []

    def timed(name, fn, *args, macs=0):
        f = tf.function(fn, jit_compile=xla, autograph=False)
        t = measure(lambda: f(*args).numpy(), warmup=1, repeat=repeat)["median"]
        rows.append([name, macs, t])
        return f(*args)

    h = x
    for layer in g2.encoder + g2.middle + g2.decoder:
        name = f"{type(layer).__name__}:{layer.name}"
        if isinstance(layer, ResidualBlock) and not winograd:
            r = layer
            c = h.shape[-1]
            n = h.shape[1] * h.shape[2] * c * 9 * c
            p = timed(f"{layer.name}.pad1", r.pad1, h)
            y = timed(f"{layer.name}.conv1 (dilated)", lambda v, r=r: r.conv1(v), p, macs=n)
            y = timed(f"{layer.name}.norm1+relu", lambda v, r=r: tf.nn.relu(r.norm1(v)), y)
            p = timed(f"{layer.name}.pad2", r.pad2, y)
            y = timed(f"{layer.name}.conv2", lambda v, r=r: r.conv2(v), p, macs=n)
            y = timed(f"{layer.name}.norm2", r.norm2, y)
            h = timed(f"{layer.name}.add", lambda a, b: a + b, h, y)
            continue
        macs = _layer_macs(layer, h)
        h = timed(name, lambda v, layer=layer: layer(v), h, macs=macs)
    whole = tf.function(lambda v: g2(v), jit_compile=xla, autograph=False)
    total = measure(lambda: whole(x).numpy(), warmup=1, repeat=repeat)["median"]
    return {
        "layers": rows,
        "total_seconds": total,
        "sum_seconds": sum(r[2] for r in rows),
        "winograd": winograd,
        "xla": xla,
    }


def _layer_macs(layer, x):
    from bench.common import count_conv_macs

    try:
        import tensorflow as tf

        return count_conv_macs(lambda v: layer(v), tf.TensorSpec(x.shape))["total"]
    except Exception:  # noqa: BLE001 - a profile row without a MAC count is still useful
        return 0


def print_profile(result, rate=None):
    """The layer profile as a Markdown table (GFLOP/s and, given `rate`, % of it)."""
    lines = ["| layer | G MACs | ms | GFLOP/s |", "| --- | ---: | ---: | ---: |"]
    for name, macs, t in result["layers"]:
        gf = 2 * macs / t / 1e9 if macs else 0
        lines.append(f"| {name} | {macs / 1e9:.2f} | {t * 1000:.1f} | {gf:.0f} |")
    lines.append(
        f"| sum of parts | | {result['sum_seconds'] * 1000:.0f} | |\n"
        f"| whole generator | | {result['total_seconds'] * 1000:.0f} | |"
    )
    return "\n".join(lines)
