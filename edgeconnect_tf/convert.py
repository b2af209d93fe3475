"""Converts the authors' PyTorch checkpoints into an edgeconnect_tf weights directory.

Reads, from one directory:
    EdgeModel_gen.pth        {"iteration": int, "generator": state_dict}      G1 (required)
    InpaintingModel_gen.pth  {"iteration": int, "generator": state_dict}      G2 (required)
    EdgeModel_dis.pth        {"iteration": int, "discriminator": state_dict}  D1 (optional)
    InpaintingModel_dis.pth  {"iteration": int, "discriminator": state_dict}  D2 (optional)
in either torch serialization (legacy pickle, as released, or zip), and writes
the weights directory of `edgeconnect_tf.weights` (load it with
`weights.load_networks`).

Mapping (the sheet's "official checkpoints" section):
- `module.` prefixes (DataParallel) are stripped.
- conv weight (O, I, kh, kw) -> Keras Conv2D kernel (kh, kw, I, O); transposed
  conv weight (I, O, kh, kw) -> Keras Conv2DTranspose kernel (kh, kw, O, I).
- Spectral-norm layers: `weight_orig` becomes the wrapped kernel, `weight_u`
  and `weight_v` become `u` and `v` unchanged (our `TorchSpectralNorm` uses
  PyTorch's matrix layout). Where the checkpoint has spectral norm on a layer
  that has none in our network, sigma = uᵀ W_mat v is baked in (W_orig / sigma,
  what PyTorch computes in eval mode). A plain `weight` where our network has
  spectral norm is refused: such a network (trained without spectral norm) is
  not the reference's and cannot be represented exactly.
- D's `features.0.*` entries duplicate `conv1.0.*` (the reference aliases the
  module) and are checked, not loaded twice.
- residual_blocks and filters are inferred from the checkpoint shapes.

Anything unexpected (wrong network, missing/extra keys, wrong shapes, not a
checkpoint) raises `ConvertError` naming the file and the first offending key.
torch is imported only when converting.
"""

import os
import re

import numpy as np

CHECKPOINTS = {
    "edge_generator": ("EdgeModel_gen.pth", "generator"),
    "inpaint_generator": ("InpaintingModel_gen.pth", "generator"),
    "edge_discriminator": ("EdgeModel_dis.pth", "discriminator"),
    "inpaint_discriminator": ("InpaintingModel_dis.pth", "discriminator"),
}
REQUIRED = ("edge_generator", "inpaint_generator")
_TORCH_HINT = "pip install 'edgeconnect-tf[torch]'"


class ConvertError(ValueError):
    """A checkpoint is missing, unreadable, or not the network it should be."""


def _import_torch():
    try:
        import torch
    except ImportError:
        raise ConvertError(
            f"reading PyTorch checkpoints needs torch, which is not installed: {_TORCH_HINT}"
        ) from None
    return torch


# ---------------------------------------------------------------- reading


def one_line(text, limit=300):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_state_dict(path, entry, trust_pickle=False):
    """The state dict stored under `entry` in a .pth file, as {key: float32 numpy array}.

    `module.` prefixes are stripped. Returns (state_dict, iteration or None).
    Loads with `weights_only=True` (no code from the file runs); `trust_pickle`
    falls back to a full unpickle for checkpoints holding other Python objects.
    """
    torch = _import_torch()
    if not os.path.isfile(path):
        raise ConvertError(f"{path}: file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a bad file
        unsupported = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if unsupported and trust_pickle:
            try:
                obj = torch.load(path, map_location="cpu", weights_only=False)
            except Exception as e2:
                raise ConvertError(f"{path}: not a PyTorch checkpoint ({one_line(e2)})") from None
        elif unsupported:
            raise ConvertError(
                f"{path}: holds a Python object ({unsupported.group(1)}) that a weights-only "
                "load refuses; if you trust the file, convert with trust_pickle=True "
                "(--trust-pickle)"
            ) from None
        else:
            detail = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\n\n|$)", str(e), re.S)
            reason = detail.group(1) if detail else f"{type(e).__name__}: {e}".rstrip(": ")
            raise ConvertError(f"{path}: not a PyTorch checkpoint ({one_line(reason)})") from None

    if not isinstance(obj, dict):
        raise ConvertError(f"{path}: expected a dict with key {entry!r}, got {type(obj).__name__}")
    iteration = None
    if entry in obj:
        state = obj[entry]
        iteration = obj.get("iteration")
        if not isinstance(state, dict):
            raise ConvertError(f"{path}: {entry!r} is a {type(state).__name__}, not a state dict")
    elif obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state = obj  # a bare state dict
    else:
        other = [k for k in ("generator", "discriminator") if k in obj]
        hint = f" (it has {other[0]!r}: wrong file?)" if other else ""
        keys = ", ".join(repr(k) for k in list(obj)[:5])
        raise ConvertError(f"{path}: no {entry!r} entry; top-level keys: {keys}{hint}")

    if iteration is not None:
        try:
            iteration = int(iteration)
        except (TypeError, ValueError):
            raise ConvertError(f"{path}: 'iteration' is not an integer: {iteration!r}") from None

    out = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise ConvertError(f"{path}: state dict key {key!r} is not a string")
        stripped = key
        while stripped.startswith("module."):
            stripped = stripped[len("module.") :]
        if not isinstance(value, torch.Tensor):
            raise ConvertError(f"{path}: {key!r} is a {type(value).__name__}, not a tensor")
        if not value.is_floating_point():
            raise ConvertError(f"{path}: {key!r} has dtype {value.dtype}, expected floating point")
        if stripped in out:
            raise ConvertError(f"{path}: key {stripped!r} appears twice (with and without module.)")
        array = value.detach().cpu().float().numpy()
        if not np.all(np.isfinite(array)):
            raise ConvertError(f"{path}: {key!r} has non-finite values")
        out[stripped] = array
    if not out:
        raise ConvertError(f"{path}: the {entry!r} state dict is empty")
    return out, iteration


