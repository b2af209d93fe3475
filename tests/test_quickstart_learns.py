"""The shipped `quickstart` recipe learns: a short inpaint run lowers the hole L1 on held-out crops.

The run goes through `train` with the quickstart config (its learning rate,
warm-up, losses, masks), shrunk to 32² crops of two scikit-image photos and
tiny networks so that it takes well under a minute on a CPU. Held-out crops
(other crops of the same photos, never trained on) get fixed block holes;
their hole L1 is measured
before the first step and after the last one by a callback, the way a user
would watch a run. A regression that stops the generator from learning (no
gradients, a zero loss weight, a broken warm-up switch, the optimizer not
applied) leaves the ratio near 1 and fails.

The quickstart's G2 refines a pyramid fill (`hole_fill: pyramid`) and starts
as that fill, so its hole L1 starts low and a tiny run barely moves it: the
learning is measured with the authors' white hole (`hole_fill=white`, the same
`train`, losses and optimizer), and the shipped pyramid G2 is checked to have
moved without spoiling its fill.
"""

import os

import cv2
import keras
import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from edgeconnect_tf.data.image_ops import pyramid_fill
from edgeconnect_tf.training.config import load_config
from edgeconnect_tf.training.train import train

SIZE = 32
STEPS = 300
# Final / initial held-out hole L1 after STEPS steps, measured for config seeds 10 (the
# quickstart's), 1, 2, 3 on AVX-512: 0.37, 0.47, 0.43, 0.53; seeds 10, 1 with
# ONEDNN_MAX_CPU_ISA=AVX2: 0.39, 0.40. A generator that does not learn
# stays near 1 (its init output is mid-grey); the bound sits between the two.
MAX_RATIO = 0.75
# hole_fill=pyramid, seeds 10 and 1: 1.016 and 1.005 (a G2 that starts as its fill, 300 tiny
# steps); a run that made the fill worse, as a white-hole G2 at its start does, exceeds it.
MAX_PYRAMID_RATIO = 1.05


