"""`make demo` end to end at a few steps: crops, two training runs, the before/after grid."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edgeconnect_tf import demo


@pytest.mark.slow
def test_demo_trains_and_writes_the_grid(tmp_path):
    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "edgeconnect_tf.demo", f"--output={out}"]
    cmd += ["--edge_steps=2", "--inpaint_steps=2", "--crops=1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "PSNR in the holes" in proc.stdout
    assert len(os.listdir(out / "data" / "train")) == len(demo.TRAIN_PHOTOS)  # 1 crop each
    for run in ("edge", "inpaint"):
        assert (out / "runs" / run / "weights" / "config.json").is_file()
        assert any(f.startswith("events") for _, _, fs in os.walk(out / "runs" / run) for f in fs)
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