# ---------------------------------------------------------------- structure


def _guess_network(state):
    """Which of CHECKPOINTS' networks a state dict looks like, or None."""
    w = state.get("conv1.0.weight_orig", state.get("conv1.0.weight"))
    if w is not None and w.ndim == 4:
        return {2: "edge_discriminator", 3: "inpaint_discriminator"}.get(w.shape[1])
    w = state.get("encoder.1.weight_orig", state.get("encoder.1.weight"))
    if w is not None and w.ndim == 4:
        return {3: "edge_generator", 4: "inpaint_generator"}.get(w.shape[1])
    return None


def _hint(state, expected):
    guess = _guess_network(state)
    if guess is None or guess == expected:
        return ""
    return f" (this looks like {CHECKPOINTS[guess][0]}, not {CHECKPOINTS[expected][0]})"


def infer_architecture(state, network, path=""):
    """(residual_blocks, filters) of a checkpoint's state dict for `network`."""
    first = "conv1.0" if network.endswith("discriminator") else "encoder.1"
    w = state.get(f"{first}.weight_orig", state.get(f"{first}.weight"))
    if w is None:
        key = f"{first}.weight" if network == "inpaint_generator" else f"{first}.weight_orig"
        raise ConvertError(f"{path}: missing key {key!r}{_hint(state, network)}")
    if w.ndim != 4:
        raise ConvertError(f"{path}: key '{first}' weight has shape {w.shape}, expected 4-D")
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"middle\.(\d+)\.", k))}
    residual_blocks = max(blocks) + 1 if blocks else 0
    return residual_blocks, int(w.shape[0])


def _slots(network, net):
    """(torch module path, our layer) for every conv of `net`, in checkpoint order."""
    if network.endswith("discriminator"):
        return [(f"conv{i + 1}.0", conv.conv) for i, conv in enumerate(net.convs)]
    slots = [(f"encoder.{i}", net.encoder[i].conv) for i in (1, 4, 7)]
    for b, block in enumerate(net.middle):
        slots.append((f"middle.{b}.conv_block.1", block.conv1.conv))
        slots.append((f"middle.{b}.conv_block.5", block.conv2.conv))
    slots.append(("decoder.0", net.decoder[0]))
    slots.append(("decoder.3", net.decoder[3]))
    slots.append(("decoder.7", net.decoder[7].conv))
    return slots


def _torch_weight_matrix(w, transposed):
    """PyTorch's spectral-norm matrix: (out, -1); out is dim 1 of a transposed conv."""
    if transposed:
        w = np.transpose(w, (1, 0, 2, 3))
    return w.reshape(w.shape[0], -1)


def _to_keras(w):
    # conv (O, I, kh, kw) -> (kh, kw, I, O); transposed conv (I, O, kh, kw) -> (kh, kw, O, I)
    return np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0)))


