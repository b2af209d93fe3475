"""Building blocks of the EdgeConnect networks: padding, instance norm, convs, residual block.

All layers are channels-last. Convolutions follow PyTorch's padding rules so
that the reference's weights give the reference's pixels:
- `PaddedConv2D(..., padding=p)` zero-pads p pixels on every side, then runs a
  valid convolution (Keras "same" pads asymmetrically for even kernels).
- `conv_transpose(...)` is a 4x4 stride-2 transposed conv with PyTorch's
  padding=1, i.e. the full output cropped by one pixel per side, which is what
  Keras "same" computes for this kernel and stride: output size 2·H.
"""

import keras
import tensorflow as tf
from keras import ops

from edgeconnect_tf import winograd
from edgeconnect_tf.spectral_norm import SpectralNormalization


def conv_init():
    """N(0, 0.02), the reference's init. A new instance per layer: one shared Keras
    initializer would give every kernel of the same shape the same values."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


@keras.saving.register_keras_serializable(package="edgeconnect_tf")
class ReflectionPadding2D(keras.layers.Layer):
    """Reflect padding (PyTorch `ReflectionPad2d`: the edge pixel is not repeated).

    [B, H, W, C] -> [B, H + 2p, W + 2p, C]; needs p < H and p < W.

    `by_slices=True` (set by `set_reflection_slices`, not serialized) builds the
    same values from one-pixel slices and concatenations when H and W are
    static: TFLite's XNNPACK delegate takes those, not MIRROR_PAD.
    """

    def __init__(self, padding, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)
        self.by_slices = False

    def call(self, x):
        p = self.padding
        if self.by_slices and x.shape[1] is not None and x.shape[2] is not None:
            return _reflect_pad_by_slices(x, p)
        return ops.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        grow = lambda n: None if n is None else n + 2 * self.padding  # noqa: E731
        return (b, grow(h), grow(w), c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


def _reflect_pad_by_slices(x, p):
    height, width = x.shape[1], x.shape[2]
    top = [x[:, k : k + 1] for k in range(p, 0, -1)]
    bottom = [x[:, height - 1 - k : height - k] for k in range(1, p + 1)]
    x = tf.concat([*top, x, *bottom], axis=1)
    left = [x[:, :, k : k + 1] for k in range(p, 0, -1)]
    right = [x[:, :, width - 1 - k : width - k] for k in range(1, p + 1)]
    return tf.concat([*left, x, *right], axis=2)


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


@keras.saving.register_keras_serializable(package="edgeconnect_tf")
class InstanceNormalization(keras.layers.Layer):
    """Instance norm without affine parameters or running statistics (eps 1e-5).

    Normalizes each channel of each image over H and W, the same in training
    and inference. Statistics are computed in float32 under mixed precision.
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x):
        return ops.cast(instance_norm(ops.cast(x, "float32"), self.epsilon), x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="edgeconnect_tf")
class PaddedConv2D(keras.layers.Layer):
    """PyTorch-style Conv2D: zero-pad `padding` pixels per side, then a valid conv.

    [B, H, W, C] -> [B, (H + 2p - d(k-1) - 1) // s + 1, ..., filters].
    With `spectral_norm=True` the kernel is wrapped in `SpectralNormalization`.

    `graph_form=True` (set by `set_winograd(..., "graph")` where
    `winograd.graph_conv_supported`, not serialized) computes the 4×4
    stride-2 and the few-output convs as matmuls (`winograd.graph_conv`):
    same values to float32 rounding, 2-5× faster where oneDNN has no NHWC
    kernel for them (AVX2).
    """

    def __init__(
        self,
        filters,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        spectral_norm=False,
        use_bias=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.stride = filters, kernel_size, stride
        self.padding, self.dilation = padding, dilation
        self.spectral_norm, self.use_bias = spectral_norm, use_bias
        layer = keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=stride,
            dilation_rate=dilation,
            padding="valid",
            use_bias=use_bias,
            kernel_initializer=conv_init(),
            name="conv",
        )
        self.conv = SpectralNormalization(layer, name="sn") if spectral_norm else layer
        self.graph_form = False

    def call(self, x, training=False):
        if self.padding:
            p = self.padding
            x = ops.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        if self.graph_form:
            return winograd.graph_conv(self, x, training=training)
        if self.spectral_norm:
            return self.conv(x, training=training)
        if self.use_bias and x.dtype == "bfloat16":  # Keras' bias add: see bias_add
            if not self.conv.built:
                self.conv.build(x.shape)
            return bias_add(self.conv.convolution_op(x, self.conv.kernel), self.conv.bias)
        return self.conv(x)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "spectral_norm": self.spectral_norm,
            "use_bias": self.use_bias,
        }


