"""SavedModel (TF Serving) and TFLite export: same pixels as the Keras model, clear errors.

Every test that needs a real export (the SavedModel, its loaded signatures, the TFLite files)
is in the slow tier; the fast tier keeps the command's checks and the export's rules on fakes."""

import argparse
import base64
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from edgeconnect_tf.cli.export import add_arguments as add_export_arguments
from edgeconnect_tf.cli.export import main as export_command
from edgeconnect_tf.deploy import saved_model as sm
from edgeconnect_tf.deploy import tflite, tflite_name
from edgeconnect_tf.edgeconnect import EdgeConnect

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
SIZE = 32  # TFLite input size


def _cli(*argv):
    parser = argparse.ArgumentParser()
    add_export_arguments(parser)
    return export_command(parser.parse_args([str(a) for a in argv]))


def _inputs(h, w, seed=0):
    """A photo crop (scikit-image's astronaut) and a rectangular hole, [1, H, W, C] float32."""
    from skimage import data, transform

    photo = transform.resize(data.astronaut(), (h, w), anti_aliasing=True).astype("float32")
    mask = np.zeros((1, h, w, 1), "float32")
    mask[:, h // 4 : h // 2 + 2, w // 3 : w // 2 + 3] = 1
    return photo[None], mask


def _png(array):
    return sm.encode_png(array)


@pytest.fixture(scope="module")
def weights(tiny_weights):
    return tiny_weights


@pytest.fixture(scope="module")
def model(weights):
    return EdgeConnect.from_pretrained(weights)


@pytest.fixture(scope="module")
def saved_model(tiny_saved_model):
    """Written by the CLI: BASE/edgeconnect/1."""
    return tiny_saved_model


@pytest.fixture(scope="module")
def loaded(saved_model):
    return tf.saved_model.load(saved_model)


@pytest.fixture(scope="module")
def tflite_dir(weights, tmp_path_factory):
    """float32 and float16 files written by the CLI."""
    out = str(tmp_path_factory.mktemp("tflite"))
    argv = ["--weights", weights, "--output", out, "--tflite", "--size", SIZE]
    assert _cli(*argv, "--quantize", "none", "float16") == 0
    return out


def _runner(path):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=path, num_threads=2).get_signature_runner("inpaint")


# --------------------------------------------------------------------------- SavedModel


@pytest.mark.slow
def test_layout_and_warmup_records(saved_model):
    from tensorflow_serving.apis import prediction_log_pb2

    assert os.path.isfile(os.path.join(saved_model, "saved_model.pb"))
    assert os.path.isdir(os.path.join(saved_model, "variables"))
    path = os.path.join(saved_model, "assets.extra", sm.WARMUP_FILE)
    records = list(tf.data.TFRecordDataset(path).as_numpy_iterator())
    logs = [prediction_log_pb2.PredictionLog.FromString(r) for r in records]
    requests = {log.predict_log.request.model_spec.signature_name: log for log in logs}
    assert sorted(requests) == sorted(sm.SIGNATURES)
    for log in logs:
        assert log.predict_log.request.model_spec.name == "edgeconnect"
    image = tf.make_ndarray(requests["serving_default"].predict_log.request.inputs["image"])
    assert image.shape == (1, 32, 32, 3) and image.dtype == np.float32


@pytest.mark.slow
def test_warmup_records_run_through_their_signatures(loaded, saved_model):
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(saved_model, "assets.extra", sm.WARMUP_FILE)
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        out = loaded.signatures[request.model_spec.signature_name](**inputs)
        assert all(np.all(np.isfinite(v.numpy())) for v in out.values() if v.dtype != tf.string)


class _FakeModule:
    """Stands in for the traced `ServingModule`: the export's file rules without a graph."""

    def __init__(self, model, max_pixels):
        pass

    def write_out(self, directory, options=None):
        with open(os.path.join(directory, "saved_model.pb"), "wb") as f:
            f.write(b"graph")


@pytest.fixture
def fake_module(monkeypatch):
    monkeypatch.setattr(sm, "ServingModule", _FakeModule)
    monkeypatch.setattr(sm, "warmup_records", lambda name, size: [])


