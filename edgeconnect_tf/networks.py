"""The three EdgeConnect networks: edge generator G1, inpainting generator G2, PatchGAN D.

Topology, padding, normalization and spectral-norm placement follow the
reference exactly (shared/reference/edgeconnect-reference.md), so the authors'
weights load through `edgeconnect_tf.convert`. Layer names mirror the
checkpoint's module names (`encoder_4` is `encoder.4`, `middle_3` is
`middle.3`, ...). Width and residual-block count are arguments so tests can
build tiny networks; the defaults are the paper's.
"""

import math

import keras
import tensorflow as tf
from keras import ops

from edgeconnect_tf.nn.conv_mode import check_conv_mode
from edgeconnect_tf.nn.hole_fill import check_hole_fill
from edgeconnect_tf.nn.layers import (
    InstanceNormalization,
    PaddedConv2D,
    ReflectionPadding2D,
    ResidualBlock,
    conv_transpose,
)
from edgeconnect_tf.nn.spectral_norm import TorchSpectralNorm

# Largest N·H·W a generator runs in "graph" conv mode; above it runs direct: the Winograd
# tiles and matmul forms hold several copies of an activation (peak memory per request size:
# bench/RESULTS.md, "Serving memory").
GRAPH_MAX_PIXELS = 1024 * 1024


