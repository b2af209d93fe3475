"""Winograd F(4×4, 3×3) convolutions, on tensors: same weights, same pixels, 4× fewer products.

The residual blocks hold 80 % of a generator's multiply-adds, all in 3×3
convolutions at 1/4 resolution. Here each runs as Winograd F(4×4, 3×3): input
tiles of 6×6 are transformed (Bᵀ d B), multiplied channel-wise with the
transformed kernel (G g Gᵀ) in 36 batched matmuls, and transformed back
(Aᵀ m A): 36 products per 16 outputs instead of 144, at the price of the
(memory-bound) transforms. The dilation-2 conv runs as a plain 3×3 conv on the
four space-to-batch phases of its input.

Two forms, chosen by `layers.ResidualBlock`'s `conv_mode`:
- "xla": `conv3x3_valid` / `dilated_conv3x3_valid` (static shapes, H and W
  even, Winograd-sized hand-written gradients) in `compiled_block_core`, one
  XLA cluster per block shape: for training.
- "graph": `conv3x3_graph`, about 20 large plain TF ops, any H and W (dynamic
  too), no XLA: what SavedModels and TFLite files hold.

Numerics: Winograd F(4×4, 3×3) in float32 differs from direct convolution by a
few 1e-6 relative per conv; after 16 convs and instance norms the outputs of a
generator agree to ~1e-5 (see tests/test_winograd.py).
"""

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import control_flow_util

from edgeconnect_tf.nn.matmul_conv import dim, shape
from edgeconnect_tf.nn.normalization import instance_norm

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


def _combine(coefficients, tensors):
    """Σ c·t over the nonzero coefficients (±1 without a multiply)."""
    out = None
    for c, t in zip(coefficients, tensors, strict=True):
        if c == 0:
            continue
        term = t if c == 1 else (-t if c == -1 else t * float(c))
        out = term if out is None else out + term
    return out


def _static_shape(x):
    shape = list(x.shape)
    if any(d is None for d in shape):
        raise ValueError(f"winograd needs static shapes (trace per input size), got {shape}")
    return shape


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


def winograd_input(x, tiles_h, tiles_w):
    """Padded input [N, 4·th + 2, 4·tw + 2, C] -> transformed tiles [36, N·th·tw, C]."""
    c = x.shape[-1]
    stop_h, stop_w = TILE * (tiles_h - 1) + 1, TILE * (tiles_w - 1) + 1
    rows = [x[:, r : r + stop_h : TILE] for r in range(6)]  # [N, th, Wp, C]
    out = []
    for i in range(6):
        t = _combine(B_T[i], rows)
        cols = [t[:, :, s : s + stop_w : TILE] for s in range(6)]  # [N, th, tw, C]
        out.extend(_combine(B_T[j], cols) for j in range(6))
    return tf.reshape(tf.stack(out, axis=0), [36, -1, c])


def winograd_output(m, batch, tiles_h, tiles_w):
    """Products [36, N·th·tw, K] -> outputs [N, 4·th, 4·tw, K]."""
    k = m.shape[-1]
    m = tf.reshape(m, [6, 6, batch, tiles_h, tiles_w, k])
    rows = [m[i] for i in range(6)]  # each [6, N, th, tw, K]
    out_rows = []
    for a in range(TILE):
        s = _combine(A_T[a], rows)
        cols = [s[j] for j in range(6)]
        out_rows.append(tf.stack([_combine(A_T[b], cols) for b in range(TILE)], axis=3))
    y = tf.stack(out_rows, axis=2)  # [N, th, 4, tw, 4, K]
    return tf.reshape(y, [batch, TILE * tiles_h, TILE * tiles_w, k])


def winograd_output_adjoint(dy, tiles_h, tiles_w):
    """Adjoint of `winograd_output`: dy [N, 4·th, 4·tw, K] -> [36, N·th·tw, K], A·dy·Aᵀ per tile."""
    n, k = dy.shape[0], dy.shape[-1]
    tiles = tf.reshape(dy, [n, tiles_h, TILE, tiles_w, TILE, k])
    rows = [tiles[:, :, a] for a in range(TILE)]  # each [N, th, tw, 4, K]
    out = []
    for i in range(6):
        r = _combine(A_T[:, i], rows)
        cols = [r[:, :, :, b] for b in range(TILE)]  # each [N, th, tw, K]
        out.extend(_combine(A_T[:, j], cols) for j in range(6))
    return tf.reshape(tf.stack(out, axis=0), [36, -1, k])


def winograd_filter_adjoint(du):
    """Adjoint of `winograd_filter`: [36, C, K] -> [3, 3, C, K] (Gᵀ du G)."""
    g = tf.constant(G, du.dtype)
    du = tf.reshape(du, [6, 6, du.shape[1], du.shape[2]])
    return tf.einsum("ir,ijck,js->rsck", g, du, g)


