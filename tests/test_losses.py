"""Losses against independent numpy computations of the same formulas."""

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import needs_bf16_kernels

from edgeconnect_tf.training import losses

RNG = np.random.default_rng(1)


def _np_bce(p, real):
    """torch's BCELoss: each log term clamped at -100."""
    p = p.astype(np.float64)
    with np.errstate(divide="ignore"):
        return -np.mean(np.maximum(np.log(p) if real else np.log1p(-p), -100.0))


def _np_gram(f):
    b, h, w, c = f.shape
    f = f.astype(np.float64).reshape(b, h * w, c)
    return np.einsum("bnc,bnd->bcd", f, f) / (h * w * c)


@pytest.fixture(scope="module")
def vgg():
    return losses.VGG19Features(weights=None)


# ------------------------------------------------------------------ adversarial


@pytest.mark.parametrize(
    "kind, d_expected, g_expected",
    [
        ("nsgan", (-np.log(0.8) - np.log(1 - 0.3)) / 2, -np.log(0.3)),
        ("lsgan", ((0.8 - 1) ** 2 + 0.3**2) / 2, (0.3 - 1) ** 2),
        ("hinge", (max(0, 1 - 0.8) + max(0, 1 + 0.3)) / 2, -0.3),
    ],
)
def test_adversarial_known_values(kind, d_expected, g_expected):
    real, fake = tf.fill([1, 2, 2, 1], 0.8), tf.fill([1, 2, 2, 1], 0.3)
    d = losses.discriminator_loss(real, fake, kind)
    g = losses.generator_adversarial_loss(fake, kind)
    assert d.dtype == tf.float32 and g.dtype == tf.float32 and d.shape == ()
    np.testing.assert_allclose(d.numpy(), d_expected, rtol=1e-6)
    np.testing.assert_allclose(g.numpy(), g_expected, rtol=1e-6)


def test_hinge_known_values_outside_margin():
    # Raw hinge outputs: real 2 (past the margin: 0), fake -3 (past the margin: 0).
    real = tf.constant([[2.0, 0.5]])
    fake = tf.constant([[-3.0, 0.25]])
    d = losses.discriminator_loss(real, fake, "hinge")
    np.testing.assert_allclose(d.numpy(), ((0 + 0.5) / 2 + (0 + 1.25) / 2) / 2, rtol=1e-6)
    g = losses.generator_adversarial_loss(fake, "hinge")
    np.testing.assert_allclose(g.numpy(), (3.0 - 0.25) / 2, rtol=1e-6)


@pytest.mark.parametrize("kind", losses.GAN_LOSS_KINDS)
def test_adversarial_random_vs_numpy(kind):
    if kind == "hinge":
        real = RNG.normal(size=(3, 6, 6, 1)).astype(np.float32)
        fake = RNG.normal(size=(3, 6, 6, 1)).astype(np.float32)
        d_np = (np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake))) / 2
        g_np = np.mean(-fake)
    else:
        real = RNG.uniform(size=(3, 6, 6, 1)).astype(np.float32)
        fake = RNG.uniform(size=(3, 6, 6, 1)).astype(np.float32)
        if kind == "nsgan":
            d_np = (_np_bce(real, True) + _np_bce(fake, False)) / 2
            g_np = _np_bce(fake, True)
        else:
            d_np = (np.mean((real - 1.0) ** 2) + np.mean(fake**2)) / 2
            g_np = np.mean((fake - 1.0) ** 2)
    np.testing.assert_allclose(losses.discriminator_loss(real, fake, kind), d_np, rtol=1e-5)
    np.testing.assert_allclose(losses.generator_adversarial_loss(fake, kind), g_np, rtol=1e-5)


def test_nsgan_saturated_outputs_are_finite():
    real = tf.Variable([[0.0, 1.0]])
    fake = tf.Variable([[1.0, 0.0]])
    with tf.GradientTape() as tape:
        d = losses.discriminator_loss(real, fake, "nsgan")
        g = losses.generator_adversarial_loss(fake, "nsgan")
    grads = tape.gradient([d, g], [real, fake])
    assert np.isfinite(d.numpy()) and np.isfinite(g.numpy())
    np.testing.assert_allclose(g.numpy(), _np_bce(fake.numpy(), True), rtol=1e-6)
    np.testing.assert_allclose(g.numpy(), 100.0 / 2, rtol=1e-6)  # log(0) clamped at -100
    np.testing.assert_allclose(d.numpy(), (100.0 / 2 + 100.0 / 2) / 2, rtol=1e-6)
    assert all(np.all(np.isfinite(gr.numpy())) for gr in grads)


