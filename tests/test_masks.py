"""Masks: geometry and hole ratio of each source, file handling, mixtures, ratio buckets."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from edgeconnect_tf.data import masks


def seed(i, j=0):
    return tf.constant([i, j], tf.int64)


def np_mask(mask):
    m = np.asarray(mask)
    assert m.dtype == np.float32 and m.shape[-1] == 1
    assert set(np.unique(m)) <= {0.0, 1.0}
    return m[..., 0]


def bounding_box(m):
    rows, cols = np.nonzero(m)
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def write_png(path, array):
    assert cv2.imwrite(str(path), array)
    return str(path)


def test_hole_ratio_matches_numpy():
    rng = np.random.default_rng(0)
    batch = (rng.random((3, 10, 12, 1)) < 0.3).astype(np.float32)
    np.testing.assert_allclose(masks.hole_ratio(batch), batch.mean(axis=(1, 2, 3)), rtol=1e-6)
    assert float(masks.hole_ratio(batch[1])) == pytest.approx(batch[1].mean())
    with pytest.raises(ValueError, match="mask"):
        masks.hole_ratio(batch[0, ..., 0])


@pytest.mark.parametrize("height, width", [(32, 32), (40, 24)])
def test_block_mask_is_a_quarter_rectangle_at_random_positions(height, width):
    corners = set()
    for i in range(20):
        m = np_mask(masks.block_mask(seed(i), height, width))
        assert m.shape == (height, width)
        assert m.sum() == (height // 2) * (width // 2)  # exactly a quarter
        top, bottom, left, right = bounding_box(m)
        assert (bottom - top, right - left) == (height // 2, width // 2)  # one solid block
        corners.add((top, left))
    assert len(corners) > 5
    same = masks.block_mask(seed(3), height, width).numpy()
    np.testing.assert_array_equal(same, masks.block_mask(seed(3), height, width).numpy())


def test_half_mask_is_the_left_or_right_half():
    sides = set()
    for i in range(20):
        m = np_mask(masks.half_mask(seed(i), 16, 24))
        if m[:, :12].all() and not m[:, 12:].any():
            sides.add("left")
        elif m[:, 12:].all() and not m[:, :12].any():
            sides.add("right")
        else:
            pytest.fail(f"not a half mask: column sums {m.sum(axis=0)}")
    assert sides == {"left", "right"}


def test_file_mask_nearest_resize_and_threshold(tmp_path):
    # 40 x 60 mask: a white block, one pixel at value 1 (counts as hole), black elsewhere.
    src = np.zeros((40, 60), np.uint8)
    src[5:20, 10:40] = 255
    src[30, 50] = 1
    path = write_png(tmp_path / "m.png", src)
    out = np_mask(masks.file_mask(path, 20, 30))
    # Independent nearest neighbour (half-pixel centres): source index floor((i + 0.5) * 2).
    rows = np.floor((np.arange(20) + 0.5) * 2).astype(int)
    cols = np.floor((np.arange(30) + 0.5) * 2).astype(int)
    np.testing.assert_array_equal(out, (src[rows][:, cols] > 0).astype(np.float32))
    # Any size: upscale to a different aspect ratio, RGB and 16-bit files.
    big = np_mask(masks.file_mask(path, 80, 90))
    assert big.shape == (80, 90) and abs(big.mean() - (src > 0).mean()) < 0.02
    rgb = write_png(tmp_path / "rgb.png", np.dstack([src] * 3))
    np.testing.assert_array_equal(np_mask(masks.file_mask(rgb, 20, 30)), out)
    deep = write_png(tmp_path / "deep.png", src.astype(np.uint16) * 257)
    np.testing.assert_array_equal(np_mask(masks.file_mask(deep, 20, 30)), out)


def test_file_mask_augmentation_is_a_flip_or_rotation(tmp_path):
    src = np.zeros((24, 24), np.uint8)
    src[2:10, 3:6] = 255
    src[15:20, 12:22] = 255
    path = write_png(tmp_path / "m.png", src)
    base = src > 0
    dihedral = [np.rot90(b, k) for b in (base, base[:, ::-1]) for k in range(4)]
    seen = set()
    for i in range(24):
        out = np_mask(masks.file_mask(path, 24, 24, seed=seed(i))).astype(bool)
        matches = [k for k, d in enumerate(dihedral) if np.array_equal(out, d)]
        assert matches, f"seed {i}: augmented mask is not a flip/rotation of the file"
        seen.add(matches[0])
    assert len(seen) >= 5


def test_random_file_mask_picks_files_and_crops_the_centre(tmp_path):
    wide = np.zeros((20, 80), np.uint8)
    wide[:, :20] = 255  # outside the centre square
    wide[:, 60:] = 255
    full = np.full((10, 10), 255, np.uint8)
    paths = [write_png(tmp_path / "wide.png", wide), write_png(tmp_path / "full.png", full)]
    ratios = {
        round(float(masks.hole_ratio(masks.random_file_mask(seed(i), paths, 16, 16))), 3)
        for i in range(16)
    }
    assert ratios == {0.0, 1.0}  # the centre square of `wide` is empty; both files drawn


def test_free_form_mask_plausible_ratio_and_deterministic():
    fn = tf.function(lambda s: masks.free_form_mask(s, 128, 128))
    ratios = []
    for i in range(40):
        m = np_mask(fn(seed(i)))
        ratios.append(m.mean())
    ratios = np.array(ratios)
    assert 0.0 < ratios.min() and ratios.max() < 0.7
    assert 0.05 < np.median(ratios) < 0.35
    assert len(np.unique(ratios)) > 30
    np.testing.assert_array_equal(fn(seed(7)).numpy(), fn(seed(7)).numpy())
    # Non-square sizes and size tensors (native sizes in test mode).
    m = masks.free_form_mask(seed(1), tf.constant(48), tf.constant(80))
    assert m.shape == (48, 80, 1)


def test_stroke_rasterization_matches_brute_force_distance():
    for i in range(5):
        segments = masks._stroke_segments(seed(i), 64, 80, 3, 3, 11, 0.3)
        got = np_mask(masks._rasterize(*segments, 64, 80))
        start, end, radius, valid = (np.asarray(t) for t in segments)
        ys, xs = np.mgrid[0:64, 0:80].astype(np.float64)
        expected = np.zeros((64, 80), bool)
        for a, b, r, v in zip(start, end, radius, valid, strict=True):
            if not v:
                continue
            d = b - a
            t = ((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / max(d @ d, 1e-12)
            t = np.clip(t, 0, 1)
            expected |= (xs - a[0] - t * d[0]) ** 2 + (ys - a[1] - t * d[1]) ** 2 <= r * r
        assert np.mean(got != expected) < 1e-3  # float32 vs float64 on the boundary
        assert got.sum() > 0


@pytest.mark.parametrize("low, high", masks.RATIO_BUCKETS)
def test_bucket_mask_ratio_in_bucket(low, high):
    fn = tf.function(lambda s: masks.bucket_mask(s, 64, 64, low, high))
    for i in range(6):
        ratio = float(masks.hole_ratio(fn(seed(i, 5))))
        assert low <= ratio < high


def test_filter_mask_files_by_ratio(tmp_path):
    paths = []
    for ratio in (0.05, 0.15, 0.18, 0.35):
        m = np.zeros((20, 20), np.uint8)
        m.flat[: int(ratio * 400)] = 255
        paths.append(write_png(tmp_path / f"{ratio}.png", m))
    assert masks.filter_mask_files(paths, 0.1, 0.2) == paths[1:3]


def _kinds(fn, n=120):
    """Histogram of hole ratios over n draws (each kind has its own ratio here)."""
    ratios = [round(float(masks.hole_ratio(fn(seed(i), 16, 16))), 3) for i in range(n)]
    values, counts = np.unique(ratios, return_counts=True)
    return dict(zip(values.tolist(), (counts / n).tolist(), strict=True))


@pytest.fixture
def full_mask_file(tmp_path):
    return [write_png(tmp_path / "full.png", np.full((8, 8), 255, np.uint8))]


def test_reference_codes_map_to_sources(full_mask_file):
    # block -> 0.25, half -> 0.5, the all-white file -> 1.0
    assert _kinds(masks.mask_sampler(1), 20) == {0.25: 1.0}
    assert _kinds(masks.mask_sampler(2), 20) == {0.5: 1.0}
    assert _kinds(masks.mask_sampler(3, full_mask_file), 20) == {1.0: 1.0}
    four = _kinds(masks.mask_sampler(4, full_mask_file))
    assert set(four) == {0.25, 1.0} and abs(four[0.25] - 0.5) < 0.15
    five = _kinds(masks.mask_sampler(5, full_mask_file))
    assert set(five) == {0.25, 0.5, 1.0} and all(abs(p - 1 / 3) < 0.15 for p in five.values())
    mix = _kinds(masks.mask_sampler({"block": 0.9, "half": 0.1}))
    assert set(mix) == {0.25, 0.5} and mix[0.25] > 0.75
    assert set(_kinds(masks.mask_sampler("block_half"), 40)) == {0.25, 0.5}


def test_paired_masks_follow_the_index(tmp_path):
    files = []
    for k in range(3):
        m = np.zeros((8, 8), np.uint8)
        m[:, : 2 * (k + 1)] = 255
        files.append(write_png(tmp_path / f"{k}.png", m))
    fn = masks.mask_sampler(6, files)
    for k in range(3):
        assert float(masks.hole_ratio(fn(seed(0), 8, 8, tf.constant(k)))) == (k + 1) / 4


def test_sampler_runs_in_tf_data_with_dynamic_sizes(full_mask_file):
    fn = masks.mask_sampler("mixed", full_mask_file)
    sizes = tf.data.Dataset.from_tensor_slices(([16, 24, 32], [20, 16, 32]))
    ds = sizes.enumerate().map(lambda i, hw: fn(seed(0) + i, hw[0], hw[1]))
    shapes = [m.shape for m in ds]
    assert shapes == [(16, 20, 1), (24, 16, 1), (32, 32, 1)]


@pytest.mark.parametrize(
    "spec, match",
    [(7, "1-6"), ("stars", "Unknown"), ((0.5, 0.2), "bucket"), ({"block": -1}, "probab"),
     ({"paired": 0.5, "block": 0.5}, "paired"), (3, "needs mask files")],
)  # fmt: skip
def test_sampler_rejects_bad_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        masks.mask_sampler(spec)
