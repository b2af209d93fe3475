"""The Keras contract for every model and layer a user can hold: what is saved reloads the
same. Each case is built and called once; then `from_config(get_config())`, a `.keras`
file through `keras.models.load_model`, and `keras.models.clone_model` (weights copied:
Keras' clone reinitializes them) must give the same outputs, bit for bit.

Tiny networks (1 residual block, 8 filters), 24x32 inputs.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import edgeconnect_tf
from edgeconnect_tf import (
    Discriminator,
    EdgeConnect,
    EdgeGenerator,
    EdgeInpaintModel,
    EdgeModel,
    InpaintGenerator,
    InpaintModel,
    TorchSpectralNorm,
)
from edgeconnect_tf.nn.conv_mode import CONV_MODES
from edgeconnect_tf.nn.layers import PaddedConv2D, ReflectionPadding2D, ResidualBlock

TINY = {"residual_blocks": 1, "filters": 8}
H, W = 24, 32


def _tensor(channels, seed):
    return tf.constant(np.random.default_rng(seed).random((1, H, W, channels), "float32"))


def _mask():
    mask = np.zeros((1, H, W, 1), "float32")
    mask[:, 6:18, 8:20] = 1.0
    return tf.constant(mask)


def _batch():
    image = _tensor(3, 1)
    gray = tf.reduce_mean(image, -1, keepdims=True)
    edge = tf.cast(_tensor(1, 2) > 0.8, tf.float32)
    return {"image": image, "gray": gray, "edge": edge, "mask": _mask()}


def _stage(kind):
    no_vgg = {"vgg_weights": None, "content_loss_weight": 0.0, "style_loss_weight": 0.0}
    if kind == "edge":
        return EdgeModel(**TINY, fm_loss_weight=7.0)
    if kind == "inpaint":
        return InpaintModel(**TINY, hole_fill="pyramid", l1_loss_weight=2.0, **no_vgg)
    edge_model, inpaint_model = EdgeModel(**TINY), InpaintModel(**TINY, **no_vgg)
    return EdgeInpaintModel(edge_model, inpaint_model, joint=kind == "joint")


def _edgeconnect(conv_mode, hole_fill):
    g1 = EdgeGenerator(**TINY, conv_mode=conv_mode)
    g2 = InpaintGenerator(**TINY, conv_mode=conv_mode, hole_fill=hole_fill)
    return EdgeConnect(g1, g2, sigma=1.5)


# name -> (factory, inputs): every model a user can save, and our layers in a model.
CASES = {
    **{
        f"EdgeGenerator-{mode}": (lambda m=mode: EdgeGenerator(**TINY, conv_mode=m), 3)
        for mode in CONV_MODES
    },
    **{
        f"InpaintGenerator-{fill}-{mode}": (
            lambda m=mode, f=fill: InpaintGenerator(**TINY, conv_mode=m, hole_fill=f),
            4,
        )
        for mode in CONV_MODES
        for fill in ("white", "pyramid")
    },
    "Discriminator": (lambda: Discriminator(8), 3),
    "Discriminator-hinge": (lambda: Discriminator(8, use_sigmoid=False), 2),
    **{
        f"EdgeConnect-{fill}-{mode}": (lambda m=mode, f=fill: _edgeconnect(m, f), "edgeconnect")
        for mode in ("direct", "graph")
        for fill in ("white", "pyramid")
    },
    **{
        f"stage-{kind}": (lambda k=kind: _stage(k), "batch")
        for kind in ("edge", "inpaint", "edge_inpaint", "joint")
    },
    "layers": (
        lambda: keras.Sequential(
            [
                keras.Input((H, W, 3)),
                ReflectionPadding2D(1),
                TorchSpectralNorm(keras.layers.Conv2D(8, 3)),
                PaddedConv2D(8, 3, padding=1, spectral_norm=True, use_bias=False),
                ResidualBlock(8, dilation=2, conv_mode="graph"),
            ]
        ),
        3,
    ),
}


def _inputs(kind):
    if kind == "edgeconnect":
        return {"image": _tensor(3, 1), "mask": _mask()}
    if kind == "batch":
        return _batch()
    return _tensor(kind, 3)


def _outputs(model, inputs):
    return [np.asarray(x) for x in tf.nest.flatten(model(inputs, training=False))]


def _plain(config):
    """A config as its JSON file holds it (tuples become lists)."""
    return json.loads(json.dumps(config))


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


# The largest graphs (XLA, graph-mode EdgeConnect, the two-generator stages) run in the
# slow tier; every conv_mode of each generator and every stage kind is also in the fast one.
SLOW_CASES = {"stage-edge_inpaint", "stage-joint"} | {
    name
    for name in CASES
    if name.endswith("-xla") or (name.startswith("EdgeConnect") and name.endswith("-graph"))
}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_CASES else n for n in sorted(CASES)],
)
def test_round_trips_give_the_same_outputs(name, tmp_path):
    factory, kind = CASES[name]
    model = factory()
    inputs = _inputs(kind)
    expected = _outputs(model, inputs)

    config = model.get_config()
    rebuilt = type(model).from_config(_plain(config))  # a copy: from_config may pop keys
    _outputs(rebuilt, inputs)  # creates the variables
    rebuilt.set_weights(model.get_weights())
    assert _plain(rebuilt.get_config()) == _plain(config)
    _assert_same(_outputs(rebuilt, inputs), expected)

    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model) and _plain(loaded.get_config()) == _plain(config)
    _assert_same(_outputs(loaded, inputs), expected)

    clone = keras.models.clone_model(model)
    _outputs(clone, inputs)
    clone.set_weights(model.get_weights())
    assert type(clone) is type(model)
    _assert_same(_outputs(clone, inputs), expected)


def test_edgeconnect_keeps_the_generators_it_is_given():
    g1 = EdgeGenerator(**TINY, conv_mode="direct")
    g2 = InpaintGenerator(**TINY, conv_mode="direct", hole_fill="pyramid")
    model = EdgeConnect(g1, g2)
    assert model.edge_generator is g1 and model.inpaint_generator is g2
    assert (model.conv_mode, model.residual_blocks, model.filters) == ("direct", 1, 8)
    with pytest.raises(ValueError, match=r"conv_mode='graph'.*conv_mode='direct'.*rebuilt"):
        EdgeConnect(g1, g2, conv_mode="graph")
    with pytest.raises(ValueError, match="residual_blocks=8.*residual_blocks=1"):
        EdgeConnect(g1, residual_blocks=8)
    with pytest.raises(ValueError, match="generators differ in conv_mode"):
        EdgeConnect(g1, InpaintGenerator(**TINY, conv_mode="graph"))
    # A copy in another mode is asked for by name, and keeps G2's hole fill.
    graph = model.with_conv_mode("graph")
    assert graph.conv_mode == "graph" and graph.inpaint_generator.hole_fill == "pyramid"


def test_export_returns_none_as_keras(tmp_path, monkeypatch):
    from edgeconnect_tf.deploy import saved_model

    calls = []
    monkeypatch.setattr(
        saved_model, "export_saved_model", lambda *a, **k: calls.append(a) or "path"
    )
    model = EdgeConnect(**TINY)
    assert model.export(str(tmp_path / "1")) is None and len(calls) == 1
    with pytest.raises(ValueError, match="format 'onnx'"):
        model.export(str(tmp_path / "2"), format="onnx")


def test_public_names_and_no_keras_shadow():
    from edgeconnect_tf.deploy.tflite_runner import TFLiteModel
    from edgeconnect_tf.training.train import train
    from edgeconnect_tf.weights import WeightsError

    assert edgeconnect_tf.TFLiteModel is TFLiteModel and edgeconnect_tf.train is train
    assert edgeconnect_tf.WeightsError is WeightsError
    for name in ("ConfigError", "InpaintError", "ConvertError", "ImageFileError", "TrainError"):
        assert issubclass(getattr(edgeconnect_tf, name), ValueError)
    keras_names = set(dir(keras.layers)) | set(dir(keras.models)) | set(dir(keras))
    assert not keras_names & set(edgeconnect_tf.__all__)
    with pytest.raises(AttributeError, match="now edgeconnect_tf.TorchSpectralNorm"):
        edgeconnect_tf.SpectralNormalization  # noqa: B018


def test_files_saved_under_the_old_layer_name_still_load():
    layer = TorchSpectralNorm(keras.layers.Conv2D(4, 3))
    config = keras.saving.serialize_keras_object(layer)
    assert config["registered_name"] == "edgeconnect_tf>TorchSpectralNorm"
    config = {**config, "registered_name": "edgeconnect_tf>SpectralNormalization"}
    config["class_name"] = "SpectralNormalization"
    assert type(keras.saving.deserialize_keras_object(config)) is TorchSpectralNorm
