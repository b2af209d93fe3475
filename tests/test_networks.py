"""The networks: parameter counts, shapes, spectral-norm semantics against PyTorch, configs."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
import torch_reference as tr

from edgeconnect_tf import weights
from edgeconnect_tf.networks import Discriminator, EdgeGenerator, InpaintGenerator
from edgeconnect_tf.nn.spectral_norm import TorchSpectralNorm

REFERENCE_COUNTS = {
    "edge_generator": 10_761_089,
    "inpaint_generator": 10_774_595,
    "edge_discriminator": 2_762_752,
    "inpaint_discriminator": 2_763_776,
}


def _count(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


@pytest.fixture(scope="module")
def full_networks():
    return weights.build_networks(8, 64)


@pytest.mark.slow  # full-size networks
@pytest.mark.parametrize("name", list(REFERENCE_COUNTS))
def test_parameter_counts_equal_reference(full_networks, name):
    net = full_networks[name]
    assert _count(net.trainable_weights) == REFERENCE_COUNTS[name]
    # the non-trainable weights are exactly the spectral-norm u and v vectors
    assert all(v.name in ("u", "v") for v in net.non_trainable_weights)


def test_torch_reference_counts_equal_reference():
    nets = tr.build_reference(8, 64)
    assert [tr.count_parameters(n) for n in nets] == list(REFERENCE_COUNTS.values())
    assert [len(n.state_dict()) for n in nets] == [70, 44, 18, 18]


@pytest.mark.slow  # full-size networks
def test_full_discriminator_gives_30x30_map_at_256(full_networks):
    scores, features = full_networks["inpaint_discriminator"](np.zeros((1, 256, 256, 3)))
    assert tuple(scores.shape) == (1, 30, 30, 1)
    assert [tuple(f.shape) for f in features] == [
        (1, 128, 128, 64),
        (1, 64, 64, 128),
        (1, 32, 32, 256),
        (1, 31, 31, 512),
        (1, 30, 30, 1),
    ]


def test_tiny_shapes_and_ranges():
    x = np.random.default_rng(0).random((2, 32, 48, 4), dtype=np.float32)
    edges = EdgeGenerator(residual_blocks=1, filters=8)(x[..., :3])
    image = InpaintGenerator(residual_blocks=1, filters=8)(x)
    assert tuple(edges.shape) == (2, 32, 48, 1)
    assert tuple(image.shape) == (2, 32, 48, 3)
    for out in (edges, image):
        out = np.asarray(out)
        assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    logits, features = Discriminator(filters=8, use_sigmoid=False)(np.ones((1, 64, 64, 2)))
    assert tuple(logits.shape) == (1, 6, 6, 1)
    np.testing.assert_array_equal(np.asarray(logits), np.asarray(features[-1]))
    assert [f.shape[-1] for f in features] == [8, 16, 32, 64, 1]


def test_spectral_norm_placement():
    g1 = EdgeGenerator(residual_blocks=2, filters=8)
    g2 = InpaintGenerator(residual_blocks=2, filters=8)
    d = Discriminator(filters=8)
    for net, c in ((g1, 3), (g2, 4), (d, 2)):
        net(np.zeros((1, 32, 32, c), "float32"))

    def sn_layers(net):
        return [l for l in net._flatten_layers() if isinstance(l, TorchSpectralNorm)]

    # G1: 3 encoder + 2 per block + 2 decoder convs; not the last conv
    assert len(sn_layers(g1)) == 3 + 2 * 2 + 2
    assert not isinstance(g1.decoder[-1].conv, TorchSpectralNorm)
    assert sn_layers(g2) == []
    assert len(sn_layers(d)) == 5
    biases = [w for w in d.weights if w.name == "bias"]
    assert biases == []


# ---------------------------------------------------------------- spectral norm vs PyTorch


def _make_pair(transposed, seed=0):
    """A Keras SN conv and a torch spectral_norm conv with identical W_orig, bias, u, v."""
    rng = np.random.default_rng(seed)
    c_in, c_out = 5, 6
    if transposed:
        t = torch.nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
        k = keras.layers.Conv2DTranspose(c_out, 4, strides=2, padding="same")
    else:
        t = torch.nn.Conv2d(c_in, c_out, 3, padding=0)
        k = keras.layers.Conv2D(c_out, 3, padding="valid")
    t = torch.nn.utils.spectral_norm(t)
    sn = TorchSpectralNorm(k)
    sn.build((None, 8, 8, c_in))
    w = rng.normal(0, 0.3, tuple(t.weight_orig.shape)).astype(np.float32)
    b = rng.normal(0, 0.3, (c_out,)).astype(np.float32)
    u = rng.normal(size=tuple(t.weight_u.shape)).astype(np.float32)
    v = rng.normal(size=tuple(t.weight_v.shape)).astype(np.float32)
    u /= np.linalg.norm(u)
    v /= np.linalg.norm(v)
    with torch.no_grad():
        t.weight_orig.copy_(torch.from_numpy(w))
        t.bias.copy_(torch.from_numpy(b))
        t.weight_u.copy_(torch.from_numpy(u))
        t.weight_v.copy_(torch.from_numpy(v))
    # torch conv (O, I, kh, kw) and transposed (I, O, kh, kw) both go to Keras by (2, 3, 1, 0)
    k.kernel.assign(np.transpose(w, (2, 3, 1, 0)))
    k.bias.assign(b)
    sn.u.assign(u)
    sn.v.assign(v)
    x = rng.random((2, 8, 8, c_in), dtype=np.float32)
    return sn, t, x


def _torch_nhwc(module, x):
    y = module(torch.from_numpy(x).permute(0, 3, 1, 2))
    return y.permute(0, 2, 3, 1)


@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "transposed"])
def test_inference_uses_stored_u_v_without_update(transposed):
    sn, t, x = _make_pair(transposed)
    u0, v0 = np.array(sn.u), np.array(sn.v)
    t.eval()
    with torch.no_grad():
        ref = _torch_nhwc(t, x).numpy()
    out = np.asarray(sn(x, training=False))
    np.testing.assert_allclose(out, ref, atol=1e-5)
    np.testing.assert_array_equal(np.array(sn.u), u0)
    np.testing.assert_array_equal(np.array(sn.v), v0)


@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "transposed"])
def test_training_call_is_one_torch_power_iteration(transposed):
    sn, t, x = _make_pair(transposed)
    t.train()
    ref = _torch_nhwc(t, x).detach().numpy()
    out = np.asarray(sn(x, training=True))
    np.testing.assert_allclose(np.array(sn.u), t.weight_u.numpy(), atol=1e-6)
    np.testing.assert_allclose(np.array(sn.v), t.weight_v.numpy(), atol=1e-6)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    # and again, from the updated vectors, inside a tf.function (how fit runs it)
    ref2 = _torch_nhwc(t, x).detach().numpy()
    out2 = np.asarray(tf.function(lambda a: sn(a, training=True))(x))
    np.testing.assert_allclose(np.array(sn.u), t.weight_u.numpy(), atol=1e-6)
    np.testing.assert_allclose(out2, ref2, atol=1e-5)


@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "transposed"])
def test_normalized_along_output_channels(transposed):
    sn, t, _ = _make_pair(transposed)
    c_out = 6
    assert tuple(sn.u.shape) == (c_out,)
    assert tuple(sn.v.shape) == (5 * int(np.prod(sn.layer.kernel.shape[:2])),)
    # many training iterations converge to the largest singular value of the
    # (out_channels, -1) matrix, computed independently with numpy
    kernel = np.array(sn.layer.kernel)  # (kh, kw, I, O) or (kh, kw, O, I)
    perm = (2, 3, 0, 1) if transposed else (3, 2, 0, 1)
    w_mat = np.transpose(kernel, perm).reshape(c_out, -1)
    sigma_max = np.linalg.svd(w_mat, compute_uv=False)[0]
    for _ in range(100):
        normalized = np.array(sn.normalized_kernel(training=True))
    np.testing.assert_allclose(normalized, kernel / sigma_max, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "transposed"])
def test_gradient_flows_through_sigma_like_torch(transposed):
    sn, t, x = _make_pair(transposed)
    t.train()
    ref = _torch_nhwc(t, x)
    g = np.random.default_rng(1).normal(size=tuple(ref.shape)).astype(np.float32)
    (ref * torch.from_numpy(g)).sum().backward()
    ref_grad_w = t.weight_orig.grad.numpy()
    ref_grad_b = t.bias.grad.numpy()

    with tf.GradientTape() as tape:
        out = sn(x, training=True)
        loss = tf.reduce_sum(out * g)
    grad_k, grad_b = tape.gradient(loss, [sn.layer.kernel, sn.layer.bias])
    grad_w = np.transpose(np.asarray(grad_k), (3, 2, 0, 1))  # back to torch layout
    np.testing.assert_allclose(grad_w, ref_grad_w, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(grad_b), ref_grad_b, atol=1e-4, rtol=1e-4)
    # the test can fail: with sigma held constant the gradient is clearly different
    with torch.no_grad():
        w_mat = t.weight_orig.transpose(0, 1) if transposed else t.weight_orig
        sigma = torch.dot(t.weight_u, w_mat.reshape(w_mat.shape[0], -1) @ t.weight_v)
    w_leaf = t.weight_orig.detach().clone().requires_grad_()
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    if transposed:
        y = torch.nn.functional.conv_transpose2d(xt, w_leaf / sigma, t.bias, stride=2, padding=1)
    else:
        y = torch.nn.functional.conv2d(xt, w_leaf / sigma, t.bias)
    (y.permute(0, 2, 3, 1) * torch.from_numpy(g)).sum().backward()
    assert np.abs(w_leaf.grad.numpy() - ref_grad_w).max() > 1e-2 * np.abs(ref_grad_w).max()


# ---------------------------------------------------------------- serialization


@pytest.mark.parametrize(
    "make, channels",
    [
        (lambda: EdgeGenerator(residual_blocks=1, filters=8), 3),
        (lambda: InpaintGenerator(residual_blocks=1, filters=8), 4),
        (lambda: InpaintGenerator(residual_blocks=1, filters=8, hole_fill="pyramid"), 4),
        (lambda: Discriminator(filters=8, use_sigmoid=False), 2),
    ],
    ids=["G1", "G2", "G2 pyramid", "D"],
)
def test_config_round_trip(make, channels, tmp_path):
    net = make()
    x = np.random.default_rng(0).random((1, 32, 32, channels), dtype=np.float32)
    y = net(x)
    clone = type(net).from_config(net.get_config())
    clone(x)
    assert clone.get_config() == net.get_config()
    clone.set_weights(net.get_weights())
    y2 = clone(x)
    for a, b in zip(tf.nest.flatten(y), tf.nest.flatten(y2), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # whole-model .keras file, through the registered classes
    path = str(tmp_path / "net.keras")
    net.save(path)
    loaded = keras.models.load_model(path)
    for a, b in zip(tf.nest.flatten(y), tf.nest.flatten(loaded(x)), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_pyramid_g2_adds_a_correction_to_its_input_fill(tmp_path):
    """hole_fill="pyramid": the same weights' (tanh + 1) / 2 read as fill + 2·G2 − 1, clipped;
    the setting survives rebuilt() and a weights directory."""
    white = InpaintGenerator(residual_blocks=1, filters=8)
    pyramid = InpaintGenerator(residual_blocks=1, filters=8, hole_fill="pyramid")
    x = np.random.default_rng(1).random((2, 32, 32, 4), dtype=np.float32)
    white(x), pyramid(x)
    pyramid.set_weights(white.get_weights())
    expected = np.clip(x[..., :3] + 2.0 * white(x).numpy() - 1.0, 0.0, 1.0)
    np.testing.assert_allclose(pyramid(x).numpy(), expected, atol=1e-6)
    assert 0 < np.mean((expected == 0) | (expected == 1)) < 1  # the clip is exercised
    assert pyramid.rebuilt(conv_mode="graph").hole_fill == "pyramid"
    nets = {"inpaint_generator": pyramid}
    weights.save_networks(str(tmp_path), nets)
    loaded, config = weights.load_networks(str(tmp_path), names=("inpaint_generator",))
    assert config["hole_fill"] == "pyramid"
    np.testing.assert_array_equal(loaded["inpaint_generator"](x).numpy(), pyramid(x).numpy())
    with pytest.raises(ValueError, match="hole_fill must be one of"):
        InpaintGenerator(residual_blocks=1, filters=8, hole_fill="telea")
