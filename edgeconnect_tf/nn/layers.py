"""Building blocks of the EdgeConnect networks: padding, instance norm, convs, residual block.

All layers are channels-last. Convolutions follow PyTorch's padding rules so
that the reference's weights give the reference's pixels:
- `PaddedConv2D(..., padding=p)` zero-pads p pixels on every side, then runs a
  valid convolution (Keras "same" pads asymmetrically for even kernels).
- `conv_transpose(...)` is a 4x4 stride-2 transposed conv with PyTorch's
  padding=1, i.e. the full output cropped by one pixel per side, which is what
  Keras "same" computes for this kernel and stride: output size 2·H.
"""

import functools

import keras
import tensorflow as tf
from keras import ops

from edgeconnect_tf.nn import matmul_conv, winograd
from edgeconnect_tf.nn.conv_mode import check_conv_mode
from edgeconnect_tf.nn.normalization import instance_norm
from edgeconnect_tf.nn.padding import reflection_pad
from edgeconnect_tf.nn.spectral_norm import TorchSpectralNorm


def conv_init():
    """N(0, 0.02), the reference's init. A new instance per layer: one shared Keras
    initializer would give every kernel of the same shape the same values."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


@keras.saving.register_keras_serializable(package="edgeconnect_tf")
class ReflectionPadding2D(keras.layers.Layer):
    """Reflect padding (PyTorch `ReflectionPad2d`: the edge pixel is not repeated).

    [B, H, W, C] -> [B, H + 2p, W + 2p, C]; needs p < H and p < W. `by_slices`: see
    `padding.reflection_pad` (generators built with `tflite_ops=True` take it).
    """

    def __init__(self, padding, by_slices=False, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)
        self.by_slices = bool(by_slices)

    def call(self, x):
        return reflection_pad(x, self.padding, self.by_slices)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        grow = lambda n: None if n is None else n + 2 * self.padding  # noqa: E731
        return (b, grow(h), grow(w), c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "by_slices": self.by_slices}


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
    With `spectral_norm=True` the kernel is wrapped in `TorchSpectralNorm`.

    `matmul_form=True` (where `matmul_conv.supported`: 4×4 stride 2, ≤ 4
    outputs) computes the conv as matmuls (`matmul_conv.conv`): same values to
    float32 rounding, 2-5× faster where oneDNN has no NHWC kernel for it (AVX2).
    `call(..., direct=True)` takes the direct path whatever the form.
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
        matmul_form=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.stride = filters, kernel_size, stride
        self.padding, self.dilation = padding, dilation
        self.spectral_norm, self.use_bias = spectral_norm, use_bias
        if matmul_form and not matmul_conv.supported(filters, kernel_size, stride, dilation):
            raise ValueError(
                f"no matmul form for a {kernel_size}x{kernel_size} stride-{stride} conv "
                f"to {filters} channels (see matmul_conv.supported)"
            )
        self.matmul_form = bool(matmul_form)
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
        self.conv = TorchSpectralNorm(layer, name="sn") if spectral_norm else layer

    def build(self, input_shape):
        if not self.conv.built:
            self.conv.build((None, None, None, input_shape[-1]))

    def call(self, x, training=False, direct=False):
        if self.padding:
            p = self.padding
            x = ops.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        if self.matmul_form and not direct:
            kernel, bias = self.kernel_and_bias(x, training, dtype=x.dtype)
            return matmul_conv.conv(x, kernel, bias, stride=self.stride)
        if self.spectral_norm:
            return self.conv(x, training=training)
        if self.use_bias and x.dtype == "bfloat16":  # Keras' bias add: see bias_add
            if not self.conv.built:
                self.conv.build(x.shape)
            return bias_add(self.conv.convolution_op(x, self.conv.kernel), self.conv.bias)
        return self.conv(x)

    def kernel_and_bias(self, x, training=False, dtype=None):
        """(kernel [kh, kw, C, K], bias [K] or None) as the conv uses them, for other forms.

        Spectral norm applied (with its power iteration and u, v update when
        `training`, as the wrapped layer does); creates the variables on first
        use from x [N, H, W, C]. Cast to `dtype` (default: the compute dtype).
        """
        if not self.conv.built:
            self.conv.build((None, None, None, x.shape[-1]))
        if self.spectral_norm:
            kernel, bias = self.conv.normalized_kernel(training=training), self.conv.layer.bias
        else:
            kernel, bias = self.conv.kernel, self.conv.bias
        dtype = dtype or self.compute_dtype
        return tf.cast(kernel, dtype), None if bias is None else tf.cast(bias, dtype)

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
            "matmul_form": self.matmul_form,
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
    return TorchSpectralNorm(layer, name=f"{name}_sn") if spectral_norm else layer


@keras.saving.register_keras_serializable(package="edgeconnect_tf")
class ResidualBlock(keras.layers.Layer):
    """x + IN(conv3x3(pad1(ReLU(IN(conv3x3_dil2(pad2(x))))))), channels preserved.

    Convs have a bias only without spectral norm, as in the reference.

    `conv_mode` (see `edgeconnect_tf.nn.conv_mode`) "graph" or "xla" computes the block with
    Winograd F(4×4, 3×3) convolutions (`edgeconnect_tf.nn.winograd`), 4× fewer
    multiply-adds, same result to float32 rounding (~1e-5 over a generator),
    in float32 whatever the dtype policy. "xla" takes inputs of static shape
    (others run direct); "graph" any shape. `call(..., direct=True)`
    takes the direct path whatever the mode. `by_slices`: see `ReflectionPadding2D`.
    """

    def __init__(
        self,
        filters,
        dilation=2,
        spectral_norm=False,
        conv_mode="direct",
        by_slices=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters, self.dilation, self.spectral_norm = filters, dilation, spectral_norm
        self.conv_mode = check_conv_mode(conv_mode)
        self.by_slices = bool(by_slices)
        kw = {"spectral_norm": spectral_norm, "use_bias": not spectral_norm}
        self.pad1 = ReflectionPadding2D(dilation, by_slices=by_slices)
        self.conv1 = PaddedConv2D(filters, 3, dilation=dilation, name="conv_block_1", **kw)
        self.norm1 = InstanceNormalization()
        self.pad2 = ReflectionPadding2D(1, by_slices=by_slices)
        self.conv2 = PaddedConv2D(filters, 3, name="conv_block_5", **kw)
        self.norm2 = InstanceNormalization()

    def build(self, input_shape):
        for conv in (self.conv1, self.conv2):  # the Winograd paths read their kernels only
            conv.build(input_shape)

    def call(self, x, training=False, direct=False):
        if not direct and self.conv_mode == "graph" and winograd.graph_supported(x):
            return self._graph_block(x, training)
        if not direct and self.conv_mode == "xla" and winograd.supported(x):
            return winograd.compiled_block_core(
                x, *self.block_weights(x, training), dilation=self.dilation
            )
        y = self.norm1(self.conv1(self.pad1(x), training=training))
        y = ops.relu(y)
        y = self.norm2(self.conv2(self.pad2(y), training=training))
        return x + y

    def block_weights(self, x, training=False):
        """(k1, b1, k2, b2) in float32 for `winograd.block_core`; zero biases where none."""
        weights = []
        for conv in (self.conv1, self.conv2):
            kernel, bias = conv.kernel_and_bias(x, training, dtype=tf.float32)
            weights += [kernel, tf.zeros([kernel.shape[-1]]) if bias is None else bias]
        return weights

    def _graph_block(self, x, training):
        """`winograd.block_core` as plain ops, with this block's pads (a TFLite build keeps
        its slice-based reflection pads) and kernels."""
        pad = functools.partial(reflection_pad, by_slices=self.by_slices)
        weights = self.block_weights(x, training)
        return winograd.block_core(x, *weights, dilation=self.dilation, pad=pad)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "dilation": self.dilation,
            "spectral_norm": self.spectral_norm,
            "conv_mode": self.conv_mode,
            "by_slices": self.by_slices,
        }