def test_adversarial_float16_inputs_give_float32():
    fake = tf.constant([[0.25, 0.75]], tf.float16)
    g = losses.generator_adversarial_loss(fake, "nsgan")
    assert g.dtype == tf.float32
    np.testing.assert_allclose(g.numpy(), -(np.log(0.25) + np.log(0.75)) / 2, rtol=1e-5)


def test_unknown_gan_kind_is_error():
    with pytest.raises(ValueError, match="wgan"):
        losses.discriminator_loss(tf.ones([1]), tf.ones([1]), "wgan")
    with pytest.raises(ValueError, match="kind"):
        losses.generator_adversarial_loss(tf.ones([1]), "NSGAN")


# ------------------------------------------------------- feature matching and L1


def test_feature_matching_vs_numpy_and_real_side_constant():
    shapes = [(2, 16, 16, 8), (2, 8, 8, 16), (2, 4, 4, 32), (2, 3, 3, 64), (2, 2, 2, 1)]
    fake_np = [RNG.normal(size=s).astype(np.float32) for s in shapes]
    real_np = [RNG.normal(size=s).astype(np.float32) for s in shapes]
    expected = sum(
        np.mean(np.abs(f.astype(np.float64) - r)) for f, r in zip(fake_np, real_np, strict=True)
    )
    fake = [tf.Variable(f) for f in fake_np]
    real = [tf.Variable(r) for r in real_np]
    with tf.GradientTape(persistent=True) as tape:
        loss = losses.feature_matching_loss(fake, real)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
    assert all(tape.gradient(loss, r) is None for r in real)
    g0 = tape.gradient(loss, fake[0]).numpy()
    np.testing.assert_allclose(g0, np.sign(fake_np[0] - real_np[0]) / fake_np[0].size, rtol=1e-5)


def test_feature_matching_length_mismatch_is_error():
    with pytest.raises(ValueError, match="same length"):
        losses.feature_matching_loss([tf.ones([1, 2])], [tf.ones([1, 2])] * 2)


def test_masked_l1_vs_numpy():
    pred = RNG.uniform(size=(2, 16, 16, 3)).astype(np.float32)
    gt = RNG.uniform(size=(2, 16, 16, 3)).astype(np.float32)
    mask = (RNG.uniform(size=(2, 16, 16, 1)) < 0.3).astype(np.float32)
    expected = np.mean(np.abs(pred.astype(np.float64) - gt)) / np.mean(mask)
    got = losses.masked_l1_loss(pred, gt, mask)
    assert got.dtype == tf.float32
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)
    # Same images, half the hole area → twice the loss.
    half = mask.copy()
    half[1] = 0.0
    ratio = losses.masked_l1_loss(pred, gt, half) / losses.masked_l1_loss(pred, gt, mask)
    np.testing.assert_allclose(ratio.numpy(), mask.mean() / half.mean(), rtol=1e-5)


def test_masked_l1_empty_mask_is_zero_and_float16_ok():
    pred = tf.ones([1, 4, 4, 3], tf.float16)
    gt = tf.zeros([1, 4, 4, 3], tf.float16)
    assert losses.masked_l1_loss(pred, gt, tf.zeros([1, 4, 4, 1])).numpy() == 0.0
    got = losses.masked_l1_loss(pred, gt, tf.fill([1, 4, 4, 1], 0.5))
    assert got.dtype == tf.float32 and got.numpy() == pytest.approx(2.0)


def test_cheap_losses_under_xla():
    @tf.function(jit_compile=True)
    def step(real, fake, pred, gt, mask):
        return (
            losses.discriminator_loss(real, fake, "nsgan"),
            losses.generator_adversarial_loss(fake, "lsgan"),
            losses.feature_matching_loss([pred], [gt]),
            losses.masked_l1_loss(pred, gt, mask),
        )

    real = RNG.uniform(size=(2, 4, 4, 1)).astype(np.float32)
    fake = RNG.uniform(size=(2, 4, 4, 1)).astype(np.float32)
    pred = RNG.uniform(size=(2, 8, 8, 3)).astype(np.float32)
    gt = RNG.uniform(size=(2, 8, 8, 3)).astype(np.float32)
    mask = np.ones((2, 8, 8, 1), np.float32)
    d, g, fm, l1 = step(real, fake, pred, gt, mask)
    np.testing.assert_allclose(d, (_np_bce(real, True) + _np_bce(fake, False)) / 2, rtol=1e-5)
    np.testing.assert_allclose(g, np.mean((fake - 1.0) ** 2), rtol=1e-5)
    np.testing.assert_allclose(fm, np.mean(np.abs(pred - gt)), rtol=1e-5)
    np.testing.assert_allclose(l1, np.mean(np.abs(pred - gt)), rtol=1e-5)


