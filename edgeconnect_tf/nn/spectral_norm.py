"""Spectral normalization with the semantics of PyTorch's `torch.nn.utils.spectral_norm`.

`TorchSpectralNorm(keras.layers.Conv2D(...))` has the API of
`keras.layers.SpectralNormalization` (wrap a conv layer), but behaves like the
reference implementation, so the authors' checkpoints load unchanged and
fine-tuning them behaves as it did for them:

- The wrapped layer's `kernel` is W_orig, the trained variable; it is never
  overwritten. The layer computes with W = W_orig / sigma.
- Training call: one power iteration (v = normalize(W_matᵀ u), u =
  normalize(W_mat v)) updates the stored `u`, `v`; u and v are constants for the
  gradient, and sigma = uᵀ W_mat v is differentiated through.
- Inference call: sigma from the stored `u`, `v`, no iteration, no update.
- W_mat is the kernel as an (out_channels, -1) matrix in PyTorch's memory order:
  (O, I, kh, kw) for a convolution and, as in the reference, (O, I, kh, kw)
  from the transposed convolution's (I, O, kh, kw) weight, i.e. normalized along
  its output channels. So `u` has O entries and `v` has I·kh·kw entries, exactly
  the shapes of the checkpoint's `weight_u` and `weight_v`.

Keras's own layer differs: it assigns the normalized kernel into the kernel
variable in place (W_orig is lost, and each step normalizes an already
normalized kernel), and for Conv2DTranspose it reshapes the (kh, kw, O, I)
kernel to (-1, I), normalizing a matrix of a different shape from the
reference's, so the published `weight_u`/`weight_v` could not be used.
"""

import keras
from keras import ops

_EPS = 1e-12  # torch.nn.functional.normalize's eps


def _l2_normalize(x):
    return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x))), _EPS)


class _UnitNormal(keras.initializers.Initializer):
    """N(0, 1) samples scaled to unit L2 norm (how PyTorch initializes u and v)."""

    def __init__(self, seed=None):
        self.seed = seed
        self._normal = keras.initializers.RandomNormal(stddev=1.0, seed=seed)

    def __call__(self, shape, dtype=None):
        return _l2_normalize(self._normal(shape, dtype=dtype))

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="edgeconnect_tf")
class TorchSpectralNorm(keras.layers.Wrapper):
    """Spectral normalization of a `Conv2D` or `Conv2DTranspose` kernel.

    Args:
        layer: a `keras.layers.Conv2D` or `keras.layers.Conv2DTranspose`.
        power_iterations: power iterations per training call (reference: 1).

    Example:
    >>> conv = TorchSpectralNorm(keras.layers.Conv2D(64, 3, use_bias=False))
    >>> y = conv(keras.ops.ones((1, 8, 8, 3)), training=True)  # updates u, v
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
            raise ValueError(
                f"TorchSpectralNorm wraps Conv2D or Conv2DTranspose, got {type(layer).__name__}"
            )
        if power_iterations < 1:
            raise ValueError(f"power_iterations must be >= 1, got {power_iterations}")
        self.power_iterations = power_iterations
        self._transposed = isinstance(layer, keras.layers.Conv2DTranspose)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        kh, kw, a, b = self.layer.kernel.shape
        # Conv2D kernel (kh, kw, I, O); Conv2DTranspose kernel (kh, kw, O, I).
        out_channels, in_channels = (a, b) if self._transposed else (b, a)
        self.u = self.add_weight(
            name="u",
            shape=(out_channels,),
            initializer=_UnitNormal(),
            trainable=False,
            autocast=False,
            aggregation="only_first_replica",
        )
        self.v = self.add_weight(
            name="v",
            shape=(in_channels * kh * kw,),
            initializer=_UnitNormal(),
            trainable=False,
            autocast=False,
            aggregation="only_first_replica",
        )
        self.built = True

    def weight_matrix(self, kernel):
        """The kernel as PyTorch's (out_channels, in_channels·kh·kw) matrix."""
        if self._transposed:
            w = ops.transpose(kernel, (2, 3, 0, 1))  # (kh, kw, O, I) -> (O, I, kh, kw)
        else:
            w = ops.transpose(kernel, (3, 2, 0, 1))  # (kh, kw, I, O) -> (O, I, kh, kw)
        return ops.reshape(w, (ops.shape(w)[0], -1))

    def normalized_kernel(self, training=False):
        """W_orig / sigma in float32; in training, first updates `u` and `v`."""
        kernel = ops.cast(self.layer.kernel.value, "float32")
        w_mat = self.weight_matrix(kernel)
        u, v = self.u.value, self.v.value
        if training:
            w_const = ops.stop_gradient(w_mat)
            for _ in range(self.power_iterations):
                v = _l2_normalize(ops.matmul(u, w_const))
                u = _l2_normalize(ops.matmul(w_const, v))
            self.u.assign(u)
            self.v.assign(v)
        sigma = ops.sum(u * ops.matmul(w_mat, v))
        return kernel / sigma

    def call(self, inputs, training=False):
        kernel = ops.cast(self.normalized_kernel(training=training), self.compute_dtype)
        layer = self.layer
        if self._transposed:
            outputs = ops.conv_transpose(
                inputs,
                kernel,
                strides=list(layer.strides),
                padding=layer.padding,
                output_padding=layer.output_padding,
                dilation_rate=layer.dilation_rate,
                data_format=layer.data_format,
            )
        else:
            outputs = layer.convolution_op(inputs, kernel)
        if layer.use_bias:
            outputs = outputs + ops.cast(layer.bias, self.compute_dtype)
        if layer.activation is not None:
            outputs = layer.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}


# `.keras` files saved before the rename name the layer by its old registered name.
keras.saving.get_custom_objects()["edgeconnect_tf>SpectralNormalization"] = TorchSpectralNorm