def bias_add(x, bias):
    """x [..., C] + bias [C] in x's dtype, the bias gradient summed in float32.

    Keras' conv layers add their bias with `tf.nn.bias_add`, whose CPU gradient
    (BiasAddGrad) accumulates bfloat16 in bfloat16: 2048 ones sum to 256, and
    a bias gradient over a 256x256 batch of 8 stalls near 256 (exact: ~10^4).
    Used by `PaddedConv2D` under bfloat16 only (float32 keeps Keras' fusable op).
    """

    @tf.custom_gradient
    def add(x, bias):
        def grad(dy):
            axes = list(range(len(dy.shape) - 1))
            return dy, tf.cast(tf.reduce_sum(tf.cast(dy, tf.float32), axis=axes), bias.dtype)

        return tf.nn.bias_add(x, bias), grad

    return add(x, tf.cast(bias, x.dtype))


def conv_transpose(filters, *, spectral_norm, name):
    """PyTorch ConvTranspose2d(k=4, stride=2, padding=1): [B, H, W, C] -> [B, 2H, 2W, filters].

    PyTorch's padding=1 crops one pixel per side of the full transposed-conv
    output, which is exactly Keras's "same" for this kernel and stride.
    """
    layer = keras.layers.Conv2DTranspose(
        filters, 4, strides=2, padding="same", kernel_initializer=conv_init(), name=name
    )
    return SpectralNormalization(layer, name=f"{name}_sn") if spectral_norm else layer


@keras.saving.register_keras_serializable(package="edgeconnect_tf")
class ResidualBlock(keras.layers.Layer):
    """x + IN(conv3x3(pad1(ReLU(IN(conv3x3_dil2(pad2(x))))))), channels preserved.

    Convs have a bias only without spectral norm, as in the reference.

    `winograd` (see `WINOGRAD_MODES`) computes the block with Winograd
    F(4×4, 3×3) convolutions from `edgeconnect_tf.winograd`, 4× fewer
    multiply-adds, same result to float32 rounding (~1e-5 over a generator),
    in float32 whatever the dtype policy:
    - True / "xla": inputs of static, even shape as one XLA cluster per block
      (compiled once per input shape, ~2 s on 2 cores; inside a caller's
      `jit_compile` function, part of its cluster); gradients Winograd-sized
      too. Other shapes take the direct path.
    - "graph": plain TF ops (strided slices, matmuls), any H and W, dynamic
      too: what SavedModels and TFLite files hold (no XLA). `set_winograd`
      also switches the generators' stride-2 and output convs to their
      matmul forms in this mode (see `PaddedConv2D`).
    """

    def __init__(self, filters, dilation=2, spectral_norm=False, winograd=False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.dilation, self.spectral_norm = filters, dilation, spectral_norm
        self.winograd = winograd_mode(winograd)
        kw = {"spectral_norm": spectral_norm, "use_bias": not spectral_norm}
        self.pad1 = ReflectionPadding2D(dilation)
        self.conv1 = PaddedConv2D(filters, 3, dilation=dilation, name="conv_block_1", **kw)
        self.norm1 = InstanceNormalization()
        self.pad2 = ReflectionPadding2D(1)
        self.conv2 = PaddedConv2D(filters, 3, name="conv_block_5", **kw)
        self.norm2 = InstanceNormalization()

    def call(self, x, training=False):
        if self.winograd == "graph" and winograd.graph_supported(x):
            return winograd.graph_residual_block(self, x, training=training)
        if self.winograd == "xla" and winograd.supported(x):
            return winograd.compiled_residual_block(self, x, training=training)
        y = self.norm1(self.conv1(self.pad1(x), training=training))
        y = ops.relu(y)
        y = self.norm2(self.conv2(self.pad2(y), training=training))
        return x + y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "dilation": self.dilation,
            "spectral_norm": self.spectral_norm,
            "winograd": self.winograd,
        }


def _layers_of_type(networks, kind):
    for network in networks:
        for layer in network._flatten_layers(include_self=True, recursive=True):
            if isinstance(layer, kind):
                yield layer


WINOGRAD_MODES = (False, "xla", "graph")


def winograd_mode(value):
    """A `ResidualBlock.winograd` setting -> one of `WINOGRAD_MODES` (True means "xla")."""
    if value is True:
        return "xla"
    if value in WINOGRAD_MODES:
        return value or False
    raise ValueError(f"winograd must be one of {WINOGRAD_MODES} or True, got {value!r}")


def set_winograd(networks, enabled):
    """Sets `winograd` (a mode of `WINOGRAD_MODES`, or a bool) on every `ResidualBlock`.

    In "graph" mode the `PaddedConv2D`s that `winograd.graph_conv` has a form
    for (4×4 stride 2, ≤ 4 outputs) compute as matmuls too.
    """
    mode = winograd_mode(enabled)
    for layer in _layers_of_type(networks, ResidualBlock):
        layer.winograd = mode
    set_graph_form_convs(networks, mode == "graph")


def set_graph_form_convs(networks, enabled):
    """Sets `graph_form` on every `PaddedConv2D` that `winograd.graph_conv` has a form for."""
    for layer in _layers_of_type(networks, PaddedConv2D):
        layer.graph_form = bool(enabled) and winograd.graph_conv_supported(layer)


def set_reflection_slices(networks, enabled):
    """Sets `by_slices` on every `ReflectionPadding2D` inside `networks`."""
    for layer in _layers_of_type(networks, ReflectionPadding2D):
        layer.by_slices = bool(enabled)
