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
def installed(tmp_path_factory):
    """The package as `pip install .` lays it out: the built wheel, unpacked."""
    wheels = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w"]
        + [str(wheels), REPO],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [wheel] = [w for w in os.listdir(wheels) if w.endswith(".whl")]
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheels / wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)
    assert "edgeconnect_tf/configs/quickstart.yaml" in names
    assert "edgeconnect_tf/editor/static/index.html" in names
    return site


@pytest.mark.slow
def test_demo_runs_from_the_installed_package(installed, tmp_path):
    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "edgeconnect_tf.demo", f"--output={out}"]
    cmd += ["--edge_steps=2", "--inpaint_steps=2", "--crops=1"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # the user's
    env["PYTHONPATH"] = str(installed)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "PSNR in the holes" in proc.stdout
    assert "I0000" not in proc.stderr and "cuInit" not in proc.stderr  # quiet TensorFlow
    assert len(os.listdir(out / "data" / "train")) == len(demo.TRAIN_PHOTOS)  # 1 crop each
    for run in ("edge", "inpaint"):
        assert (out / "runs" / run / "weights" / "config.json").is_file()
        assert any(f.startswith("events") for _, _, fs in os.walk(out / "runs" / run) for f in fs)
        with open(out / "runs" / run / "config.yaml") as f:
            assert "max_iters: 2" in f.read()  # the shipped quickstart config, overridden
    grid = cv2.imread(str(out / "demo.png"))
    assert grid.shape == (4 * 128, 5 * 128, 3)  # 2 photos x 2 masks; 5 panels each
    # The EdgeConnect panel keeps every pixel outside the hole (hole = white in panel 2).
    for row in range(4):
        photo, holed, result = (
            grid[row * 128 : (row + 1) * 128, c * 128 : (c + 1) * 128] for c in (0, 1, 3)
        )
        known = np.any(holed != 255, axis=-1)
        known[:16] = False  # the label text
        np.testing.assert_array_equal(result[known], photo[known])