def _crops(photo, count, rng):
    h, w = photo.shape[:2]
    out = []
    for _ in range(count):
        scale = rng.uniform(0.15, 0.3)
        image = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        y = rng.integers(0, image.shape[0] - SIZE + 1)
        x = rng.integers(0, image.shape[1] - SIZE + 1)
        out.append(image[y : y + SIZE, x : x + SIZE])
    return out


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Training crops of astronaut and rocket on disk; 8 held-out crops of them with holes."""
    directory = tmp_path_factory.mktemp("quickstart_crops")
    rng = np.random.default_rng(0)
    held_out = []
    for name in ("astronaut", "rocket"):
        photo = getattr(skimage.data, name)()
        for k, crop in enumerate(_crops(photo, 24, rng)):
            cv2.imwrite(str(directory / f"{name}_{k}.png"), crop[..., ::-1])
        held_out += _crops(photo, 4, np.random.default_rng(5))
    held_out = np.stack(held_out).astype(np.float32) / 255.0
    mask = np.zeros((8, SIZE, SIZE, 1), np.float32)
    for k in range(8):
        top, left = rng.integers(0, SIZE // 2, 2)
        mask[k, top : top + SIZE // 2, left : left + SIZE // 2] = 1.0
    return str(directory), held_out, mask


class HoleL1(keras.callbacks.Callback):
    """Mean |G2 − image| over the hole pixels of fixed held-out crops, at the start and end."""

    def __init__(self, images, mask):
        super().__init__()
        self.images, self.mask, self.values = images, mask, []

    def _measure(self):
        from edgeconnect_tf.data.canny import canny
        from edgeconnect_tf.data.image_ops import rgb_to_gray

        image, mask = tf.constant(self.images), tf.constant(self.mask)
        edges = canny(rgb_to_gray(image), sigma=2.0) * (1.0 - mask)
        pred = self.model.predict_image(image, edges, mask)
        hole_l1 = tf.reduce_sum(tf.abs(pred - image) * mask) / (3.0 * tf.reduce_sum(mask))
        self.values.append(float(hole_l1))

    def on_train_begin(self, logs=None):
        self._measure()

    def on_train_end(self, logs=None):
        self._measure()


@pytest.mark.slow  # trains for a while
@pytest.mark.parametrize("hole_fill", ["white", "pyramid"])
def test_quickstart_inpaint_run_lowers_held_out_hole_l1(photos, tmp_path, hole_fill):
    train_dir, held_out, mask = photos
    config = load_config(
        "quickstart",
        train_flist=train_dir,
        output_dir=str(tmp_path / "run"),
        input_size=SIZE,
        residual_blocks=1,
        filters=8,
        max_iters=STEPS,
        steps_per_epoch=STEPS,
        save_interval=0,
        sample_interval=0,
        verbose=0,
        hole_fill=hole_fill,
    )
    assert load_config("quickstart").hole_fill == "pyramid"
    probe = HoleL1(held_out, mask)
    result = train(config, "inpaint", callbacks=[probe])
    assert result.step == STEPS
    before, after = probe.values
    assert os.path.isfile(os.path.join(result.weights_dir, "config.json"))
    if hole_fill == "white":
        assert after < MAX_RATIO * before, (before, after)
        return
    assert after < MAX_PYRAMID_RATIO * before, (before, after)
    image, hole = tf.constant(held_out), tf.constant(mask)
    fill = pyramid_fill(image, hole)
    trained = probe.model.predict_image(image, tf.zeros_like(hole), hole)
    assert float(tf.reduce_max(tf.abs(trained - fill) * hole)) > 0.01  # G2 did move


@pytest.mark.parametrize("kind", ["edge", "inpaint", "joint"])
def test_adversarial_warm_up_keeps_the_gan_term_out_of_g_until_its_step(kind):
    """With every other generator loss weighted 0, G's loss is the adversarial term alone:
    G stays exactly as it was for `adv_warmup_iters` steps (zero gradient, zero Adam step)
    while D trains, and moves on the next step."""
    from edgeconnect_tf.training.stages import EdgeInpaintModel, EdgeModel, InpaintModel

    tiny = dict(residual_blocks=1, filters=4, adv_warmup_iters=2)
    inpaint = dict(vgg_weights=None, l1_loss_weight=0.0, content_loss_weight=0.0)
    inpaint.update(style_loss_weight=0.0)
    if kind == "edge":
        model = EdgeModel(**tiny, fm_loss_weight=0.0)
    elif kind == "inpaint":
        model = InpaintModel(**tiny, **inpaint)
    else:
        model = EdgeInpaintModel(EdgeModel(**tiny), InpaintModel(**tiny, **inpaint), joint=True)
    model.build_networks(32)
    model.compile()
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(2, 32, 32, 3)).astype(np.float32)
    mask = np.zeros((2, 32, 32, 1), np.float32)
    mask[:, 8:24, 8:24] = 1.0
    batch = {
        "image": tf.constant(image),
        "gray": tf.constant(image.mean(-1, keepdims=True)),
        "edge": tf.constant((rng.uniform(size=(2, 32, 32, 1)) > 0.8).astype(np.float32)),
        "mask": tf.constant(mask),
    }

    def values(variables):
        return [v.numpy().copy() for v in variables]

    g_start, d_start = values(model.generator_variables()), values(model.discriminator_variables())
    for _ in range(2):
        model.train_step(batch)
    for old, new in zip(g_start, values(model.generator_variables()), strict=True):
        np.testing.assert_array_equal(new, old)
    d_now = values(model.discriminator_variables())
    assert any(not np.array_equal(a, b) for a, b in zip(d_start, d_now, strict=True))
    model.train_step(batch)
    g_now = values(model.generator_variables())
    assert any(not np.array_equal(a, b) for a, b in zip(g_start, g_now, strict=True))
    stage = model.inpaint_model if kind == "joint" else model
    assert type(stage).from_config(stage.get_config()).adv_warmup_iters == 2
