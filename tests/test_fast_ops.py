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
def test_winograd_generator_matches_generator_with_and_without_xla(generator, channels):
    from edgeconnect_tf.layers import set_winograd

    net = generator(residual_blocks=2, filters=8)
    x = tf.constant(np.random.default_rng(6).random((1, 32, 48, channels)).astype("float32"))
    expected = net(x).numpy()
    set_winograd([net], True)
    eager = net(x).numpy()
    xla = tf.function(net, jit_compile=True)(x).numpy()
    np.testing.assert_allclose(eager, expected, atol=1e-5)
    np.testing.assert_allclose(xla, expected, atol=1e-5)
    assert not np.array_equal(eager, expected)  # the Winograd path ran


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


def _pipeline_inputs(size, seed=3):
    from edgeconnect_tf.deploy.saved_model import sample_inputs

    return sample_inputs(size, seed=seed)


def test_winograd_edgeconnect_matches_plain_eager_graph_and_xla():
    from edgeconnect_tf.edgeconnect import EdgeConnect

    keras.utils.set_random_seed(4)
    model = EdgeConnect(residual_blocks=2, filters=8)
    image, mask = _pipeline_inputs(48)
    plain = model({"image": image, "mask": mask})["raw"].numpy()
    model.winograd = True
    assert all(block.winograd for block in model.inpaint_generator.middle)
    assert all(block.winograd for block in model.edge_generator.middle)
    calls = []
    original = fast_ops.compiled_residual_block

    def counting(block, x, training=False):
        calls.append(tuple(x.shape))
        return original(block, x, training)

    fast_ops.compiled_residual_block = counting
    try:
        eager = model({"image": image, "mask": mask})["raw"].numpy()
        graph = tf.function(lambda i, m: model({"image": i, "mask": m})["raw"])(image, mask)
        xla = tf.function(lambda i, m: model({"image": i, "mask": m})["raw"], jit_compile=True)
        xla = xla(image, mask)
    finally:
        fast_ops.compiled_residual_block = original
    # 2 blocks x 2 generators, eager and in the plain graph; under XLA the
    # blocks join the caller's cluster instead.
    assert len(calls) == 8 and set(calls) == {(1, 12, 12, 32)}
    for out in (eager, graph.numpy(), xla.numpy()):
        np.testing.assert_allclose(out, plain, atol=2e-5)
    assert np.abs(eager - plain).max() > 0  # it did take the other path


def test_winograd_blocks_leave_dynamic_shapes_alone_and_round_trip():
    from edgeconnect_tf.edgeconnect import EdgeConnect

    keras.utils.set_random_seed(5)
    model = EdgeConnect(residual_blocks=1, filters=8, winograd=True)
    image, mask = _pipeline_inputs(32)
    original = fast_ops.compiled_residual_block

    def forbidden(*args, **kwargs):
        raise AssertionError("fast path taken")

    fast_ops.compiled_residual_block = forbidden
    try:
        spec = tf.TensorSpec([1, None, None, 3]), tf.TensorSpec([1, None, None, 1])
        dynamic = tf.function(lambda i, m: model({"image": i, "mask": m})["raw"])
        dynamic.get_concrete_function(*spec)
        with model.plain_blocks():
            assert not model.winograd and not model.edge_generator.middle[0].winograd
            model({"image": image, "mask": mask})
        assert model.winograd and model.edge_generator.middle[0].winograd
    finally:
        fast_ops.compiled_residual_block = original
    config = model.get_config()
    assert config["winograd"] is True and EdgeConnect.from_config(config).winograd


@pytest.mark.parametrize("stage", ["edge", "inpaint"])
def test_winograd_training_step_gradients_match_the_plain_step(stage):
    from edgeconnect_tf.layers import set_winograd
    from edgeconnect_tf.models import EdgeModel, InpaintModel

    rng = np.random.default_rng(7)
    size = 32
    mask = np.zeros((2, size, size, 1), "float32")
    mask[:, 8:20, 6:22] = 1
    image = rng.random((2, size, size, 3)).astype("float32")
    batch = {
        "image": image,
        "gray": image.mean(-1, keepdims=True),
        "edge": (rng.random((2, size, size, 1)) > 0.8).astype("float32"),
        "mask": mask,
    }
    batch = {k: tf.constant(v) for k, v in batch.items()}
    gradients = []
    for winograd in (False, True):
        keras.utils.set_random_seed(8)
        net = {"residual_blocks": 2, "filters": 8}
        model = EdgeModel(**net) if stage == "edge" else InpaintModel(vgg_weights=None, **net)
        model.build_networks(size)
        set_winograd(model.networks.values(), winograd)

        @tf.function
        def grads(batch, model=model):
            with tf.GradientTape(persistent=True) as tape:
                if stage == "edge":
                    _, logs = model.compute_losses(batch, True)
                    g_loss = logs["g1"] + logs["fm"]
                else:
                    _, logs = model.compute_losses(
                        batch["image"], batch["edge"], batch["mask"], True
                    )
                    g_loss = model.generator_loss(logs)
            return tape.gradient(g_loss, model.generator_variables())

        gradients.append([g.numpy() for g in grads(batch)])
    plain, fast = gradients
    assert len(plain) == len(fast) > 0
    # Biases before an instance norm have a zero gradient (rounding noise ~1e-8
    # in both): absolute tolerance relative to the largest gradient of all.
    scale = max(np.abs(p).max() for p in plain)
    for p, f in zip(plain, fast, strict=True):
        np.testing.assert_allclose(f, p, rtol=2e-3, atol=1e-4 * scale)
    assert any(not np.array_equal(p, f) for p, f in zip(plain, fast, strict=True))


def test_tflite_export_of_a_winograd_model_traces_the_plain_blocks(tmp_path):
    from edgeconnect_tf.deploy.tflite import export_tflite
    from edgeconnect_tf.edgeconnect import EdgeConnect

    keras.utils.set_random_seed(6)
    model = EdgeConnect(residual_blocks=1, filters=4, winograd=True)
    ops = export_tflite(model, str(tmp_path / "m.tflite"), size=32)
    assert "CONV_2D" in ops and not any("XLA" in op.upper() or "CUSTOM" in op for op in ops)
    assert model.winograd  # restored after the export