# ----------------------------------------------------------------------- Gram


def test_gram_matrix_vs_numpy():
    f = RNG.normal(size=(2, 5, 7, 4)).astype(np.float32)
    np.testing.assert_allclose(losses.gram_matrix(f).numpy(), _np_gram(f), rtol=1e-5, atol=1e-7)


def test_gram_matrix_float16_does_not_overflow():
    # 64·64 products of 300² each would overflow float16 (max 65504) in the sum.
    f = np.full((1, 64, 64, 2), 300.0, np.float16)
    g = losses.gram_matrix(tf.constant(f))
    assert g.dtype == tf.float32
    np.testing.assert_allclose(g.numpy(), np.full((1, 2, 2), 300.0**2 / 2), rtol=1e-6)


# ------------------------------------------------------------------------ VGG


def test_vgg_layers_and_shapes(vgg):
    out = vgg(tf.random.uniform([2, 64, 64, 3]))
    assert set(out) == set(losses.VGG19_FEATURE_LAYERS)
    expected = {
        "relu1_1": (64, 64),
        "relu2_1": (32, 128),
        "relu3_1": (16, 256),
        "relu4_1": (8, 512),
        "relu5_1": (4, 512),
        "relu2_2": (32, 128),
        "relu3_4": (16, 256),
        "relu4_4": (8, 512),
        "relu5_2": (4, 512),
    }
    for name, (side, channels) in expected.items():
        assert tuple(out[name].shape) == (2, side, side, channels), name
        assert np.min(out[name].numpy()) >= 0.0, name  # post-ReLU
    names = [layer.name for layer in vgg.backbone.layers]
    assert names[-1] == "block5_conv2"
    assert "block5_conv3" not in names and "block5_pool" not in names
    assert vgg.trainable_weights == [] and len(vgg.weights) == 28  # 14 convs, frozen
    clone = losses.VGG19Features.from_config({**vgg.get_config(), "preprocess": False})
    assert clone.preprocess is False and clone.vgg_weights is None


def test_vgg_preprocess_matches_keras():
    x = RNG.uniform(size=(2, 8, 8, 3)).astype(np.float32)
    expected = keras.applications.vgg19.preprocess_input(x * 255.0)
    np.testing.assert_allclose(losses.vgg19_preprocess(tf.constant(x)).numpy(), expected, atol=1e-4)


