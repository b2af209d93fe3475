"""Serving memory: the networks' sessions replaced every `max_shapes` new input shapes (same
answers), and `GET /metrics` reporting the process's RSS and the requests answered.

The soak itself (RSS over thousands of random-size requests) is a benchmark, not a test:
`python -m bench.soak` (bench/RESULTS.md, "Serving memory under many image sizes")."""

import base64
import json
import urllib.request

import cv2
import numpy as np
import pytest
from conftest import app_in_thread

from edgeconnect_tf.memory import FrozenSignature, frozen_graph_def, peak_rss_bytes, rss_bytes


def _inputs(h, w, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.zeros((1, h, w, 1), np.float32)
    mask[:, h // 4 : h // 2, w // 4 : w // 2] = 1.0
    return {"image": rng.random((1, h, w, 3), np.float32), "mask": mask}


def test_frozen_signature_answers_as_the_signature_and_is_replaced_per_new_shapes(
    tiny_signatures,
):
    import tensorflow as tf

    fn = tiny_signatures["serving_default"]
    runner = FrozenSignature(fn, max_shapes=2)
    runner.freeze()  # what `edgeconnect serve` does before it opens its port
    assert runner.sessions == 1
    for h, w in ((24, 32), (24, 32), (36, 20), (24, 32)):  # two shapes: the same session
        inputs = _inputs(h, w)
        got = runner(**inputs)
        want = fn(**{k: tf.constant(v) for k, v in inputs.items()})
        assert set(got) == {"inpainted", "edges"}
        for name in got:
            np.testing.assert_array_equal(got[name], want[name].numpy())
    assert runner.sessions == 1
    runner(**_inputs(40, 28))  # a third shape: a new session
    assert runner.sessions == 2
    runner(**_inputs(24, 32))  # seen before, but not by this session: counts anew
    runner(**_inputs(40, 28))
    assert runner.sessions == 2
    runner.close()


@pytest.mark.parametrize("steps", ["private", "public"])
def test_frozen_graph_def_folds_variables_and_keeps_input_and_output_order(steps, monkeypatch):
    """Variables (read before and inside a `tf.cond`) become constants; the names come in
    `fn.inputs` / `fn.outputs` order. "public": a TensorFlow without the private steps,
    where the whole `convert_variables_to_constants_v2` runs."""
    import types

    import tensorflow as tf
    from tensorflow.python import framework
    from tensorflow.python.framework import convert_to_constants

    if steps == "public":
        public = convert_to_constants.convert_variables_to_constants_v2
        only_public = types.SimpleNamespace(convert_variables_to_constants_v2=public)
        monkeypatch.setattr(framework, "convert_to_constants", only_public)
    scale = tf.Variable([[2.0, -1.0], [0.5, 3.0]])
    shift = tf.Variable(0.25)
    spec = tf.TensorSpec([None, 2], tf.float32)

    @tf.function(input_signature=[spec, spec])
    def fn(b, a):  # the inputs' order is not their names' order
        product = tf.matmul(a, scale)
        bent = tf.cond(tf.reduce_sum(b) > 0, lambda: product + shift, lambda: product - b)
        return {"z": bent * 2.0, "y": product + b}

    concrete = fn.get_concrete_function()
    graph_def, inputs, outputs = frozen_graph_def(concrete)
    ops = {node.op for node in graph_def.node}
    assert not ops & {"VarHandleOp", "ReadVariableOp", "If", "StatelessIf"}, ops
    placeholders = [n.name + ":0" for n in graph_def.node if n.op == "Placeholder"]
    assert sorted(placeholders) == sorted(inputs) and len(inputs) == 2 and len(outputs) == 2
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    session = tf.compat.v1.Session(graph=graph)
    rng = np.random.default_rng(0)
    for sign in (1.0, -1.0):  # both branches
        b = sign * np.abs(rng.normal(size=(3, 2))).astype("float32")
        a = rng.normal(size=(3, 2)).astype("float32")
        got = session.run(outputs, {inputs[0]: b, inputs[1]: a})
        want = concrete(tf.constant(b), tf.constant(a))
        for key, value in zip(sorted(want), got, strict=True):  # outputs: sorted keys
            np.testing.assert_array_equal(value, want[key].numpy(), err_msg=key)
    session.close()


def test_rss_helpers_read_this_process():
    rss, peak = rss_bytes(), peak_rss_bytes()
    assert rss > 10 * 2**20 and peak >= rss


def _metrics(url):
    with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def _png(array):
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return base64.b64encode(buf.tobytes()).decode("ascii")


def test_metrics_report_rss_and_count_requests(tiny_signatures):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from edgeconnect_tf.serving.app import create_app

    app = create_app(tiny_signatures)
    with app_in_thread(app) as url:
        before = _metrics(url)
        assert before["process_resident_memory_bytes"] > 10 * 2**20
        assert (
            before["edgeconnect_peak_resident_memory_bytes"]
            >= before["process_resident_memory_bytes"]
        )
        assert before['edgeconnect_predict_requests_total{code="200"}'] == 0
        assert before["edgeconnect_network_sessions_total"] == 0
        image = np.random.default_rng(0).integers(0, 256, (40, 52, 3), np.uint8)
        mask = np.zeros((40, 52), np.uint8)
        mask[10:25, 12:30] = 255
        instance = {"image_bytes": {"b64": _png(image)}, "mask_bytes": {"b64": _png(mask)}}
        body = json.dumps({"signature_name": "inpaint_bytes", "instances": [instance]}).encode()
        request = urllib.request.Request(
            url + "/v1/models/edgeconnect:predict",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as r:
            assert r.status == 200
            assert "predictions" in json.loads(r.read())
        after = _metrics(url)
        assert after['edgeconnect_predict_requests_total{code="200"}'] == 1
        assert after["edgeconnect_network_sessions_total"] == 1
        assert after["process_resident_memory_bytes"] > 10 * 2**20
        assert after["edgeconnect_requests_waiting"] == 0


def test_bounded_model_answers_as_inference_function(tiny_weights):
    """What Beam workers run (`beam._bounded`): the same arrays as `EdgeConnect`'s
    `inference_function` (drawn edges: the 3-input signature, names given positionally)."""
    from edgeconnect_tf.edgeconnect import EdgeConnect
    from edgeconnect_tf.memory import BoundedModel

    model = EdgeConnect.from_pretrained(tiny_weights)
    bounded = BoundedModel.of_edgeconnect(model, max_shapes=1)
    inputs = _inputs(24, 32)
    inputs["edges"] = (inputs["image"][..., :1] > 0.8).astype(np.float32)
    got = bounded(inputs)
    want = model.inference_function(True)(*inputs.values())
    for name in ("inpainted", "edges"):
        np.testing.assert_array_equal(got[name], want[name].numpy())
    assert bounded.sessions == 1


def test_the_server_freezes_only_inpaints_network_before_opening(tiny_signatures):
    """`edgeconnect serve` freezes one network up front (each frozen graph and session holds
    memory of its own); the editor's other signatures freeze on first use."""
    from edgeconnect_tf.serving.predictor import Predictor

    predictor = Predictor(tiny_signatures)
    assert len(predictor.runners) > 1 and predictor.sessions == 0
    predictor.freeze()
    assert predictor.sessions == 1
    assert predictor.runners["serving_default"].sessions == 1
