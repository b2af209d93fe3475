"""EdgeConnect's training losses as TensorFlow functions.

Every function takes tensors and returns a float32 scalar; inputs of any float dtype
(mixed precision) are cast to float32 first. Each loss is a plain mean over the tensors
it is given, i.e. over the per-replica batch: under ``tf.distribute`` the caller divides
by ``strategy.num_replicas_in_sync`` before taking gradients (gradients are summed
across replicas).

Adversarial losses (``kind``):

- ``"nsgan"``: binary cross-entropy on discriminator outputs *after* sigmoid.
- ``"lsgan"``: mean squared error on outputs after sigmoid.
- ``"hinge"``: on raw outputs; D real ``mean(relu(1 - D))``, D fake ``mean(relu(1 + D))``,
  G ``mean(-D)``.

G1 uses adversarial + feature matching (weight 10 in the reference); G2 uses adversarial
× 0.1 + masked L1 × 1 + perceptual × 0.1 + style × 250 (weights applied by the caller).

Perceptual and style losses run a frozen, truncated VGG19 (Keras' layers) with one of
two sets of weights:

- torchvision's ImageNet VGG19 state dict (``vgg19-dcbb9e9d.pth``, keys
  ``features.N.weight`` / ``features.N.bias``), read with torch and fed [0, 1] RGB
  with no normalization: the authors' network and feeding, so the paper's weights
  (content 0.1, style 250) give the authors' balance between the terms;
- Keras' VGG19 (``"imagenet"`` or a ``.h5`` file; Caffe-converted), fed through
  ``vgg19.preprocess_input`` (×255, RGB→BGR, minus the ImageNet means) as its weights
  expect. Its activations have other magnitudes (the style term scales with their
  square), so with the paper's weights the balance is not the authors'.

``nsgan`` matches PyTorch's ``BCELoss`` (each log term clamped at −100, gradient
(p − y) / max(p(1 − p), 1e-12)), so saturated discriminator outputs keep the
authors' losses and gradients.
"""

from __future__ import annotations

import os

import keras
import tensorflow as tf

GAN_LOSS_KINDS = ("nsgan", "lsgan", "hinge")

# PyTorch's BCELoss (the reference): each log term is clamped at -100 (a saturated
# sigmoid gives a finite loss), and its backward is (p - y) / max(p (1 - p), 1e-12), so a
# probability of 0 or 1 keeps a finite gradient (Keras' clipping at 1e-7 has none there).
BCE_LOG_MIN = -100.0
BCE_GRAD_EPSILON = 1e-12

# Reference layer name -> Keras VGG19 layer name (ReLU is fused into each conv layer).
PERCEPTUAL_LAYERS = {
    "relu1_1": "block1_conv1",
    "relu2_1": "block2_conv1",
    "relu3_1": "block3_conv1",
    "relu4_1": "block4_conv1",
    "relu5_1": "block5_conv1",
}
STYLE_LAYERS = {
    "relu2_2": "block2_conv2",
    "relu3_4": "block3_conv4",
    "relu4_4": "block4_conv4",
    "relu5_2": "block5_conv2",
}
VGG19_FEATURE_LAYERS = {**PERCEPTUAL_LAYERS, **STYLE_LAYERS}

# The authors' VGG19 weights (torchvision's ImageNet file; read with torch).
TORCHVISION_VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"

# ImageNet channel means in BGR order, as keras.applications.vgg19.preprocess_input uses.
_VGG_BGR_MEAN = (103.939, 116.779, 123.68)


def _f32(x):
    return tf.cast(x, tf.float32)


def _check_kind(kind):
    if kind not in GAN_LOSS_KINDS:
        raise ValueError(f"kind (gan loss) must be one of {GAN_LOSS_KINDS}, got {kind!r}")


def _bce(prob, target_is_real):
    """mean BCE of probabilities against a constant label, as torch's ``BCELoss``."""
    target = 1.0 if target_is_real else 0.0

    @tf.custom_gradient
    def terms(p):
        log = tf.math.log(p) if target_is_real else tf.math.log1p(-p)

        def grad(upstream):
            return upstream * (p - target) / tf.maximum(p * (1.0 - p), BCE_GRAD_EPSILON)

        return -tf.maximum(log, BCE_LOG_MIN), grad

    return tf.reduce_mean(terms(_f32(prob)))


