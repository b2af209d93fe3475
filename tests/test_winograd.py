"""edgeconnect_tf.nn.winograd against direct convolutions and the original layers."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import needs_bf16_kernels

from edgeconnect_tf import networks
from edgeconnect_tf.networks import EdgeGenerator, InpaintGenerator
from edgeconnect_tf.nn import matmul_conv, winograd
from edgeconnect_tf.nn.layers import PaddedConv2D, ResidualBlock


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
    y = winograd.A_T @ ((winograd.G @ g @ winograd.G.T) * (winograd.B_T @ d @ winograd.B_T.T))
    y = y @ winograd.A_T.T
    expected = [[(d[i : i + 3, j : j + 3] * g).sum() for j in range(4)] for i in range(4)]
    np.testing.assert_allclose(y, expected, atol=1e-12)


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_residual_block_matches_layer_and_its_gradients(spectral_norm):
    rng = np.random.default_rng(5)
    block = ResidualBlock(8, dilation=2, spectral_norm=spectral_norm)
    x = tf.constant(rng.standard_normal((2, 12, 16, 8)).astype("float32"))
    expected = block(x).numpy()

    def fast():
        return winograd.block_core(x, *block.block_weights(x), dilation=block.dilation)

    np.testing.assert_allclose(fast().numpy(), expected, atol=1e-4)

    weights = tf.constant(rng.standard_normal(expected.shape).astype("float32"))
    variables = block.trainable_variables
    grads = []
    for fn in (lambda: block(x), fast):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(fn() * weights)
        grads.append(tape.gradient(loss, variables))
    # Conv biases before an instance norm get zero gradient (up to rounding): compare all
    # gradients at the scale of the largest one.
    scale = max(float(np.abs(g.numpy()).max()) for g in grads[0])
    for got, want in zip(grads[1], grads[0], strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4 * scale)


def test_residual_block_training_updates_spectral_norm_vectors_like_the_layer():
    block = ResidualBlock(4, spectral_norm=True, conv_mode="xla")
    x = tf.random.normal((1, 8, 8, 4), seed=1)
    block(x)
    u0 = block.conv1.conv.u.numpy()
    block(x, training=True)  # the Winograd path: weights computed outside the XLA cluster
    u_fast = block.conv1.conv.u.numpy()
    block.conv1.conv.u.assign(u0)
    block(x, training=True, direct=True)
    assert not np.allclose(u_fast, u0)
    np.testing.assert_allclose(u_fast, block.conv1.conv.u.numpy(), atol=1e-6)


@pytest.mark.slow  # XLA compiles and TFLite conversions: once, in the slow tier
@pytest.mark.parametrize("generator, channels", [(EdgeGenerator, 3), (InpaintGenerator, 4)])
def test_winograd_generator_matches_generator_with_and_without_xla(generator, channels):
    net = generator(residual_blocks=2, filters=8)
    x = tf.constant(np.random.default_rng(6).random((1, 32, 48, channels)).astype("float32"))
    expected = net(x).numpy()
    fast = net.rebuilt(conv_mode="xla")
    assert fast.conv_mode == "xla" and all(b.conv_mode == "xla" for b in fast.middle)
    assert net.conv_mode == "direct" and all(b.conv_mode == "direct" for b in net.middle)
    eager = fast(x).numpy()
    xla = tf.function(fast, jit_compile=True)(x).numpy()
    np.testing.assert_allclose(eager, expected, atol=1e-5)
    np.testing.assert_allclose(xla, expected, atol=1e-5)
    assert not np.array_equal(eager, expected)  # the Winograd path ran
    np.testing.assert_array_equal(net(x).numpy(), expected)  # the original is unchanged


def test_compiled_blocks_need_static_shapes_of_any_size():
    assert not winograd.supported(keras.KerasTensor((1, None, None, 2)))
    assert winograd.supported(np.zeros((1, 5, 7, 2)))  # odd sides too: conv3x3_graph pads


def test_compiled_residual_block_matches_layer_in_a_plain_graph(monkeypatch):
    block = ResidualBlock(8, spectral_norm=True, conv_mode="xla")
    x = tf.random.normal((1, 13, 11, 8), seed=2)  # odd sides: tiles padded, outputs cropped
    expected = block(x, direct=True).numpy()
    calls = _count_compiled_blocks(monkeypatch)
    got = tf.function(lambda v: block(v))(x).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert calls == [(1, 13, 11, 8)]  # the compiled block core ran


def _count_compiled_blocks(monkeypatch):
    """Patches `winograd.compiled_block_core` to record its input shapes; returns the list."""
    calls = []
    original = winograd.compiled_block_core

    def counting(x, k1, b1, k2, b2, dilation=2):
        calls.append(tuple(x.shape))
        return original(x, k1, b1, k2, b2, dilation=dilation)

    monkeypatch.setattr(winograd, "compiled_block_core", counting)
    return calls


def _pipeline_inputs(size, seed=3):
    from edgeconnect_tf.deploy.saved_model import sample_inputs

    return sample_inputs(size, seed=seed)


@pytest.mark.slow  # exports/compiles at several sizes: once, in the slow tier
def test_winograd_edgeconnect_matches_plain_eager_graph_and_xla(monkeypatch):
    from edgeconnect_tf.edgeconnect import EdgeConnect

    keras.utils.set_random_seed(4)
    plain_model = EdgeConnect(residual_blocks=2, filters=8, conv_mode="direct")
    image, mask = _pipeline_inputs(48)
    plain = plain_model({"image": image, "mask": mask})["raw"].numpy()
    model = plain_model.with_conv_mode("xla")
    assert model.conv_mode == "xla" and plain_model.conv_mode == "direct"
    assert all(block.conv_mode == "xla" for block in model.inpaint_generator.middle)
    assert all(block.conv_mode == "xla" for block in model.edge_generator.middle)
    assert all(block.conv_mode == "direct" for block in plain_model.edge_generator.middle)
    calls = _count_compiled_blocks(monkeypatch)
    eager = model({"image": image, "mask": mask})["raw"].numpy()
    graph = tf.function(lambda i, m: model({"image": i, "mask": m})["raw"])(image, mask)
    xla = tf.function(lambda i, m: model({"image": i, "mask": m})["raw"], jit_compile=True)
    xla = xla(image, mask)
    # 2 blocks x 2 generators, eager, in the plain graph and inside the caller's
    # XLA cluster (a nested jit_compile function joins the caller's cluster).
    assert len(calls) == 12 and set(calls) == {(1, 12, 12, 32)}
    for out in (eager, graph.numpy(), xla.numpy()):
        np.testing.assert_allclose(out, plain, atol=2e-5)
    assert np.abs(eager - plain).max() > 0  # it did take the other path


def test_winograd_blocks_leave_dynamic_shapes_alone_and_round_trip(monkeypatch):
    from edgeconnect_tf.edgeconnect import EdgeConnect

    keras.utils.set_random_seed(5)
    model = EdgeConnect(residual_blocks=1, filters=8, conv_mode="xla")
    direct = model.with_conv_mode("direct")  # builds both (the xla generators run once)
    image, mask = _pipeline_inputs(32)

    def forbidden(*args, **kwargs):
        raise AssertionError("fast path taken")

    monkeypatch.setattr(winograd, "compiled_block_core", forbidden)
    spec = tf.TensorSpec([1, None, None, 3]), tf.TensorSpec([1, None, None, 1])
    dynamic = tf.function(lambda i, m: model({"image": i, "mask": m})["raw"])
    dynamic.get_concrete_function(*spec)
    assert direct.conv_mode == "direct" and direct.edge_generator.middle[0].conv_mode == "direct"
    direct({"image": image, "mask": mask})
    assert model.conv_mode == "xla" and model.edge_generator.middle[0].conv_mode == "xla"
    monkeypatch.undo()
    config = model.get_config()
    assert config["conv_mode"] == "xla" and EdgeConnect.from_config(config).conv_mode == "xla"


@pytest.mark.slow  # XLA compiles and TFLite conversions: once, in the slow tier
@pytest.mark.parametrize("stage", ["edge", "inpaint"])
def test_winograd_training_step_gradients_match_the_plain_step(stage):
    from edgeconnect_tf.training.stages import EdgeModel, InpaintModel

    rng = np.random.default_rng(7)
    size = 36  # 9×9 blocks: odd sides, tiles padded and outputs cropped under XLA too
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
    for mode in ("direct", "xla"):
        keras.utils.set_random_seed(8)
        net = {"residual_blocks": 2, "filters": 8, "conv_mode": mode}
        model = EdgeModel(**net) if stage == "edge" else InpaintModel(vgg_weights=None, **net)
        model.build_networks(size)
        assert all(block.conv_mode == mode for block in model.generator.middle)

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


@pytest.mark.slow  # XLA compiles and TFLite conversions: once, in the slow tier
def test_tflite_export_of_a_winograd_model_traces_the_plain_blocks(tmp_path):
    from edgeconnect_tf.deploy.tflite import export_tflite
    from edgeconnect_tf.edgeconnect import EdgeConnect

    keras.utils.set_random_seed(6)
    model = EdgeConnect(residual_blocks=1, filters=4, conv_mode="xla")
    ops = export_tflite(model, str(tmp_path / "m.tflite"), size=32, conv_mode="direct")
    assert "CONV_2D" in ops and not any("XLA" in op.upper() or "CUSTOM" in op for op in ops)
    assert "BATCH_MATMUL" not in ops  # direct blocks
    assert model.conv_mode == "xla"  # the export built a copy; the model is unchanged
    assert all(b.conv_mode == "xla" for b in model.edge_generator.middle)
    assert not model.edge_generator.tflite_ops


@pytest.mark.parametrize(
    "dilation, h, w", [(1, 18, 22), (1, 13, 9), (1, 3, 3), (2, 20, 24), (2, 13, 15), (2, 5, 8)]
)
def test_conv3x3_graph_matches_direct_correlation_static_and_dynamic(dilation, h, w):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, h, w, 5)).astype("float32")
    k = rng.standard_normal((3, 3, 5, 7)).astype("float32")
    bias = rng.standard_normal(7).astype("float32")
    expected = _correlate_valid(x.astype("float64"), k.astype("float64"), dilation) + bias
    static = winograd.conv3x3_graph(x, k, bias, dilation=dilation)
    dynamic = tf.function(
        lambda v: winograd.conv3x3_graph(v, k, bias, dilation=dilation),
        input_signature=[tf.TensorSpec([None, None, None, 5])],
        autograph=False,
    )
    assert static.shape == expected.shape
    for got in (static.numpy(), dynamic(x).numpy()):
        np.testing.assert_allclose(got, expected, atol=2e-5 * np.abs(expected).max())


@needs_bf16_kernels
def test_conv3x3_graph_takes_bfloat16_products_with_float32_transforms():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 18, 18, 16)).astype("float32")
    k = rng.standard_normal((3, 3, 16, 8)).astype("float32")
    expected = _correlate_valid(x.astype("float64"), k.astype("float64"), 1)
    got = winograd.conv3x3_graph(x, k, product_dtype=tf.bfloat16)
    assert got.dtype == tf.float32
    error = np.abs(got.numpy() - expected).max() / np.abs(expected).max()
    # bfloat16 operands (~3 digits), amplified by the output transform: ~6 % here, not 1e-6
    assert 1e-3 < error < 0.15


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_graph_residual_block_matches_layer_on_odd_and_dynamic_sizes(spectral_norm):
    block = ResidualBlock(8, dilation=2, spectral_norm=spectral_norm, conv_mode="graph")
    x = tf.random.normal((1, 13, 10, 8), seed=3)
    expected = block(x, direct=True).numpy()
    dynamic = tf.function(block, input_signature=[tf.TensorSpec([None, None, None, 8])])
    for got in (block(x).numpy(), dynamic(x).numpy()):
        np.testing.assert_allclose(got, expected, atol=1e-4)
        assert not np.array_equal(got, expected)  # the Winograd path ran


def test_graph_residual_block_computes_in_float32_under_a_mixed_policy():
    x = tf.random.normal((1, 13, 10, 8), seed=5)
    x = tf.cast(tf.cast(x, tf.bfloat16), tf.float32)  # what the block's bfloat16 input holds
    block = ResidualBlock(8, conv_mode="graph")
    block(x)
    # Under the mixed policy Keras reads the variables as bfloat16 (autocast) wherever the
    # kernels are taken: the reference gets the same bfloat16-rounded weights.
    block.set_weights([tf.cast(tf.cast(w, tf.bfloat16), tf.float32) for w in block.weights])
    expected = block(x, direct=True).numpy()  # float32, direct
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = ResidualBlock(8, conv_mode="graph")
        mixed(x)
        mixed.set_weights(block.get_weights())
        got = mixed(x)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert got.dtype == tf.bfloat16
    # Winograd in float32 (the block tolerance), then one rounding to bfloat16 (2^-9 relative).
    np.testing.assert_allclose(tf.cast(got, tf.float32), expected, rtol=2.0**-8, atol=1e-4)


def test_conv_mode_values_are_checked_where_a_network_is_built():
    from edgeconnect_tf.edgeconnect import EdgeConnect
    from edgeconnect_tf.nn.conv_mode import CONV_MODES, check_conv_mode

    assert CONV_MODES == ("direct", "graph", "xla")
    assert [check_conv_mode(v) for v in CONV_MODES] == list(CONV_MODES)
    message = "conv_mode must be one of direct, graph, xla; got"
    for bad in ("fast", True, False, None, "off"):  # the old spellings are errors too
        with pytest.raises(ValueError, match=message):
            check_conv_mode(bad)
    for build in (
        lambda: ResidualBlock(8, conv_mode=True),
        lambda: EdgeGenerator(1, 8, conv_mode="winograd"),
        lambda: EdgeConnect(residual_blocks=1, filters=8, conv_mode=False),
    ):
        with pytest.raises(ValueError, match=message):
            build()


def test_inpaint_runs_one_graph_for_all_sizes_and_matches_eager():
    from edgeconnect_tf.edgeconnect import EdgeConnect
    from edgeconnect_tf.inpaint import inpaint

    keras.utils.set_random_seed(10)
    model = EdgeConnect(residual_blocks=1, filters=8, conv_mode="graph")
    for size in (40, 52):
        image, mask = _pipeline_inputs(size)
        rgb = np.round(image[0] * 255).astype(np.uint8)
        hole = mask[0, ..., 0] > 0
        want, want_edges = inpaint(model, rgb, hole)  # the model called eagerly
        got, edges = model.inpaint(rgb, hole)
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
        np.testing.assert_allclose(edges, want_edges, atol=1e-4)
    assert model.inference_function().experimental_get_tracing_count() == 1  # dynamic H, W


@pytest.mark.slow  # exports/compiles at several sizes: once, in the slow tier
def test_savedmodel_with_graph_winograd_matches_the_direct_export(
    tiny_weights, tiny_saved_model, tmp_path
):
    """`edgeconnect export`'s SavedModel (the session's, conv_mode graph by default)
    against a direct-convolution export of the same weights."""
    from edgeconnect_tf.deploy.saved_model import export_saved_model
    from edgeconnect_tf.edgeconnect import EdgeConnect

    model = EdgeConnect.from_pretrained(tiny_weights)
    assert model.conv_mode == "graph"  # the default
    image, mask = _pipeline_inputs(36)
    direct = export_saved_model(
        model.with_conv_mode("direct"), str(tmp_path / "direct" / "1"), warmup_size=0
    )
    outputs = {}
    for mode, path in [("graph", tiny_saved_model), ("direct", direct)]:
        serve = tf.saved_model.load(path).signatures["serving_default"]
        outputs[mode] = serve(image=tf.constant(image), mask=tf.constant(mask))["inpainted"].numpy()
    np.testing.assert_allclose(outputs["graph"], outputs["direct"], atol=1e-4)
    assert not np.array_equal(outputs["graph"], outputs["direct"])
    assert model.conv_mode == "graph"  # with_conv_mode built a copy
    with pytest.raises(ValueError, match="conv_mode 'xla' cannot be exported.*with_conv_mode"):
        export_saved_model(model.with_conv_mode("xla"), str(tmp_path / "x" / "1"), warmup_size=0)
    assert not os.path.exists(tmp_path / "x" / "1")


@pytest.mark.slow  # XLA compiles and TFLite conversions: once, in the slow tier
def test_tflite_export_with_graph_winograd_is_builtin_and_matches(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from edgeconnect_tf.deploy.tflite import export_tflite
    from edgeconnect_tf.edgeconnect import EdgeConnect

    keras.utils.set_random_seed(12)
    model = EdgeConnect(residual_blocks=1, filters=8, conv_mode="direct")
    image, mask = _pipeline_inputs(32)
    expected = model({"image": image, "mask": mask})["inpainted"].numpy()
    path = str(tmp_path / "w.tflite")
    ops = export_tflite(model, path, size=32, conv_mode="graph")
    assert "BATCH_MATMUL" in ops and ops["CONV_2D"] < 2 * 8  # the block convs left CONV_2D
    runner = Interpreter(model_path=path).get_signature_runner("inpaint")
    got = runner(image=image, mask=mask)["inpainted"]
    np.testing.assert_allclose(got, expected, atol=2e-4)
    # The file holds the 3×3 kernels, not their 36-tap transforms (4× the bytes):
    # the transform runs in the graph, so the converter could not fold it.
    shapes = _constant_shapes(path)  # blocks of 4 · 8 = 32 channels
    assert (9, 32 * 32) in shapes or (32 * 32, 9) in shapes  # FULLY_CONNECTED keeps [out, in]
    assert (36, 32, 32) not in shapes and (36, 32 * 32) not in shapes


def _constant_shapes(path):
    """Shapes of the tensors of a .tflite file that hold data (constants)."""
    from edgeconnect_tf.deploy.tflite import _schema

    with open(path, "rb") as f:
        parsed = _schema().ModelT.InitFromPackedBuf(bytearray(f.read()), 0)
    shapes = set()
    for subgraph in parsed.subgraphs:
        for tensor in subgraph.tensors:
            data = parsed.buffers[tensor.buffer].data
            if data is not None and len(data) and tensor.shape is not None:
                shapes.add(tuple(int(d) for d in tensor.shape))
    return shapes


def _correlate_strided(x, k, stride):
    """Direct valid cross-correlation in numpy, any kernel size and stride."""
    n, h, w, _ = x.shape
    size = k.shape[0]
    oh, ow = (h - size) // stride + 1, (w - size) // stride + 1
    out = np.zeros((n, oh, ow, k.shape[-1]))
    for i in range(size):
        for j in range(size):
            rows = slice(i, i + stride * (oh - 1) + 1, stride)
            cols = slice(j, j + stride * (ow - 1) + 1, stride)
            out += x[:, rows, cols] @ k[i, j]
    return out


@pytest.mark.parametrize(
    "function, size, stride, outputs",
    [(matmul_conv.strided_conv4x4, 4, 2, 6), (matmul_conv.narrow_conv, 7, 1, 3)],
)
@pytest.mark.parametrize("h, w", [(18, 22), (13, 9), (8, 7)])
def test_matmul_form_convs_match_direct_correlation_static_and_dynamic(
    function, size, stride, outputs, h, w
):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, h, w, 5)).astype("float32")
    k = rng.standard_normal((size, size, 5, outputs)).astype("float32")
    bias = rng.standard_normal(outputs).astype("float32")
    expected = _correlate_strided(x.astype("float64"), k.astype("float64"), stride) + bias
    dynamic = tf.function(
        lambda v: function(v, k, bias),
        input_signature=[tf.TensorSpec([None, None, None, 5])],
        autograph=False,
    )
    static = function(x, k, bias)
    assert static.shape == expected.shape
    for got in (static.numpy(), dynamic(x).numpy()):
        np.testing.assert_allclose(got, expected, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_matmul_form_convs_match_the_layer_and_its_gradients(spectral_norm):
    x = tf.random.normal((2, 12, 16, 6), seed=4)
    for kw in ({"kernel_size": 4, "stride": 2, "padding": 1}, {"kernel_size": 7}):
        conv = PaddedConv2D(3, spectral_norm=spectral_norm, matmul_form=True, **kw)
        conv(x)
        assert conv.get_config()["matmul_form"] is True
        results = []
        for direct in (True, False):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = conv(x, direct=direct)
                loss = tf.reduce_sum(y * tf.cos(y))
            results.append([y, *tape.gradient(loss, [x, *conv.trainable_variables])])
        for direct, graph in zip(*results, strict=True):
            scale = np.abs(direct.numpy()).max()
            np.testing.assert_allclose(graph.numpy(), direct.numpy(), atol=1e-5 * scale)
        assert not np.array_equal(results[0][0].numpy(), results[1][0].numpy())  # matmul form ran
    # No matmul form for 3×3 convs with many outputs: they stay direct in every mode.
    assert not matmul_conv.supported(8, 3, 1, 1)
    with pytest.raises(ValueError, match="no matmul form for a 3x3 stride-1 conv to 8 channels"):
        PaddedConv2D(8, 3, matmul_form=True)
    graph = EdgeGenerator(1, 8, conv_mode="graph")
    forms = {c.name: c.matmul_form for c in graph._flatten_layers() if hasattr(c, "matmul_form")}
    assert forms["encoder_4"] and forms["encoder_7"] and forms["decoder_7"]
    assert not forms["encoder_1"] and not forms["conv_block_1"]
    direct = EdgeGenerator(1, 8)
    assert not any(c.matmul_form for c in direct._flatten_layers() if hasattr(c, "matmul_form"))


def test_graph_mode_runs_direct_above_its_pixel_limit(monkeypatch):
    from edgeconnect_tf.edgeconnect import EdgeConnect

    monkeypatch.setattr(networks, "GRAPH_MAX_PIXELS", 32 * 32)
    keras.utils.set_random_seed(14)
    model = EdgeConnect(residual_blocks=1, filters=8, conv_mode="graph")
    plain = model.with_conv_mode("direct")
    dynamic = model.inference_function()  # one graph for all sizes: the limit is a tf.cond
    for size, graph_ran in ((32, True), (36, False)):
        image, mask = _pipeline_inputs(size)
        got = dynamic(tf.constant(image), tf.constant(mask))["raw"].numpy()
        static = model({"image": image, "mask": mask})["raw"].numpy()  # decided at trace time
        direct = plain({"image": image, "mask": mask})["raw"].numpy()
        np.testing.assert_allclose(got, direct, atol=1e-4)
        np.testing.assert_array_equal(got, static)
        assert np.array_equal(got, direct) != graph_ran
