"""tf.data pipeline: sources, decoding, shapes, edges, masks, bad files, determinism, sharding."""

import logging
import os

import cv2
import numpy as np
import pytest
import skimage.feature
import tensorflow as tf
from tensorflow.python.data.experimental.ops.distribute import _AutoShardDataset

from edgeconnect_tf.data import dataset
from edgeconnect_tf.data.canny import canny
from edgeconnect_tf.files import io

SIZE = 32


def shapes_image(rng, height, width):
    """uint8 BGR image with a few shapes (clear Canny edges) and mild noise (no exact ties)."""
    img = np.full((height, width, 3), 120, np.uint8)
    for _ in range(4):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, y0 = int(rng.integers(0, width - 8)), int(rng.integers(0, height - 8))
        w, h = int(rng.integers(6, width // 2)), int(rng.integers(6, height // 2))
        cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), colour, -1)
    cv2.circle(img, (width // 2, height // 2), min(height, width) // 5, (250, 30, 60), -1)
    noise = rng.normal(0.0, 6.0, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """Ten readable images of every listed format and several sizes (four in a subdirectory)."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(1)
    (root / "sub").mkdir()
    files = {
        "a.jpg": shapes_image(rng, 40, 56),
        "b.JPEG": shapes_image(rng, 48, 36),
        "c.png": shapes_image(rng, 36, 44),
        "d.bmp": shapes_image(rng, 32, 40),
        "e.webp": shapes_image(rng, 44, 44),
        "f.tif": shapes_image(rng, 40, 44),
        "sub/deep.tiff": shapes_image(rng, 36, 40).astype(np.uint16) * 257 + 3,
        "sub/gray.png": shapes_image(rng, 40, 40)[..., 1],
        "sub/rgba.png": np.dstack([shapes_image(rng, 40, 48), np.full((40, 48), 7, np.uint8)]),
        "sub/deep.png": shapes_image(rng, 36, 36).astype(np.uint16) * 257 + 100,
    }
    for name, img in files.items():
        params = [cv2.IMWRITE_WEBP_QUALITY, 101] if name.endswith("webp") else []
        assert cv2.imwrite(str(root / name), img, params)
    (root / "notes.txt").write_text("not an image, not listed")
    return root


def expected_rgb(path):
    """Independent decode with OpenCV: uint8 RGB, the way the pipeline should see it."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 2:
        img = np.dstack([img] * 3)
    return img[..., 2::-1] if img.shape[-1] >= 3 else img


def take(ds, n):
    return [{k: v.numpy() for k, v in b.items()} for b in ds.take(n)]


def check_batch(batch, size=SIZE, batch_size=4):
    assert set(batch) >= {"image", "gray", "edge", "mask"}
    for key, channels in (("image", 3), ("gray", 1), ("edge", 1), ("mask", 1)):
        value = batch[key]
        assert value.dtype == np.float32, key
        assert value.shape == (batch_size, size, size, channels), key
        assert value.min() >= 0.0 and value.max() <= 1.0, key
    assert set(np.unique(batch["mask"])) <= {0.0, 1.0}
    assert set(np.unique(batch["edge"])) <= {0.0, 1.0}
    gray = batch["image"] @ np.array([0.2125, 0.7154, 0.0721], np.float32)
    np.testing.assert_allclose(batch["gray"][..., 0], gray, atol=1e-6)


def test_directory_source_training_batches(image_dir):
    ds = dataset.build_dataset(image_dir, training=True, batch_size=4, input_size=SIZE, mask=1)
    batches = take(ds, 3)
    for batch in batches:
        check_batch(batch)
        np.testing.assert_array_equal(batch["mask"].mean(axis=(1, 2, 3)), 0.25)
        assert "path" not in batch
    assert sum(b["edge"].sum() for b in batches) > 0  # the shapes have edges


def test_list_files_forms(image_dir, tmp_path):
    paths, kind = dataset.list_files(str(image_dir))
    assert kind == "images" and len(paths) == 10  # recursive, case-insensitive, .txt skipped
    assert paths == io.list_images(image_dir)  # the one listing rule of every command
    flist = tmp_path / "train.flist"
    flist.write_text("\n".join(paths[:3]) + "\n\n")
    assert dataset.list_files(str(flist)) == (paths[:3], "images")
    assert dataset.list_files(str(image_dir / "*.png"))[0] == [str(image_dir / "c.png")]
    assert dataset.list_files(paths[4]) == ([paths[4]], "images")


def test_flist_test_mode_decodes_every_format_at_native_size(image_dir, tmp_path):
    paths = dataset.list_files(str(image_dir))[0]
    flist = tmp_path / "test.flist"
    flist.write_text("\n".join(paths))
    ds = dataset.build_dataset(str(flist), training=False, batch_size=1, mask="half")
    batches = take(ds, 100)
    assert [b["path"][0].decode() for b in batches] == paths  # one pass, in order
    for batch, path in zip(batches, paths, strict=True):
        expected = expected_rgb(path)
        assert batch["image"].shape == (1, *expected.shape)
        assert batch["mask"].shape == (1, *expected.shape[:2], 1)
        atol = 0.08 if path.lower().endswith((".jpg", ".jpeg")) else 1e-6  # lossy: two decoders
        np.testing.assert_allclose(batch["image"][0], expected / 255.0, atol=atol, err_msg=path)


def test_glob_source(image_dir):
    ds = dataset.build_dataset(
        str(image_dir / "sub" / "*.png"), training=False, batch_size=1, mask="block"
    )
    names = sorted(b["path"][0].decode().rsplit("/", 1)[-1] for b in take(ds, 10))
    assert names == ["deep.png", "gray.png", "rgba.png"]


def write_tfrecord(path, images, key):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for img in images:
            data = cv2.imencode(".png", img)[1].tobytes()
            feature = {key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))}
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())


