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


def inpaint_generator_inputs(image, edges, mask):
    """G2's input [B, H, W, 4]: [image·(1−m) + m, edges]."""
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
