"""The `.tflite` runner: the window rule (every call at the file's size, flat memory), parity
with LiteRT's classic interpreter, `edgeconnect eval` on a `.tflite` file."""

import argparse
import json

import cv2
import numpy as np
import pytest

from edgeconnect_tf.deploy import tflite, tflite_name
from edgeconnect_tf.deploy.tflite_runner import TFLiteModel
from edgeconnect_tf.inpaint import InpaintError, hole_windows, inpaint
from edgeconnect_tf.weights import build_networks

# Every test converts or runs a .tflite file: the slow tier, as all TFLite conversions.
pytestmark = pytest.mark.slow

SIZE = 32  # the file's input size


@pytest.fixture(scope="module")
def model():
    from edgeconnect_tf.edgeconnect import EdgeConnect

    nets = build_networks(
        residual_blocks=1, filters=8, names=("edge_generator", "inpaint_generator")
    )
    return EdgeConnect(nets["edge_generator"], nets["inpaint_generator"])


@pytest.fixture(scope="module")
def model_path(model, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("tflite") / tflite_name(SIZE, "none"))
    tflite.export_tflite(model, path, SIZE)
    return path


@pytest.fixture(scope="module")
def runner(model_path, tmp_path_factory):
    return TFLiteModel(model_path, weight_cache=str(tmp_path_factory.mktemp("cache")))


def _classic(path):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=path, num_threads=2).get_signature_runner("inpaint")


def _photo(h, w):
    from skimage import data

    return cv2.resize(data.astronaut(), (w, h), interpolation=cv2.INTER_AREA)


def test_matches_classic_interpreter_and_pads_small_inputs(runner, model_path):
    classic = _classic(model_path)
    image = _photo(SIZE, SIZE).astype(np.float32)[None] / 255
    mask = np.zeros((1, SIZE, SIZE, 1), np.float32)
    mask[:, 8:20, 10:22] = 1
    got = runner({"image": image, "mask": mask})
    ref = classic(image=image, mask=mask)
    for name in ("inpainted", "edges"):
        np.testing.assert_array_equal(got[name], ref[name])

    # A 20×27 input: reflect-padded to 32×32 (as numpy's "symmetric"), outputs cropped.
    small, small_mask = image[:, :20, :27], mask[:, :20, :27]
    pad = ((0, 0), (0, SIZE - 20), (0, SIZE - 27), (0, 0))
    ref = classic(image=np.pad(small, pad, mode="symmetric"), mask=np.pad(small_mask, pad))
    got = runner({"image": small, "mask": small_mask})
    assert got["inpainted"].shape == (1, 20, 27, 3)
    np.testing.assert_array_equal(got["inpainted"], ref["inpainted"][:, :20, :27])


def test_window_rule_calls_only_at_file_size(runner, monkeypatch):
    """A photo 6x the file's side: one 32×32 call per merged hole window, nothing larger."""
    shapes = []
    run = runner._model.run_by_index

    def record(index, inputs, outputs):
        shapes.append(runner._model.get_input_tensor_details("inpaint")["image"]["shape"])
        return run(index, inputs, outputs)

    monkeypatch.setattr(runner._model, "run_by_index", record)
    image = _photo(192, 176)
    hole = np.zeros(image.shape[:2], bool)
    hole[10:20, 10:30] = True  # small: a native 32×32 window
    hole[100:160, 60:150] = True  # 90 px wide: a 180-px window scaled down to 32
    hole[170:175, 160:170] = True  # inside the large hole's window: merged into it
    calls = runner.calls
    result, edges = runner.inpaint(image, hole)
    windows = hole_windows(hole, SIZE)
    assert len(windows) == 2
    assert runner.calls - calls == len(shapes) == len(windows)
    assert all(list(s) == [1, SIZE, SIZE, 3] for s in shapes)
    np.testing.assert_array_equal(result[~hole], image[~hole])
    assert edges.shape == hole.shape
    with pytest.raises(InpaintError, match="at most 32×32 px per call"):
        inpaint(runner, image, hole, tiling="full")


