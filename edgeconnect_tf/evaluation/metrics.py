"""Image-quality and edge metrics: numpy for evaluation, TensorFlow for training logs.

Evaluation (numpy, one image pair at a time), as in the authors' ``scripts/metrics.py``:
PSNR (data range 1), SSIM (data range 1, uniform 51×51 window, sample covariance,
K1 = 0.01, K2 = 0.03, i.e. ``skimage.metrics.structural_similarity(win_size=51,
data_range=1)``) and MAE ``Σ|gt − pred| / Σ(gt + pred)``, all on grayscale copies
(``0.2125 R + 0.7154 G + 0.0721 B``, skimage's ``rgb2gray``); plus RGB PSNR and RGB SSIM
(per-channel SSIM averaged, skimage's ``channel_axis`` convention). ``image_metrics``
returns all five.

Training logs (TensorFlow, over a whole batch, as the reference logs them): ``psnr_tf``,
``mae_tf`` and ``edge_precision_recall_tf``.

FID: ``InceptionFeatures`` (Keras InceptionV3 pool features, 2048-d), ``frechet_distance``
and ``fid_from_features``. The authors' FID used torchvision's Inception weights; with
Keras' ImageNet InceptionV3 the numbers are not comparable to theirs either.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from edgeconnect_tf.data.image_ops import GRAY_WEIGHTS

SSIM_WIN_SIZE = 51
EDGE_THRESHOLD = 0.5
_EDGE_EPS = 1e-8  # the reference's denominator fuzz for precision / recall
PSNR_MAX_DB = 100.0  # psnr_tf's cap for identical images (mse floored at 1e-10 · max_val²)
INCEPTION_SIZE = 299


# --------------------------------------------------------------------------- numpy


def _as_float_image(image, name):
    """uint8 → [0, 1] float64; uint16 → [0, 1]; floats are taken as already in [0, 1]."""
    arr = np.asarray(image)
    if arr.dtype == np.uint8:
        return arr.astype(np.float64) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float64) / 65535.0
    if not np.issubdtype(arr.dtype, np.floating) and arr.dtype != np.bool_:
        raise ValueError(f"{name} must be a uint8, uint16 or float array, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _check_pair(gt, pred):
    gt = _as_float_image(gt, "gt")
    pred = _as_float_image(pred, "pred")
    if gt.shape != pred.shape:
        raise ValueError(f"gt and pred must have the same shape, got {gt.shape} and {pred.shape}")
    return gt, pred


def rgb_to_gray(image):
    """``[..., 3]`` RGB → ``[...]`` gray with weights (0.2125, 0.7154, 0.0721), float64."""
    arr = _as_float_image(image, "image")
    if arr.shape[-1] != 3:
        raise ValueError(f"image must have 3 channels in its last axis, got shape {arr.shape}")
    return arr @ np.asarray(GRAY_WEIGHTS, dtype=np.float64)


def psnr(gt, pred, data_range=1.0):
    """Peak signal-to-noise ratio in dB, ``10·log10(data_range² / mse)``; inf if equal."""
    gt, pred = _check_pair(gt, pred)
    mse = np.mean((gt - pred) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def _box_mean_valid(x, size):
    """Mean over every ``size × size`` window fully inside the 2-D array ``x``."""
    c = np.cumsum(np.pad(x, ((1, 0), (0, 0))), axis=0)
    x = c[size:] - c[:-size]
    c = np.cumsum(np.pad(x, ((0, 0), (1, 0))), axis=1)
    x = c[:, size:] - c[:, :-size]
    return x / float(size * size)


def _ssim_2d(x, y, data_range, win_size, k1, k2):
    n = win_size * win_size
    cov_norm = n / (n - 1.0)  # sample covariance, as skimage's use_sample_covariance=True
    ux, uy = _box_mean_valid(x, win_size), _box_mean_valid(y, win_size)
    uxx, uyy = _box_mean_valid(x * x, win_size), _box_mean_valid(y * y, win_size)
    uxy = _box_mean_valid(x * y, win_size)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(np.mean(s))


def ssim(gt, pred, data_range=1.0, win_size=SSIM_WIN_SIZE, channel_axis=None, k1=0.01, k2=0.03):
    """Mean SSIM with a uniform ``win_size²`` window, averaged over the windows that fit.

    Matches ``skimage.metrics.structural_similarity(gt, pred, win_size=win_size,
    data_range=data_range, gaussian_weights=False, use_sample_covariance=True,
    channel_axis=channel_axis)``: skimage filters the whole image and then drops a
    ``(win_size − 1) / 2`` border, which leaves exactly the windows computed here.

    Args:
      gt, pred: ``[H, W]`` arrays, or ``[H, W, C]`` with ``channel_axis=-1`` (the SSIM of
        each channel, averaged).
      win_size: odd window side, at most ``min(H, W)``.
    """
    gt, pred = _check_pair(gt, pred)
    if win_size < 3 or win_size % 2 == 0:
        raise ValueError(f"win_size must be an odd integer ≥ 3, got {win_size}")
    if channel_axis is not None:
        gt = np.moveaxis(gt, channel_axis, 0)
        pred = np.moveaxis(pred, channel_axis, 0)
        if gt.ndim != 3:
            raise ValueError(f"with channel_axis, images must be 3-D, got shape {gt.shape}")
        return float(
            np.mean(
                [
                    ssim(g, p, data_range, win_size, None, k1, k2)
                    for g, p in zip(gt, pred, strict=True)
                ]
            )
        )
    if gt.ndim != 2:
        raise ValueError(
            f"images must be 2-D (or pass channel_axis for multichannel), got shape {gt.shape}"
        )
    if min(gt.shape) < win_size:
        raise ValueError(
            f"image of shape {gt.shape} is smaller than the SSIM window ({win_size}×{win_size})"
        )
    return _ssim_2d(gt, pred, float(data_range), win_size, k1, k2)


def mae(gt, pred):
    """The authors' relative mean absolute error ``Σ|gt − pred| / Σ(gt + pred)``.

    Two all-black images give 0 (instead of 0 / 0).
    """
    gt, pred = _check_pair(gt, pred)
    denom = np.sum(gt + pred)
    if denom == 0:
        return 0.0
    return float(np.sum(np.abs(gt - pred)) / denom)


def image_metrics(gt, pred):
    """All evaluation metrics for one ``[H, W, 3]`` image pair (uint8 or float in [0, 1]).

    Returns ``{"psnr", "ssim", "mae"}`` on the grayscale copies (the paper's numbers) and
    ``{"psnr_rgb", "ssim_rgb"}`` on the RGB images.
    """
    gt, pred = _check_pair(gt, pred)
    if gt.ndim != 3 or gt.shape[-1] != 3:
        raise ValueError(f"images must be [H, W, 3] RGB, got shape {gt.shape}")
    gt_gray, pred_gray = rgb_to_gray(gt), rgb_to_gray(pred)
    return {
        "psnr": psnr(gt_gray, pred_gray),
        "ssim": ssim(gt_gray, pred_gray),
        "mae": mae(gt_gray, pred_gray),
        "psnr_rgb": psnr(gt, pred),
        "ssim_rgb": ssim(gt, pred, channel_axis=-1),
    }


def edge_precision_recall(edges, pred, mask=None, threshold=EDGE_THRESHOLD):
    """Edge precision and recall over all pixels given (a whole batch counts as one).

    As the reference's ``EdgeAccuracy``: labels ``edges > threshold``, predictions
    ``pred > threshold`` (after multiplying both by ``mask`` when given, as the reference
    calls it with ``edges * masks, outputs * masks``); precision = TP / (predicted + 1e-8),
    recall = TP / (actual + 1e-8). When there are neither actual nor predicted edges,
    both are 1. Returns ``(precision, recall)`` as floats.
    """
    edges = np.asarray(edges, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if edges.shape != pred.shape:
        raise ValueError(
            f"edges and pred must have the same shape, got {edges.shape} and {pred.shape}"
        )
    if mask is not None:
        mask = np.asarray(mask, dtype=np.float64)
        edges, pred = edges * mask, pred * mask
    labels = edges > threshold
    selected = pred > threshold
    n_relevant, n_selected = labels.sum(), selected.sum()
    if n_relevant == 0 and n_selected == 0:
        return 1.0, 1.0
    tp = np.sum(labels & selected)
    return float(tp / (n_selected + _EDGE_EPS)), float(tp / (n_relevant + _EDGE_EPS))


# ---------------------------------------------------------------------- TensorFlow


def psnr_tf(gt, pred, max_val=1.0):
    """PSNR in dB of one MSE over the whole batch, float32 scalar.

    The reference logs ``PSNR(255)`` of the batch after ``(x * 255).int()``; that equals
    this with ``max_val=1`` up to its truncation to integers. Identical inputs give
    ``PSNR_MAX_DB`` (100 dB) rather than the reference's 0.
    """
    gt = tf.cast(gt, tf.float32)
    pred = tf.cast(pred, tf.float32)
    mse = tf.reduce_mean(tf.square(gt - pred))
    peak = tf.constant(float(max_val) ** 2, tf.float32)
    mse = tf.maximum(mse, peak * 10.0 ** (-PSNR_MAX_DB / 10.0))
    return 10.0 * tf.math.log(peak / mse) / tf.math.log(10.0)


def mae_tf(gt, pred):
    """The reference's training-log MAE ``Σ|gt − pred| / Σ gt`` over the batch.

    (The evaluation MAE, ``mae``, divides by ``Σ(gt + pred)`` instead.) An all-zero
    ``gt`` gives 0. Float32 scalar.
    """
    gt = tf.cast(gt, tf.float32)
    pred = tf.cast(pred, tf.float32)
    return tf.math.divide_no_nan(tf.reduce_sum(tf.abs(gt - pred)), tf.reduce_sum(gt))


def edge_precision_recall_tf(edges, pred, mask=None, threshold=EDGE_THRESHOLD):
    """TensorFlow ``edge_precision_recall``: ``(precision, recall)`` float32 scalars."""
    edges = tf.cast(edges, tf.float32)
    pred = tf.cast(pred, tf.float32)
    if mask is not None:
        mask = tf.cast(mask, tf.float32)
        edges, pred = edges * mask, pred * mask
    labels = tf.cast(edges > threshold, tf.float32)
    selected = tf.cast(pred > threshold, tf.float32)
    n_relevant = tf.reduce_sum(labels)
    n_selected = tf.reduce_sum(selected)
    tp = tf.reduce_sum(labels * selected)
    both_empty = tf.logical_and(tf.equal(n_relevant, 0.0), tf.equal(n_selected, 0.0))
    one = tf.constant(1.0, tf.float32)
    precision = tf.where(both_empty, one, tp / (n_selected + _EDGE_EPS))
    recall = tf.where(both_empty, one, tp / (n_relevant + _EDGE_EPS))
    return precision, recall


# ----------------------------------------------------------------------------- FID


class InceptionFeatures(keras.Model):
    """Keras InceptionV3 pool features (2048-d) for FID.

    Args:
      weights: a local ``.h5`` / ``.weights.h5`` file of
        ``InceptionV3(include_top=False)``, ``"imagenet"`` (Keras download) or ``None``
        (random weights: tests only; FID from it means nothing). Required, so that
        random weights are never used by accident.

    Call: ``[B, H, W, 3]`` RGB in [0, 1] → ``[B, 2048]`` float32. Inputs are resized to
    299×299 (bilinear) and scaled to [-1, 1] (InceptionV3's ``preprocess_input``) inside
    the model.

    Example:
      >>> feats = InceptionFeatures(weights=None)
      >>> feats(tf.zeros([2, 64, 64, 3])).shape
      TensorShape([2, 2048])
    """

    def __init__(self, weights, **kwargs):
        super().__init__(**kwargs)
        if weights is not None and weights != "imagenet":
            if not isinstance(weights, (str, os.PathLike)):
                raise ValueError(
                    f"inception weights must be a file path, 'imagenet' or None, got {weights!r}"
                )
            if not os.path.isfile(weights):
                raise ValueError(f"inception weights={os.fspath(weights)!r}: file not found")
        self.inception_weights = None if weights is None else str(weights)
        try:
            self.inception = keras.applications.InceptionV3(
                include_top=False,
                weights=weights,
                pooling="avg",
                input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3),
            )
        except (ValueError, OSError) as err:
            raise ValueError(
                f"inception weights={weights!r}: could not load InceptionV3(include_top=False) "
                f"weights: {err}"
            ) from err
        self.inception.trainable = False

    @staticmethod
    def preprocess(images):
        """``[B, H, W, 3]`` in [0, 1] → ``[B, 299, 299, 3]`` in [-1, 1], float32."""
        x = tf.image.resize(
            tf.cast(images, tf.float32), (INCEPTION_SIZE, INCEPTION_SIZE), method="bilinear"
        )
        return x * 2.0 - 1.0

    def call(self, images):
        feats = self.inception(self.preprocess(images), training=False)
        return tf.cast(feats, tf.float32)

    def extract(self, images, batch_size=32):
        """``[N, H, W, 3]`` numpy images (uint8, or float in [0, 1]) → ``[N, 2048]`` float64."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be [N, H, W, 3], got shape {images.shape}")
        out = []
        for start in range(0, len(images), batch_size):
            batch = _as_float_image(images[start : start + batch_size], "images")
            out.append(self(tf.constant(batch, tf.float32)).numpy().astype(np.float64))
        return np.concatenate(out, axis=0) if out else np.zeros((0, 2048))

    def get_config(self):
        config = super().get_config()
        config.update({"weights": self.inception_weights})
        return config


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """Fréchet distance between Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    ``‖mu1 − mu2‖² + tr(sigma1) + tr(sigma2) − 2·tr(sqrtm(sigma1·sigma2))``. As in the
    usual FID code: if ``sqrtm`` of the product is not finite (singular covariances),
    ``eps·I`` is added to both covariances; a negligible imaginary part from rounding
    is dropped, a large one is an error.
    """
    from scipy import linalg

    mu1, mu2 = (
        np.atleast_1d(np.asarray(mu1, np.float64)),
        np.atleast_1d(np.asarray(mu2, np.float64)),
    )
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            "expected mu1, mu2 of shape (d,) and sigma1, sigma2 of shape (d, d), got "
            f"{mu1.shape}, {mu2.shape}, {sigma1.shape}, {sigma2.shape}"
        )
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.all(np.isfinite(covmean)):
        offset = np.eye(d) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(
                f"sqrtm(sigma1 @ sigma2) has a large imaginary part "
                f"({np.max(np.abs(covmean.imag)):.3g}); covariances are not valid"
            )
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid_from_features(features1, features2):
    """FID between two ``[N, D]`` feature sets (means and sample covariances)."""
    f1 = np.asarray(features1, np.float64)
    f2 = np.asarray(features2, np.float64)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        raise ValueError(f"features must be [N, D] with the same D, got {f1.shape} and {f2.shape}")
    if len(f1) < 2 or len(f2) < 2:
        raise ValueError(f"need at least 2 feature vectors per set, got {len(f1)} and {len(f2)}")
    return frechet_distance(
        f1.mean(axis=0), np.cov(f1, rowvar=False), f2.mean(axis=0), np.cov(f2, rowvar=False)
    )
