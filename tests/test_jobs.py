"""Job planning (`edgeconnect_tf.jobs`) and file progress (`edgeconnect_tf.progress`)."""

import io
import os

import cv2
import numpy as np
import pytest

from edgeconnect_tf.files.image_headers import ImageTooLarge
from edgeconnect_tf.files.io import ImageFileError
from edgeconnect_tf.inpaint import InpaintError
from edgeconnect_tf.jobs import (
    InpaintJob,
    check_job,
    check_reference,
    output_name,
    pending,
    plan_inpaint,
)
from edgeconnect_tf.progress import Progress


def _png(path, height=20, width=24):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), np.zeros((height, width), np.uint8))
    return str(path)


@pytest.fixture
def tree(tmp_path):
    """in/{a.png, sub/b.jpg, .hidden.png}, masks/{a.png, sub/b.png}."""
    _png(tmp_path / "in" / "a.png")
    _png(tmp_path / "in" / "sub" / "b.jpg")
    _png(tmp_path / "in" / ".hidden.png")
    _png(tmp_path / "masks" / "a.png")
    _png(tmp_path / "masks" / "sub" / "b.png")
    return tmp_path


def test_plan_pairs_by_relative_path_and_names_outputs(tree):
    out = str(tree / "out")
    jobs = plan_inpaint(str(tree / "in"), str(tree / "masks"), out, save_edges=True)
    assert [os.path.relpath(j.image, tree) for j in jobs] == ["in/a.png", "in/sub/b.jpg"]
    assert [os.path.relpath(j.mask, tree) for j in jobs] == ["masks/a.png", "masks/sub/b.png"]
    assert [os.path.relpath(j.output, out) for j in jobs] == ["a.png", "sub/b.jpg"]
    assert [os.path.relpath(j.edges_output, out) for j in jobs] == [
        "a_edges.png",
        "sub/b_edges.png",
    ]
    assert output_name("x/photo.TIFF", "x/photo.TIFF") == "photo.png"
    assert output_name("x/photo.JPEG", "x/photo.JPEG") == "photo.JPEG"


def test_plan_refuses_what_would_go_wrong(tree):
    root, masks = str(tree / "in"), str(tree / "masks")
    os.remove(tree / "masks" / "sub" / "b.png")
    with pytest.raises(InpaintError, match=r"no mask in .* for 1 image\(s\): sub/b.jpg"):
        plan_inpaint(root, masks, str(tree / "out"))
    _png(tree / "masks" / "sub" / "b.png")
    _png(tree / "masks" / "sub" / "b.bmp")
    with pytest.raises(InpaintError, match="two mask files named 'sub/b'"):
        plan_inpaint(root, masks, str(tree / "out"))
    os.remove(tree / "masks" / "sub" / "b.bmp")
    with pytest.raises(InpaintError, match="would overwrite an input"):
        plan_inpaint(root, masks, root)
    with pytest.raises(ImageFileError, match="input .*nowhere does not exist"):
        plan_inpaint(str(tree / "nowhere"), masks, str(tree / "out"))
    with pytest.raises(InpaintError, match="edges .*nope does not exist"):
        plan_inpaint(root, masks, str(tree / "out"), edges=str(tree / "nope"))
    (tree / "file").write_text("x")
    with pytest.raises(InpaintError, match="exists and is not a directory"):
        plan_inpaint(root, masks, str(tree / "file"))
    _png(tree / "in" / "a.jpg")  # a.png -> a.png and a.jpg -> a.jpg: distinct
    _png(tree / "in" / "a.bmp")  # a.bmp -> a.png as well
    with pytest.raises(InpaintError, match="would both be written to"):
        plan_inpaint(root, str(tree / "masks" / "a.png"), str(tree / "out"))


def test_pending_skips_finished_jobs(tree):
    out = tree / "out"
    jobs = plan_inpaint(str(tree / "in"), str(tree / "masks"), str(out), save_edges=True)
    _png(out / "a.png")
    assert pending(jobs) == jobs  # a.png without its edges file is not finished
    _png(out / "a_edges.png")
    assert pending(jobs) == jobs[1:]
    assert pending(jobs, overwrite=True) == jobs


def test_check_job_reads_headers_and_limits_pixels(tree):
    job = InpaintJob(str(tree / "in" / "a.png"), str(tree / "masks" / "a.png"), None, "o.png")
    assert check_job(job, max_pixels=20 * 24) == (20, 24)
    with pytest.raises(ImageTooLarge, match="a.png is 24×20 = 480 pixels; the limit is 479"):
        check_job(job, max_pixels=479)
    wrong = InpaintJob(job.image, _png(tree / "m.png", 10, 24), None, "o.png")
    with pytest.raises(InpaintError, match=r"mask .*m.png is 24×10.*--resize-mask"):
        check_job(wrong)
    assert check_job(wrong, resize_mask=True) == (20, 24)
    (tree / "bad.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match="bad.png"):
        check_job(InpaintJob(str(tree / "bad.png"), job.mask, None, "o.png"))


def test_check_reference():
    check_reference(False, "crop", edges="e.png")
    check_reference(True, "auto")
    with pytest.raises(InpaintError, match="drop --tiling crop"):
        check_reference(True, "crop")
    with pytest.raises(InpaintError, match="drop --edges"):
        check_reference(True, "full", edges="e.png")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_plain_lines_off_a_terminal(monkeypatch):
    monkeypatch.delenv("TERM", raising=False)
    log = io.StringIO()
    seen = list(Progress(3, stream=log).iterate(["a.png", "b.png", "c.png"]))
    assert seen == ["a.png", "b.png", "c.png"]
    lines = log.getvalue().splitlines()
    assert [line.rsplit(" ", 2)[0] for line in lines] == ["1/3 a.png", "2/3 b.png", "3/3 c.png"]
    assert not any(c in log.getvalue() for c in "\r\b\x1b")

    tty = _Terminal()
    list(Progress(2, stream=tty).iterate(["a.png", "b.png"]))
    text = tty.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and "\x1b" not in text
    assert "0/2 [>" in text and "a.png" in text and "1/2 [" in text and "b.png" in text


def test_check_reference_refuses_a_centre_crop():
    with pytest.raises(InpaintError, match="drop --crop-size"):
        check_reference(True, "full", crop_size=64)
