"""Winograd F(4×4, 3×3) convolutions, on tensors: same weights, same pixels, 4× fewer products.

The residual blocks hold 80 % of a generator's multiply-adds, all in 3×3
convolutions at 1/4 resolution. Here each runs as Winograd F(4×4, 3×3): input
tiles of 6×6 are transformed (Bᵀ d B), multiplied channel-wise with the
transformed kernel (G g Gᵀ) in 36 batched matmuls, and transformed back
(Aᵀ m A): 36 products per 16 outputs instead of 144, at the price of the
(memory-bound) transforms. A dilation-d conv tiles each of its d×d phases.

One form, `conv3x3_graph`: about 20 large plain TF ops, any H and W (dynamic
too), gradients by autodiff (as Winograd-sized as the forward). `block_core` is
a residual block of two; `layers.ResidualBlock`'s `conv_mode` runs it as plain
ops ("graph": what SavedModels and TFLite files hold) or as one XLA cluster per
block shape (`compiled_block_core`, "xla": fused transforms and norms, for
training).

Numerics: Winograd F(4×4, 3×3) in float32 differs from direct convolution by a
few 1e-6 relative per conv; after 16 convs and instance norms the outputs of a
generator agree to ~1e-5 (see tests/test_winograd.py).
"""

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import control_flow_util

from edgeconnect_tf.nn.matmul_conv import dim, shape
from edgeconnect_tf.nn.normalization import instance_norm
from edgeconnect_tf.nn.padding import reflection_pad

# Winograd F(4, 3) with interpolation points 0, ±1, ±2, ∞ (Lavin & Gray, 2016).
B_T = np.array(
    [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ],
    dtype=np.float64,
)
G = np.array(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ],
    dtype=np.float64,
)
A_T = np.array(
    [
        [1, 1, 1, 1, 1, 0],
        [0, 1, -1, 2, -2, 0],
        [0, 1, 1, 4, 4, 0],
        [0, 1, -1, 8, -8, 1],
    ],
    dtype=np.float64,
)
TILE = 4  # outputs per tile side


B2 = np.kron(B_T, B_T)  # [36, 36]: row (i, j) of the transformed tile, column (r, s) of the tile
A2 = np.kron(A_T, A_T)  # [16, 36]: row (a, b) of the 4×4 outputs


def winograd_filter(kernel, zero=None):
    """Kernel [3, 3, C, K] -> transformed kernel [36, C, K] (G g Gᵀ for every C, K).

    `zero` (a scalar 0 known only at run time, see `_runtime_zero`) is added to
    the transform so that a converter freezing the kernel cannot fold it.
    """
    kernel = tf.convert_to_tensor(kernel)
    c, k = kernel.shape[2], kernel.shape[3]
    transform = tf.constant(np.kron(G, G), kernel.dtype)
    if zero is not None:
        transform = transform + zero
    u = tf.matmul(transform, tf.reshape(kernel, [9, c * k]))
    return tf.reshape(u, [36, c, k])


def conv3x3_graph(x, kernel, bias=None, dilation=1, product_dtype=None):
    """Valid 3×3 convolution, any dilation d, by Winograd F(4×4, 3×3) in a few large TF ops.

    x [N, H + 2d, W + 2d, C] (C static; N, H, W may be dynamic), kernel
    [3, 3, C, K] -> [N, H, W, K]. The 6×6 tiles of all d×d phases are cut by
    reshapes, two slice-and-concats and one transpose (`_tile_pixels`); the
    input and output transforms are one dense matmul each ((Bᵀ ⊗ Bᵀ) [36, 36]
    and (Aᵀ ⊗ Aᵀ) [16, 36]), the products 36 batched matmuls [tiles, C] ×
    [C, K]. About 20 ops, each large, no XLA and no custom gradient: what a
    SavedModel or a TFLite file can hold, fast without fusion. Sides that
    are no multiple of 4·d are zero-padded at the bottom/right; only the
    cropped outputs see that.

    `product_dtype` (e.g. tf.bfloat16): the 36 products take their operands in
    that dtype (oneDNN accumulates in float32); transforms stay in x's dtype.
    """
    x = tf.convert_to_tensor(x)
    kernel = tf.convert_to_tensor(kernel, x.dtype)
    d, c, k = dilation, x.shape[-1], kernel.shape[-1]
    n, h, w = (dim(x, 0), dim(x, 1) - 2 * d, dim(x, 2) - 2 * d)
    span = TILE * d  # output rows (cols) covered by one row (col) of tiles of all phases
    th, tw = (h + span - 1) // span, (w + span - 1) // span
    v = tf.matmul(tf.constant(B2, x.dtype), tf.reshape(_tile_pixels(x, d, th, tw), [36, -1]))
    u = winograd_filter(kernel, _runtime_zero(x))
    v = tf.reshape(v, [36, -1, c])
    if product_dtype is not None and product_dtype != x.dtype:
        m = tf.cast(tf.matmul(tf.cast(v, product_dtype), tf.cast(u, product_dtype)), x.dtype)
    else:
        m = tf.matmul(v, u)
    y = tf.matmul(tf.constant(A2, x.dtype), tf.reshape(m, [36, -1]))  # [16, tiles·K]
    # (a, b, N·th, (p, j), (q, K)) -> (N·th, a, (p, j), b, (q, K)): row span·i + d·a + p
    y = tf.reshape(y, shape([TILE, TILE, n * th, d * tw, d * k]))
    y = tf.transpose(y, [2, 0, 3, 1, 4])
    y = tf.reshape(y, shape([n, span * th, span * tw, k]))[:, :h, :w]
    static = [None if s is None else s - 2 * d for s in x.shape[1:3]]
    y.set_shape([x.shape[0], *static, k])
    return y if bias is None else y + bias