def test_export_without_serving_apis_warns_and_skips_warmup(
    model, tmp_path, monkeypatch, fake_module
):
    monkeypatch.setitem(sys.modules, "tensorflow_serving", None)  # ImportError on import
    target = str(tmp_path / "m" / "1")
    with pytest.warns(UserWarning, match="tensorflow-serving-api"):
        sm.export_saved_model(model, target, warmup_size=16)
    assert os.path.exists(os.path.join(target, "saved_model.pb"))
    assert not os.path.exists(os.path.join(target, "assets.extra", sm.WARMUP_FILE))


def test_failed_export_leaves_no_version_directory(
    model, weights, tmp_path, monkeypatch, capsys, fake_module
):
    def dies(directory, records):
        with open(os.path.join(directory, "half_written"), "w") as f:
            f.write("x")
        raise OSError("disk full")

    monkeypatch.setattr(sm, "write_warmup_file", dies)  # after the graph and variables
    base = tmp_path / "edgeconnect"
    with pytest.raises(OSError, match="disk full"):
        sm.export_saved_model(model, str(base / "1"), warmup_size=16)
    assert os.listdir(base) == []  # no version 1 for TF Serving to load, no temporary folder
    # A version that exists is never written over: refused before the export runs.
    (base / "2").mkdir()
    (base / "2" / "saved_model.pb").write_bytes(b"serving")
    with pytest.raises(ValueError, match="2' exists and is not empty; pick a new version"):
        sm.export_saved_model(model, str(base / "2"), warmup_size=0)
    assert _cli("--weights", weights, "--output", base / "2") == 1
    assert "exists and is not empty" in capsys.readouterr().err.strip().splitlines()[-1]
    assert os.listdir(base) == ["2"] and os.listdir(base / "2") == ["saved_model.pb"]


def test_model_export_routes_to_deploy(model, tmp_path, monkeypatch):
    """Keras' `Model.export` on an EdgeConnect calls the deploy/ exporters (returning None,
    as Keras' does), or refuses."""
    calls = []
    for module, name in ((sm, "export_saved_model"), (tflite, "export_tflite")):
        monkeypatch.setattr(module, name, lambda *a, n=name, **k: calls.append((n, a[1:], k)))
    assert model.export(str(tmp_path / "sm" / "1"), warmup_size=0) is None
    assert model.export(str(tmp_path / "m.tflite"), format="litert", size=SIZE) is None
    assert calls == [
        ("export_saved_model", (str(tmp_path / "sm" / "1"),), {"warmup_size": 0}),
        ("export_tflite", (str(tmp_path / "m.tflite"),), {"size": SIZE}),
    ]
    with pytest.raises(ValueError, match="format 'onnx': EdgeConnect exports 'tf_saved_model'"):
        model.export(str(tmp_path / "m.onnx"), format="onnx")