def test_vgg_features_equal_keras_vgg_on_preprocessed_input(tmp_path):
    full = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    path = tmp_path / "vgg19.weights.h5"
    full.save_weights(path)
    vgg = losses.VGG19Features(weights=str(path))
    x = RNG.uniform(size=(1, 32, 32, 3)).astype(np.float32)
    probe = keras.Model(
        full.input, [full.get_layer(n).output for n in ("block1_conv1", "block5_conv2")]
    )
    want = probe(keras.applications.vgg19.preprocess_input(x * 255.0))
    got = vgg(x)
    np.testing.assert_allclose(got["relu1_1"], want[0], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(got["relu5_2"], want[1], rtol=1e-4, atol=1e-3)
    # preprocess=False feeds [0, 1] directly, as the reference did.
    raw = losses.VGG19Features(weights=str(path), preprocess=False)
    np.testing.assert_allclose(raw(x)["relu5_2"], probe(x)[1], rtol=1e-4, atol=1e-5)


def test_vgg_legacy_h5_weights_file(tmp_path):
    """The Keras-2 layout of the ImageNet `..._notop.h5` file (a group per layer)."""
    full = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    path = tmp_path / "vgg19_notop.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in full.layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for layer in full.layers:
            g = f.create_group(layer.name)
            names = [f"{layer.name}/{v.name}:0" for v in layer.weights]  # kernel, bias
            g.attrs["weight_names"] = [n.encode() for n in names]
            for name, v in zip(names, layer.weights, strict=True):
                # Shifted, so that equality below can only come from reading this file.
                g.create_dataset(name, data=np.asarray(v) + 0.5)
    vgg = losses.VGG19Features(weights=str(path))
    for layer in ("block1_conv1", "block4_conv4", "block5_conv2"):
        got = vgg.backbone.get_layer(layer).get_weights()
        want = [w + 0.5 for w in full.get_layer(layer).get_weights()]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_vgg_bad_weights_argument(tmp_path):
    with pytest.raises(ValueError, match="not_there.weights.h5"):
        losses.VGG19Features(weights=str(tmp_path / "not_there.weights.h5"))
    bad = tmp_path / "vgg.txt"
    bad.write_text("x")
    with pytest.raises(ValueError, match="vgg_weights"):
        losses.VGG19Features(weights=str(bad))
    wrong = tmp_path / "small.weights.h5"
    small = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    small.save_weights(wrong)
    with pytest.raises(ValueError, match="could not load"):
        losses.VGG19Features(weights=str(wrong))


# ------------------------------------------------------- perceptual and style


def _np_perceptual_style(feats, n_images, batch):
    def part(name, k):
        f = feats[name].numpy().astype(np.float64)
        return f[k * batch : (k + 1) * batch]

    perceptual = sum(np.mean(np.abs(part(n, 0) - part(n, 1))) for n in losses.PERCEPTUAL_LAYERS)
    a, b = n_images - 2, n_images - 1
    style = sum(
        np.mean(np.abs(_np_gram(part(n, a)) - _np_gram(part(n, b)))) for n in losses.STYLE_LAYERS
    )
    return perceptual, style


def test_perceptual_style_vs_numpy(vgg):
    b = 2
    pred = RNG.uniform(size=(b, 32, 32, 3)).astype(np.float32)
    gt = RNG.uniform(size=(b, 32, 32, 3)).astype(np.float32)
    mask = np.zeros((b, 32, 32, 1), np.float32)
    mask[:, 8:24, 4:20] = 1.0
    loss = losses.PerceptualStyleLoss(features=vgg)
    perceptual, style = loss(pred, gt, mask)
    assert perceptual.dtype == tf.float32 and style.dtype == tf.float32

    # Independent: features of pred, gt, pred·m, gt·m from the same model, numpy arithmetic.
    feats = vgg(np.concatenate([pred, gt, pred * mask, gt * mask]))
    p_np, s_np = _np_perceptual_style(feats, 4, b)
    np.testing.assert_allclose(perceptual.numpy(), p_np, rtol=1e-4)
    np.testing.assert_allclose(style.numpy(), s_np, rtol=1e-4)
    assert style.numpy() > 0 and perceptual.numpy() > 0

    # Style uses the masked images, perceptual the full ones: changing pixels outside the
    # hole changes perceptual but not style.
    gt2 = gt.copy()
    gt2[:, 26:, 26:] = 1.0 - gt2[:, 26:, 26:]
    perceptual2, style2 = loss(pred, gt2, mask)
    assert perceptual2.numpy() != pytest.approx(perceptual.numpy(), rel=1e-6)
    np.testing.assert_allclose(style2.numpy(), style.numpy(), rtol=1e-5)


def test_perceptual_style_without_mask_and_gradients(vgg):
    pred = tf.Variable(RNG.uniform(size=(1, 32, 32, 3)).astype(np.float32))
    gt = RNG.uniform(size=(1, 32, 32, 3)).astype(np.float32)
    loss = losses.PerceptualStyleLoss(features=vgg)
    with tf.GradientTape() as tape:
        perceptual, style = loss(pred, gt)
        total = perceptual + style
    feats = vgg(np.concatenate([pred.numpy(), gt]))
    p_np, s_np = _np_perceptual_style(feats, 2, 1)
    np.testing.assert_allclose(perceptual.numpy(), p_np, rtol=1e-4)
    np.testing.assert_allclose(style.numpy(), s_np, rtol=1e-4)
    grad = tape.gradient(total, pred)
    assert grad is not None and np.any(grad.numpy() != 0)
    same_p, same_s = loss(gt, gt)
    assert same_p.numpy() == 0.0 and same_s.numpy() == 0.0


@needs_bf16_kernels
def test_perceptual_style_mixed_precision_close_to_float32(vgg):
    pred = RNG.uniform(size=(1, 32, 32, 3)).astype(np.float32)
    gt = RNG.uniform(size=(1, 32, 32, 3)).astype(np.float32)
    mask = np.ones((1, 32, 32, 1), np.float32)
    p32, s32 = losses.PerceptualStyleLoss(features=vgg)(pred, gt, mask)
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        vgg16 = losses.VGG19Features(weights=None)
        vgg16.set_weights(vgg.get_weights())
        p16, s16 = losses.PerceptualStyleLoss(features=vgg16)(pred, gt, mask)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert p16.dtype == tf.float32 and s16.dtype == tf.float32
    np.testing.assert_allclose(p16.numpy(), p32.numpy(), rtol=0.05)
    np.testing.assert_allclose(s16.numpy(), s32.numpy(), rtol=0.1)