def _assign_network(network, net, state, path):
    """Loads `state` (stripped, numpy) into the built Keras network `net`."""
    import keras

    from edgeconnect_tf.nn.spectral_norm import TorchSpectralNorm

    hint = _hint(state, network)
    used = set()
    assigned = []

    def take(key, shape):
        if key not in state:
            raise ConvertError(f"{path}: missing key {key!r}{hint}")
        value = state[key]
        if tuple(value.shape) != tuple(shape):
            raise ConvertError(
                f"{path}: key {key!r} has shape {tuple(value.shape)}, expected {tuple(shape)}{hint}"
            )
        used.add(key)
        return value

    for prefix, layer in _slots(network, net):
        has_sn = isinstance(layer, TorchSpectralNorm)
        conv = layer.layer if has_sn else layer
        transposed = isinstance(conv, keras.layers.Conv2DTranspose)
        kernel_shape = tuple(conv.kernel.shape)
        torch_shape = tuple(kernel_shape[i] for i in (3, 2, 0, 1))
        if has_sn:
            if f"{prefix}.weight_orig" not in state and f"{prefix}.weight" in state:
                reason = hint or (
                    f" (the checkpoint has {prefix + '.weight'!r} without spectral norm; "
                    "this network has spectral norm on that layer, as the reference)"
                )
                raise ConvertError(f"{path}: missing key '{prefix}.weight_orig'{reason}")
            w = take(f"{prefix}.weight_orig", torch_shape)
            u = take(f"{prefix}.weight_u", tuple(layer.u.shape))
            v = take(f"{prefix}.weight_v", tuple(layer.v.shape))
            conv.kernel.assign(_to_keras(w))
            layer.u.assign(u)
            layer.v.assign(v)
            assigned += [conv.kernel, layer.u, layer.v]
        elif f"{prefix}.weight_orig" in state:  # spectral norm in the checkpoint only: bake sigma
            w = take(f"{prefix}.weight_orig", torch_shape)
            w_mat = _torch_weight_matrix(w.astype(np.float64), transposed)
            u = take(f"{prefix}.weight_u", (w_mat.shape[0],))
            v = take(f"{prefix}.weight_v", (w_mat.shape[1],))
            sigma = float(u.astype(np.float64) @ w_mat @ v.astype(np.float64))
            if not np.isfinite(sigma) or abs(sigma) < 1e-12:
                raise ConvertError(f"{path}: '{prefix}' has spectral norm sigma = {sigma}")
            conv.kernel.assign(_to_keras((w / sigma).astype(np.float32)))
            assigned.append(conv.kernel)
        else:
            w = take(f"{prefix}.weight", torch_shape)
            conv.kernel.assign(_to_keras(w))
            assigned.append(conv.kernel)
        if conv.use_bias:
            conv.bias.assign(take(f"{prefix}.bias", tuple(conv.bias.shape)))
            assigned.append(conv.bias)

    if network.endswith("discriminator"):  # features.0.* aliases conv1.0.*
        for key in state:
            if key.startswith("features."):
                twin = "conv1." + key[len("features.") :]
                if twin not in state or state[twin].shape != state[key].shape:
                    raise ConvertError(f"{path}: unexpected key {key!r}{hint}")
                if not np.array_equal(state[twin], state[key]):
                    raise ConvertError(
                        f"{path}: {key!r} differs from {twin!r} (the reference's 'features' "
                        "module is conv1)"
                    )
                used.add(key)
    extra = [k for k in state if k not in used]
    if extra:
        raise ConvertError(f"{path}: unexpected key {extra[0]!r}{hint}")
    missed = {id(x) for x in net.weights} - {id(x) for x in assigned}
    if missed:  # a layer of ours that the mapping above does not know about
        names = [x.path for x in net.weights if id(x) in missed]
        raise RuntimeError(f"convert: no checkpoint key maps to {names[0]}")


# ---------------------------------------------------------------- conversion


def convert_checkpoints(checkpoint_dir, output_dir, trust_pickle=False):
    """Converts the official checkpoints in `checkpoint_dir` into a weights directory.

    Reads EdgeModel_gen.pth and InpaintingModel_gen.pth (required) and the two
    `_dis.pth` files if present; writes `output_dir` with
    `edgeconnect_tf.weights.save_networks`. Nothing is written if any file is
    wrong. Returns {"networks": [names], "residual_blocks", "filters", "iteration"}.
    Raises ConvertError naming the file and the first offending key.
    """
    if not os.path.isdir(checkpoint_dir):
        raise ConvertError(f"{checkpoint_dir}: checkpoint directory not found")
    states, iterations = {}, {}
    for network, (filename, entry) in CHECKPOINTS.items():
        path = os.path.join(checkpoint_dir, filename)
        if network not in REQUIRED and not os.path.exists(path):
            continue
        states[network], iterations[network] = load_state_dict(path, entry, trust_pickle)

    paths = {n: os.path.join(checkpoint_dir, CHECKPOINTS[n][0]) for n in states}
    residual_blocks, filters = infer_architecture(
        states["edge_generator"], "edge_generator", paths["edge_generator"]
    )
    for network in states:
        if network == "edge_generator":
            continue
        blocks_n, filters_n = infer_architecture(states[network], network, paths[network])
        if network != "inpaint_generator":
            blocks_n = residual_blocks  # discriminators have no residual blocks
        if (blocks_n, filters_n) != (residual_blocks, filters):
            raise ConvertError(
                f"{paths[network]}: residual_blocks={blocks_n}, filters={filters_n} differ from "
                f"EdgeModel_gen.pth's ({residual_blocks}, {filters}); a weights directory holds "
                f"one size{_hint(states[network], network)}"
            )

    from edgeconnect_tf import weights

    nets = weights.build_networks(residual_blocks, filters, names=tuple(states))
    for network, net in nets.items():
        _assign_network(network, net, states[network], paths[network])

    known = [i for i in iterations.values() if i is not None]
    metadata = {
        "source": "pytorch",
        "iteration": max(known) if known else 0,
        "iterations": {n: i for n, i in iterations.items() if i is not None},
    }
    weights.save_networks(output_dir, nets, **metadata)
    return {
        "networks": list(nets),
        "residual_blocks": residual_blocks,
        "filters": filters,
        "iteration": metadata["iteration"],
    }