@pytest.mark.slow
def test_fresh_process_without_package_matches_keras(model, saved_model, tmp_path):
    """The SavedModel is self-contained: another process, no edgeconnect_tf, same pixels."""
    cases = {"square": _inputs(32, 32), "odd": _inputs(30, 42)}
    arrays = {}
    for name, (image, mask) in cases.items():
        arrays[f"{name}_image"], arrays[f"{name}_mask"] = image, mask
    drawn = np.zeros_like(cases["odd"][1])
    drawn[:, 10:14, 20] = 1
    arrays["drawn"] = drawn
    np.savez(tmp_path / "in.npz", **arrays)
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import tensorflow as tf
        model = tf.saved_model.load({saved_model!r})
        x = np.load({str(tmp_path / "in.npz")!r})
        out = {{}}
        for name in ("square", "odd"):
            res = model.signatures["serving_default"](
                image=tf.constant(x[name + "_image"]), mask=tf.constant(x[name + "_mask"]))
            out[name + "_inpainted"] = res["inpainted"].numpy()
            out[name + "_edges"] = res["edges"].numpy()
        res = model.signatures["inpaint_with_edges"](
            image=tf.constant(x["odd_image"]), mask=tf.constant(x["odd_mask"]),
            edges=tf.constant(x["drawn"]))
        out["drawn_inpainted"] = res["inpainted"].numpy()
        assert not any(m.startswith("edgeconnect_tf") for m in sys.modules), "package imported"
        np.savez({str(tmp_path / "out.npz")!r}, **out)
        """
    )
    env = {**os.environ, "PYTHONPATH": ""}
    subprocess.run([sys.executable, "-c", script], check=True, cwd=str(tmp_path), env=env)
    out = np.load(tmp_path / "out.npz")
    for name, (image, mask) in cases.items():
        expected = model({"image": image, "mask": mask})
        assert out[f"{name}_inpainted"].shape == image.shape
        np.testing.assert_allclose(out[f"{name}_inpainted"], expected["inpainted"], atol=1e-5)
        np.testing.assert_allclose(out[f"{name}_edges"], expected["edges"], atol=1e-5)
    image, mask = cases["odd"]
    expected = model({"image": image, "mask": mask, "edges": drawn})["inpainted"]
    np.testing.assert_allclose(out["drawn_inpainted"], expected, atol=1e-5)
    assert np.abs(out["drawn_inpainted"] - out["odd_inpainted"]).max() > 0  # edges matter


@pytest.mark.slow
def test_saved_model_cli_lists_signatures_and_names(saved_model):
    cli = os.path.join(BIN, "saved_model_cli")
    shown = subprocess.run(
        [cli, "show", "--dir", saved_model, "--all"], capture_output=True, text=True, check=True
    ).stdout
    for signature in sm.SIGNATURES:
        assert f"signature_def['{signature}']" in shown
    blocks = {block.split("'", 1)[0]: block for block in shown.split("signature_def['")[1:]}
    for signature, names in {
        "serving_default": ["image", "mask", "inpainted", "edges"],
        "inpaint_with_edges": ["image", "mask", "edges", "inpainted"],
        "inpaint_bytes": ["image_bytes", "mask_bytes", "inpainted_png_bytes"],
        "edges": ["image", "mask", "edges"],
        "repaint": ["image", "mask", "edges", "inpainted"],
        "edges_bytes": ["image_bytes", "mask_bytes", "edges_png_bytes"],
        "repaint_bytes": ["image_bytes", "mask_bytes", "edges_bytes", "inpainted_png_bytes"],
    }.items():
        for name in names:
            assert f"['{name}'] tensor_info" in blocks[signature], (signature, name)
    assert "DT_STRING" in blocks["inpaint_bytes"]


@pytest.mark.slow
def test_stage_signatures_compose_to_serving_default(loaded):
    """`edges` then `repaint` = `serving_default` (tensors: same pixels; files: the edge map
    carried as a 16-bit PNG moves the fill by at most 1 level); an erased line moves it."""
    image, mask = _inputs(37, 45)  # padded inside: the stages pad alike
    full = loaded.signatures["serving_default"](image=tf.constant(image), mask=tf.constant(mask))
    edges = loaded.signatures["edges"](image=tf.constant(image), mask=tf.constant(mask))["edges"]
    np.testing.assert_array_equal(edges.numpy(), full["edges"].numpy())
    again = loaded.signatures["repaint"](
        image=tf.constant(image), mask=tf.constant(mask), edges=edges
    )
    np.testing.assert_array_equal(again["inpainted"].numpy(), full["inpainted"].numpy())

    files = {
        "image_bytes": tf.constant([_png(image[0])]),
        "mask_bytes": tf.constant([_png((mask[0] * 255).astype(np.uint8))]),
    }
    whole = loaded.signatures["inpaint_bytes"](**files)
    edge_png = loaded.signatures["edges_bytes"](**files)["edges_png_bytes"]
    assert edge_png.numpy()[0] == whole["edges_png_bytes"].numpy()[0]
    repainted = loaded.signatures["repaint_bytes"](**files, edges_bytes=edge_png)
    decode = lambda png: tf.io.decode_png(png.numpy()[0]).numpy().astype(int)  # noqa: E731
    want = decode(whole["inpainted_png_bytes"])
    assert np.abs(decode(repainted["inpainted_png_bytes"]) - want).max() <= 1

    edge_map = tf.io.decode_png(edge_png.numpy()[0], dtype=tf.uint16).numpy()[..., 0]
    hole = mask[0, ..., 0] == 1
    erased = edge_map.copy()
    erased[hole] = 0  # every line in the hole erased
    moved = loaded.signatures["repaint_bytes"](
        **files, edges_bytes=tf.constant([_png(erased[..., None])])
    )
    moved = decode(moved["inpainted_png_bytes"])
    np.testing.assert_array_equal(moved[~hole], want[~hole])
    assert np.abs(moved[hole] - want[hole]).mean() > 1


def _is_16_bit_png(data):
    return data[:8] == sm.PNG_SIGNATURE and data[24] == 16  # IHDR's bit depth


@pytest.mark.slow
def test_edge_map_travels_as_a_16_bit_png(loaded):
    """`edges_bytes` answers a 16-bit gray PNG, round(edge · 65535) of the float `edges`
    signature's map (within 1 of 65535); `repaint_bytes` of it gives the pixels of the float
    `repaint` signature on that map (exactly: the same graph, the same inputs), within 1
    level of `repaint` on the float map itself. An 8-bit map is still read as level / 255 (level L
    gives the pixels of the 16-bit level 257·L)."""
    image, mask = _inputs(37, 45)
    files = {
        "image_bytes": tf.constant([_png(image[0])]),
        "mask_bytes": tf.constant([_png((mask[0] * 255).astype(np.uint8))]),
    }
    image = tf.io.decode_png(files["image_bytes"][0]).numpy()[None] / np.float32(255)
    image, mask = tf.constant(image.astype("float32")), tf.constant(mask)
    floats = loaded.signatures["edges"](image=image, mask=mask)["edges"]
    edge_png = loaded.signatures["edges_bytes"](**files)["edges_png_bytes"]
    assert _is_16_bit_png(edge_png.numpy()[0])
    levels = tf.io.decode_png(edge_png[0], dtype=tf.uint16)
    want_levels = np.round(np.clip(floats.numpy()[0], 0, 1) * 65535)
    assert np.abs(levels.numpy() - want_levels).max() <= 1  # two graphs: float32 rounding
    assert 0 < np.count_nonzero(levels.numpy() % 257)  # finer than 8 bits

    def repaint_bytes(edge_file):
        out = loaded.signatures["repaint_bytes"](**files, edges_bytes=tf.constant([edge_file]))
        return tf.io.decode_png(out["inpainted_png_bytes"][0]).numpy().astype(int)

    def repaint(edges):
        out = loaded.signatures["repaint"](image=image, mask=mask, edges=edges)["inpainted"]
        return np.round(np.clip(out.numpy()[0], 0, 1) * 255).astype(int)

    got = repaint_bytes(edge_png.numpy()[0])
    read_back = tf.cast(levels, tf.float32)[None] / 65535.0
    np.testing.assert_array_equal(got, repaint(read_back))
    assert np.abs(got - repaint(floats)).max() <= 1

    eight = np.round(np.clip(floats.numpy()[0], 0, 1) * 255).astype(np.uint8)
    from_8_bit = repaint_bytes(_png(eight))
    np.testing.assert_array_equal(from_8_bit, repaint(tf.constant(eight[None] / np.float32(255))))
    scaled = tf.io.encode_png(eight.astype(np.uint16) * 257).numpy()
    assert _is_16_bit_png(scaled)
    np.testing.assert_array_equal(from_8_bit, repaint_bytes(scaled))


def _decode_rest_body(body):
    """What TF Serving does with a row-format ("instances") JSON body: one tensor per input."""
    request = json.loads(body)
    rows = request["instances"]
    columns = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, dict) and set(value) == {"b64"}:
                value = base64.b64decode(value["b64"])
            columns.setdefault(key, []).append(value)
    tensors = {}
    for key, values in columns.items():
        if isinstance(values[0], bytes):
            tensors[key] = tf.constant(values, tf.string)
        else:
            tensors[key] = tf.constant(np.asarray(values, "float32"))
    return request.get("signature_name", "serving_default"), tensors


def _encode_rest_response(outputs):
    """TF Serving's row-format response: `_bytes` outputs as {"b64": ...}."""
    names = list(outputs)
    n = outputs[names[0]].shape[0]
    predictions = []
    for i in range(n):
        row = {}
        for name in names:
            value = outputs[name].numpy()[i]
            row[name] = (
                {"b64": base64.b64encode(value).decode()}
                if name.endswith("_bytes")
                else value.tolist()
            )
        predictions.append(row)
    return json.dumps({"predictions": predictions})


