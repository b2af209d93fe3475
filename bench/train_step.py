"""Training-step benchmarks: our Keras `train_step`s against the same step in PyTorch.

Stages (batch 2 at 256² by default, random weights, VGG19 with random weights):
- `edge`: G1 + D1 (`models.EdgeModel`): nsgan BCE + 10 × feature matching.
- `inpaint`: G2 + D2 (`models.InpaintModel`, `vgg_weights=None`): 0.1 × adversarial
  + L1 / mean(mask) + 0.1 × perceptual + 250 × style.
- `joint`: G1 -> G2 + D2 with G2's loss reaching G1 (`models.EdgeInpaintModel(joint=True)`;
  D1 dropped, as in the paper's fine-tune).

The PyTorch step (`torch_train`) is written here from the reference's description
(shared/reference/edgeconnect-reference.md) with `tests/torch_reference.py`'s
networks: three discriminator calls per step as the reference makes them (real,
detached fake, fake), BCE on sigmoid outputs, L1 feature matching against
detached real activations, Adam(β = (0, 0.9)), lr 1e-4 (D 1e-5). Two deviations
from the authors' code, both to make it run on current PyTorch and match our
step's semantics: the G gradients are taken with `torch.autograd.grad` on G's
parameters before either optimizer steps (the authors step D before G's
backward, which current PyTorch rejects as an in-place modification), so both
gradients come from the pre-update D and no D weight gradient is computed for
G's loss; and the VGG19 stops at relu5_2, the deepest layer the losses read
(the authors' module runs on to relu5_4), as our Keras VGG does.
"""

import time

import numpy as np

from bench.common import (
    discriminator_macs,
    generator_macs,
    measure,
    vgg_macs,
)

SEED = 0
STAGES = ("edge", "inpaint", "joint")


