"""Instance normalization as a function of tensors (what the layers and `winograd` share)."""

import tensorflow as tf


def instance_norm(x, epsilon=1e-5):
    """(x − mean) / sqrt(var + ε) over H, W of each image and channel; x [B, H, W, C].

    With the closed-form gradient dx = (dy − mean(dy) − y·mean(dy·y)) / σ, the
    statistics recomputed from x (the gradient keeps no forward tensor, so
    SavedModels of the layer still save): a few passes over the activations
    instead of the dozen elementwise ops autodiff makes of the forward.

    Every mean is taken over W, then over H. One reduction over both axes adds
    the H·W values of a channel one after the other (TensorFlow's CPU kernel and
    XLA's alike), a float32 error growing with H·W: after a 256² first layer 3.5e-5
    of the largest output (PyTorch, which sums pairwise: 4.6e-7). Two reductions of
    W and H terms each are as accurate as PyTorch's, and no slower (bench/instance_norm.py).
    """

    def mean(t):
        return tf.reduce_mean(tf.reduce_mean(t, axis=2, keepdims=True), axis=1, keepdims=True)

    def statistics(x):
        centered = x - mean(x)
        return centered, tf.math.rsqrt(mean(tf.square(centered)) + epsilon)

    @tf.custom_gradient
    def normalize(x):
        centered, inv_std = statistics(x)

        def grad(dy):
            centered, inv_std = statistics(x)
            y = centered * inv_std
            return inv_std * (dy - mean(dy) - y * mean(dy * y))

        return centered * inv_std, grad

    return normalize(x)