@pytest.mark.slow
def test_rest_inpaint_bytes_matches_keras(model, loaded):
    import cv2

    pairs = [_inputs(30, 42), _inputs(32, 32)]
    instances, expected = [], []
    for image, mask in pairs:
        pixels = np.round(image[0] * 255).astype(np.uint8)
        instances.append(
            {
                "image_bytes": {"b64": base64.b64encode(_png(pixels)).decode()},
                "mask_bytes": {"b64": base64.b64encode(_png(mask[0])).decode()},
            }
        )
        x = (pixels.astype("float32") / 255.0)[None]
        expected.append(np.asarray(model({"image": x, "mask": mask})["inpainted"])[0])
    body = json.dumps({"signature_name": "inpaint_bytes", "instances": instances})

    signature, tensors = _decode_rest_body(body)
    response = json.loads(_encode_rest_response(loaded.signatures[signature](**tensors)))

    assert len(response["predictions"]) == 2
    for prediction, want, (image, mask) in zip(
        response["predictions"], expected, pairs, strict=True
    ):
        png = base64.b64decode(prediction["inpainted_png_bytes"]["b64"])
        got = cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), 1), cv2.COLOR_BGR2RGB)
        assert got.shape == image.shape[1:]
        want8 = np.round(np.clip(want, 0, 1) * 255)
        assert np.abs(got.astype(float) - want8).max() <= 1  # float rounding at .5
        known = mask[0, ..., 0] == 0
        np.testing.assert_array_equal(got[known], np.round(image[0] * 255).astype(np.uint8)[known])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["serving_default.json", "inpaint_bytes.json"])
