"""Small tensor operations shared by data, models and export (TF ops, batched, channels-last)."""

import tensorflow as tf

GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)  # skimage.color.rgb2gray, as the reference


def rgb_to_gray(rgb):
    """[..., 3] float in [0, 1] -> [..., 1] with 0.2125 R + 0.7154 G + 0.0721 B."""
    rgb = tf.convert_to_tensor(rgb)
    weights = tf.constant(GRAY_WEIGHTS, rgb.dtype)
    return tf.reduce_sum(rgb * weights, axis=-1, keepdims=True)


def composite(prediction, image, mask):
    """prediction inside the hole, image outside: pred·m + image·(1 − m). Exact where m = 0."""
    return prediction * mask + image * (1.0 - mask)


def edge_generator_inputs(gray, edges, mask):
    """G1's input [B, H, W, 3]: [gray·(1−m) + m, edges·(1−m), m] (the hole painted white)."""
    known = 1.0 - mask
    return tf.concat([gray * known + mask, edges * known, mask], axis=-1)


PYRAMID_LEVELS = 12  # halvings: a 4096-px side reaches one pixel
PYRAMID_SMOOTHING = 10  # relaxation steps per level (bench/RESULTS.md, "`make demo`")


def pyramid_fill(image, mask, levels=PYRAMID_LEVELS, smoothing=PYRAMID_SMOOTHING):
    """The hole filled from the known pixels by push-pull: [B, H, W, C] float32.

    Push: `levels` times, 2×2 averages of the known pixels (SAME pooling: odd
    sides round up), each cell weighted by how much of it is known. Pull:
    from the coarsest level down, a cell with no known pixel takes the
    bilinear upsampling of the level below it, then `smoothing` times the mean
    of its 3×3 neighbourhood (edge-replicated borders): Jacobi steps towards the
    smooth membrane through the known cells, coarse to fine. Known pixels come
    back unchanged; hole values are averages of known ones. A smooth, edge-blind
    fill (like OpenCV's Telea) for a few poolings per level.

    image: [B, H, W, C] float; mask: [B, H, W, 1], 1 = hole.
    """
    image = tf.cast(image, tf.float32)
    known = 1.0 - tf.cast(mask, tf.float32)
    sums, weights = [image * known], [known]
    for _ in range(levels):
        sums.append(tf.nn.avg_pool2d(sums[-1], 2, 2, "SAME"))
        weights.append(tf.nn.avg_pool2d(weights[-1], 2, 2, "SAME"))
    # A positive weight is at least 4^-levels; where it is 0 the sum is 0 too. (No
    # divide_no_nan: TFLite has no builtin for it.)
    mean = lambda total, weight: total / tf.maximum(weight, 1e-30)  # noqa: E731
    fill = mean(sums[-1], weights[-1])
    for total, weight in zip(reversed(sums[:-1]), reversed(weights[:-1]), strict=True):
        coarse = tf.image.resize(fill, tf.shape(total)[1:3], "bilinear")
        known_cell = tf.broadcast_to(weight > 0, tf.shape(total))
        fill = tf.where(known_cell, mean(total, weight), coarse)
        for _ in range(smoothing):
            padded = tf.pad(fill, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
            fill = tf.where(known_cell, fill, tf.nn.avg_pool2d(padded, 3, 1, "VALID"))
    return fill


def inpaint_generator_inputs(image, edges, mask, hole_fill="white"):
    """G2's input [B, H, W, 4]: [image with its hole filled, edges].

    hole_fill "white" (the authors'): image·(1−m) + m. "pyramid": `pyramid_fill`.
    """
    if hole_fill == "pyramid":
        return tf.concat([pyramid_fill(image, mask), edges], axis=-1)
    return tf.concat([image * (1.0 - mask) + mask, edges], axis=-1)


def pad_to_multiple(x, multiple=4):
    """Reflect-pads [B, H, W, C] at the bottom/right to multiples of `multiple`.

    Returns (padded, (H, W)); crop back with `padded[:, :H, :W]`.
    """
    shape = tf.shape(x)
    h, w = shape[1], shape[2]
    pad_h = (multiple - h % multiple) % multiple
    pad_w = (multiple - w % multiple) % multiple
    padded = tf.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="REFLECT")
    return padded, (h, w)
