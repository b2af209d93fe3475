"""Instance normalization as a function of tensors (what the layers and `winograd` share)."""

import tensorflow as tf


def instance_norm(x, epsilon=1e-5):
    """(x − mean) / sqrt(var + ε) over H, W of each image and channel; x [B, H, W, C].

    With the closed-form gradient dx = (dy − mean(dy) − y·mean(dy·y)) / σ, the
    statistics recomputed from x (the gradient keeps no forward tensor, so
    SavedModels of the layer still save): a few passes over the activations
    instead of the dozen elementwise ops autodiff makes of the forward.
    """

    def statistics(x):
        mean = tf.reduce_mean(x, axis=(1, 2), keepdims=True)
        centered = x - mean
        variance = tf.reduce_mean(tf.square(centered), axis=(1, 2), keepdims=True)
        return centered, tf.math.rsqrt(variance + epsilon)

    @tf.custom_gradient
    def normalize(x):
        centered, inv_std = statistics(x)

        def grad(dy):
            centered, inv_std = statistics(x)
            y = centered * inv_std
            mean_dy = tf.reduce_mean(dy, axis=(1, 2), keepdims=True)
            mean_dy_y = tf.reduce_mean(dy * y, axis=(1, 2), keepdims=True)
            return inv_std * (dy - mean_dy - y * mean_dy_y)

        return centered * inv_std, grad

    return normalize(x)