def test_example_rest_bodies_run(loaded, name):
    with open(os.path.join(REPO, "export", "examples", name), encoding="utf-8") as f:
        signature, tensors = _decode_rest_body(f.read())
    assert signature == name[: -len(".json")]
    response = json.loads(_encode_rest_response(loaded.signatures[signature](**tensors)))
    (prediction,) = response["predictions"]
    if signature == "serving_default":
        assert np.asarray(prediction["inpainted"]).shape == (12, 12, 3)
    else:
        png = base64.b64decode(prediction["inpainted_png_bytes"]["b64"])
        assert tf.io.decode_png(png).shape == (64, 64, 3)


@pytest.mark.slow
def test_inpaint_bytes_accepts_jpeg(loaded):
    import cv2

    image, mask = _inputs(24, 40)
    ok, jpeg = cv2.imencode(".jpg", np.round(image[0] * 255).astype(np.uint8))
    assert ok
    out = loaded.signatures["inpaint_bytes"](
        image_bytes=tf.constant([jpeg.tobytes()]), mask_bytes=tf.constant([_png(mask[0])])
    )["inpainted_png_bytes"]
    assert tf.io.decode_png(out[0]).shape == (24, 40, 3)


@pytest.mark.slow
def test_grpc_predict_request_matches_keras(model, loaded):
    from tensorflow_serving.apis import predict_pb2

    image, mask = _inputs(30, 42)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "edgeconnect"
    request.model_spec.signature_name = "serving_default"
    request.inputs["image"].CopyFrom(tf.make_tensor_proto(image))
    request.inputs["mask"].CopyFrom(tf.make_tensor_proto(mask))
    wire = predict_pb2.PredictRequest.FromString(request.SerializeToString())

    inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in wire.inputs.items()}
    out = loaded.signatures[wire.model_spec.signature_name](**inputs)
    expected = model({"image": image, "mask": mask})
    np.testing.assert_allclose(out["inpainted"], expected["inpainted"], atol=1e-5)
    np.testing.assert_allclose(out["edges"], expected["edges"], atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize(
    "case,message",
    [
        ("rank3", "`image` must be a rank-4 tensor"),
        ("rgba", "`image` must have 3 channels"),
        ("mask_size", "`mask` must have the batch size, height and width"),
        ("mask_batch", "`mask` must have the batch size, height and width"),
        ("mask_rank", "`mask` must be a rank-4 tensor"),
        ("range", r"`image` values must be float32 in \[0, 1\] \(not 0..255\)"),
        ("tiny", "height and width must be at least 9"),
    ],
)
def test_bad_tensors_fail_with_invalid_argument(loaded, case, message):
    image, mask = _inputs(32, 32)
    image, mask = {
        "rank3": (image[0], mask),
        "rgba": (np.concatenate([image, image[..., :1]], -1), mask),
        "mask_size": (image, mask[:, :20]),
        "mask_batch": (image, np.concatenate([mask, mask])),
        "mask_rank": (image, mask[..., 0]),
        "range": (image * 255, mask),
        "tiny": (image[:, :8], mask[:, :8]),
    }[case]
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loaded.signatures["serving_default"](image=tf.constant(image), mask=tf.constant(mask))


@pytest.mark.slow
def test_bad_edges_and_mismatched_bytes_fail(loaded):
    image, mask = _inputs(32, 32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="`edges` must have 1 channel"):
        loaded.signatures["inpaint_with_edges"](
            image=tf.constant(image), mask=tf.constant(mask), edges=tf.constant(image)
        )
    pixels = np.round(image[0] * 255).astype(np.uint8)
    with pytest.raises(tf.errors.InvalidArgumentError, match="`mask` must have the batch size"):
        loaded.signatures["inpaint_bytes"](
            image_bytes=tf.constant([_png(pixels)]), mask_bytes=tf.constant([_png(mask[0, :20])])
        )


def test_cli_rejects_non_version_output_and_missing_weights(weights, tmp_path, capsys):
    assert _cli("--weights", weights, "--output", tmp_path / "edgeconnect" / "latest") == 1
    assert "VERSION a positive integer" in capsys.readouterr().err
    assert _cli("--weights", tmp_path / "nope", "--output", tmp_path / "m" / "1") == 1
    assert "does not exist" in capsys.readouterr().err


# --------------------------------------------------------------------------- TFLite


@pytest.mark.slow
def test_tflite_float32_matches_saved_model_builtin_ops_only(tflite_dir, loaded):
    path = os.path.join(tflite_dir, tflite_name(SIZE, "none"))
    ops = tflite.tflite_ops(path)
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"]
    assert "WHILE" in ops and "CONV_2D" in ops  # Canny's hysteresis and the generators
    assert "VAR_HANDLE" not in ops and "READ_VARIABLE" not in ops  # weights frozen
    # The generators' reflection pads are traced as slices (XNNPACK-delegable); the
    # MIRROR_PADs left are Canny's and the pad to multiples of 4.
    assert ops.get("MIRROR_PAD", 0) <= 3
    runner = _runner(path)
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    assert interpreter.get_signature_list() == {
        "inpaint": {"inputs": ["image", "mask"], "outputs": ["edges", "inpainted"]}
    }
    for seed in range(2):
        image, mask = _inputs(SIZE, SIZE)
        image = np.roll(image, 7 * seed, axis=2)
        got = runner(image=image, mask=mask)
        want = loaded.signatures["serving_default"](
            image=tf.constant(image), mask=tf.constant(mask)
        )
        for name in ("inpainted", "edges"):
            assert np.abs(got[name] - want[name].numpy()).max() <= 1e-4, name


@pytest.mark.slow
def test_tflite_drawn_edges_matches_saved_model_inpaint_with_edges(
    weights, loaded, tmp_path, caplog
):
    import logging

    from ai_edge_litert.interpreter import Interpreter

    argv = ["--weights", weights, "--output", tmp_path, "--tflite", "--size", SIZE]
    with caplog.at_level(logging.WARNING):
        assert _cli(*argv, "--drawn-edges") == 0
    # TensorFlow's "unsaved custom gradients" notes: nothing a user can act on, not shown.
    assert not [r for r in caplog.records if "custom gradients" in r.getMessage()]
    assert sorted(os.listdir(tmp_path)) == [
        tflite_name(SIZE, "none"),
        tflite_name(SIZE, "none", drawn_edges=True),
        tflite_name(SIZE, "none", stage="edges"),
    ]
    path = os.path.join(tmp_path, tflite_name(SIZE, "none", drawn_edges=True))
    assert Interpreter(model_path=path).get_signature_list() == {
        "inpaint": {"inputs": ["edges", "image", "mask"], "outputs": ["edges", "inpainted"]}
    }
    image, mask = _inputs(SIZE, SIZE)
    drawn = np.zeros_like(mask)
    drawn[:, :, SIZE // 2 - 1] = 1  # a vertical line through the hole
    got = _runner(path)(image=image, mask=mask, edges=drawn)
    want = loaded.signatures["inpaint_with_edges"](
        image=tf.constant(image), mask=tf.constant(mask), edges=tf.constant(drawn)
    )
    for name in ("inpainted", "edges"):
        assert np.abs(got[name] - want[name].numpy()).max() <= 1e-4, name

    # Stage by stage in the page: the _g1 file draws the edge map (the `edges` signature),
    # the _edges file repaints along a full map (the `repaint` signature).
    g1 = os.path.join(tmp_path, tflite_name(SIZE, "none", stage="edges"))
    assert Interpreter(model_path=g1).get_signature_list() == {
        "edges": {"inputs": ["image", "mask"], "outputs": ["edges"]}
    }
    assert tflite.tflite_ops(g1)["TRANSPOSE_CONV"] == 2  # G1's two: no G2 in the file
    edge_map = Interpreter(model_path=g1).get_signature_runner("edges")(image=image, mask=mask)
    want_map = loaded.signatures["edges"](image=tf.constant(image), mask=tf.constant(mask))
    assert np.abs(edge_map["edges"] - want_map["edges"].numpy()).max() <= 1e-4
    got = _runner(path)(image=image, mask=mask, edges=edge_map["edges"])
    full = loaded.signatures["serving_default"](image=tf.constant(image), mask=tf.constant(mask))
    assert np.abs(got["inpainted"] - full["inpainted"].numpy()).max() <= 1e-4
    model = EdgeConnect.from_pretrained(weights)
    with pytest.raises(ValueError, match="int8.*drawn_edges"):
        tflite.export_tflite(model, str(tmp_path / "x.tflite"), SIZE, "int8", drawn_edges=True)


@pytest.mark.slow
def test_tflite_float16_close_and_half_the_size(tflite_dir, loaded):
    fp32 = os.path.join(tflite_dir, tflite_name(SIZE, "none"))
    fp16 = os.path.join(tflite_dir, tflite_name(SIZE, "float16"))
    assert os.path.getsize(fp16) < 0.7 * os.path.getsize(fp32)
    image, mask = _inputs(SIZE, SIZE)
    got = _runner(fp16)(image=image, mask=mask)
    want = loaded.signatures["serving_default"](image=tf.constant(image), mask=tf.constant(mask))
    assert np.abs(got["inpainted"] - want["inpainted"].numpy()).max() <= 1e-2


def _photo_pairs(size):
    """Held-out real photos (not the calibration ones) with free-form holes."""
    from skimage import data

    photos = [np.repeat(data.camera()[..., None], 3, -1), data.immunohistochemistry()]
    return tflite.calibration_pairs(photos, size, count=2, seed=7)


def _psnr(a, b):
    return 10 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-12))