def test_peak_memory_flat_as_the_image_grows(model_path, tmp_path):
    """Child processes (no TensorFlow): peak RSS at a 256² and a 1024² photo.

    Through windows the model's memory is that of one 32×32 call either way; what
    grows is the photo's own arrays, 1024² × ~30 bytes (uint8 image and result,
    float32 inpainted and edge maps, bool hole, temporaries) ≈ 30 MiB. Run whole,
    the 1024² image would add this network's activations at 1024²: measured
    ~0.45 KiB per pixel for 8 filters (3.4 KiB for 64), ≈ 450 MiB.
    """
    from bench.tflite_memory import peak_memory

    cache = tmp_path / "cache"
    peak_memory(model_path, (64, 64), "cache", cache)  # writes the weight cache
    small = peak_memory(model_path, (256, 256), "cache", cache)
    large = peak_memory(model_path, (1024, 1024), "cache", cache)
    assert "error" not in small and "error" not in large, (small, large)
    assert not small["tensorflow"] and not large["tensorflow"]
    assert small["model_size"] == large["model_size"] == [SIZE, SIZE]
    assert large["calls"] == small["calls"] == 3  # three holes, three windows
    assert large["peak_mib"] - small["peak_mib"] < 64, (small, large)


def test_errors_are_one_line(runner, model_path, tmp_path):
    with pytest.raises(InpaintError, match="is not a file"):
        TFLiteModel(str(tmp_path / "missing.tflite"))
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(InpaintError, match="could not load"):
        TFLiteModel(str(bad), weight_cache=False)
    image = np.zeros((1, SIZE, SIZE, 3), np.float32)
    mask = np.zeros((1, SIZE, SIZE, 1), np.float32)
    with pytest.raises(InpaintError, match="no drawn edges"):
        runner({"image": image, "mask": mask, "edges": mask})


def test_eval_cli_on_a_tflite_file(runner, model_path, tmp_path, capsys):
    """`edgeconnect eval --weights FILE.tflite`: the runner's results, scored."""
    from skimage.metrics import peak_signal_noise_ratio

    from edgeconnect_tf.cli.evaluate import add_arguments, main

    data = tmp_path / "data"
    data.mkdir()
    photo = _photo(56, 72)  # SSIM needs 51×51
    cv2.imwrite(str(data / "a.png"), photo[..., ::-1])
    mask = np.zeros((56, 72), np.uint8)
    mask[10:26, 20:40] = 255
    (tmp_path / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), mask)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["--weights", model_path, "--data", data, "--masks", tmp_path / "masks"]
    argv += ["--output", tmp_path / "r", "--no-baselines", "--tiling", "auto"]
    assert main(parser.parse_args([str(a) for a in argv])) == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "r" / "metrics.json").read_text())
    result, _ = runner.inpaint(photo, mask > 0)  # 56×72 > 32: windows of 32
    expected = peak_signal_noise_ratio(photo, result, data_range=255)
    assert report["per_image"][0]["edgeconnect"]["psnr_rgb"] == pytest.approx(expected, abs=1e-4)

    argv[-1] = "full"  # the whole 56×72 image in one call: larger than the file
    assert main(parser.parse_args([str(a) for a in argv])) == 1
    assert "at most 32×32 px per call" in capsys.readouterr().err


