"""edgeconnect_tf.fast_ops against direct convolutions and the original layers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from edgeconnect_tf import fast_ops
from edgeconnect_tf.layers import ResidualBlock
from edgeconnect_tf.networks import EdgeGenerator, InpaintGenerator


def _correlate_valid(x, k, dilation=1):
    """Direct valid cross-correlation in numpy: x [N, H, W, C], k [3, 3, C, K]."""
    n, h, w, _ = x.shape
    span = 2 * dilation
    out = np.zeros((n, h - span, w - span, k.shape[-1]))
    for i in range(3):
        for j in range(3):
            patch = x[
                :, i * dilation : i * dilation + h - span, j * dilation : j * dilation + w - span
            ]
            out += patch @ k[i, j]
    return out


def test_winograd_matrices_compute_a_valid_correlation():
    rng = np.random.default_rng(1)
    d, g = rng.standard_normal((6, 6)), rng.standard_normal((3, 3))
    y = fast_ops.A_T @ ((fast_ops.G @ g @ fast_ops.G.T) * (fast_ops.B_T @ d @ fast_ops.B_T.T))
    y = y @ fast_ops.A_T.T
    expected = [[(d[i : i + 3, j : j + 3] * g).sum() for j in range(4)] for i in range(4)]
    np.testing.assert_allclose(y, expected, atol=1e-12)


@pytest.mark.parametrize("h, w", [(18, 22), (13, 9), (6, 6)])
def test_conv3x3_valid_matches_direct_correlation(h, w):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, h, w, 5)).astype("float32")
    k = rng.standard_normal((3, 3, 5, 7)).astype("float32")
    bias = rng.standard_normal(7).astype("float32")
    got = fast_ops.conv3x3_valid(x, k, bias).numpy()
    expected = _correlate_valid(x.astype("float64"), k.astype("float64")) + bias
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-5 * np.abs(expected).max())


def test_dilated_conv_on_phases_matches_direct_dilated_correlation():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 20, 24, 4)).astype("float32")
    k = rng.standard_normal((3, 3, 4, 6)).astype("float32")
    got = fast_ops.dilated_conv3x3_valid(x, k, dilation=2).numpy()
    expected = _correlate_valid(x.astype("float64"), k.astype("float64"), dilation=2)
    assert got.shape == (2, 16, 20, 6)
    np.testing.assert_allclose(got, expected, atol=2e-5 * np.abs(expected).max())


def test_dilated_conv_rejects_sides_not_divisible_by_dilation():
    with pytest.raises(ValueError, match="multiples of the dilation"):
        fast_ops.dilated_conv3x3_valid(np.zeros((1, 9, 10, 2), "float32"), np.zeros((3, 3, 2, 2)))


def test_instance_norm_matches_numpy():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 5, 3)).astype("float32") * 3 + 1
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = np.maximum((x - mean) / np.sqrt(var + 1e-5), 0)
    np.testing.assert_allclose(fast_ops.instance_norm(x, relu=True), expected, atol=1e-5)


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_residual_block_matches_layer_and_its_gradients(spectral_norm):
    rng = np.random.default_rng(5)
    block = ResidualBlock(8, dilation=2, spectral_norm=spectral_norm)
    x = tf.constant(rng.standard_normal((2, 12, 16, 8)).astype("float32"))
    expected = block(x).numpy()
    np.testing.assert_allclose(fast_ops.residual_block(block, x).numpy(), expected, atol=1e-4)

    weights = tf.constant(rng.standard_normal(expected.shape).astype("float32"))
    variables = block.trainable_variables
    grads = []
    for fn in (lambda: block(x), lambda: fast_ops.residual_block(block, x)):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(fn() * weights)
        grads.append(tape.gradient(loss, variables))
    # Conv biases before an instance norm get zero gradient (up to rounding): compare all
    # gradients at the scale of the largest one.
    scale = max(float(np.abs(g.numpy()).max()) for g in grads[0])
    for got, want in zip(grads[1], grads[0], strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4 * scale)


def test_residual_block_training_updates_spectral_norm_vectors_like_the_layer():
    block = ResidualBlock(4, spectral_norm=True)
    x = tf.random.normal((1, 8, 8, 4), seed=1)
    block(x)
    u0 = block.conv1.conv.u.numpy()
    fast_ops.residual_block(block, x, training=True)
    u_fast = block.conv1.conv.u.numpy()
    block.conv1.conv.u.assign(u0)
    block(x, training=True)
    assert not np.allclose(u_fast, u0)
    np.testing.assert_allclose(u_fast, block.conv1.conv.u.numpy(), atol=1e-6)


@pytest.mark.parametrize("generator, channels", [(EdgeGenerator, 3), (InpaintGenerator, 4)])
def test_fast_generator_matches_generator_with_and_without_xla(generator, channels):
    net = generator(residual_blocks=2, filters=8)
    x = tf.constant(np.random.default_rng(6).random((1, 32, 48, channels)).astype("float32"))
    expected = net(x).numpy()
    eager = fast_ops.fast_generator(net)(x).numpy()
    xla = tf.function(fast_ops.fast_generator(net), jit_compile=True)(x).numpy()
    np.testing.assert_allclose(eager, expected, atol=1e-5)
    np.testing.assert_allclose(xla, expected, atol=1e-5)


def test_fast_path_needs_static_shapes():
    with pytest.raises(ValueError, match="static shapes"):
        tf.function(
            lambda x: fast_ops.conv3x3_valid(x, tf.zeros((3, 3, 2, 2))),
            input_signature=[tf.TensorSpec([1, None, None, 2])],
        ).get_concrete_function()
    assert not fast_ops.supported(keras.KerasTensor((1, None, None, 2)))
    assert not fast_ops.supported(np.zeros((1, 5, 6, 2)))  # odd height
    assert fast_ops.supported(np.zeros((1, 4, 6, 2)))


def test_in_xla_context_only_while_tracing_for_xla():
    seen = {}

    def probe(name):
        def fn():
            seen[name] = fast_ops.in_xla_context()
            return tf.constant(0)

        return fn

    probe("eager")()
    tf.function(probe("graph"))()
    tf.function(probe("xla"), jit_compile=True)()
    assert seen == {"eager": False, "graph": False, "xla": True}


def test_compiled_residual_block_matches_layer_in_a_plain_graph():
    block = ResidualBlock(8, spectral_norm=True)
    x = tf.random.normal((1, 12, 12, 8), seed=2)
    expected = block(x).numpy()
    got = tf.function(lambda v: fast_ops.compiled_residual_block(block, v))(x).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)