def _adversarial(outputs, target_is_real, kind, for_discriminator):
    outputs = _f32(outputs)
    if kind == "nsgan":
        return _bce(outputs, target_is_real)
    if kind == "lsgan":
        target = 1.0 if target_is_real else 0.0
        return tf.reduce_mean(tf.square(outputs - target))
    # hinge
    if not for_discriminator:
        return tf.reduce_mean(-outputs)
    if target_is_real:
        return tf.reduce_mean(tf.nn.relu(1.0 - outputs))
    return tf.reduce_mean(tf.nn.relu(1.0 + outputs))


def discriminator_loss(real, fake, kind="nsgan"):
    """Discriminator loss ``(loss(real, 1) + loss(fake, 0)) / 2``.

    Args:
      real: D's output map on real inputs, e.g. ``[B, h, w, 1]``; after sigmoid for
        ``nsgan``/``lsgan``, raw for ``hinge``.
      fake: D's output map on generated inputs (same convention).
      kind: ``"nsgan"``, ``"lsgan"`` or ``"hinge"``.

    Returns:
      float32 scalar.
    """
    _check_kind(kind)
    real_loss = _adversarial(real, True, kind, for_discriminator=True)
    fake_loss = _adversarial(fake, False, kind, for_discriminator=True)
    return (real_loss + fake_loss) / 2.0


def generator_adversarial_loss(fake, kind="nsgan"):
    """Generator adversarial loss on D's output for generated inputs.

    ``nsgan``: BCE against the "real" label; ``lsgan``: ``mean((D - 1)^2)``;
    ``hinge``: ``mean(-D)``. Returns a float32 scalar.
    """
    _check_kind(kind)
    return _adversarial(fake, True, kind, for_discriminator=False)


def feature_matching_loss(fake_features, real_features):
    """Σ_i mean|fake_i − real_i| over D's intermediate activations (5 for EdgeConnect).

    The real side is held constant (``tf.stop_gradient``). Returns a float32 scalar.
    """
    fake_features = list(fake_features)
    real_features = list(real_features)
    if len(fake_features) != len(real_features) or not fake_features:
        raise ValueError(
            "fake_features and real_features must be non-empty lists of the same length, "
            f"got {len(fake_features)} and {len(real_features)}"
        )
    total = tf.constant(0.0, tf.float32)
    for fake, real in zip(fake_features, real_features, strict=True):
        total += tf.reduce_mean(tf.abs(_f32(fake) - tf.stop_gradient(_f32(real))))
    return total


def masked_l1_loss(pred, gt, mask):
    """``mean|pred − gt| / mean(mask)`` (the reference's G2 L1 term).

    Args:
      pred, gt: ``[B, H, W, C]`` images.
      mask: ``[B, H, W, 1]``, 1 = hole.

    An all-zero mask would divide by zero (the reference returns inf); here it gives 0.
    Returns a float32 scalar.
    """
    l1 = tf.reduce_mean(tf.abs(_f32(pred) - _f32(gt)))
    return tf.math.divide_no_nan(l1, tf.reduce_mean(_f32(mask)))


def gram_matrix(features):
    """Gram matrix ``fᵀf / (C·H·W)`` of ``[B, H, W, C]`` features, computed in float32.

    Returns ``[B, C, C]`` float32. Casting before the product keeps float16 features
    (mixed precision) from overflowing in the H·W-long sums.
    """
    f = _f32(features)
    shape = tf.shape(f)
    b, h, w, c = shape[0], shape[1], shape[2], shape[3]
    f = tf.reshape(f, tf.stack([b, h * w, c]))
    return tf.matmul(f, f, transpose_a=True) / tf.cast(h * w * c, tf.float32)


def vgg19_preprocess(images):
    """``[B, H, W, 3]`` RGB in [0, 1] → Keras VGG19 input (×255, BGR, minus ImageNet means).

    Same result as ``keras.applications.vgg19.preprocess_input(images * 255)``, in TF ops.
    """
    x = images * tf.cast(255.0, images.dtype)
    x = tf.reverse(x, axis=[-1])
    return x - tf.constant(_VGG_BGR_MEAN, dtype=x.dtype)