def conv3x3_valid(x, kernel, bias=None):
    """Valid 3×3 convolution (cross-correlation, TF's) by Winograd F(4×4, 3×3).

    x [N, H + 2, W + 2, C], kernel [3, 3, C, K] -> [N, H, W, K]. H and W need
    not be multiples of 4 (the input is zero-padded and the output cropped).

    Hand-written gradient, Winograd-sized too: the kernel's from the saved
    transformed input (36 matmuls [C, tiles] x [tiles, K], then Gᵀ · G); the
    input's as the full correlation of dy with the flipped kernel, itself a
    Winograd conv of dy zero-padded by 2. (Autodiff through the tile slices
    costs 4-5× the forward; this costs ~2×.)
    """
    y = _winograd_conv3x3(tf.convert_to_tensor(x), tf.convert_to_tensor(kernel))
    return y if bias is None else y + bias


def _tiles(x):
    """(padded x, tiles_h, tiles_w, h, w) for a valid 3×3 conv of x [N, H + 2, W + 2, C]."""
    _, hp, wp, _ = _static_shape(x)
    h, w = hp - 2, wp - 2
    th, tw = -(-h // TILE), -(-w // TILE)
    if th * TILE != h or tw * TILE != w:
        x = tf.pad(x, [[0, 0], [0, th * TILE - h], [0, tw * TILE - w], [0, 0]])
    return x, th, tw, h, w


def _winograd_forward(x, kernel):
    """(y [N, H, W, K], transformed input [36, tiles, C]) of a valid 3×3 conv."""
    n = x.shape[0]
    x, th, tw, h, w = _tiles(x)
    v = winograd_input(x, th, tw)
    y = winograd_output(tf.matmul(v, winograd_filter(kernel)), n, th, tw)
    if th * TILE != h or tw * TILE != w:
        y = y[:, :h, :w]
    return y, v


@tf.custom_gradient
def _winograd_conv3x3(x, kernel):
    y, v = _winograd_forward(x, kernel)

    def grad(dy):
        _, th, tw, h, w = _tiles(x)
        dy_tiles = tf.pad(dy, [[0, 0], [0, th * TILE - h], [0, tw * TILE - w], [0, 0]])
        du = tf.matmul(v, winograd_output_adjoint(dy_tiles, th, tw), transpose_a=True)
        flipped = tf.transpose(kernel[::-1, ::-1], [0, 1, 3, 2])  # [3, 3, K, C]
        dx, _ = _winograd_forward(tf.pad(dy, [[0, 0], [2, 2], [2, 2], [0, 0]]), flipped)
        return dx, winograd_filter_adjoint(du)

    return y, grad


def dilated_conv3x3_valid(x, kernel, bias=None, dilation=2):
    """Valid 3×3 convolution with dilation d as d² plain 3×3 convs on space-to-batch phases.

    x [N, H + 2d, W + 2d, C] (H, W multiples of d), kernel [3, 3, C, K] -> [N, H, W, K].
    Phase (a, b) = x[:, a::d, b::d]; its valid 3×3 conv gives outputs (d·i + a, d·j + b).
    """
    x = tf.convert_to_tensor(x)
    n, hp, wp, c = _static_shape(x)
    d = dilation
    if hp % d or wp % d:
        raise ValueError(f"padded input sides must be multiples of the dilation {d}, got {hp}x{wp}")
    hq, wq = hp // d, wp // d
    # [N, hq, d, wq, d, C] -> [d, d, N, hq, wq, C] -> [d·d·N, hq, wq, C]
    phases = tf.reshape(x, [n, hq, d, wq, d, c])
    phases = tf.reshape(tf.transpose(phases, [2, 4, 0, 1, 3, 5]), [d * d * n, hq, wq, c])
    y = conv3x3_valid(phases, kernel)  # [d·d·N, hq − 2, wq − 2, K]
    k = y.shape[-1]
    y = tf.reshape(y, [d, d, n, hq - 2, wq - 2, k])
    y = tf.reshape(tf.transpose(y, [2, 3, 0, 4, 1, 5]), [n, d * (hq - 2), d * (wq - 2), k])
    return y if bias is None else y + bias


def reflect_pad(x, p):
    return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")


def supported(x):
    """Whether `x` [N, H, W, C] has the static shape the fast residual block needs."""
    dims = list(x.shape)
    return len(dims) == 4 and None not in dims and dims[1] % 2 == 0 == dims[2] % 2


def block_core(x, k1, b1, k2, b2, dilation=2):
    """x + IN(conv3x3(pad1(ReLU(IN(conv3x3_dil(pad_d(x))))))) with Winograd convs, in float32."""
    dtype = x.dtype
    x = tf.cast(x, tf.float32)
    y = dilated_conv3x3_valid(reflect_pad(x, dilation), k1, b1, dilation=dilation)
    y = tf.nn.relu(instance_norm(y))
    y = conv3x3_valid(reflect_pad(y, 1), k2, b2)
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


# ------------------------------------------------------------------ plain-graph form (exports)

B2 = np.kron(B_T, B_T)  # [36, 36]: row (i, j) of the transformed tile, column (r, s) of the tile
A2 = np.kron(A_T, A_T)  # [16, 36]: row (a, b) of the 4×4 outputs


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
    """A float 0 computed from x's first element (inf too; NaN gives NaN, as the conv would).

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
