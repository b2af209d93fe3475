"""Canny edge detection in TensorFlow ops, matching `skimage.feature.canny`.

`canny` reproduces `skimage.feature.canny(image, sigma, low_threshold=low,
high_threshold=high, mask=mask)` for float images in [0, 1] (absolute
thresholds, skimage's default `mode="constant"`), using TensorFlow ops only, so
it runs eagerly, inside `tf.data` and `tf.function`, in a SavedModel, and
converts to TFLite with builtin ops only (the hysteresis loop becomes WHILE).
It computes in float32 (float64 for a float64 `gray`, as skimage always does);
on photos the float32 edge maps agree with skimage's pixel for pixel in
practice, but a magnitude within float32 noise of a threshold can flip a pixel
(tests/test_canny.py), so the authors' test path (`reference=True`) runs it in
float64.

The steps, as skimage does them:

1. Gaussian smoothing (truncated at 4 sigma) of `gray * mask` and of `mask`
   with zeros beyond the image, and their quotient, so that neither the image
   border nor pixels outside `mask` produce edges.
2. Sobel gradients (half-sample symmetric borders, scipy's "reflect") and their
   magnitude.
3. Non-maximum suppression along the gradient, interpolating linearly between
   the two neighbours that bracket its direction, inside the mask eroded by
   3x3 (which also drops the one-pixel image border); magnitudes below `low`
   are dropped.
4. Hysteresis: pixels above `low` that are 8-connected through such pixels to
   one at or above `high` are edges.

Masks: `mask` follows skimage (True = edges may be detected there), the
opposite of this package's hole masks (1 = hole): callers pass `1 - hole`.

Random sigma for training (the reference's `SIGMA: 0`): draw it with
`random_sigma` and pass the tensor as `sigma`.
"""

import math
import numbers

import tensorflow as tf

TRUNCATE = 4.0  # scipy.ndimage.gaussian_filter's default, used by skimage
_EPS64 = 2.220446049250313e-16  # float64 eps, which skimage adds to the bleed-over


def gaussian_radius(sigma):
    """Kernel radius scipy uses for `sigma` (a Python float): int(4 * sigma + 0.5)."""
    return int(TRUNCATE * float(sigma) + 0.5)


def random_sigma(shape=(), seed=None, minval=1, maxval=4):
    """Draw integer Gaussian sigmas uniformly in `minval..maxval` as float32.

    The reference's `SIGMA: 0` means such a random sigma per image (1..4).

    Args:
        shape: `()` for one sigma (map it over single images in `tf.data`) or
            `(batch_size,)` for one per image of a batch.
        seed: None (stateful `tf.random.uniform`) or a shape-[2] integer
            tensor for `tf.random.stateless_uniform`.
        minval, maxval: inclusive bounds.

    Returns:
        float32 tensor of `shape`, to pass as `canny(..., sigma=...)`.
    """
    if seed is None:
        draw = tf.random.uniform(shape, minval, maxval + 1, dtype=tf.int32)
    else:
        draw = tf.random.stateless_uniform(shape, seed, minval, maxval + 1, dtype=tf.int32)
    return tf.cast(draw, tf.float32)


