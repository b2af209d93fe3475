"""Tests for edgeconnect_tf.data.canny against skimage.feature.canny."""

import numpy as np
import pytest
import tensorflow as tf
from skimage import color, data, feature, transform

from edgeconnect_tf.data.canny import canny, gaussian_radius, random_sigma

SIZE = 128


def _photos(size=SIZE):
    """Four bundled photos as float64 gray [N, size, size] in [0, 1] (centre crop, resized)."""
    photos = []
    for name in ("camera", "astronaut", "coffee", "chelsea"):
        image = getattr(data, name)()
        image = color.rgb2gray(image) if image.ndim == 3 else image / 255.0
        height, width = image.shape
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        image = image[top : top + side, left : left + side]
        photos.append(transform.resize(image, (size, size), anti_aliasing=True))
    return np.stack(photos)


def _valid_mask(size=SIZE):
    """skimage-style mask (True = edges allowed): a rectangular hole and a disc-shaped one."""
    mask = np.ones((size, size), bool)
    mask[size // 4 : size // 2, size // 3 : 2 * size // 3] = False
    rows, cols = np.mgrid[:size, :size]
    mask &= (rows - 0.7 * size) ** 2 + (cols - 0.3 * size) ** 2 > (0.12 * size) ** 2
    return mask


def _skimage(images, sigmas, mask=None, low=0.1, high=0.2):
    return np.stack(
        [
            feature.canny(image, float(sigma), low, high, mask=mask)
            for image, sigma in zip(images, sigmas, strict=True)
        ]
    )


def _assert_close_to_skimage(ours, reference):
    """At most 0.1 % of skimage's edge pixels differ, per image; returns the counts."""
    assert ours.dtype == np.float32
    assert set(np.unique(ours)) <= {0.0, 1.0}
    counts = []
    for got, want in zip(ours > 0.5, reference, strict=True):
        differing = int(np.sum(got != want))
        counts.append((differing, int(want.sum())))
        assert want.sum() > 100, "test photo has too few edges to be meaningful"
        assert differing <= 0.001 * want.sum(), counts
    return counts


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("masked", [False, True])
def test_matches_skimage_on_photos(sigma, masked):
    photos = _photos()
    mask = _valid_mask() if masked else None
    batch_mask = (
        None if mask is None else np.broadcast_to(mask[None, ..., None], photos.shape + (1,))
    )
    ours = canny(tf.constant(photos[..., None], tf.float32), sigma, mask=batch_mask).numpy()
    counts = _assert_close_to_skimage(ours[..., 0], _skimage(photos, [sigma] * 4, mask))
    print(f"sigma={sigma} masked={masked} (differing, skimage edges): {counts}")
    if masked:  # No edges where the mask forbids them.
        assert ours[:, ~mask].sum() == 0


@pytest.mark.parametrize("tensor_sigma", [False, True])
def test_float64_gray_gives_skimage_float64_edges_exactly(tensor_sigma):
    # skimage computes in float64; so does canny for a float64 gray (the reference path).
    photos = _photos()
    mask = np.broadcast_to(_valid_mask()[None, ..., None], photos.shape + (1,))
    sigma = tf.constant([2.0] * 4) if tensor_sigma else 2.0
    ours = canny(tf.constant(photos[..., None], tf.float64), sigma, mask=mask).numpy()
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours[..., 0] > 0.5, _skimage(photos, [2.0] * 4, _valid_mask()))


def test_tensor_sigma_per_image_matches_skimage():
    photos = _photos()
    sigmas = [1.0, 1.5, 2.7, 4.0]
    ours = canny(tf.constant(photos[..., None], tf.float32), tf.constant(sigmas)).numpy()
    _assert_close_to_skimage(ours[..., 0], _skimage(photos, sigmas))


@pytest.mark.parametrize("sigma", [1.0, 2.0, 4.0])
def test_tensor_sigma_equals_static_sigma(sigma):
    photos = tf.constant(_photos()[..., None], tf.float32)
    mask = tf.constant(np.broadcast_to(_valid_mask()[None, ..., None], photos.shape))
    static = canny(photos, sigma, mask=mask).numpy()
    scalar = canny(photos, tf.constant(sigma), mask=mask).numpy()
    per_image = canny(photos, tf.fill([4], sigma), mask=mask).numpy()
    np.testing.assert_array_equal(scalar, static)
    np.testing.assert_array_equal(per_image, static)


def test_thresholds_small_image_and_large_sigma():
    # An image smaller than the kernel (radius 16 for sigma 4), other thresholds, low == 0.
    photo = _photos(24)[1]
    for sigma, low, high in [(4.0, 0.05, 0.1), (1.0, 0.0, 0.3), (0.0, 0.2, 0.4)]:
        ours = canny(tf.constant(photo, tf.float32), sigma, low=low, high=high).numpy()
        want = feature.canny(photo, sigma, low, high)
        assert int(np.sum((ours > 0.5) != want)) == 0, (sigma, low, high)
    assert gaussian_radius(2.0) == 8 and gaussian_radius(1.1) == 4


