"""`make demo` end to end at a few steps, run from an installed wheel in another directory."""

import os
import subprocess
import sys
import zipfile

import cv2
import numpy as np
import pytest

from edgeconnect_tf import demo

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def installed(built_wheel, tmp_path_factory):
    """The package as `pip install .` lays it out: the built wheel, unpacked."""
    wheel, _ = built_wheel
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)
    assert "edgeconnect_tf/training/configs/quickstart.yaml" in names
    assert "edgeconnect_tf/editor/static/index.html" in names
    return site


@pytest.mark.slow
@pytest.mark.long
def test_demo_runs_from_the_installed_package(installed, tmp_path):
    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "edgeconnect_tf.demo", f"--output={out}"]
    cmd += ["--edge-steps=2", "--inpaint-steps=2", "--crops=1"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # the user's
    env["PYTHONPATH"] = str(installed)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| EdgeConnect |" in proc.stdout and "| OpenCV Telea |" in proc.stdout
    assert "I0000" not in proc.stderr and "cuInit" not in proc.stderr  # quiet TensorFlow
    assert len(os.listdir(out / "data" / "train")) == len(demo.TRAIN_PHOTOS)  # 1 crop each
    for run in ("edge", "inpaint"):
        assert (out / "runs" / run / "weights" / "config.json").is_file()
        assert any(f.startswith("events") for _, _, fs in os.walk(out / "runs" / run) for f in fs)
        with open(out / "runs" / run / "config.yaml") as f:
            assert "max_iters: 2" in f.read()  # the shipped quickstart config, overridden
    assert (out / "weights" / "config.json").is_file()
    table = (out / "demo.md").read_text()
    assert table.count("| OpenCV") == 2 and "PSNR 128²" in table and "PSNR 256²" in table
    grid = cv2.imread(str(out / "demo.png"))[..., ::-1]
    # A header strip, then per case a caption strip and 6 panels in 256-px columns 4 px apart
    # (a 128² row centred in them): input, edges, EdgeConnect, Telea, Navier-Stokes, ground
    # truth; 2 photos x 2 holes at 128² and 256².
    strip, gap, column = 18, 4, 256
    assert grid.shape == (strip + 4 * (strip + 128) + 4 * (strip + 256), 6 * 256 + 5 * gap, 3)
    top = strip
    for size in (128, 128, 128, 128, 256, 256, 256, 256):
        top += strip
        left = (column - size) // 2
        photo, holed, result = (
            grid[top : top + size, c * (column + gap) + left : c * (column + gap) + left + size]
            for c in (5, 0, 2)
        )
        known = np.any(holed != 255, axis=-1)
        assert 0.03 < 1 - known.mean() < 0.6  # the hole, white in the input panel
        # The EdgeConnect panel keeps every pixel outside the hole.
        np.testing.assert_array_equal(result[known], photo[known])
        top += size
