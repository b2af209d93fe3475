"""Convolutions that oneDNN runs slowly in NHWC on AVX2, as matmuls: same values, any runtime.

On AVX2 CPUs TensorFlow's NHWC convolutions leave oneDNN's direct kernels for
im2col + GEMM (a fifth of the matmul rate) for two shapes in the EdgeConnect
generators: the encoder's 4×4 stride-2 convs and the 7×7 output convs with 1 or
3 channels. In plain TF ops (what a SavedModel or TFLite file can hold, dynamic
shapes too) they run at matmul speed. `layers.PaddedConv2D(matmul_form=True)`
uses them; `supported` says for which layer shapes.
"""

import tensorflow as tf


def supported(filters, kernel_size, stride, dilation):
    """Whether a conv of this shape has a matmul form here (4×4 stride 2, or ≤ 4 outputs)."""
    if dilation != 1:
        return False
    return (kernel_size == 4 and stride == 2) or (stride == 1 and filters <= 4)


def conv(x, kernel, bias=None, stride=1):
    """Valid convolution of the padded x by `strided_conv4x4` (stride 2) or `narrow_conv`."""
    return (strided_conv4x4 if stride == 2 else narrow_conv)(x, kernel, bias)


def strided_conv4x4(x, kernel, bias=None):
    """Valid 4×4 stride-2 convolution as one matmul on 2×2 pixel blocks.

    x [N, Hp, Wp, C] (the padded input; N, Hp, Wp may be dynamic), kernel
    [4, 4, C, K] -> [N, (Hp - 4) // 2 + 1, (Wp - 4) // 2 + 1, K]. With
    z = space_to_depth(x, 2), output (i, j) is Σ_{a, b ∈ {0, 1}} z[i + a,
    j + b] · W_ab: the two row offsets a are concatenated along channels
    (K = 8C), one matmul gives both column offsets b (2K outputs), and a
    shifted add sums them. oneDNN has no fast AVX2 kernel for this conv in
    NHWC (it falls back to im2col + GEMM at a fifth of the matmul rate).
    """
    x = tf.convert_to_tensor(x)
    kernel = tf.convert_to_tensor(kernel, x.dtype)
    c, k = x.shape[-1], kernel.shape[-1]
    n, hp, wp = dim(x, 0), dim(x, 1), dim(x, 2)
    x = tf.pad(x, [[0, 0], [0, hp % 2], [0, wp % 2], [0, 0]])  # even sides; extra rows unread
    z = tf.nn.space_to_depth(x, 2)  # [N, Hz, Wz, (dy, dx, C)]
    rows = tf.concat([z[:, :-1], z[:, 1:]], axis=-1)  # [N, Hz - 1, Wz, (a, dy, dx, C)]
    # kernel row 2a + dy, column 2b + dx -> [(a, dy, dx, C), (b, K)]
    w = tf.reshape(kernel, [2, 2, 2, 2, c, k])  # (a, dy, b, dx, C, K)
    w = tf.reshape(tf.transpose(w, [0, 1, 3, 4, 2, 5]), [8 * c, 2 * k])
    p = tf.matmul(tf.reshape(rows, [-1, 8 * c]), w)
    p = tf.reshape(p, shape([n, (hp + 1) // 2 - 1, (wp + 1) // 2, 2 * k]))
    oh, ow = (hp - 4) // 2 + 1, (wp - 4) // 2 + 1  # less than p's by one on odd sides
    y = p[:, :oh, :ow, :k] + p[:, :oh, 1 : ow + 1, k:]
    y.set_shape([None, None, None, k])
    return y if bias is None else y + bias


def narrow_conv(x, kernel, bias=None):
    """Valid k×k stride-1 convolution to few channels (an output layer) as k matmuls.

    x [N, H + k - 1, W + k - 1, C] (N, H, W may be dynamic), kernel
    [k, k, C, K] -> [N, H, W, K]. Kernel row r is one matmul of the rows
    r..r + H - 1 with [C, k·K]; its k column taps are summed as shifted
    slices, so no buffer is larger than the input. oneDNN's NHWC kernels for
    K ≤ 4 outputs run at ~1/17 of the matmul rate on AVX2 (1/5 on AVX-512).
    """
    x = tf.convert_to_tensor(x)
    kernel = tf.convert_to_tensor(kernel, x.dtype)
    size, c, k = kernel.shape[0], x.shape[-1], kernel.shape[-1]
    n, hp, wp = dim(x, 0), dim(x, 1), dim(x, 2)
    h, w = hp - size + 1, wp - size + 1
    y = None
    for r in range(size):
        taps = tf.reshape(tf.transpose(kernel[r], [1, 0, 2]), [c, size * k])  # [C, (col, K)]
        z = tf.matmul(tf.reshape(x[:, r : r + h], [-1, c]), taps)
        z = tf.reshape(z, shape([n, h, wp, size * k]))
        for col in range(size):
            term = z[:, :, col : col + w, col * k : (col + 1) * k]
            y = term if y is None else y + term
    y.set_shape([None, None, None, k])
    return y if bias is None else y + bias


def dim(x, axis):
    """x.shape[axis] as a Python int when static, else a scalar tensor."""
    return x.shape[axis] if x.shape[axis] is not None else tf.shape(x)[axis]


def shape(dims):
    """A shape for tf.reshape from Python ints and scalar tensors."""
    if all(isinstance(v, int) for v in dims):
        return dims
    return tf.stack([tf.cast(v, tf.int32) for v in dims])
