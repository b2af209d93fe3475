"""Layers against numpy: reflect padding, instance norm, PyTorch-style conv padding."""

import keras
import numpy as np
import pytest
from conftest import needs_bf16_kernels
from scipy import signal

from edgeconnect_tf.nn.layers import (
    InstanceNormalization,
    PaddedConv2D,
    ReflectionPadding2D,
    ResidualBlock,
)


def test_reflection_padding_matches_numpy_reflect():
    x = np.random.rand(2, 5, 7, 3).astype("float32")
    y = ReflectionPadding2D(3)(x)
    np.testing.assert_array_equal(y, np.pad(x, ((0, 0), (3, 3), (3, 3), (0, 0)), mode="reflect"))


def test_reflection_padding_by_slices_is_bit_identical_and_built_for_tflite():
    from edgeconnect_tf.deploy.tflite import tflite_model
    from edgeconnect_tf.edgeconnect import EdgeConnect

    x = np.random.rand(2, 5, 7, 3).astype("float32")
    layer = ReflectionPadding2D(3, by_slices=True)
    np.testing.assert_array_equal(layer(x), np.pad(x, ((0, 0), (3, 3), (3, 3), (0, 0)), "reflect"))

    def pads(model):
        return [
            layer
            for net in (model.edge_generator, model.inpaint_generator)
            for layer in net._flatten_layers()
            if isinstance(layer, ReflectionPadding2D)
        ]

    model = EdgeConnect(residual_blocks=1, filters=4, conv_mode="xla")
    for mode in ("direct", "graph"):
        copy = tflite_model(model, mode)
        assert pads(copy) and all(p.by_slices for p in pads(copy))
        assert copy.conv_mode == mode and copy.edge_generator.middle[0].conv_mode == mode
        assert copy.inpaint_generator.tflite_ops and copy.inpaint_generator.conv_mode == mode
        # The stride-2 and output convs stay CONV_2D in a TFLite build (graph mode too).
        convs = [c for c in copy.inpaint_generator._flatten_layers() if hasattr(c, "matmul_form")]
        assert convs and not any(c.matmul_form for c in convs)
    # The model itself is not changed.
    assert pads(model) and not any(p.by_slices for p in pads(model))
    assert model.conv_mode == "xla" and model.edge_generator.middle[0].conv_mode == "xla"
    assert not model.edge_generator.tflite_ops
    with pytest.raises(ValueError, match="'direct' or 'graph' for TFLite"):
        tflite_model(model, "xla")


def test_instance_norm_matches_numpy():
    x = (np.random.rand(2, 6, 5, 4) * 10 + 3).astype("float32")
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)  # biased, as PyTorch's InstanceNorm2d
    expected = (x - mean) / np.sqrt(var + 1e-5)
    layer = InstanceNormalization()
    np.testing.assert_allclose(layer(x), expected, atol=1e-5)
    assert layer.count_params() == 0


@pytest.mark.parametrize("size", [8, 9])
@pytest.mark.parametrize("stride,padding,dilation", [(2, 1, 1), (1, 1, 1), (1, 0, 2)])
def test_padded_conv_matches_zero_padded_correlation(size, stride, padding, dilation):
    x = np.random.rand(1, size, size, 2).astype("float32")
    layer = PaddedConv2D(
        3, 4 if dilation == 1 else 3, stride=stride, padding=padding, dilation=dilation
    )
    y = keras.ops.convert_to_numpy(layer(x))
    kernel = keras.ops.convert_to_numpy(layer.conv.kernel)
    bias = keras.ops.convert_to_numpy(layer.conv.bias)
    xp = np.pad(x[0], ((padding, padding), (padding, padding), (0, 0)))
    k = kernel.shape[0]
    dk = np.zeros(((k - 1) * dilation + 1,) * 2 + kernel.shape[2:], "float32")
    dk[::dilation, ::dilation] = kernel
    expected = (
        np.stack(
            [
                sum(signal.correlate2d(xp[..., i], dk[..., i, o], mode="valid") for i in range(2))
                for o in range(3)
            ],
            axis=-1,
        )[::stride, ::stride]
        + bias
    )
    # PyTorch's output size: floor((H + 2p - d(k-1) - 1) / s) + 1
    out = (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    assert y.shape == (1, out, out, 3)
    np.testing.assert_allclose(y[0], expected, atol=1e-5)


def test_layers_round_trip_config():
    for layer in [
        ReflectionPadding2D(2),
        InstanceNormalization(epsilon=1e-3),
        ReflectionPadding2D(2, by_slices=True),
        PaddedConv2D(4, 3, stride=2, padding=1, spectral_norm=True, use_bias=False),
        PaddedConv2D(3, 4, stride=2, padding=1, matmul_form=True),
        ResidualBlock(8, spectral_norm=True, conv_mode="graph", by_slices=True),
    ]:
        clone = layer.__class__.from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
    assert ReflectionPadding2D.from_config(ReflectionPadding2D(2, True).get_config()).by_slices
    assert PaddedConv2D.from_config(PaddedConv2D(1, 7, matmul_form=True).get_config()).matmul_form
    block = ResidualBlock.from_config(
        ResidualBlock(8, conv_mode="xla", by_slices=True).get_config()
    )
    assert (block.conv_mode, block.by_slices, block.pad1.by_slices) == ("xla", True, True)


def test_every_conv_gets_its_own_initial_kernel():
    from edgeconnect_tf.networks import EdgeGenerator

    g = EdgeGenerator(residual_blocks=2, filters=8)
    g(np.zeros((1, 16, 16, 3), "float32"))
    kernels = [v.numpy() for v in g.weights if v.path.endswith("kernel") and "middle" in v.path]
    assert len(kernels) == 4
    for i in range(len(kernels)):
        for j in range(i + 1, len(kernels)):
            assert not np.array_equal(kernels[i], kernels[j])
    assert abs(float(np.std(np.concatenate([k.ravel() for k in kernels]))) - 0.02) < 0.003


@needs_bf16_kernels
def test_bfloat16_bias_gradient_is_summed_in_float32():
    """Under mixed_bfloat16 a conv's bias gradient is the float32 sum of the bf16 upstream
    gradient, rounded once (TF's BiasAddGrad, which Keras' convs use, sums in bfloat16)."""
    import tensorflow as tf

    ones = tf.ones([1, 2048, 1, 1], tf.bfloat16)
    assert (
        float(tf.raw_ops.BiasAddGrad(out_backprop=ones)[0]) == 256.0
    )  # why PaddedConv2D adds its own

    rng = np.random.default_rng(0)
    x = rng.random((2, 32, 32, 2)).astype("float32")
    dy = tf.constant(rng.standard_normal((2, 32, 32, 3)) + 0.2, tf.bfloat16)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = PaddedConv2D(3, 3, padding=1)
        with tf.GradientTape() as tape:
            y = layer(x)
        grads = tape.gradient(y, [layer.conv.kernel, layer.conv.bias], output_gradients=dy)
        plain = layer.conv(np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))))  # Keras' own path
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert y.dtype == "bfloat16"
    np.testing.assert_array_equal(y.numpy(), plain.numpy())
    expected = tf.cast(dy, tf.float64).numpy().sum(axis=(0, 1, 2))  # exact sums of ~400
    np.testing.assert_allclose(grads[1].numpy(), expected, rtol=2.0**-8)  # one bf16 rounding
    assert grads[0].shape == (3, 3, 2, 3)