def test_shapes_agree():
    photos = _photos(48)[:3].astype(np.float32)
    mask = _valid_mask(48)
    batched = canny(
        photos[..., None], 2.0, mask=np.broadcast_to(mask[None, ..., None], (3, 48, 48, 1))
    )
    assert batched.shape == (3, 48, 48, 1)
    for index, photo in enumerate(photos):
        two_d = canny(photo, 2.0, mask=mask)
        three_d = canny(photo[..., None], 2.0, mask=mask[..., None].astype(np.float32))
        assert two_d.shape == (48, 48) and three_d.shape == (48, 48, 1)
        np.testing.assert_array_equal(two_d.numpy(), batched[index, ..., 0].numpy())
        np.testing.assert_array_equal(three_d.numpy(), batched[index].numpy())
    assert batched.numpy().sum() > 0


def test_graph_mode_with_unknown_shapes_and_tf_data():
    photos = _photos(40).astype(np.float32)[..., None]
    spec = tf.TensorSpec([None, None, None, 1], tf.float32)

    @tf.function(input_signature=[spec, spec, tf.TensorSpec([None], tf.float32)])
    def detect(gray, mask, sigma):
        return canny(gray, sigma, mask=mask)

    mask = np.ones_like(photos)
    sigmas = np.array([1, 2, 3, 4], np.float32)
    eager = canny(photos, tf.constant(sigmas), mask=mask).numpy()
    np.testing.assert_array_equal(detect(photos, mask, sigmas).numpy(), eager)

    dataset = tf.data.Dataset.from_tensor_slices((photos, sigmas)).map(
        lambda gray, sigma: canny(gray, sigma)
    )
    for index, edges in enumerate(dataset):
        np.testing.assert_array_equal(edges.numpy(), eager[index])


def test_random_sigma():
    draws = random_sigma((1000,)).numpy()
    assert draws.dtype == np.float32
    assert set(np.unique(draws)) == {1.0, 2.0, 3.0, 4.0}
    seed = tf.constant([1, 2])
    np.testing.assert_array_equal(random_sigma((8,), seed=seed), random_sigma((8,), seed=seed))
    assert random_sigma().shape == ()


@pytest.mark.slow
@pytest.mark.parametrize("tensor_sigma", [False, True])
def test_tflite_builtin_ops_match_tensorflow(tensor_sigma):
    from ai_edge_litert.interpreter import Interpreter

    size = 64
    spec = tf.TensorSpec([1, size, size, 1], tf.float32)
    if tensor_sigma:

        @tf.function(input_signature=[spec, spec, tf.TensorSpec([1], tf.float32)])
        def detect(gray, mask, sigma):
            return canny(gray, sigma, mask=mask)

    else:

        @tf.function(input_signature=[spec, spec])
        def detect(gray, mask):
            return canny(gray, 2.0, mask=mask)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([detect.get_concrete_function()])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()

    photo = _photos(size)[1].astype(np.float32)[None, ..., None]
    mask = _valid_mask(size).astype(np.float32)[None, ..., None]
    inputs = [photo, mask] + ([np.array([2.0], np.float32)] if tensor_sigma else [])
    for detail, value in zip(interpreter.get_input_details(), inputs, strict=True):
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    lite = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    expected = detect(*inputs).numpy()
    assert expected.sum() > 100
    np.testing.assert_array_equal(lite, expected)
    reference = feature.canny(
        photo[0, ..., 0].astype(np.float64), 2.0, 0.1, 0.2, mask=mask[0, ..., 0] > 0
    )
    np.testing.assert_array_equal(lite[0, ..., 0] > 0.5, reference)


@pytest.mark.parametrize("shape", [(16,), (2, 1, 16, 16, 1), (16, 16, 3), (2, 16, 16, 3)], ids=str)
def test_bad_gray_shape_raises(shape):
    with pytest.raises(ValueError, match="`gray`"):
        canny(tf.zeros(shape), 2.0)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="`gray`"):
        canny(tf.zeros([8, 8], tf.uint8), 2.0)
    with pytest.raises(ValueError, match="`mask`"):
        canny(tf.zeros([8, 8]), 2.0, mask=tf.ones([8, 8, 1]))
    with pytest.raises(ValueError, match="`mask`"):
        canny(tf.zeros([1, 8, 8, 1]), 2.0, mask=tf.ones([1, 8, 8, 2]))
    with pytest.raises(ValueError, match="`low`"):
        canny(tf.zeros([8, 8]), 2.0, low=0.3, high=0.2)
    with pytest.raises(ValueError, match="`sigma`"):
        canny(tf.zeros([8, 8]), -1.0)
