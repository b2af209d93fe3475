"""G2's hole fills: `pyramid_fill` against a numpy push-pull, its invariants, the two inputs."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from edgeconnect_tf.data.image_ops import PYRAMID_SMOOTHING, inpaint_generator_inputs, pyramid_fill


def _numpy_push_pull(image, known, smoothing=PYRAMID_SMOOTHING):
    """Push-pull written from its definition: a cell of each coarser level holds the sum of
    the known pixels under it and their count; the fill at a level is sum / count where the
    count is positive, else the 2× bilinear upsampling (half-pixel centres) of the coarser
    level's fill, then `smoothing` times the mean of its 3×3 neighbours and itself (borders
    mirrored). image [H, W, C] float64, known [H, W] bool, H and W powers of two."""
    total, count = image * known[..., None], known[..., None].astype(np.float64)
    return _fill_level(total, count, smoothing)


def _fill_level(total, count, smoothing):
    mean = np.where(count > 0, total / np.maximum(count, 1e-300), 0.0)
    if total.shape[0] == 1 and total.shape[1] == 1:
        return mean
    h, w = max(total.shape[0] // 2, 1), max(total.shape[1] // 2, 1)
    fy, fx = total.shape[0] // h, total.shape[1] // w

    def blocks(x):
        return x.reshape(h, fy, w, fx, -1).sum(axis=(1, 3))

    coarse = _fill_level(blocks(total), blocks(count), smoothing)
    size = (total.shape[1], total.shape[0])
    up = cv2.resize(coarse, size, interpolation=cv2.INTER_LINEAR).reshape(mean.shape)
    fill = np.where(count > 0, mean, up)
    height, width = fill.shape[:2]
    for _ in range(smoothing):
        padded = np.pad(fill, ((1, 1), (1, 1), (0, 0)), mode="symmetric")
        shifts = [padded[i : i + height, j : j + width] for i in range(3) for j in range(3)]
        fill = np.where(count > 0, fill, np.mean(shifts, axis=0))
    return fill


def _case(seed, h=64, w=32, hole=(10, 40, 4, 28)):
    rng = np.random.default_rng(seed)
    image = rng.uniform(size=(h, w, 3))
    mask = np.zeros((h, w), bool)
    top, bottom, left, right = hole
    mask[top:bottom, left:right] = True
    mask |= rng.uniform(size=(h, w)) < 0.15  # scattered holes too
    return image, mask


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("smoothing", [0, PYRAMID_SMOOTHING])
def test_pyramid_fill_matches_numpy_push_pull(seed, smoothing):
    image, mask = _case(seed)
    expected = _numpy_push_pull(image, ~mask, smoothing)
    x, m = image[None].astype(np.float32), mask[None, ..., None].astype(np.float32)
    got = pyramid_fill(x, m, smoothing=smoothing).numpy()[0]
    # float32 sums of up to 64·32 values in [0, 1]: a few ulps of 1.
    np.testing.assert_allclose(got, expected, atol=2e-6)
    if smoothing:  # the relaxation changes the hole (the test tells the two apply)
        assert np.abs(got - _numpy_push_pull(image, ~mask, 0))[mask].max() > 0.01


def test_pyramid_fill_keeps_known_pixels_and_stays_within_their_range():
    image, mask = _case(2, 48, 37)  # odd sides: SAME pooling rounds up
    image = image.astype(np.float32)
    got = pyramid_fill(image[None], mask[None, ..., None].astype(np.float32)).numpy()[0]
    np.testing.assert_array_equal(got[~mask], image[~mask])
    known = image[~mask]
    assert np.all(got[mask] >= known.min(0) - 1e-6) and np.all(got[mask] <= known.max(0) + 1e-6)
    constant = np.full_like(image, 0.3)
    flat = pyramid_fill(constant[None], mask[None, ..., None].astype(np.float32)).numpy()[0]
    np.testing.assert_allclose(flat, 0.3, atol=1e-6)


def test_pyramid_fill_follows_contrast_that_a_white_hole_hides():
    """x -> 1 + s (x − 1) (contrast about white) moves the pyramid fill with the image; the
    white-hole input of G2 changes by the same map, which its first instance norm undoes."""
    image, mask = _case(3)
    m = mask[None, ..., None].astype(np.float32)
    x = image[None].astype(np.float32)
    s = 0.5
    fill, fill_scaled = pyramid_fill(x, m), pyramid_fill(1 + s * (x - 1), m)
    np.testing.assert_allclose(fill_scaled.numpy(), 1 + s * (fill.numpy() - 1), atol=1e-6)
    edges = np.zeros_like(m)
    white = inpaint_generator_inputs(x, edges, m, "white")[..., :3].numpy()
    white_scaled = inpaint_generator_inputs(1 + s * (x - 1), edges, m, "white")[..., :3].numpy()
    np.testing.assert_allclose(white_scaled, 1 + s * (white - 1), atol=1e-6)
    hole = mask
    assert np.all(white[0][hole] == 1.0)  # the hole says nothing about the image


def test_pyramid_fill_without_known_pixels_is_zero_not_nan():
    got = pyramid_fill(tf.ones((1, 16, 16, 3)), tf.ones((1, 16, 16, 1))).numpy()
    np.testing.assert_array_equal(got, 0.0)


def test_inpaint_generator_inputs_by_fill():
    image, mask = _case(4)
    x, m = image[None].astype(np.float32), mask[None, ..., None].astype(np.float32)
    edges = (np.random.default_rng(4).uniform(size=m.shape) > 0.9).astype(np.float32)
    white = inpaint_generator_inputs(x, edges, m).numpy()
    np.testing.assert_array_equal(white[..., :3], np.where(m > 0, 1.0, x))
    pyramid = inpaint_generator_inputs(x, edges, m, "pyramid").numpy()
    np.testing.assert_array_equal(pyramid[..., :3], pyramid_fill(x, m).numpy())
    np.testing.assert_array_equal(pyramid[..., 3:], edges)