def _batch(size, batch):
    """image [B,S,S,3], gray, edge (sparse binary), mask (a rectangle per image), float32."""
    from edgeconnect_tf.deploy.saved_model import sample_inputs

    images, masks = [], []
    for i in range(batch):
        image, mask = sample_inputs(size, seed=SEED + i)
        images.append(image[0])
        masks.append(np.roll(mask[0], i * size // 8, axis=1))
    image = np.stack(images)
    gray = (image @ np.array([0.2125, 0.7154, 0.0721], "float32"))[..., None]
    rng = np.random.default_rng(SEED)
    edge = (rng.random(gray.shape) > 0.9).astype("float32")
    return {"image": image, "gray": gray.astype("float32"), "edge": edge, "mask": np.stack(masks)}


def step_macs(stage, size, batch, residual_blocks=8, filters=64):
    """Multiply-adds of one training step, forward + backward (backward ≈ 2 × forward).

    Counts the work a minimal step needs: G forward/backward, D forward on real
    and fake and backward, VGG forward on 4 images and backward on the 2 that
    depend on G (weights frozen: input gradients only, ≈ 1 × forward).
    """
    g1 = generator_macs(size, residual_blocks, filters, 3, 1)
    g2 = generator_macs(size, residual_blocks, filters, 4, 3)
    if stage == "edge":
        g, d = g1, discriminator_macs(size, 2, filters)
        return batch * (3 * g + 2 * 3 * d)
    d = discriminator_macs(size, 3, filters)
    vgg = vgg_macs(size)
    g = g2 + g1 if stage == "joint" else g2
    return batch * (3 * g + 2 * 3 * d + 4 * vgg + 2 * vgg)


def tf_train(
    stage,
    size=256,
    batch=2,
    residual_blocks=8,
    filters=64,
    jit=False,
    winograd=False,
    policy=None,
    repeat=3,
    max_seconds=120.0,
    conv_mode=None,
):
    """Seconds per `train_step` of our model for `stage` (median of `repeat` after 1 warm-up).

    `jit`: XLA (`compile(jit_compile=True)`); `winograd`: the config key of
    that name (residual blocks through `edgeconnect_tf.nn.winograd`, Winograd
    forward and backward, each block its own XLA cluster or inside the step's).
    `policy`: a Keras dtype policy to set first (e.g. "mixed_bfloat16").
    `conv_mode`: the config key, if given (else "xla" if `winograd` else "direct").
    """
    import keras
    import tensorflow as tf

    if policy:
        keras.config.set_dtype_policy(policy)
    from edgeconnect_tf.training.stages import EdgeInpaintModel, EdgeModel, InpaintModel

    keras.utils.set_random_seed(SEED)
    conv_mode = conv_mode or ("xla" if winograd else "direct")  # the training config's key
    net = {"residual_blocks": residual_blocks, "filters": filters, "conv_mode": conv_mode}
    if stage == "edge":
        model = EdgeModel(**net)
    elif stage == "inpaint":
        model = InpaintModel(vgg_weights=None, **net)
    elif stage == "joint":
        model = EdgeInpaintModel(
            EdgeModel(**net), InpaintModel(vgg_weights=None, **net), joint=True
        )
    else:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    model.build_networks(size)
    model.compile(jit_compile=jit)
    data = {k: tf.constant(v) for k, v in _batch(size, batch).items()}
    train = tf.function(model.train_step, jit_compile=jit)
    key = "d1" if stage == "edge" else "d2"

    def step():
        return float(train(data)[key])

    t0 = time.perf_counter()
    first = step()
    setup = time.perf_counter() - t0
    timing = measure(step, warmup=1, repeat=repeat, max_seconds=max_seconds)
    return {
        "framework": "tensorflow",
        "variant": ("winograd_" if conv_mode != "direct" else "")
        + ("xla" if jit else "function")
        + (f"_{policy}" if policy and policy != "float32" else ""),
        "stage": stage,
        "size": size,
        "batch": batch,
        "seconds": timing["median"],
        "seconds_min": timing["min"],
        "runs": len(timing["times"]),
        "setup_seconds": setup,
        "macs": step_macs(stage, size, batch, residual_blocks, filters),
        "first_d_loss": first,
    }


# --------------------------------------------------------------------------- PyTorch step


def torch_vgg19(max_layer="relu5_2"):
    """VGG19 `features` (3×3 convs + ReLU + 2×2 max-pools) up to `max_layer`, random weights.

    Returns a module whose forward gives {relu name: activation}. No torchvision:
    the layer shapes are VGG19's, the weights are frozen random ones.
    """
    import torch
    from torch import nn

    cfg = [[64, 64], [128, 128], [256] * 4, [512] * 4, [512] * 4]

    class VGG19(nn.Module):
        def __init__(self):
            super().__init__()
            self.names, layers, c = [], [], 3
            done = False
            for block, widths in enumerate(cfg, start=1):
                if block > 1:
                    layers.append(nn.MaxPool2d(2, 2))
                    self.names.append(None)
                for i, w in enumerate(widths, start=1):
                    layers += [nn.Conv2d(c, w, 3, padding=1), nn.ReLU(inplace=False)]
                    name = f"relu{block}_{i}"
                    self.names += [None, name]
                    c = w
                    if name == max_layer:
                        done = True
                        break
                if done:
                    break
            self.layers = nn.ModuleList(layers)
            for p in self.parameters():
                p.requires_grad_(False)

        def forward(self, x):
            out = {}
            for layer, name in zip(self.layers, self.names, strict=True):
                x = layer(x)
                if name:
                    out[name] = x
            return out

    torch.manual_seed(SEED)
    return VGG19()


def _torch_losses():
    import torch
    from torch import nn

    bce = nn.BCELoss()
    l1 = nn.L1Loss()

    def adversarial(scores, real):
        # BCE in float32 outside autocast (CUDA autocast refuses BCELoss on half inputs).
        with torch.autocast(scores.device.type, enabled=False):
            scores = scores.float()
            return bce(scores, torch.ones_like(scores) if real else torch.zeros_like(scores))

    def gram(x):
        b, c, h, w = x.shape
        f = x.reshape(b, c, h * w)
        return f.bmm(f.transpose(1, 2)) / (c * h * w)

    def perceptual(vgg, x, y):
        fx, fy = vgg(x), vgg(y)
        return sum(
            l1(fx[n], fy[n]) for n in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
        )

    def style(vgg, x, y):
        fx, fy = vgg(x), vgg(y)
        names = ("relu2_2", "relu3_4", "relu4_4", "relu5_2")
        return sum(l1(gram(fx[n]), gram(fy[n])) for n in names)

    return adversarial, l1, perceptual, style


def make_torch_step(
    stage, size=256, batch=2, residual_blocks=8, filters=64, device="cpu", autocast=None
):
    """(step function, module list) for the reference-style training step on a fixed batch.

    `autocast`: None (fp32), "bf16" or "fp16" (torch.autocast; fp16 with a GradScaler).
    """
    import torch
    from torch_reference import Discriminator, EdgeGenerator, InpaintGenerator

    torch.manual_seed(SEED)
    data = {
        k: torch.from_numpy(np.ascontiguousarray(v.transpose(0, 3, 1, 2))).to(device)
        for k, v in _batch(size, batch).items()
    }
    image, gray, edge, mask = data["image"], data["gray"], data["edge"], data["mask"]
    adversarial, l1, perceptual, style = _torch_losses()
    g1 = g2 = vgg = None
    if stage == "edge":
        g1, d = EdgeGenerator(residual_blocks, filters), Discriminator(2, filters)
        g_params = list(g1.parameters())
    elif stage in ("inpaint", "joint"):
        g2, d = InpaintGenerator(residual_blocks, filters), Discriminator(3, filters)
        vgg = torch_vgg19()
        g1 = EdgeGenerator(residual_blocks, filters) if stage == "joint" else None
        g_params = list(g2.parameters()) + (list(g1.parameters()) if g1 is not None else [])
    else:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    modules = [m for m in (g1, g2, d, vgg) if m is not None]
    for m in modules:
        m.to(device).train()
    g_opt = torch.optim.Adam(g_params, lr=1e-4, betas=(0.0, 0.9))
    d_opt = torch.optim.Adam(d.parameters(), lr=1e-5, betas=(0.0, 0.9))
    known = 1 - mask
    dtype = {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}[autocast]
    device_type = torch.device(device).type
    scaler = torch.amp.GradScaler(device_type) if autocast == "fp16" else None

    def edge_step():
        out = g1(torch.cat([gray * known + mask, edge * known, mask], 1))
        real, real_feat = d(torch.cat([gray, edge], 1))
        fake, _ = d(torch.cat([gray, out.detach()], 1))
        d_loss = (adversarial(real, True) + adversarial(fake, False)) / 2
        gen, gen_feat = d(torch.cat([gray, out], 1))
        fm = sum(l1(g, r.detach()) for g, r in zip(gen_feat, real_feat, strict=True))
        g_loss = adversarial(gen, True) + 10.0 * fm
        return d_loss, g_loss

    def inpaint_step():
        edges = edge
        if g1 is not None:
            e = g1(torch.cat([gray * known + mask, edge * known, mask], 1))
            edges = e * mask + edge * known
        out = g2(torch.cat([image * known + mask, edges], 1))
        real, _ = d(image)
        fake, _ = d(out.detach())
        d_loss = (adversarial(real, True) + adversarial(fake, False)) / 2
        gen, _ = d(out)
        g_loss = (
            0.1 * adversarial(gen, True)
            + l1(out, image) / mask.mean()
            + 0.1 * perceptual(vgg, out, image)
            + 250.0 * style(vgg, out * mask, image * mask)
        )
        return d_loss, g_loss

    forward = edge_step if stage == "edge" else inpaint_step

    def step():
        d_opt.zero_grad(set_to_none=True)
        g_opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type, dtype=dtype, enabled=dtype is not None):
            d_loss, g_loss = forward()
        if scaler is not None:
            d_loss_s, g_loss_s = scaler.scale(d_loss), scaler.scale(g_loss)
        else:
            d_loss_s, g_loss_s = d_loss, g_loss
        d_loss_s.backward()
        g_grads = torch.autograd.grad(g_loss_s, g_params)
        for p, g in zip(g_params, g_grads, strict=True):
            p.grad = g
        if scaler is not None:
            scaler.step(d_opt)
            scaler.step(g_opt)
            scaler.update()
        else:
            d_opt.step()
            g_opt.step()
        return d_loss.item()

    return step, modules


def torch_train(
    stage,
    size=256,
    batch=2,
    residual_blocks=8,
    filters=64,
    repeat=3,
    max_seconds=120.0,
    autocast=None,
):
    """Seconds per reference-style PyTorch training step (see the module docstring).

    `autocast`: None (fp32) or "bf16" (`torch.autocast("cpu", torch.bfloat16)`).
    """
    import torch

    step, _ = make_torch_step(stage, size, batch, residual_blocks, filters, autocast=autocast)
    t0 = time.perf_counter()
    first = step()
    setup = time.perf_counter() - t0
    timing = measure(step, warmup=1, repeat=repeat, max_seconds=max_seconds)
    return {
        "framework": "torch",
        "variant": "reference" + (f"_{autocast}" if autocast else ""),
        "stage": stage,
        "size": size,
        "batch": batch,
        "seconds": timing["median"],
        "seconds_min": timing["min"],
        "runs": len(timing["times"]),
        "setup_seconds": setup,
        "macs": step_macs(stage, size, batch, residual_blocks, filters),
        "threads": torch.get_num_threads(),
        "first_d_loss": first,
    }