@pytest.fixture(scope="module")
def tfrecord_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    rng = np.random.default_rng(2)
    write_tfrecord(root / "a.tfrecord", [shapes_image(rng, 40, 40) for _ in range(3)], "image")
    write_tfrecord(
        root / "b.tfrecord", [shapes_image(rng, 36, 48) for _ in range(2)], "image/encoded"
    )
    return root


def test_tfrecord_source(tfrecord_dir):
    train = dataset.build_dataset(
        tfrecord_dir, training=True, batch_size=4, input_size=SIZE, mask="half"
    )
    for batch in take(train, 2):
        check_batch(batch)
    test = dataset.build_dataset(tfrecord_dir, training=False, batch_size=1, mask="half")
    names = sorted(b["path"][0].decode().rsplit("/", 1)[-1] for b in take(test, 10))
    assert names == ["a.tfrecord#0", "a.tfrecord#1", "a.tfrecord#2", "b.tfrecord#0", "b.tfrecord#1"]


@pytest.fixture
def dir_with_bad_files(image_dir, tmp_path):
    for name in ("a.jpg", "c.png", "sub/gray.png"):
        (tmp_path / name.rsplit("/", 1)[-1]).write_bytes((image_dir / name).read_bytes())
    rng = np.random.default_rng(3)
    (tmp_path / "random.jpg").write_bytes(rng.bytes(2000))
    png = (image_dir / "c.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(png[: len(png) // 2])
    return tmp_path


def test_corrupt_files_are_skipped_with_one_warning_each(dir_with_bad_files, caplog):
    caplog.set_level(logging.WARNING)
    ds = dataset.build_dataset(dir_with_bad_files, training=False, batch_size=1, mask="block")
    names = sorted(b["path"][0].decode().rsplit("/", 1)[-1] for b in take(ds, 10))
    assert names == ["a.jpg", "c.png", "gray.png"]
    warnings = [r.getMessage() for r in caplog.records if "Skipping" in r.getMessage()]
    assert len(warnings) == 2
    assert any("random.jpg" in w for w in warnings) and any("truncated.png" in w for w in warnings)
    assert any("2 of 5 files skipped" in w for w in warnings)

    # Training repeats the list: still one warning per bad file.
    caplog.clear()
    train = dataset.build_dataset(
        dir_with_bad_files, training=True, batch_size=3, input_size=SIZE, mask="block"
    )
    for batch in take(train, 4):
        check_batch(batch, batch_size=3)
    warnings = [r.getMessage() for r in caplog.records if "Skipping" in r.getMessage()]
    assert len(warnings) == 2


def test_all_files_unreadable_is_an_error(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"garbage")
    (tmp_path / "y.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    ds = dataset.build_dataset(tmp_path, training=True, batch_size=2, input_size=SIZE, mask=1)
    with pytest.raises(Exception, match="None of the 2 image files"):
        take(ds, 1)


def test_missing_and_empty_sources_fail_at_once(image_dir, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        dataset.build_dataset(str(tmp_path / "nope"), training=True)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="holds no image files"):
        dataset.build_dataset(str(tmp_path / "empty"), training=True)
    (tmp_path / "empty.flist").write_text("\n\n")
    with pytest.raises(ValueError, match="is empty"):
        dataset.build_dataset(str(tmp_path / "empty.flist"), training=True)
    with pytest.raises(ValueError, match="matches no files"):
        dataset.build_dataset(str(tmp_path / "*.jpg"), training=True)
    with pytest.raises(ValueError, match="mask_source"):
        dataset.build_dataset(image_dir, training=True, mask_source=str(tmp_path / "none"))


def test_deterministic_for_a_seed(image_dir):
    def batches(seed):
        ds = dataset.build_dataset(
            image_dir,
            training=True,
            batch_size=4,
            input_size=SIZE,
            sigma=0,
            mask="mixed",
            seed=seed,
        )
        return take(ds, 3)

    first, second, other = batches(5), batches(5), batches(6)
    for a, b in zip(first, second, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert any(not np.array_equal(a["mask"], c["mask"]) for a, c in zip(first, other, strict=True))
    assert any(
        not np.array_equal(a["image"], c["image"]) for a, c in zip(first, other, strict=True)
    )


def test_training_crops_the_centre_and_flips(tmp_path):
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, :20] = 255  # outside the centre square: must not appear
    img[:, 60:] = 255
    img[:, 20:40] = (0, 0, 200)  # left half of the centre square is red (BGR)
    assert cv2.imwrite(str(tmp_path / "x.png"), img)
    # 32 draws: all flipped or none flipped has probability 2^-31 (8 gave 1/128, a flaky test)
    ds = dataset.build_dataset(tmp_path, training=True, batch_size=32, input_size=20, mask=1)
    batch = take(ds, 1)[0]["image"]
    left_red = batch[:, :, :8, 0].mean(axis=(1, 2)) > 0.7
    right_red = batch[:, :, 12:, 0].mean(axis=(1, 2)) > 0.7
    assert np.all(left_red ^ right_red)  # red on exactly one side: the stripes are gone
    assert left_red.any() and right_red.any()  # both flipped and unflipped images occur
    assert batch[..., 1].max() < 0.05  # no white (green channel) from the cropped-off stripes


def test_large_jpegs_decoded_at_reduced_scale_match_a_full_decode(tmp_path):
    # 200 x 260 -> centre 200 x 200 -> 48: libjpeg decodes at 1/4 scale (50 x 65) first.
    rng = np.random.default_rng(4)
    img = cv2.resize(shapes_image(rng, 50, 65), (260, 200), interpolation=cv2.INTER_LINEAR)
    assert cv2.imwrite(str(tmp_path / "big.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    ds = dataset.build_dataset(tmp_path, training=False, batch_size=1, input_size=48, mask=1)
    got = take(ds, 1)[0]["image"][0]
    full = cv2.imread(str(tmp_path / "big.jpg"))[:, 30:230, ::-1]
    expected = cv2.resize(full, (48, 48), interpolation=cv2.INTER_AREA) / 255.0
    assert np.abs(got - expected).mean() < 0.02


def test_edges_match_skimage_canny_in_training(image_dir):
    ds = dataset.build_dataset(image_dir, training=True, batch_size=4, input_size=48, mask=1)
    batch = take(ds, 1)[0]
    for gray, edge in zip(batch["gray"], batch["edge"], strict=True):
        reference = skimage.feature.canny(
            gray[..., 0].astype(np.float64), sigma=2.0, low_threshold=0.1, high_threshold=0.2
        )
        assert np.mean(edge[..., 0] != reference) < 0.005


def test_random_sigma_edges_use_one_of_1_to_4(image_dir):
    ds = dataset.build_dataset(image_dir, training=True, batch_size=4, input_size=48, sigma=0)
    batch = take(ds, 2)
    grays = np.concatenate([b["gray"] for b in batch])
    edges = np.concatenate([b["edge"] for b in batch])
    for gray, edge in zip(grays, edges, strict=True):
        differences = [np.mean(canny(gray, sigma=float(s)).numpy() != edge) for s in (1, 2, 3, 4)]
        assert min(differences) < 0.002  # float rounding of the per-image kernels
    no_edges = dataset.build_dataset(
        image_dir, training=True, batch_size=2, input_size=SIZE, sigma=-1
    )
    assert take(no_edges, 1)[0]["edge"].max() == 0.0


def test_test_mode_edges_only_outside_the_hole_with_paired_masks(image_dir, tmp_path):
    paths = dataset.list_files(str(image_dir / "*.png"))[0]  # c.png: 36 x 44
    mask = np.zeros((10, 10), np.uint8)
    mask[:, 5:] = 255
    assert cv2.imwrite(str(tmp_path / "m.png"), mask)
    ds = dataset.build_dataset(
        paths, training=False, batch_size=1, mask_source=[str(tmp_path / "m.png")]
    )  # default in test mode with mask files: paired by index
    batch = take(ds, 1)[0]
    hole = batch["mask"][0, ..., 0]
    assert hole.shape == (36, 44) and hole[:, 22:].all() and not hole[:, :22].any()
    expected = canny(batch["gray"][0], sigma=2.0, mask=1.0 - batch["mask"][0]).numpy()
    np.testing.assert_array_equal(batch["edge"][0], expected)
    assert batch["edge"][0][hole > 0].max() == 0.0
    with pytest.raises(ValueError, match="one to one"):
        dataset.build_dataset(image_dir, training=False, mask_source=[str(tmp_path / "m.png")])


def test_external_edges_paired_with_and_without_nms(image_dir, tmp_path):
    paths = dataset.list_files(str(image_dir))[0][:3]
    edge_files = []
    for k, path in enumerate(paths):
        h, w = expected_rgb(path).shape[:2]
        edge_map = np.zeros((h, w), np.uint8)
        edge_map[:, k::3] = 255  # vertical lines, a different phase per image
        edge_files.append(str(tmp_path / f"e{k}.png"))
        cv2.imwrite(edge_files[-1], edge_map)
    common = dict(training=False, batch_size=1, mask="block", edge="external")
    raw = take(dataset.build_dataset(paths, edge_source=edge_files, nms=False, **common), 3)
    for k, batch in enumerate(raw):
        expected = (cv2.imread(edge_files[k], cv2.IMREAD_GRAYSCALE) / 255.0).astype(np.float32)
        np.testing.assert_allclose(batch["edge"][0, ..., 0], expected, atol=1e-6)
    nms = take(dataset.build_dataset(paths, edge_source=edge_files, nms=True, **common), 3)
    for a, b in zip(raw, nms, strict=True):
        detected = canny(a["gray"][0], sigma=2.0, mask=1.0 - a["mask"][0]).numpy()
        np.testing.assert_allclose(b["edge"][0], a["edge"][0] * detected)
    with pytest.raises(ValueError, match="edge_source"):
        dataset.build_dataset(paths, training=True, edge="external")


def shard_paths(ds, workers):
    shards = [_AutoShardDataset(ds, workers, w) for w in range(workers)]
    return [sorted(b["path"].numpy()[0].decode() for b in shard) for shard in shards]


def test_file_auto_shard_splits_the_files(image_dir, tfrecord_dir):
    ds = dataset.build_dataset(image_dir, training=False, batch_size=1, mask="block")
    assert ds.options().experimental_distribute.auto_shard_policy == (
        tf.data.experimental.AutoShardPolicy.FILE
    )
    first, second = shard_paths(ds, 2)
    everything = sorted(dataset.list_files(str(image_dir))[0])
    assert first and second and not set(first) & set(second)
    assert sorted(first + second) == everything

    records = dataset.build_dataset(tfrecord_dir, training=False, batch_size=1, mask="block")
    first, second = shard_paths(records, 2)
    assert {p.split("#")[0] for p in first} == {str(tfrecord_dir / "a.tfrecord")}
    assert {p.split("#")[0] for p in second} == {str(tfrecord_dir / "b.tfrecord")}


def test_input_context_shards_here(image_dir):
    seen = []
    for worker in range(2):
        context = tf.distribute.InputContext(2, worker, 2)
        ds = dataset.build_dataset(
            image_dir,
            training=False,
            batch_size=2,
            mask="block",
            input_context=context,
            input_size=SIZE,
        )
        batches = take(ds, 10)
        assert all(len(b["path"]) <= 1 for b in batches)  # per-replica batch size 1
        seen.append({p.decode() for b in batches for p in b["path"]})
    assert not seen[0] & seen[1] and len(seen[0] | seen[1]) == 10


def test_a_directory_on_another_tf_filesystem_trains(image_dir):
    """A folder on any tf.io.gfile filesystem (gs://, s3://; here TF's in-memory ram://)
    is listed by the same rule as a local one (recursive, sorted, hidden skipped)."""
    root = "ram://photos_for_test"
    local = sorted(os.path.relpath(p, image_dir) for p in dataset.list_files(image_dir)[0])
    for rel in local:
        tf.io.gfile.makedirs(os.path.dirname(f"{root}/{rel}"))
        tf.io.gfile.copy(os.path.join(image_dir, rel), f"{root}/{rel}", overwrite=True)
    tf.io.gfile.makedirs(f"{root}/.hidden")
    tf.io.gfile.copy(os.path.join(image_dir, local[0]), f"{root}/.hidden/x.png", overwrite=True)
    paths, kind = dataset.list_files(root)
    assert kind == "images" and [p[len(root) + 1 :] for p in paths] == local
    ds = dataset.build_dataset(root, training=True, batch_size=4, input_size=SIZE, mask=1)
    check_batch(take(ds, 1)[0])
