"""GPU benchmarks: mixed precision + XLA against the PyTorch reference in fp32 and autocast.

Runs where a GPU is visible (`python -m bench --only gpu`); elsewhere every
case returns `{"skipped": reason}`. Figures are images per second (batch
`batch`, 256² by default), for G1+G2 inference and for the three training
stages:

- TensorFlow: Keras dtype policy `float32`, `mixed_bfloat16` or
  `mixed_float16` (loss scaling by `models.compile`), with or without XLA
  (`jit_compile`), optionally the Winograd residual blocks (`winograd`: conv_mode "xla");
- PyTorch reference: fp32, `torch.autocast` bf16 or fp16 (GradScaler in
  training), NCHW as the authors run it.

`require_gpu=False` runs the same code on the CPU (smoke tests at tiny sizes).
A CUDA build of torch is needed for the PyTorch rows (the project pins the CPU
wheel: `pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128`).
"""

import time

import numpy as np

from bench.common import measure

SEED = 0
TF_POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
TORCH_AUTOCAST = (None, "bf16", "fp16")


def tf_gpus():
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices("GPU")]


def torch_gpu():
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def gpu_info():
    """{"tensorflow": [GPU names], "torch": device name or None}."""
    return {"tensorflow": tf_gpus(), "torch": torch_gpu()}


def _skip_tf(require_gpu):
    if require_gpu and not tf_gpus():
        return {"skipped": "no GPU visible to TensorFlow"}
    return None


def _skip_torch(require_gpu):
    if require_gpu and torch_gpu() is None:
        return {"skipped": "no CUDA device visible to PyTorch (CPU wheel, or no GPU)"}
    return None


def _rate(timing, batch):
    return {
        "seconds": timing["median"],
        "images_per_second": batch / timing["median"],
        "runs": len(timing["times"]),
    }


def tf_gpu_inference(
    size=256,
    batch=8,
    policy="float32",
    xla=True,
    winograd=False,
    residual_blocks=8,
    filters=64,
    repeat=10,
    require_gpu=True,
):
    """G1 -> G2 on a batch in TensorFlow under a Keras dtype policy (images/s)."""
    skip = _skip_tf(require_gpu)
    if skip:
        return skip
    import keras
    import tensorflow as tf

    from bench.inference import _edgeconnect, _known_edges, generators_fn
    from edgeconnect_tf.deploy.saved_model import sample_inputs

    keras.config.set_dtype_policy(policy)
    model = _edgeconnect(residual_blocks, filters, "xla" if winograd else "direct")
    image, mask = sample_inputs(size, seed=SEED)
    image, mask = np.repeat(image, batch, 0), np.repeat(mask, batch, 0)
    gray = (image @ np.array([0.2125, 0.7154, 0.0721], "float32"))[..., None]
    args = [tf.constant(a) for a in (gray, _known_edges(gray, mask), image, mask)]
    fn = tf.function(generators_fn(model), jit_compile=xla, autograph=False)
    t0 = time.perf_counter()
    fn(*args).numpy()
    setup = time.perf_counter() - t0
    timing = measure(lambda: fn(*args).numpy(), warmup=2, repeat=repeat)
    return {
        "framework": "tensorflow",
        "variant": f"{policy}{'_winograd' if winograd else ''}{'_xla' if xla else ''}",
        "size": size,
        "batch": batch,
        "setup_seconds": setup,
        "device": (tf_gpus() or ["CPU"])[0],
        **_rate(timing, batch),
    }


def torch_gpu_inference(
    size=256,
    batch=8,
    autocast=None,
    residual_blocks=8,
    filters=64,
    repeat=10,
    require_gpu=True,
):
    """The PyTorch reference G1 -> G2 in fp32 or under autocast (images/s)."""
    skip = _skip_torch(require_gpu)
    if skip:
        return skip
    import torch
    from torch_reference import EdgeGenerator, InpaintGenerator

    from bench.inference import _known_edges
    from edgeconnect_tf.deploy.saved_model import sample_inputs

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(SEED)
    g1 = EdgeGenerator(residual_blocks, filters).to(device).eval()
    g2 = InpaintGenerator(residual_blocks, filters).to(device).eval()
    image, mask = sample_inputs(size, seed=SEED)
    image, mask = np.repeat(image, batch, 0), np.repeat(mask, batch, 0)
    gray = (image @ np.array([0.2125, 0.7154, 0.0721], "float32"))[..., None]
    edges = _known_edges(gray, mask)

    def nchw(a):
        return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).to(device)

    gray, edges, image, mask = (nchw(a) for a in (gray, edges, image, mask))
    dtype = {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}[autocast]

    def step():
        with torch.inference_mode(), torch.autocast(device, dtype=dtype, enabled=dtype is not None):
            known = 1 - mask
            e = g1(torch.cat([gray * known + mask, edges * known, mask], 1))
            e = e * mask + edges * known
            out = g2(torch.cat([image * known + mask, e.to(image.dtype)], 1))
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    timing = measure(step, warmup=2, repeat=repeat)
    return {
        "framework": "torch",
        "variant": autocast or "fp32",
        "size": size,
        "batch": batch,
        "device": torch_gpu() or "CPU",
        **_rate(timing, batch),
    }


def tf_gpu_train(
    stage="edge",
    size=256,
    batch=8,
    policy="float32",
    xla=True,
    winograd=False,
    residual_blocks=8,
    filters=64,
    repeat=5,
    require_gpu=True,
):
    """Our `train_step` for `stage` under a dtype policy, with or without XLA (images/s)."""
    skip = _skip_tf(require_gpu)
    if skip:
        return skip
    import keras

    from bench.train_step import tf_train

    keras.config.set_dtype_policy(policy)
    result = tf_train(
        stage, size, batch, residual_blocks, filters, jit=xla, winograd=winograd, repeat=repeat
    )
    result["variant"] = f"{policy}{'_winograd' if winograd else ''}{'_xla' if xla else ''}"
    result["images_per_second"] = batch / result["seconds"]
    result["device"] = (tf_gpus() or ["CPU"])[0]
    return result


def torch_gpu_train(
    stage="edge",
    size=256,
    batch=8,
    autocast=None,
    residual_blocks=8,
    filters=64,
    repeat=5,
    require_gpu=True,
):
    """The reference-style PyTorch step (bench.train_step) in fp32 or autocast (images/s)."""
    skip = _skip_torch(require_gpu)
    if skip:
        return skip
    import torch

    from bench.train_step import make_torch_step

    device = "cuda" if torch.cuda.is_available() else "cpu"
    step, _ = make_torch_step(stage, size, batch, residual_blocks, filters, device, autocast)

    def synced():
        step()
        if device == "cuda":
            torch.cuda.synchronize()

    timing = measure(synced, warmup=2, repeat=repeat)
    return {
        "framework": "torch",
        "variant": autocast or "fp32",
        "stage": stage,
        "size": size,
        "batch": batch,
        "device": torch_gpu() or "CPU",
        **_rate(timing, batch),
    }
