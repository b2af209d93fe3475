"""Metrics against skimage.metrics, numpy and closed forms."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from skimage import data
from skimage.color import rgb2gray
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from edgeconnect_tf.evaluation import metrics

RNG = np.random.default_rng(2)


def _photo_pair(name="astronaut", step=8, noise=0.08):
    """A real photo downsampled (64×64 for astronaut) and a degraded copy, float in [0, 1]."""
    gt = getattr(data, name)()[::step, ::step].astype(np.float64) / 255.0
    pred = gt.copy()
    pred[10:40, 12:50] = 0.5 * pred[10:40, 12:50] + 0.25  # a washed-out "inpainted" block
    pred = np.clip(pred + RNG.normal(scale=noise, size=gt.shape), 0.0, 1.0)
    return gt, pred


def _sk_ssim(gt, pred, **kw):
    return structural_similarity(
        gt,
        pred,
        win_size=51,
        data_range=1.0,
        gaussian_weights=False,
        use_sample_covariance=True,
        **kw,
    )


# ------------------------------------------------------------------- numpy


def test_rgb_to_gray_matches_skimage():
    gt, _ = _photo_pair()
    np.testing.assert_allclose(metrics.rgb_to_gray(gt), rgb2gray(gt), atol=1e-12)
    img = data.chelsea()[::6, ::6]
    np.testing.assert_allclose(metrics.rgb_to_gray(img), rgb2gray(img), atol=1e-6)


@pytest.mark.parametrize("name, step", [("astronaut", 8), ("coffee", 6)])
def test_psnr_matches_skimage(name, step):
    gt, pred = _photo_pair(name, step)
    g_gt, g_pred = rgb2gray(gt), rgb2gray(pred)
    want = peak_signal_noise_ratio(g_gt, g_pred, data_range=1.0)
    assert metrics.psnr(g_gt, g_pred) == pytest.approx(want, rel=1e-12)
    want_rgb = peak_signal_noise_ratio(gt, pred, data_range=1.0)
    assert metrics.psnr(gt, pred) == pytest.approx(want_rgb, rel=1e-12)
    assert metrics.psnr(gt, gt) == float("inf")


@pytest.mark.parametrize("name, step", [("astronaut", 8), ("coffee", 6), ("chelsea", 5)])
def test_ssim_matches_skimage(name, step):
    gt, pred = _photo_pair(name, step)  # 64×64, 67×100, 61×91
    g_gt, g_pred = rgb2gray(gt), rgb2gray(pred)
    got = metrics.ssim(g_gt, g_pred)
    assert got == pytest.approx(_sk_ssim(g_gt, g_pred), abs=1e-10)
    assert 0.0 < got < 0.99
    got_rgb = metrics.ssim(gt, pred, channel_axis=-1)
    assert got_rgb == pytest.approx(_sk_ssim(gt, pred, channel_axis=-1), abs=1e-10)


def test_ssim_random_images_and_other_window():
    a = RNG.uniform(size=(70, 55))
    b = np.clip(a + RNG.normal(scale=0.2, size=a.shape), 0, 1)
    assert metrics.ssim(a, b) == pytest.approx(_sk_ssim(a, b), abs=1e-10)
    want = structural_similarity(a, b, win_size=7, data_range=1.0)
    assert metrics.ssim(a, b, win_size=7) == pytest.approx(want, abs=1e-10)
    assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-12)


def test_ssim_bad_inputs():
    with pytest.raises(ValueError, match="smaller than the SSIM window"):
        metrics.ssim(np.zeros((50, 80)), np.zeros((50, 80)))
    with pytest.raises(ValueError, match="odd"):
        metrics.ssim(np.zeros((64, 64)), np.zeros((64, 64)), win_size=50)
    with pytest.raises(ValueError, match="same shape"):
        metrics.ssim(np.zeros((64, 64)), np.zeros((64, 65)))
    with pytest.raises(ValueError, match="channel_axis"):
        metrics.ssim(np.zeros((64, 64, 3)), np.zeros((64, 64, 3)))


def test_mae_vs_numpy():
    gt, pred = _photo_pair()
    g_gt, g_pred = rgb2gray(gt), rgb2gray(pred)
    want = np.sum(np.abs(g_gt - g_pred)) / np.sum(g_gt + g_pred)
    assert metrics.mae(g_gt, g_pred) == pytest.approx(want, rel=1e-12)
    assert metrics.mae(np.zeros((4, 4)), np.zeros((4, 4))) == 0.0
    assert metrics.mae(np.ones((4, 4)), np.zeros((4, 4))) == pytest.approx(1.0)


def test_image_metrics_uint8_like_authors_script():
    gt, pred = _photo_pair()
    gt8, pred8 = np.round(gt * 255).astype(np.uint8), np.round(pred * 255).astype(np.uint8)
    got = metrics.image_metrics(gt8, pred8)
    # The authors' script: imread / 255 → rgb2gray → skimage metrics on gray.
    g_gt, g_pred = rgb2gray(gt8 / 255.0), rgb2gray(pred8 / 255.0)
    assert got["psnr"] == pytest.approx(peak_signal_noise_ratio(g_gt, g_pred, data_range=1))
    assert got["ssim"] == pytest.approx(_sk_ssim(g_gt, g_pred), abs=1e-10)
    mae = np.sum(np.abs(g_gt - g_pred)) / np.sum(g_gt + g_pred)
    assert got["mae"] == pytest.approx(mae)
    rgb_psnr = peak_signal_noise_ratio(gt8 / 255.0, pred8 / 255.0, data_range=1)
    assert got["psnr_rgb"] == pytest.approx(rgb_psnr)
    assert got["ssim_rgb"] == pytest.approx(
        _sk_ssim(gt8 / 255.0, pred8 / 255.0, channel_axis=-1), abs=1e-10
    )
    with pytest.raises(ValueError, match="RGB"):
        metrics.image_metrics(g_gt, g_pred)


# ------------------------------------------------------------ edge precision/recall

EDGES = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]], np.float32)  # 4 actual
PRED = np.array([[0.9, 0.2, 0.7, 0], [0.6, 0.5, 0, 0], [0, 0, 0, 0]], np.float32)  # 3 selected
# TP: (0,0), (1,0) → 2; (0,2) is a false positive; 0.5 is not > 0.5.


def test_edge_precision_recall_hand_built():
    p, r = metrics.edge_precision_recall(EDGES, PRED)
    assert p == pytest.approx(2 / 3) and r == pytest.approx(2 / 4)
    assert metrics.edge_precision_recall(np.zeros((3, 4)), np.zeros((3, 4))) == (1.0, 1.0)
    # No actual edges but some predicted → 0, 0 (as the reference).
    p, r = metrics.edge_precision_recall(np.zeros((3, 4)), PRED)
    assert p == 0.0 and r == 0.0
    # Mask: only the left column counts → actual 2, selected 2, TP 2.
    mask = np.zeros((3, 4), np.float32)
    mask[:, 0] = 1
    p, r = metrics.edge_precision_recall(EDGES, PRED, mask=mask)
    assert p == pytest.approx(1.0) and r == pytest.approx(1.0)


def test_edge_precision_recall_tf_matches_numpy():
    edges = (RNG.uniform(size=(2, 16, 16, 1)) > 0.7).astype(np.float32)
    pred = RNG.uniform(size=(2, 16, 16, 1)).astype(np.float32)
    mask = (RNG.uniform(size=(2, 16, 16, 1)) > 0.5).astype(np.float32)
    for m in (None, mask):
        p, r = metrics.edge_precision_recall_tf(edges, pred, mask=m)
        assert p.dtype == tf.float32
        want = metrics.edge_precision_recall(edges, pred, mask=m)
        np.testing.assert_allclose([p.numpy(), r.numpy()], want, rtol=1e-6)
    p, r = metrics.edge_precision_recall_tf(EDGES, PRED)
    np.testing.assert_allclose([p.numpy(), r.numpy()], [2 / 3, 1 / 2], rtol=1e-6)
    p, r = tf.function(metrics.edge_precision_recall_tf)(
        tf.zeros([1, 4, 4, 1]), tf.zeros([1, 4, 4, 1])
    )
    assert p.numpy() == 1.0 and r.numpy() == 1.0


# -------------------------------------------------------------- TF training logs


def test_psnr_tf_batch_and_identical():
    gt = RNG.uniform(size=(3, 16, 16, 3)).astype(np.float32)
    pred = np.clip(gt + RNG.normal(scale=0.05, size=gt.shape), 0, 1).astype(np.float32)
    want = peak_signal_noise_ratio(gt.astype(np.float64), pred.astype(np.float64), data_range=1.0)
    got = metrics.psnr_tf(gt, pred)
    assert got.dtype == tf.float32
    assert got.numpy() == pytest.approx(want, rel=1e-5)
    # The reference's 0..255 scale gives the same number.
    assert metrics.psnr_tf(gt * 255, pred * 255, max_val=255.0).numpy() == pytest.approx(
        want, rel=1e-5
    )
    assert metrics.psnr_tf(gt, gt).numpy() == pytest.approx(metrics.PSNR_MAX_DB, rel=1e-5)
    half = tf.constant(gt, tf.float16)
    assert metrics.psnr_tf(half, half).dtype == tf.float32


def test_mae_tf_vs_numpy():
    gt = RNG.uniform(size=(2, 8, 8, 3)).astype(np.float32)
    pred = RNG.uniform(size=(2, 8, 8, 3)).astype(np.float32)
    want = np.sum(np.abs(gt.astype(np.float64) - pred)) / np.sum(gt)
    got = metrics.mae_tf(gt, pred)
    assert got.dtype == tf.float32 and got.numpy() == pytest.approx(want, rel=1e-5)
    assert metrics.mae_tf(tf.zeros([1, 2, 2, 3]), tf.ones([1, 2, 2, 3])).numpy() == 0.0


# ----------------------------------------------------------------------- FID


def test_frechet_distance_diagonal_closed_form():
    d = 6
    mu1, mu2 = RNG.normal(size=d), RNG.normal(size=d)
    s1, s2 = RNG.uniform(0.1, 2.0, size=d), RNG.uniform(0.1, 2.0, size=d)
    want = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    got = metrics.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(want, rel=1e-9)
    assert metrics.frechet_distance(mu1, np.diag(s1), mu1, np.diag(s1)) == pytest.approx(
        0, abs=1e-9
    )


def test_frechet_distance_full_covariances_vs_eigh():
    d = 5
    a, b = RNG.normal(size=(d, d)), RNG.normal(size=(d, d))
    s1, s2 = a @ a.T + 0.1 * np.eye(d), b @ b.T + 0.1 * np.eye(d)
    mu1, mu2 = RNG.normal(size=d), RNG.normal(size=d)
    # tr sqrt(S1 S2) = tr sqrt(S1^½ S2 S1^½), a symmetric PSD matrix.
    w, v = np.linalg.eigh(s1)
    r1 = v @ np.diag(np.sqrt(w)) @ v.T
    tr_covmean = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ s2 @ r1), 0, None)))
    want = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_covmean
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-8)
    with pytest.raises(ValueError, match="shape"):
        metrics.frechet_distance(mu1, s1, mu2[:3], s2)


def test_fid_from_features_singular_covariances():
    # 4 samples in 10-D: rank-deficient covariances, as with few images.
    f1 = RNG.normal(size=(4, 10))
    f2 = RNG.normal(loc=0.5, size=(4, 10))
    got = metrics.fid_from_features(f1, f2)
    want = metrics.frechet_distance(
        f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False)
    )
    assert np.isfinite(got) and got == pytest.approx(want) and got > 0
    assert metrics.fid_from_features(f1, f1) == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError, match="at least 2"):
        metrics.fid_from_features(f1[:1], f2)
    with pytest.raises(ValueError, match="same D"):
        metrics.fid_from_features(f1, f2[:, :5])


@pytest.mark.slow
def test_inception_features_preprocessing_and_weights_file(tmp_path):
    feats = metrics.InceptionFeatures(weights=None)
    x = RNG.uniform(size=(2, 48, 40, 3)).astype(np.float32)
    out = feats(x)
    assert out.dtype == tf.float32 and tuple(out.shape) == (2, 2048)

    # Independently: bilinear resize to 299², Keras' InceptionV3 preprocessing of 0..255.
    resized = tf.image.resize(x * 255.0, (299, 299), method="bilinear").numpy()
    pre = keras.applications.inception_v3.preprocess_input(resized)
    np.testing.assert_allclose(feats.preprocess(x).numpy(), pre, atol=1e-5)
    np.testing.assert_allclose(out, feats.inception(pre), rtol=1e-4, atol=1e-5)

    # Weights from a local file give the same features.
    path = tmp_path / "inception.weights.h5"
    feats.inception.save_weights(path)
    loaded = metrics.InceptionFeatures(weights=str(path))
    batch = np.round(x * 255).astype(np.uint8)
    np.testing.assert_allclose(
        loaded.extract(batch, batch_size=1), feats(batch / 255.0).numpy(), rtol=1e-4, atol=1e-5
    )
    with pytest.raises(ValueError, match="missing.weights.h5"):
        metrics.InceptionFeatures(weights=str(tmp_path / "missing.weights.h5"))
