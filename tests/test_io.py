"""edgeconnect_tf.io: the one listing rule, header sizes, reading, atomic writes."""

import os

import cv2
import numpy as np
import pytest
import skimage.data

from edgeconnect_tf import io


def test_read_and_write_images(tmp_path):
    rgb = skimage.data.astronaut()[:20, :24]
    path = str(tmp_path / "a.png")
    io.write_image(path, rgb)
    np.testing.assert_array_equal(io.read_image(path), rgb)
    assert os.listdir(tmp_path) == ["a.png"]  # no temporary file left
    wide = (np.arange(20 * 24, dtype=np.uint16) * 97).reshape(20, 24)
    cv2.imwrite(str(tmp_path / "w.png"), wide)
    read = io.read_image(str(tmp_path / "w.png"))
    assert read.dtype == np.uint16
    np.testing.assert_array_equal(read, wide)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(io.ImageFileError, match="bad.png could not be read"):
        io.read_image(str(tmp_path / "bad.png"))
    with pytest.raises(io.ImageFileError, match="does not exist"):
        io.read_image(str(tmp_path / "missing.png"))


def test_list_images_is_recursive_sorted_and_skips_hidden(tmp_path):
    for name in [
        "b.png",
        "a.JPG",
        "sub/c.tif",
        "sub/deeper/d.webp",
        ".hidden.png",
        ".cache/e.png",
        "notes.txt",
        "f.bmp",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = [os.path.relpath(p, tmp_path) for p in io.list_images(tmp_path)]
    assert found == ["a.JPG", "b.png", "f.bmp", "sub/c.tif", "sub/deeper/d.webp"]
    assert io.list_images(tmp_path / "b.png") == [str(tmp_path / "b.png")]
    with pytest.raises(io.ImageFileError, match="--data .*missing does not exist"):
        io.list_images(tmp_path / "missing", name="--data")
    (tmp_path / "empty").mkdir()
    with pytest.raises(io.ImageFileError, match="no images"):
        io.list_images(tmp_path / "empty")


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", ".tif"])
@pytest.mark.parametrize("shape", [(13, 29, 3), (300, 7, 1), (1, 1, 3)])
def test_image_size_from_header_matches_decoded(tmp_path, ext, shape):
    image = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    path = str(tmp_path / f"x{ext}")
    assert cv2.imwrite(path, image)
    assert io.image_size(path) == cv2.imread(path, cv2.IMREAD_UNCHANGED).shape[:2]


def test_atomic_write_leaves_nothing_on_failure_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "out" / "config.yaml"
    io.atomic_write(target, "a: 1\n")
    assert target.read_text() == "a: 1\n"
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("writer died")
    assert target.read_text() == "a: 1\n"
    assert os.listdir(target.parent) == ["config.yaml"]


def test_atomic_paths_are_unique_and_keep_the_weights_suffix(tmp_path):
    target = tmp_path / "g.weights.h5"
    with io.atomic_path(target) as first, io.atomic_path(target) as second:
        assert first != second  # two writers never share a temporary file
        assert first.endswith(".weights.h5") and second.endswith(".weights.h5")
        for p in (first, second):
            with open(p, "w") as f:
                f.write(p)
    assert target.read_text() in (first, second)
    assert os.listdir(tmp_path) == ["g.weights.h5"]
    mode = os.stat(target).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # not mkstemp's private 0600