def _runtime_zero(x):
    """A float 0 computed from x's first element (inf too; a NaN there makes every output NaN).

    TFLite's converter folds constant subgraphs, so a frozen Winograd kernel
    would be stored transformed: 36 taps instead of 9, a 3.6× larger file.
    Computed from a run-time value, the transform stays in the graph (36×9 by
    9×C·K per conv, < 0.5 % of a block's multiply-adds).
    """
    return tf.nn.relu(-tf.abs(tf.reshape(x[:1, :1, :1, :1], [])))


def _tile_pixels(x, d, th, tw):
    """[N, H + 2d, W + 2d, C] -> [36, N·th·d·tw·d, C]: pixel (r, s) of every 6×6 tile.

    Tile (i, j) of phase (p, q) reads rows 4d·i + d·r + p, columns
    4d·j + d·s + q (r, s in 0..5). Padded to 4d·(th + 1) rows and columns
    and viewed as blocks of 4d, a tile's rows are all of block i plus the
    first 2d of block i + 1 (one slice-and-concat per axis); ordering
    (r, p) within the 6d rows and (s, q) within the columns, one transpose
    brings (r, s) to the front.
    """
    n, c = dim(x, 0), x.shape[-1]
    span = TILE * d
    pad_h = span * (th + 1) - dim(x, 1)
    pad_w = span * (tw + 1) - dim(x, 2)
    x = tf.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])
    x = tf.reshape(x, shape([n, th + 1, span, tw + 1, span, c]))
    x = tf.concat([x[:, :-1], x[:, 1:, : 2 * d]], axis=2)  # [N, th, 6d, tw + 1, 4d, C]
    x = tf.concat([x[:, :, :, :-1], x[:, :, :, 1:, : 2 * d]], axis=4)  # [N, th, 6d, tw, 6d, C]
    # (N·th, r, (p, j), s, (q, C)) -> (r, s, N·th, (p, j), (q, C))
    x = tf.reshape(x, shape([n * th, 6, d * tw, 6, d * c]))
    return tf.reshape(tf.transpose(x, [1, 3, 0, 2, 4]), [36, -1, c])


def graph_supported(x):
    """Whether `conv3x3_graph` takes `x`: rank 4 with a static channel count."""
    return x.shape.rank == 4 and x.shape[-1] is not None


# ------------------------------------------------------------------ the residual block


def supported(x):
    """Whether `x` [N, H, W, C] has the static shape an XLA-compiled block needs."""
    dims = list(x.shape)
    return len(dims) == 4 and None not in dims


def block_core(x, k1, b1, k2, b2, dilation=2, pad=None):
    """x + IN(conv3x3(pad(ReLU(IN(conv3x3_d(pad(x, d)))), 1))) by `conv3x3_graph`, in float32.

    x [N, H, W, C]; kernels [3, 3, C, C], biases [C]; returns x's shape and dtype.
    `pad(t, p)`: the reflection padding, default `padding.reflection_pad`.
    """
    pad = pad or reflection_pad
    dtype = x.dtype
    x = tf.cast(x, tf.float32)
    y = conv3x3_graph(pad(x, dilation), k1, b1, dilation=dilation)
    y = tf.nn.relu(instance_norm(y))
    y = conv3x3_graph(pad(y, 1), k2, b2)
    return tf.cast(x + instance_norm(y), dtype)


_xla_block_core = tf.function(block_core, jit_compile=True, autograph=False)


def compiled_block_core(x, k1, b1, k2, b2, dilation=2):
    """`block_core` as one XLA cluster (one compiled function per input shape).

    For graphs that are not compiled as a whole: the block gets XLA's fusion of
    the Winograd transforms and instance norms while the rest of the network
    keeps TensorFlow's own (oneDNN) kernels. The kernels (spectral norm and its
    training-time power iteration included) are computed outside and passed
    in, so all blocks of a shape share one compiled function.

    Inside a caller's XLA function (`jit_compile=True`, e.g. a compiled train
    step) the block is traced into the caller's cluster instead: called there,
    the nested XLA function made XLA take every variable of the step as a
    compile-time constant, so the step recompiled on each weight update and
    constant-folded the whole network (a full-size first step ran past 20 min;
    tests/test_compile.py).
    """
    if control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()):
        return block_core(x, k1, b1, k2, b2, dilation=dilation)
    return _xla_block_core(x, k1, b1, k2, b2, dilation=dilation)