def _check_weights_arg(weights, arg_name):
    if weights is None or weights == "imagenet":
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"{arg_name} must be 'imagenet', None or a file path, got {weights!r}")
    path = os.fspath(weights)
    if not path.endswith((".h5", ".hdf5", ".pth")):
        raise ValueError(
            f"{arg_name}={path!r}: expected a Keras .h5 / .weights.h5 file or torchvision's "
            "VGG19 state dict (.pth)"
        )
    if not os.path.isfile(path):
        hint = f" (torchvision's VGG19: {TORCHVISION_VGG19_URL})" if path.endswith(".pth") else ""
        raise ValueError(f"{arg_name}={path!r}: file not found{hint}")


def _is_torchvision_file(weights):
    return isinstance(weights, (str, os.PathLike)) and os.fspath(weights).endswith(".pth")


def _torchvision_vgg19_indices():
    """Keras VGG19 conv layer name -> index N of torchvision's ``features.N`` (conv, ReLU, pool)."""
    indices, n = {}, 0
    for block, convs in enumerate((2, 2, 4, 4, 4), start=1):
        for i in range(1, convs + 1):
            indices[f"block{block}_conv{i}"] = n
            n += 2  # conv, ReLU
        n += 1  # max pool
    return indices


TORCHVISION_VGG19_INDICES = _torchvision_vgg19_indices()


def read_torchvision_vgg19(path, layers):
    """torchvision VGG19 state dict (.pth) -> {Keras layer name: [kernel, bias]} for `layers`.

    `layers`: {name: Keras Conv2D}; kernels (O, I, 3, 3) become (3, 3, I, O). Needs torch.
    Raises ValueError naming the file and the first missing or misshapen key.
    """
    import numpy as np

    from edgeconnect_tf.convert import ConvertError, load_state_dict

    try:
        state, _ = load_state_dict(path, "state_dict")
    except ConvertError as e:
        raise ValueError(f"vgg_weights: {e}") from None
    out = {}
    for name, layer in layers.items():
        key = f"features.{TORCHVISION_VGG19_INDICES[name]}"
        kh, kw, c_in, c_out = layer.kernel.shape
        for suffix, shape in (("weight", (c_out, c_in, kh, kw)), ("bias", (c_out,))):
            if f"{key}.{suffix}" not in state:
                raise ValueError(
                    f"vgg_weights={path!r}: no '{key}.{suffix}' (expected torchvision's VGG19 "
                    f"state dict, keys features.N.weight/bias); its keys start with "
                    f"{', '.join(repr(k) for k in list(state)[:3])}"
                )
            if state[f"{key}.{suffix}"].shape != shape:
                raise ValueError(
                    f"vgg_weights={path!r}: {key}.{suffix} has shape "
                    f"{state[f'{key}.{suffix}'].shape}, VGG19 needs {shape}"
                )
        kernel = np.transpose(state[f"{key}.weight"], (2, 3, 1, 0))
        out[name] = [kernel, state[f"{key}.bias"]]
    return out


