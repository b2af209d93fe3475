"""edgeconnect_tf.files.io: the one listing rule, header sizes, reading, atomic writes (files and
directories)."""

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from edgeconnect_tf.files import io


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


def test_atomic_directory_appears_whole_or_not_at_all(tmp_path):
    base = tmp_path / "serving" / "edgeconnect"
    with io.atomic_directory(base / "1") as tmp:
        (Path(tmp) / "variables").mkdir()
        (Path(tmp) / "saved_model.pb").write_bytes(b"pb")
        # While it is written, a reader polling BASE/NAME sees no version: a hidden name.
        assert [name.startswith(".") for name in os.listdir(base)] == [True]
    assert os.listdir(base) == ["1"]
    assert sorted(os.listdir(base / "1")) == ["saved_model.pb", "variables"]

    with pytest.raises(RuntimeError, match="writer died"), io.atomic_directory(base / "2") as tmp:
        (Path(tmp) / "saved_model.pb").write_bytes(b"half")
        raise RuntimeError("writer died")
    assert os.listdir(base) == ["1"]  # no version 2, no temporary directory

    (base / "3").mkdir()  # an empty directory (made by hand, or by a previous try) is taken
    with io.atomic_directory(base / "3") as tmp:
        (Path(tmp) / "saved_model.pb").write_bytes(b"pb")
    assert os.listdir(base / "3") == ["saved_model.pb"]


def test_atomic_directory_refuses_an_occupied_target_before_writing(tmp_path):
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "saved_model.pb").write_bytes(b"old")
    (tmp_path / "file").write_text("x")
    for target in (tmp_path / "1", tmp_path / "file"):
        ran = []
        with pytest.raises(FileExistsError, match=f"{target} already exists and is not an empty"):
            with io.atomic_directory(target):
                ran.append(True)
        assert not ran  # refused before any work
    assert (tmp_path / "1" / "saved_model.pb").read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["1", "file"]
    # Filled by another writer while the block ran: refused, the other's files kept.
    with pytest.raises(FileExistsError, match="never written over"):
        with io.atomic_directory(tmp_path / "2") as tmp:
            (Path(tmp) / "mine").write_text("mine")
            (tmp_path / "2").mkdir()
            (tmp_path / "2" / "theirs").write_text("theirs")
    assert os.listdir(tmp_path / "2") == ["theirs"]
    assert sorted(os.listdir(tmp_path)) == ["1", "2", "file"]


def _ram_folder(tmp_path):
    """A folder of TensorFlow's in-memory filesystem, standing in for an object store
    (gs://); named after the test's tmp_path so that tests never share one."""
    return f"ram://{tmp_path.name}"


def test_urls_read_write_and_exist_through_tf_filesystems(tmp_path):
    rgb = skimage.data.astronaut()[:20, :24]
    root = _ram_folder(tmp_path)
    path = f"{root}/out/sub/a.png"
    assert not io.exists(path) and not io.isdir(f"{root}/out")
    io.write_image(path, rgb)  # atomic: a temporary object renamed over the target
    assert io.exists(path) and io.isfile(path) and not io.isdir(path)
    assert io.isdir(f"{root}/out/sub") and not io.isfile(f"{root}/out/sub")
    np.testing.assert_array_equal(io.read_image(path), rgb)
    local = str(tmp_path / "a.png")
    io.write_image(local, rgb)
    assert io.read_bytes(path) == Path(local).read_bytes()
    assert io.read_bytes(path, limit=8) == b"\x89PNG\r\n\x1a\n"
    assert io.image_size(path) == (20, 24)  # from the header
    assert io.list_images(root) == [path]  # no temporary object left to list
    io.atomic_write(f"{root}/out/sub/a.png", b"replaced")
    assert io.read_bytes(path) == b"replaced"
    assert io.relative_path(path, f"{root}/out") == "sub/a.png"
    assert io.relative_path(path, f"{root}/out/") == "sub/a.png"
    with pytest.raises(ValueError, match="is not below"):
        io.relative_path(path, f"{root}/other")
    assert io.real_path(path) == path  # a URL is not made a local path
    io.remove(path)
    assert not io.exists(path)
    with pytest.raises(io.ImageFileError, match=f"image file {path} does not exist"):
        io.read_image(path)
    with pytest.raises(io.ImageFileError, match=f"mask file {path} does not exist"):
        io.image_size(path, "mask")
    with pytest.raises(FileNotFoundError, match=path):  # an OSError, not TensorFlow's error
        io.remove(path)


def test_a_url_writer_that_fails_half_way_leaves_no_object(tmp_path):
    import tensorflow as tf

    folder = f"{_ram_folder(tmp_path)}/out"
    target = f"{folder}/a.png"
    with pytest.raises(RuntimeError, match="writer died"), io.atomic_path(target) as tmp:
        assert tmp.startswith(f"{folder}/.a.png.") and tmp.endswith(".png")  # hidden, beside
        with io.open_file(tmp, "wb") as f:
            f.write(b"half")
            f.flush()
            assert io.exists(tmp)  # the temporary object holds the half
        raise RuntimeError("writer died")
    assert not io.exists(target)
    assert tf.io.gfile.listdir(folder) == []  # the temporary object is gone too
    io.atomic_write(target, b"old")
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        with io.open_file(tmp, "wb") as f:
            f.write(b"new, half")
        raise RuntimeError("writer died")
    assert io.read_bytes(target) == b"old"  # the previous object is kept
    assert tf.io.gfile.listdir(folder) == ["a.png"]
