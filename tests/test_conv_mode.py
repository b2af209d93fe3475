"""conv_mode, the one setting for how the generators convolve: set at build, shown, saved,
rebuilt with the same weights, offered by the command line. Numerics: tests/test_winograd.py."""

import keras
import numpy as np
import pytest

from edgeconnect_tf.cli import build_parser
from edgeconnect_tf.deploy import QUANTIZE_MODES, TFLITE_CONV_MODE
from edgeconnect_tf.edgeconnect import EdgeConnect
from edgeconnect_tf.networks import EdgeGenerator, InpaintGenerator
from edgeconnect_tf.nn.conv_mode import CONV_MODES

TINY = {"residual_blocks": 1, "filters": 8}


def _modes(network):
    """conv_mode of a generator and of each of its residual blocks."""
    return {network.conv_mode, *(block.conv_mode for block in network.middle)}


def _inputs(size=32, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.random((1, size, size, 3)).astype("float32")
    mask = np.zeros((1, size, size, 1), "float32")
    mask[:, size // 4 : size // 2 + 3, size // 3 : size // 2 + 5] = 1
    return {"image": image, "mask": mask}


def test_every_network_shows_its_conv_mode():
    bare = EdgeGenerator(**TINY)  # a generator alone: direct, and says so
    assert bare.conv_mode == "direct" and bare.get_config()["conv_mode"] == "direct"
    assert _modes(bare) == {"direct"} and bare.get_config()["tflite_ops"] is False
    graph = InpaintGenerator(**TINY, conv_mode="graph")
    assert _modes(graph) == {"graph"} and graph.get_config()["conv_mode"] == "graph"
    model = EdgeConnect(**TINY)  # the inference model: graph, as users get it
    assert model.conv_mode == "graph" and model.get_config()["conv_mode"] == "graph"
    assert _modes(model.edge_generator) == _modes(model.inpaint_generator) == {"graph"}


@pytest.mark.parametrize("mode", CONV_MODES)
def test_keras_serialization_keeps_the_conv_mode(mode):
    model = EdgeConnect(**TINY, conv_mode=mode)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert type(again) is EdgeConnect and again.conv_mode == mode
    assert _modes(again.edge_generator) == _modes(again.inpaint_generator) == {mode}
    for tflite_ops in (False, True):
        if mode == "xla" and tflite_ops:
            continue  # TFLite builds are direct or graph
        net = InpaintGenerator(**TINY, conv_mode=mode, tflite_ops=tflite_ops)
        copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(net))
        assert type(copy) is InpaintGenerator and copy.get_config() == net.get_config()
        assert _modes(copy) == {mode} and copy.tflite_ops == tflite_ops


def test_keras_file_round_trip_keeps_conv_mode_and_pixels(tmp_path):
    keras.utils.set_random_seed(1)
    model = EdgeConnect(**TINY, conv_mode="direct")
    inputs = _inputs()
    expected = model(inputs)["raw"].numpy()
    model.save(str(tmp_path / "m.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "m.keras"))
    assert loaded.conv_mode == "direct" and _modes(loaded.inpaint_generator) == {"direct"}
    np.testing.assert_array_equal(loaded(inputs)["raw"].numpy(), expected)


def test_with_conv_mode_gives_the_same_pixels_and_leaves_the_original():
    keras.utils.set_random_seed(2)
    model = EdgeConnect(**TINY, conv_mode="direct")
    inputs = _inputs()
    direct = model(inputs)["raw"].numpy()
    weights = model.get_weights()
    assert model.with_conv_mode("direct") is model  # nothing to change
    graph = model.with_conv_mode("graph")
    assert graph is not model and graph.conv_mode == "graph"
    assert _modes(graph.edge_generator) == _modes(graph.inpaint_generator) == {"graph"}
    assert (graph.sigma, graph.residual_blocks, graph.filters) == (2.0, 1, 8)
    got = graph(inputs)["raw"].numpy()
    np.testing.assert_allclose(got, direct, atol=1e-4)  # graph vs direct, as everywhere
    assert not np.array_equal(got, direct)  # the Winograd and matmul forms ran
    # The original keeps its mode, its weights and its pixels; the copy has its own variables.
    assert model.conv_mode == "direct" and _modes(model.edge_generator) == {"direct"}
    graph.inpaint_generator.weights[0].assign(graph.inpaint_generator.weights[0] + 1.0)
    for a, b in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model(inputs)["raw"].numpy(), direct)
    with pytest.raises(ValueError, match="conv_mode must be one of direct, graph, xla"):
        model.with_conv_mode("off")
    # The copy keeps the wrapper's own dtype policy (float32 inputs under a mixed policy).
    mixed = EdgeConnect(**TINY, conv_mode="direct", dtype="mixed_bfloat16")
    assert mixed.with_conv_mode("graph").dtype_policy.name == "mixed_bfloat16"


def test_given_generators_are_kept_and_copied_into_another_mode_on_request():
    keras.utils.set_random_seed(3)
    g1, g2 = EdgeGenerator(**TINY), InpaintGenerator(**TINY)  # direct, then built by a call
    inputs = _inputs()
    direct = EdgeConnect(g1, g2)
    assert direct.edge_generator is g1 and direct.conv_mode == "direct"  # kept as given
    expected = direct(inputs)["raw"].numpy()
    with pytest.raises(ValueError, match=r"conv_mode='graph'\) was given a generator"):
        EdgeConnect(g1, g2, conv_mode="graph")
    graph = direct.with_conv_mode("graph")
    assert graph.edge_generator is not g1 and _modes(graph.edge_generator) == {"graph"}
    assert g1.conv_mode == g2.conv_mode == "direct"
    np.testing.assert_allclose(graph(inputs)["raw"].numpy(), expected, atol=1e-4)
    fresh = EdgeConnect(**TINY)
    assert _modes(fresh.edge_generator) == _modes(fresh.inpaint_generator) == {"graph"}


def test_rebuilt_needs_the_weights_to_exist():
    with pytest.raises(ValueError, match="call the generator once first"):
        EdgeGenerator(**TINY).rebuilt(conv_mode="graph")


def _parse(*argv):
    return build_parser().parse_args([str(a) for a in argv])


INPAINT = ("inpaint", "--weights", "w", "--input", "i", "--mask", "m", "--output", "o")
EVAL = ("eval", "--weights", "w", "--data", "d", "--mask-type", "block", "--output", "o")
EXPORT = ("export", "--weights", "w", "--output", "o")


def test_command_line_offers_the_same_conv_mode_option(capsys):
    for argv in (INPAINT, EVAL):
        assert _parse(*argv).conv_mode == "graph"  # the inference default
        for mode in CONV_MODES:
            assert _parse(*argv, "--conv-mode", mode).conv_mode == mode
    assert _parse(*EXPORT).conv_mode is None  # per file: TFLITE_CONV_MODE
    assert TFLITE_CONV_MODE == {"none": "graph", "float16": "graph", "dynamic": "direct",
                                "int8": "direct"}  # fmt: skip
    assert set(TFLITE_CONV_MODE) == set(QUANTIZE_MODES)
    assert _parse(*EXPORT, "--conv-mode", "direct").conv_mode == "direct"
    for argv, bad in ((EXPORT, "xla"), (INPAINT, "off"), (EVAL, "winograd")):
        with pytest.raises(SystemExit) as e:
            _parse(*argv, "--conv-mode", bad)
        assert e.value.code == 2
        assert f"invalid choice: '{bad}'" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the old option is gone
        _parse(*INPAINT, "--winograd", "graph")
    assert "unrecognized arguments: --winograd" in capsys.readouterr().err


def test_command_line_mode_reaches_the_loaded_model(tmp_path):
    from edgeconnect_tf.cli.inpaint import load_model

    EdgeConnect(**TINY).save_pretrained(str(tmp_path))
    for mode in CONV_MODES:
        model = load_model(str(tmp_path), mode)
        assert model.conv_mode == mode and _modes(model.inpaint_generator) == {mode}