@pytest.mark.slow
@pytest.mark.parametrize("quantize", ["dynamic", "int8"])
def test_tflite_quantized_psnr_drop(model, tflite_dir, tmp_path, quantize):
    from skimage import data

    calibration = None
    if quantize == "int8":
        calibration = tflite.calibration_pairs([data.astronaut(), data.coffee()], SIZE, count=4)
    path = str(tmp_path / f"{quantize}.tflite")
    ops = tflite.export_tflite(model, path, SIZE, quantize, calibration=calibration)
    assert not [op for op in ops if op.startswith("Flex")]
    fp32 = _runner(os.path.join(tflite_dir, tflite_name(SIZE, "none")))
    quant = _runner(path)
    drops = []
    for image, mask in _photo_pairs(SIZE):
        ref = fp32(image=image[None], mask=mask[None])["inpainted"][0]
        got = quant(image=image[None], mask=mask[None])["inpainted"][0]
        drops.append(_psnr(ref, image) - _psnr(got, image))
        assert _psnr(got, ref) > 25  # loose floor: random tiny networks, not trained ones
    print(f"{quantize}: PSNR drop vs float32 on photos {np.round(drops, 3).tolist()} dB")
    assert np.all(np.isfinite(drops))
    if quantize == "int8":
        from ai_edge_litert import schema_py_generated as schema

        with open(path, "rb") as f:
            parsed = schema.ModelT.InitFromPackedBuf(bytearray(f.read()), 0)
        types = [t.type for t in parsed.subgraphs[0].tensors]
        assert types.count(schema.TensorType.INT8) > 10  # the generators run in int8
        assert "QUANTIZE" in ops and "DEQUANTIZE" in ops