class VGG19Features(keras.Model):
    """Frozen VGG19 trunk returning the activations EdgeConnect's losses use.

    Built from ``keras.applications.VGG19(include_top=False)`` and truncated after
    ``block5_conv2`` (nothing beyond it is computed).

    Args:
      weights: ``"imagenet"`` (Keras download), ``None`` (random init, for tests), a
        local ``.h5`` / ``.weights.h5`` file of ``VGG19(include_top=False)``, or
        torchvision's VGG19 state dict ``.pth`` (``vgg19-dcbb9e9d.pth``, the authors'
        VGG; read with torch and converted in memory).
      preprocess: apply Keras' VGG19 preprocessing (``vgg19_preprocess``) inside the
        model. ``False`` feeds the [0, 1] images as they are, as the reference did.
        ``None`` (default): ``False`` for a ``.pth`` file, ``True`` otherwise.

    Call: ``[B, H, W, 3]`` RGB in [0, 1] → dict keyed by the reference's names
    (``relu1_1`` … ``relu5_1``, ``relu2_2``, ``relu3_4``, ``relu4_4``, ``relu5_2``) of
    ``[B, H/2^k, W/2^k, C]`` post-ReLU activations.

    Example:
      >>> vgg = VGG19Features(weights=None)
      >>> vgg(tf.zeros([1, 64, 64, 3]))["relu5_1"].shape
      TensorShape([1, 4, 4, 512])
    """

    def __init__(self, weights="imagenet", preprocess=None, **kwargs):
        super().__init__(**kwargs)
        _check_weights_arg(weights, "vgg_weights")
        self.vgg_weights = None if weights is None else str(weights)
        torchvision = _is_torchvision_file(weights)
        self.preprocess = (not torchvision) if preprocess is None else bool(preprocess)
        try:
            full = keras.applications.VGG19(
                include_top=False,
                weights=None if torchvision else weights,
                input_shape=(None, None, 3),
            )
        except (ValueError, OSError) as err:
            raise ValueError(
                f"vgg_weights={weights!r}: could not load VGG19(include_top=False) weights: {err}"
            ) from err
        outputs = {
            name: full.get_layer(layer).output for name, layer in VGG19_FEATURE_LAYERS.items()
        }
        self.backbone = keras.Model(full.input, outputs, name="vgg19_trunk")
        if torchvision:
            convs = {
                layer.name: layer
                for layer in self.backbone.layers
                if layer.name in TORCHVISION_VGG19_INDICES
            }
            for name, values in read_torchvision_vgg19(self.vgg_weights, convs).items():
                convs[name].set_weights(values)
        self.backbone.trainable = False
        self.trainable = False

    def call(self, images):
        x = vgg19_preprocess(images) if self.preprocess else images
        return self.backbone(x, training=False)

    def get_config(self):
        config = super().get_config()
        config.update({"weights": self.vgg_weights, "preprocess": self.preprocess})
        return config


class PerceptualStyleLoss:
    """Perceptual and style losses of G2 from one VGG19 pass.

    - perceptual = Σ over relu1_1 … relu5_1 of ``mean|φ(pred) − φ(gt)|``, on the
      unmasked images (reference: ``perceptual_loss(outputs, images)``);
    - style = Σ over relu2_2, relu3_4, relu4_4, relu5_2 of
      ``mean|Gram(φ(pred·m)) − Gram(φ(gt·m))|`` (reference:
      ``style_loss(outputs * masks, images * masks)``); without a mask, on the
      unmasked images.

    The VGG runs twice: on [pred, pred·m] and, without gradient, on [gt, gt·m].
    This is a plain Python object, not a Keras layer, so a model holding it does not
    save the VGG weights in its checkpoints; create it inside the strategy scope.

    Args:
      weights, preprocess: as for ``VGG19Features``.
      features: an existing ``VGG19Features`` to share instead of building one.

    Call: ``loss(pred, gt, mask=None)`` with ``[B, H, W, 3]`` images in [0, 1] and a
    ``[B, H, W, 1]`` mask (1 = hole) → ``(perceptual, style)`` float32 scalars.
    """

    def __init__(self, weights="imagenet", preprocess=None, features=None):
        self.features = features if features is not None else VGG19Features(weights, preprocess)

    def __call__(self, pred, gt, mask=None):
        pred, gt = _f32(pred), _f32(gt)
        preds, gts = [pred], [gt]
        if mask is not None:
            mask = _f32(mask)
            preds.append(pred * mask)
            gts.append(gt * mask)
        # Two passes, so that the gradient runs back through the VGG for the
        # predictions only (one batch of four would backpropagate through all).
        pred_feats = self.features(tf.concat(preds, axis=0))
        gt_feats = self.features(tf.stop_gradient(tf.concat(gts, axis=0)))
        parts = len(preds)

        def first_and_last(feats, name):
            halves = tf.split(_f32(feats[name]), parts, axis=0)
            return halves[0], halves[-1]

        perceptual = tf.constant(0.0, tf.float32)
        for name in PERCEPTUAL_LAYERS:
            p, g = first_and_last(pred_feats, name)[0], first_and_last(gt_feats, name)[0]
            perceptual += tf.reduce_mean(tf.abs(p - g))

        style = tf.constant(0.0, tf.float32)
        for name in STYLE_LAYERS:
            p, g = first_and_last(pred_feats, name)[1], first_and_last(gt_feats, name)[1]
            style += tf.reduce_mean(tf.abs(gram_matrix(p) - gram_matrix(g)))
        return perceptual, style