class _Generator(keras.Model):
    """Encoder (7x7, two stride-2 4x4) -> residual blocks -> decoder (two 4x4 up, 7x7).

    [B, H, W, C_in] float -> [B, H, W, out_channels] float32 in [0, 1];
    H and W must be multiples of 4.

    `conv_mode` (`edgeconnect_tf.nn.conv_mode`: "direct", "graph", "xla") says how the
    convolutions compute, same weights and pixels to float32 rounding; in
    "graph" mode inputs above `GRAPH_MAX_PIXELS` run direct (memory).
    `tflite_ops=True` builds with the ops TFLite's delegates run fast and
    right: slice-based reflection pads, the stride-2 and output convs as
    CONV_2D. Both are set at construction and saved in `get_config`;
    `rebuilt(...)` gives a copy with other settings and the same weights.
    """

    def __init__(
        self,
        out_channels,
        residual_blocks=8,
        filters=64,
        spectral_norm=False,
        conv_mode="direct",
        tflite_ops=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.out_channels = out_channels
        self.residual_blocks = residual_blocks
        self.filters = filters
        self.spectral_norm = spectral_norm
        self.conv_mode = check_conv_mode(conv_mode)
        self.tflite_ops = bool(tflite_ops)
        sn = spectral_norm
        f = filters
        matmul = conv_mode == "graph" and not tflite_ops
        pad = lambda p: ReflectionPadding2D(p, by_slices=tflite_ops)  # noqa: E731
        self.encoder = [
            pad(3),
            PaddedConv2D(f, 7, spectral_norm=sn, name="encoder_1"),
            InstanceNormalization(),
            keras.layers.ReLU(),
            PaddedConv2D(2 * f, 4, 2, 1, spectral_norm=sn, matmul_form=matmul, name="encoder_4"),
            InstanceNormalization(),
            keras.layers.ReLU(),
            PaddedConv2D(4 * f, 4, 2, 1, spectral_norm=sn, matmul_form=matmul, name="encoder_7"),
            InstanceNormalization(),
            keras.layers.ReLU(),
        ]
        self.middle = [
            ResidualBlock(
                4 * f, 2, sn, conv_mode=conv_mode, by_slices=tflite_ops, name=f"middle_{i}"
            )
            for i in range(residual_blocks)
        ]
        self.decoder = [
            conv_transpose(2 * f, spectral_norm=sn, name="decoder_0"),
            InstanceNormalization(),
            keras.layers.ReLU(),
            conv_transpose(f, spectral_norm=sn, name="decoder_3"),
            InstanceNormalization(),
            keras.layers.ReLU(),
            pad(3),
            PaddedConv2D(out_channels, 7, matmul_form=matmul, name="decoder_7"),
        ]

    def call(self, x, training=False):
        if self.conv_mode != "graph":
            return self._forward(x, training, direct=False)
        if None not in x.shape[:3]:  # static: decided now, one branch in the graph
            return self._forward(x, training, direct=math.prod(x.shape[:3]) > GRAPH_MAX_PIXELS)
        pixels = tf.reduce_prod(tf.shape(x, out_type=tf.int64)[:3])
        return tf.cond(
            pixels <= GRAPH_MAX_PIXELS,
            lambda: self._forward(x, training, direct=False),
            lambda: self._forward(x, training, direct=True),
        )

    def _forward(self, x, training, direct):
        for layer in self.encoder + self.middle + self.decoder:
            if isinstance(layer, (PaddedConv2D, ResidualBlock)):
                x = layer(x, training=training, direct=direct)
            elif isinstance(layer, TorchSpectralNorm):
                x = layer(x, training=training)
            else:
                x = layer(x)
        return self.output_activation(ops.cast(x, "float32"))

    def output_activation(self, logits):
        raise NotImplementedError

    def rebuilt(self, **changes):
        """A copy built with `changes` to its config (e.g. conv_mode="direct"), same weights."""
        if not self.built:
            raise ValueError("rebuilt() copies weights: call the generator once first")
        copy = type(self).from_config({**self.get_config(), **changes})
        copy(tf.zeros((1, 32, 32, self.input_channels)))
        copy.set_weights(self.get_weights())
        return copy

    def get_config(self):
        return {
            **super().get_config(),
            "residual_blocks": self.residual_blocks,
            "filters": self.filters,
            "conv_mode": self.conv_mode,
            "tflite_ops": self.tflite_ops,
        }


@keras.saving.register_keras_serializable(package="edgeconnect_tf")
class EdgeGenerator(_Generator):
    """G1: [masked gray, masked edges, mask] [B, H, W, 3] -> edge map [B, H, W, 1] in [0, 1].

    Spectral norm on every conv but the last (reference: 10,761,089 parameters).

    Example:
    >>> g1 = EdgeGenerator(residual_blocks=1, filters=8)
    >>> g1(keras.ops.zeros((1, 32, 32, 3))).shape
    (1, 32, 32, 1)
    """

    input_channels = 3

    def __init__(self, residual_blocks=8, filters=64, spectral_norm=True, **kwargs):
        super().__init__(1, residual_blocks, filters, spectral_norm, **kwargs)

    def output_activation(self, logits):
        return ops.sigmoid(logits)

    def get_config(self):
        return {**super().get_config(), "spectral_norm": self.spectral_norm}


@keras.saving.register_keras_serializable(package="edgeconnect_tf")
class InpaintGenerator(_Generator):
    """G2: [filled RGB, edges] [B, H, W, 4] -> RGB [B, H, W, 3] in [0, 1].

    No spectral norm; every conv has a bias (reference: 10,774,595 parameters).
    `hole_fill` says what G2 sees in the hole and how its output is read
    (`image_ops.inpaint_generator_inputs` builds the input):
      "white" (the authors'): the hole painted white; output (tanh + 1) / 2.
      "pyramid": the hole filled by `image_ops.pyramid_fill`; output the fill
        plus a correction tanh, clipped to [0, 1]. The colours then come from the
        known pixels rather than from a guess G2 must learn: a white hole hides
        how far the image lies from white from G2, whose first instance norm
        removes it (bench/RESULTS.md, "`make demo`"). A fresh G2 outputs the
        fill (its last conv starts at zero). For short runs on few photos
        (`quickstart`); the published weights are "white".
    """

    input_channels = 4

    def __init__(self, residual_blocks=8, filters=64, hole_fill="white", **kwargs):
        check_hole_fill(hole_fill)
        super().__init__(3, residual_blocks, filters, False, **kwargs)
        self.hole_fill = hole_fill
        if hole_fill == "pyramid":  # a fresh G2 outputs its fill: the last conv starts at 0
            self.decoder[-1].conv.kernel_initializer = keras.initializers.Zeros()

    def call(self, x, training=False):
        output = super().call(x, training=training)
        if self.hole_fill == "white":
            return output
        return ops.clip(ops.cast(x[..., :3], "float32") + 2.0 * output - 1.0, 0.0, 1.0)

    def output_activation(self, logits):
        return (ops.tanh(logits) + 1.0) / 2.0

    def get_config(self):
        return {**super().get_config(), "hole_fill": self.hole_fill}


@keras.saving.register_keras_serializable(package="edgeconnect_tf")
class Discriminator(keras.Model):
    """70x70 PatchGAN: [B, H, W, C] -> (scores [B, H/8 - 2, W/8 - 2, 1], 5 activations).

    Five 4x4 convs (strides 2, 2, 2, 1, 1; zero padding 1; no bias), LeakyReLU
    0.2 after the first four, spectral norm on all. Scores are sigmoid
    probabilities unless `use_sigmoid=False` (hinge loss). The activations
    (the last before the sigmoid) feed the feature-matching loss. A 256x256
    input gives a 30x30 map. D1 (C=2) has 2,762,752 parameters, D2 (C=3)
    2,763,776.
    """

    def __init__(self, filters=64, use_sigmoid=True, spectral_norm=True, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.use_sigmoid = use_sigmoid
        self.spectral_norm = spectral_norm
        f = filters
        spec = [(f, 2), (2 * f, 2), (4 * f, 2), (8 * f, 1), (1, 1)]
        self.convs = [
            PaddedConv2D(
                n,
                4,
                stride=s,
                padding=1,
                spectral_norm=spectral_norm,
                use_bias=not spectral_norm,
                name=f"conv{i + 1}",
            )
            for i, (n, s) in enumerate(spec)
        ]

    def call(self, x, training=False):
        features = []
        for i, layer in enumerate(self.convs):
            x = layer(x, training=training)
            if i < len(self.convs) - 1:
                x = ops.leaky_relu(x, negative_slope=0.2)
            features.append(x)
        logits = ops.cast(x, "float32")
        return (ops.sigmoid(logits) if self.use_sigmoid else logits), features

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "use_sigmoid": self.use_sigmoid,
            "spectral_norm": self.spectral_norm,
        }