def test_int8_needs_calibration(model, tmp_path):
    with pytest.raises(ValueError, match="calibration"):
        tflite.export_tflite(model, str(tmp_path / "m.tflite"), SIZE, "int8")
    with pytest.raises(ValueError, match="quantize must be one of"):
        tflite.export_tflite(model, str(tmp_path / "m.tflite"), SIZE, "int4")


def test_flex_ops_fail_loudly(model, tmp_path, monkeypatch):
    def needs_flex(model, size, drawn_edges=False, stage=None):
        @tf.function(
            input_signature=[
                tf.TensorSpec([1, 4, 4, 3], tf.float32, name="image"),
                tf.TensorSpec([1, 4, 4, 1], tf.float32, name="mask"),
            ]
        )
        def inpaint(image, mask):  # a matrix determinant has no TFLite builtin
            return {"inpainted": tf.linalg.det(image[..., 0] + mask[..., 0])}

        return inpaint

    monkeypatch.setattr(tflite, "tflite_function", needs_flex)
    with pytest.raises(ValueError, match="builtin ops only"):
        tflite.export_tflite(model, str(tmp_path / "m.tflite"), SIZE)
    assert not os.path.exists(tmp_path / "m.tflite")


@pytest.mark.slow
def test_device_runner_script_end_to_end(tflite_dir, tmp_path):
    """export/tflite_inpaint.py on a PNG pair, without TensorFlow in the process."""
    import cv2

    model_path = os.path.join(tflite_dir, tflite_name(SIZE, "none"))
    image, mask = _inputs(48, 40)  # larger than the model's 32²: a window around the hole
    pixels = np.round(image[0] * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "photo.png"), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "mask.png"), (mask[0, ..., 0] * 255).astype(np.uint8))
    script = os.path.join(REPO, "export", "tflite_inpaint.py")
    argv = [
        script,
        "--model",
        model_path,
        "--image",
        str(tmp_path / "photo.png"),
        "--mask",
        str(tmp_path / "mask.png"),
        "--output",
        str(tmp_path / "out.png"),
        "--no-weight-cache",  # nothing written under the user's ~/.cache by a test
    ]
    code = (
        "import runpy, sys\n"
        f"sys.argv = {argv!r}\n"
        "try:\n"
        "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "assert 'tensorflow' not in sys.modules, 'runner imported TensorFlow'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(tmp_path))
    out = cv2.cvtColor(cv2.imread(str(tmp_path / "out.png")), cv2.COLOR_BGR2RGB)
    assert out.shape == pixels.shape
    known = mask[0, ..., 0] == 0
    np.testing.assert_array_equal(out[known], pixels[known])

    # The hole is the runner's: windows of the file's size through the package's crop rule.
    from edgeconnect_tf.deploy.tflite_runner import TFLiteModel

    ref, _ = TFLiteModel(model_path, weight_cache=False).inpaint(pixels, ~known)
    np.testing.assert_array_equal(out, ref)