def test_inpaint_cli_on_a_tflite_file(runner, model_path, tmp_path, capsys):
    """`edgeconnect inpaint --weights FILE.tflite`: the runner's pixels, written; then a
    rerun says "nothing to do" without starting TensorFlow."""
    import subprocess
    import sys

    from edgeconnect_tf.cli import main

    photo = _photo(56, 72)
    mask = np.zeros((56, 72), np.uint8)
    mask[10:26, 20:40] = 255
    cv2.imwrite(str(tmp_path / "a.png"), photo[..., ::-1])
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    argv = ["inpaint", "--weights", model_path, "--input", tmp_path / "a.png"]
    argv += ["--mask", tmp_path / "m.png", "--output", tmp_path / "out"]
    argv = [str(a) for a in argv]
    assert main(argv) == 0, capsys.readouterr().err
    expected, _ = runner.inpaint(photo, mask > 0)
    written = cv2.imread(str(tmp_path / "out" / "a.png"))[..., ::-1]
    np.testing.assert_array_equal(written, expected)
    assert main([*argv, "--reference"]) == 1
    assert "not a .tflite file" in capsys.readouterr().err

    code = (
        "import sys; from edgeconnect_tf.cli import main; code = main(sys.argv[1:]); "
        "print('TENSORFLOW', 'tensorflow' in sys.modules); sys.exit(code)"
    )
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "nothing to do" in proc.stdout and "TENSORFLOW False" in proc.stdout


def test_int8_export_warns_below_the_margin(model, model_path, tmp_path, monkeypatch):
    """The warning compares the int8 file with the float32 one on the check pairs."""
    import warnings

    from edgeconnect_tf.deploy.tflite import calibration_and_check

    photos, check_photos = calibration_and_check()
    calibration = tflite.calibration_pairs(photos, SIZE, count=4)
    check = tflite.calibration_pairs(check_photos, SIZE, count=4, seed=11)
    path = str(tmp_path / "int8.tflite")
    seen = []
    measure = tflite.quantization_loss
    monkeypatch.setattr(
        tflite, "quantization_loss", lambda *a: seen.append(measure(*a)) or seen[-1]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        tflite.export_tflite(model, path, SIZE, "int8", calibration=calibration, check=check)
    [loss] = seen  # measured once, on the check pairs
    assert np.isfinite(loss["mean_db"])
    warned = any("dB margin" in str(w.message) for w in caught)
    assert warned == (loss["mean_db"] < tflite.INT8_MARGIN_DB)
    monkeypatch.setattr(tflite, "INT8_MARGIN_DB", loss["mean_db"] + 5)  # a worse file's score
    with pytest.warns(UserWarning, match=r"on the check photos is .* below the .* dB margin"):
        tflite.warn_below_margin(path, loss, "the check photos")
    monkeypatch.setattr(tflite, "INT8_MARGIN_DB", loss["mean_db"] - 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        tflite.warn_below_margin(path, loss, "the check photos")


def test_pyramid_fill_model_exports_and_matches_tensorflow(tmp_path):
    """A `hole_fill="pyramid"` G2 (the quickstart's) in a `.tflite` file: builtin ops only, the
    same fill as TensorFlow's graph to float32 rounding."""
    from edgeconnect_tf.edgeconnect import EdgeConnect

    names = ("edge_generator", "inpaint_generator")
    nets = build_networks(residual_blocks=1, filters=8, names=names, hole_fill="pyramid")
    rng = np.random.default_rng(0)
    g2 = nets["inpaint_generator"]  # its last conv starts at 0: give it a correction to add
    g2.set_weights([rng.normal(0, 0.05, w.shape).astype(np.float32) for w in g2.get_weights()])
    model = EdgeConnect(nets["edge_generator"], g2)
    path = str(tmp_path / "pyramid.tflite")
    tflite.export_tflite(model, path, SIZE)
    image = _photo(SIZE, SIZE).astype(np.float32)[None] / 255
    mask = np.zeros((1, SIZE, SIZE, 1), np.float32)
    mask[:, 6:24, 4:20] = 1
    got = TFLiteModel(path)({"image": image, "mask": mask})["inpainted"]
    want = model({"image": image, "mask": mask})["inpainted"].numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)  # measured 5e-6
    assert np.abs(want - image).max() > 0.05  # the hole is filled, not left as it was