def canny(gray, sigma=2.0, low=0.1, high=0.2, mask=None, *, max_sigma=4.0):
    """Canny edges of a grayscale image, as `skimage.feature.canny` computes them.

    Args:
        gray: float tensor in [0, 1] of shape `[H, W]`, `[H, W, 1]` or
            `[B, H, W, 1]`. A batch is processed in one pass.
        sigma: Gaussian standard deviation. A Python number gives a fixed
            kernel of skimage's radius `int(4 * sigma + 0.5)`. A scalar or
            `[B]` float tensor (e.g. from `random_sigma`) gives a kernel of the
            radius for `max_sigma`, zero beyond each sigma's own radius: the
            same result up to float rounding, for sigmas in `[0, max_sigma]`
            (larger sigmas are truncated at `max_sigma`'s radius).
        low, high: hysteresis thresholds on the gradient magnitude (Sobel of
            the smoothed [0, 1] image), `0 <= low <= high`.
        mask: None, or a tensor of `gray`'s shape, bool or float (nonzero =
            True): True where edges MAY be detected, skimage's meaning, with
            pixels outside it ignored when smoothing. Note that the rest of the
            package uses hole masks (1 = hole): pass `mask=1 - hole` to detect
            edges only in the known region.
        max_sigma: largest sigma a tensor `sigma` may take (keyword only).

    Returns:
        float32 tensor of `gray`'s shape, 1 on edges and 0 elsewhere. The
        computation runs in float64 when `gray` is float64, else in float32.

    Raises:
        ValueError: `gray` or `mask` has the wrong rank, channels or dtype, or
            the thresholds or sigma are out of range.

    Example:
        >>> gray = tf.image.rgb_to_grayscale(images)  # [B, H, W, 1] in [0, 1]
        >>> edges = canny(gray, sigma=2.0, mask=1.0 - holes)  # none from the holes
        >>> edges = canny(gray, sigma=random_sigma((8,)))  # training, SIGMA: 0

    Calling it on batches is several times faster per image than on single
    images (TF pools and convolves one-channel images slowly).
    """
    gray = tf.convert_to_tensor(gray)
    if not gray.dtype.is_floating:
        raise ValueError(f"`gray` must be a float tensor in [0, 1], got dtype {gray.dtype.name}.")
    image, restore = _to_channels(gray, "gray")
    dtype = tf.float64 if gray.dtype == tf.float64 else tf.float32
    image = tf.cast(image, dtype)

    if mask is None:
        valid = tf.ones_like(image)
    else:
        mask = tf.convert_to_tensor(mask)
        if not mask.shape.is_compatible_with(gray.shape):
            raise ValueError(
                f"`mask` must have the shape of `gray` {gray.shape}, got shape {mask.shape}."
            )
        mask, _ = _to_channels(mask, "mask")
        if mask.dtype != tf.bool:
            mask = tf.not_equal(mask, tf.zeros_like(mask))
        valid = tf.cast(mask, dtype) * tf.ones_like(image)

    for name, value in (("low", low), ("high", high)):
        if isinstance(value, numbers.Real) and value < 0:
            raise ValueError(f"`{name}` must be >= 0, got {value}.")
    if isinstance(low, numbers.Real) and isinstance(high, numbers.Real) and high < low:
        raise ValueError(f"`low` ({low}) must not exceed `high` ({high}).")
    low = tf.cast(low, dtype)
    high = tf.cast(high, dtype)
    # skimage: a zero low threshold becomes 1e-14 so that zero magnitudes are not edges.
    low = tf.where(tf.equal(low, 0.0), tf.constant(1e-14, dtype), low)

    # 1. Smooth image * mask and the mask, divide (skimage's `_preprocess`).
    batch = tf.shape(image)[-1]
    both = _gaussian_blur(tf.concat([image * valid, valid], axis=-1), sigma, max_sigma)
    smoothed = both[..., :batch] / (both[..., batch:] + _EPS64)

    # 2. Sobel gradients along rows (i, axis 0 of an image) and columns (j, axis 1).
    padded = tf.pad(smoothed, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    smooth_i = padded[:, :-2] + 2.0 * padded[:, 1:-1] + padded[:, 2:]
    smooth_j = padded[:, :, :-2] + 2.0 * padded[:, :, 1:-1] + padded[:, :, 2:]
    isobel = smooth_j[:, 2:] - smooth_j[:, :-2]
    jsobel = smooth_i[:, :, 2:] - smooth_i[:, :, :-2]
    magnitude = tf.sqrt(isobel * isobel + jsobel * jsobel)

    # 3. Mask eroded by 3x3 with zeros beyond the image; non-maximum suppression.
    eroded = -tf.nn.max_pool2d(-tf.pad(valid, [[0, 0], [1, 1], [1, 1], [0, 0]]), 3, 1, "VALID")
    weak = _non_maximum_suppression(isobel, jsobel, magnitude, eroded > 0.5, low)

    # 4. Hysteresis (on 0/1 maps: float32 whatever the computation's dtype).
    strong = tf.logical_and(weak, magnitude >= high)
    edges = _hysteresis(tf.cast(weak, tf.float32), tf.cast(strong, tf.float32))
    return restore(edges)


def _to_channels(x, name):
    """Reshape `[H, W]`, `[H, W, 1]` or `[B, H, W, 1]` to `[1, H, W, B]`; return the inverse too.

    Images as channels make TF's depthwise convolutions and pooling several times
    faster than one-channel NHWC tensors, and let each image have its own kernel.
    """
    rank = x.shape.rank
    if rank not in (2, 3, 4):
        raise ValueError(
            f"`{name}` must have shape [H, W], [H, W, 1] or [B, H, W, 1], got shape {x.shape}."
        )
    if rank >= 3 and x.shape[-1] != 1:
        raise ValueError(
            f"`{name}` must have 1 channel ([H, W, 1] or [B, H, W, 1]), got shape {x.shape}."
        )
    if rank == 2:
        return x[None, :, :, None], lambda y: y[0, :, :, 0]
    if rank == 3:
        return x[None], lambda y: y[0]
    return tf.transpose(x, [3, 1, 2, 0]), lambda y: tf.transpose(y, [3, 1, 2, 0])


def _gaussian_blur(x, sigma, max_sigma):
    """Separable Gaussian of each channel of `x` [1, H, W, C] with zeros beyond the image.

    `x` holds B images followed by their B masks; a `[B]` sigma applies to both halves.
    """
    if isinstance(sigma, numbers.Real):
        if sigma < 0:
            raise ValueError(f"`sigma` must be >= 0, got {sigma}.")
        radius = gaussian_radius(sigma)
        if sigma == 0 or radius == 0:
            return x  # scipy skips the filter for sigma == 0
        taps = [math.exp(-0.5 * k * k / (sigma * sigma)) for k in range(-radius, radius + 1)]
        total = math.fsum(taps)
        taps = tf.constant([[t / total for t in taps]], x.dtype)
    else:
        sigma = tf.cast(sigma, x.dtype)
        if sigma.shape.rank not in (0, 1):
            raise ValueError(
                f"`sigma` must be a number, a scalar or a [B] tensor, got {sigma.shape}."
            )
        max_radius = gaussian_radius(max_sigma)
        offsets = tf.range(-max_radius, max_radius + 1, dtype=x.dtype)
        per_image = sigma.shape.rank == 1
        sigma = tf.reshape(sigma, [-1, 1])  # [1, 1] or [B, 1]
        radius = tf.floor(TRUNCATE * sigma + 0.5)
        safe_sigma = tf.maximum(sigma, 1e-15)
        taps = tf.exp(-0.5 / (safe_sigma * safe_sigma) * offsets * offsets)
        taps = tf.where(tf.abs(offsets) <= radius, taps, tf.zeros_like(taps))
        taps = taps / tf.reduce_sum(taps, axis=-1, keepdims=True)
        if per_image:
            taps = tf.concat([taps, taps], axis=0)  # images, then masks
    # taps: [1 or C, K] -> one kernel per channel.
    taps = tf.transpose(taps * tf.ones([tf.shape(x)[-1], 1], x.dtype))  # [K, C]
    x = tf.nn.depthwise_conv2d(x, taps[:, None, :, None], [1, 1, 1, 1], "SAME")
    return tf.nn.depthwise_conv2d(x, taps[None, :, :, None], [1, 1, 1, 1], "SAME")


def _non_maximum_suppression(isobel, jsobel, magnitude, eroded, low):
    """Pixels whose magnitude is >= `low` and a local maximum along the gradient.

    Follows skimage's `_nonmaximum_suppression_bilinear`: the gradient direction
    falls in one of four 45-degree sectors; on each side the magnitude is
    interpolated between the axis neighbour and the diagonal neighbour with
    weight w = min(|i|, |j|) / max(|i|, |j|), and the pixel survives if both
    interpolated values are <= its own magnitude.
    """
    height, width = tf.shape(magnitude)[1], tf.shape(magnitude)[2]
    padded = tf.pad(magnitude, [[0, 0], [1, 1], [1, 1], [0, 0]])

    def neighbour(di, dj):
        return padded[:, 1 + di : 1 + di + height, 1 + dj : 1 + dj + width]

    abs_i, abs_j = tf.abs(isobel), tf.abs(jsobel)
    same_sign = tf.equal(isobel <= 0.0, jsobel <= 0.0)  # skimage's cond1; else cond2
    # Whether the row gradient dominates; skimage breaks the tie differently per case.
    major_i = tf.where(same_sign, abs_i > abs_j, abs_i >= abs_j)
    weight = tf.minimum(abs_i, abs_j) / tf.maximum(tf.maximum(abs_i, abs_j), 1e-30)

    down, up = neighbour(1, 0), neighbour(-1, 0)
    axis_plus = tf.where(major_i, tf.where(same_sign, down, up), neighbour(0, 1))
    axis_minus = tf.where(major_i, tf.where(same_sign, up, down), neighbour(0, -1))
    diag_plus = tf.where(same_sign, neighbour(1, 1), neighbour(-1, 1))
    diag_minus = tf.where(same_sign, neighbour(-1, -1), neighbour(1, -1))

    c_plus = diag_plus * weight + axis_plus * (1.0 - weight) <= magnitude
    c_minus = diag_minus * weight + axis_minus * (1.0 - weight) <= magnitude
    keep = tf.logical_and(eroded, magnitude >= low)
    return tf.logical_and(keep, tf.logical_and(c_plus, c_minus))


def _hysteresis(weak, strong, steps_per_check=8):
    """Grow `strong` through 8-connected `weak` pixels until nothing changes.

    Each loop iteration dilates `steps_per_check` times (3x3 max-pool masked by
    `weak`) before testing for change, which saves most of the tests along long
    edges. The loop is bounded by the number of pixels.
    """
    shape = tf.shape(weak)
    max_iterations = shape[1] * shape[2] // steps_per_check + 1

    def grow(edges, _):
        previous = edges
        for _ in range(steps_per_check):
            edges = weak * tf.nn.max_pool2d(edges, 3, 1, "SAME")
        return edges, tf.reduce_any(edges > previous)

    edges, _ = tf.while_loop(
        lambda edges, changed: changed,
        grow,
        (strong, tf.constant(True)),
        maximum_iterations=max_iterations,
    )
    return edges
