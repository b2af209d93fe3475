"""Reflection padding (PyTorch's `ReflectionPad2d`: the edge pixel is not repeated), on tensors."""

import tensorflow as tf


def reflection_pad(x, p, by_slices=False):
    """[B, H, W, C] -> [B, H + 2p, W + 2p, C]; needs p < H and p < W.

    `by_slices=True` builds the same values from one-pixel slices and concatenations when
    H and W are static (TFLite's XNNPACK delegate takes those, not MIRROR_PAD).
    """
    if by_slices and x.shape[1] is not None and x.shape[2] is not None:
        return _reflection_pad_by_slices(x, p)
    return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")


def _reflection_pad_by_slices(x, p):
    height, width = x.shape[1], x.shape[2]
    top = [x[:, k : k + 1] for k in range(p, 0, -1)]
    bottom = [x[:, height - 1 - k : height - k] for k in range(1, p + 1)]
    x = tf.concat([*top, x, *bottom], axis=1)
    left = [x[:, :, k : k + 1] for k in range(p, 0, -1)]
    right = [x[:, :, width - 1 - k : width - k] for k in range(1, p + 1)]
    return tf.concat([*left, x, *right], axis=2)
