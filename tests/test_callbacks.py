"""Callbacks: checkpoints (complete, atomic, restorable), schedule, TensorBoard, samples, NaN."""

import glob
import math
import os

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from edgeconnect_tf.training import callbacks as cb
from edgeconnect_tf.weights import build_networks


class Toy(keras.Model):
    """A one-Dense model with the training models' interface (train_step, sample, optimizers)."""

    def __init__(self, networks=None, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(1)
        self.tracker = keras.metrics.Mean(name="loss")
        self.psnr = keras.metrics.Mean(name="psnr")
        self.networks = networks or {}

    @property
    def metrics(self):
        return [self.tracker, self.psnr]

    def compile(self, **kwargs):
        self.g_optimizer = keras.optimizers.Adam(0.1)
        self.d_optimizer = keras.optimizers.Adam(0.01)
        super().compile(optimizer=self.g_optimizer, **kwargs)

    def call(self, x):
        return self.dense(x)

    def _compute(self, batch):
        x = tf.reshape(batch["image"], (tf.shape(batch["image"])[0], -1))[:, :4]
        loss = tf.reduce_mean(tf.square(self.dense(x) - 1.0))
        return loss, {"loss": loss, "psnr": -10.0 * tf.math.log(loss + 1e-8) / math.log(10.0)}

    def train_step(self, batch):
        with tf.GradientTape() as tape:
            loss, values = self._compute(batch)
        grads = tape.gradient(loss, self.dense.trainable_variables)
        self.g_optimizer.apply(grads, self.dense.trainable_variables)
        self.tracker.update_state(values["loss"])
        self.psnr.update_state(values["psnr"])
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, batch):
        _, values = self._compute(batch)
        self.tracker.update_state(values["loss"])
        self.psnr.update_state(values["psnr"])
        return {m.name: m.result() for m in self.metrics}

    def sample(self, batch):
        image = np.asarray(batch["image"])
        mask = np.asarray(batch["mask"])
        return {
            "gt": image,
            "masked": image * (1 - mask) + mask,
            "edges": np.repeat(mask, 3, axis=-1),
            "raw": 1 - image,
            "composite": image,
        }


def _data(n=4, nan_at=None, size=8):
    rng = np.random.default_rng(0)
    images = rng.random((n, size, size, 3), dtype=np.float32)
    if nan_at is not None:
        images[nan_at] = np.nan
    masks = np.zeros((n, size, size, 1), np.float32)
    masks[:, 2:6, 2:6] = 1.0
    return tf.data.Dataset.from_tensor_slices({"image": images, "mask": masks}).batch(1)


def _toy():
    model = Toy()
    model.compile()
    model(np.zeros((1, 4), np.float32))
    model.g_optimizer.build(model.dense.trainable_variables)
    model.d_optimizer.build(model.dense.trainable_variables)
    return model


def _events(directory):
    """{tag: [(step, value or image bytes)]} of the event files under `directory`."""
    out = {}
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                out.setdefault(value.tag, []).append((event.step, tensor))
    return out


# ----------------------------------------------------------------- checkpoints


def _tiny_state():
    nets = build_networks(1, 8, names=("edge_generator", "edge_discriminator"))
    g_opt = keras.optimizers.Adam(1e-3, beta_1=0.0, beta_2=0.9)
    d_opt = keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9)
    g_vars = nets["edge_generator"].trainable_variables
    d_vars = nets["edge_discriminator"].trainable_variables
    g_opt.build(g_vars)
    d_opt.build(d_vars)
    x = tf.random.uniform((1, 32, 32, 3))
    with tf.GradientTape(persistent=True) as tape:  # one step: nonzero slots, moved u/v
        edges = nets["edge_generator"](x, training=True)
        scores, _ = nets["edge_discriminator"](tf.concat([x[..., :1], edges], -1), training=True)
        loss = tf.reduce_mean(scores)
    g_opt.apply(tape.gradient(loss, g_vars), g_vars)
    d_opt.apply(tape.gradient(loss, d_vars), d_vars)
    return nets, {"g_optimizer": g_opt, "d_optimizer": d_opt}


def _values(nets, opts, extra=()):
    values = [v.numpy().copy() for net in nets.values() for v in net.variables]
    values += [v.numpy().copy() for opt in opts.values() for v in opt.variables]
    return values + [v.numpy().copy() for v in extra]


def test_checkpoint_restores_networks_spectral_vectors_optimizers_and_step(tmp_path):
    nets, opts = _tiny_state()
    step = tf.Variable(7, dtype=tf.int64)
    extra = [tf.Variable(0.25, dtype=tf.float64)]
    ckpt = cb.Checkpointer(str(tmp_path), nets, opts, step, extra={"state": extra})
    path = ckpt.save()
    assert path.endswith("ckpt-7") and ckpt.latest == path
    saved = _values(nets, opts, extra)
    # The checkpoint holds every network variable, spectral-norm u/v included.
    keys = tf.train.load_checkpoint(path).get_variable_to_shape_map()
    n_vars = len(nets["edge_generator"].variables)
    assert any(v.path.endswith("/u") for v in nets["edge_generator"].variables)
    assert sum(k.startswith("edge_generator/") for k in keys) == n_vars

    for v in [*(v for n in nets.values() for v in n.variables), *extra]:
        v.assign(tf.zeros_like(v) + 3)
    for opt in opts.values():
        for v in opt.variables:
            v.assign(tf.zeros_like(v) + 3)
    step.assign(0)
    assert ckpt.restore() == 7
    for before, after in zip(saved, _values(nets, opts, extra), strict=True):
        np.testing.assert_array_equal(before, after)
    assert int(opts["g_optimizer"].iterations.numpy()) == 1


def test_checkpoint_of_another_model_is_an_error(tmp_path):
    nets, opts = _tiny_state()
    cb.Checkpointer(str(tmp_path), nets, opts, tf.Variable(1, dtype=tf.int64)).save()
    other = build_networks(1, 8, names=("inpaint_generator", "inpaint_discriminator"))
    with pytest.raises(ValueError, match="does not match this model"):
        cb.Checkpointer(str(tmp_path), other, {}, tf.Variable(0, dtype=tf.int64)).restore()


# ------------------------------------------------------------- fit integration


def _run(tmp_path, callbacks, data=None, epochs=2, steps=4, val=None, model=None):
    model = model or _toy()
    model.fit(
        data if data is not None else _data().repeat(),
        epochs=epochs,
        steps_per_epoch=steps,
        validation_data=val,
        callbacks=callbacks,
        verbose=0,
        shuffle=False,
    )
    return model


def test_step_counter_checkpoint_interval_and_stop(tmp_path):
    model = _toy()
    counter = cb.StepCounter()
    ckpt = cb.Checkpointer(
        str(tmp_path), {}, {"g_optimizer": model.g_optimizer}, counter.step, max_to_keep=10
    )
    _run(
        tmp_path,
        [counter, cb.CheckpointSaver(ckpt, 3), cb.StopAtStep(counter.step, 7)],
        epochs=5,
        model=model,
    )
    assert int(counter.step.numpy()) == 7  # stopped mid-epoch at max_iters
    assert int(model.g_optimizer.iterations.numpy()) == 7
    steps = sorted(int(p.rsplit("-", 1)[1]) for p in ckpt.manager.checkpoints)
    assert steps == [3, 6, 7]  # every 3 steps and at the end


def test_nan_guard_names_metric_and_step(tmp_path):
    counter = cb.StepCounter()
    ckpt = cb.Checkpointer(str(tmp_path), {}, {}, counter.step)
    with pytest.raises(cb.TrainingDivergedError) as e:
        _run(
            tmp_path,
            [counter, cb.NaNGuard(counter.step, str(tmp_path)), cb.CheckpointSaver(ckpt, 1)],
            data=_data(nan_at=2),
            epochs=1,
        )
    message = str(e.value)
    assert "'loss' is nan at step 3" in message
    assert "ckpt-2" in message  # the last finite checkpoint, named for the user
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-2")


def test_tensorboard_scalars_images_and_png_grid(tmp_path):
    counter = cb.StepCounter()
    logs = str(tmp_path / "logs")
    scalars = cb.TensorBoardScalars(logs, counter.step, interval=2)
    batch = next(iter(_data(n=3).unbatch().batch(3)))
    samples = cb.SampleWriter(
        batch, counter.step, 4, str(tmp_path / "samples"), scalars.train_writer
    )
    val = _data(n=2)
    _run(tmp_path, [counter, cb.DerivedMetrics(), scalars, samples], val=val)

    train = _events(os.path.join(logs, "train"))
    assert [s for s, _ in train["loss"]] == [2, 4, 6, 8]  # every 2 steps
    assert "psnr" in train
    (step, image), *_ = train["samples"]
    assert step == 4
    width, height, png = image  # a v2 image summary: [width, height, encoded...]
    grid = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert grid.shape == (int(height), int(width), 3)
    validation = _events(os.path.join(logs, "validation"))
    assert [s for s, _ in validation["loss"]] == [4, 8] and "psnr" in validation

    pngs = sorted(os.listdir(tmp_path / "samples"))
    assert pngs == ["step_0000004.png", "step_0000008.png"]
    written = cv2.imread(str(tmp_path / "samples" / pngs[0]))[..., ::-1]
    np.testing.assert_array_equal(written, grid[..., ::-1])
    # 3 rows (images) x 5 columns (gt, masked, edges, raw, composite), 8 px, 2 px borders.
    assert written.shape == (3 * 10 + 2, 5 * 10 + 2, 3)
    expected = cb.sample_grid(Toy().sample(batch))
    np.testing.assert_array_equal(written, expected)


def test_sample_grid_layout():
    rng = np.random.default_rng(1)
    images = {name: rng.random((2, 4, 6, 3), dtype=np.float32) for name in cb.SAMPLE_COLUMNS}
    images["edges"] = rng.random((2, 4, 6, 1), dtype=np.float32) * 1.5 - 0.2  # clipped
    grid = cb.sample_grid(images, border=1)
    assert grid.dtype == np.uint8 and grid.shape == (2 * 5 + 1, 5 * 7 + 1, 3)
    for row in range(2):
        for col, name in enumerate(cb.SAMPLE_COLUMNS):
            top, left = 1 + row * 5, 1 + col * 7
            expected = np.clip(images[name][row], 0, 1)
            expected = np.broadcast_to(expected, (4, 6, 3))
            np.testing.assert_array_equal(
                grid[top : top + 4, left : left + 6], np.round(expected * 255).astype(np.uint8)
            )
    assert (grid[0] == 255).all() and (grid[:, 0] == 255).all()
    with pytest.raises(ValueError, match="lack"):
        cb.sample_grid({"gt": images["gt"]})


def test_derived_f1():
    logs = {"precision": 0.5, "recall": 0.25, "val_precision": 0.0, "val_recall": 0.0}
    cb.DerivedMetrics().on_epoch_end(0, logs)
    assert logs["f1"] == pytest.approx(2 * 0.5 * 0.25 / 0.75) and logs["val_f1"] == 0.0


def test_higher_is_better():
    assert cb.higher_is_better("val_psnr") and cb.higher_is_better("f1")
    assert not cb.higher_is_better("val_mae") and not cb.higher_is_better("l1")


# -------------------------------------------------------------------- schedule


def _opts():
    g, d = keras.optimizers.Adam(1.0), keras.optimizers.Adam(1.0)
    v = [keras.Variable(1.0)]
    g.build(v)
    d.build(v)
    return g, d


def _lr(opt):
    return float(np.asarray(opt.learning_rate))


def test_plateau_schedule_lowers_once_per_patience_down_to_min_lr():
    g, d = _opts()
    sched = cb.LearningRateSchedule(
        [g], [d], 1e-4, 0.1, "plateau", patience=2, monitor="val_psnr", min_lr=1e-5
    )
    sched.on_train_begin()
    assert _lr(g) == pytest.approx(1e-4) and _lr(d) == pytest.approx(1e-5)
    history = []
    for psnr in [20, 21, 21, 20.5, 22, 21, 21, 21, 21]:
        logs = {"val_psnr": psnr}
        sched.on_epoch_end(0, logs)
        history.append(logs["learning_rate"])
    # Improves at epochs 0, 1, 4; two epochs without improvement after 1 (epochs 2, 3)
    # lower the rate to 1e-5 = min_lr, where it stays.
    assert history[:3] == pytest.approx([1e-4] * 3)
    assert history[3:] == pytest.approx([1e-5] * 6)
    assert _lr(d) == pytest.approx(1e-6)


def test_plateau_state_survives_resume_unless_lr_changes():
    g, d = _opts()
    sched = cb.LearningRateSchedule([g], [d], 1e-4, 0.1, "plateau", patience=1, monitor="l1")
    sched.on_train_begin()
    for l1 in [1.0, 2.0]:
        sched.on_epoch_end(0, {"l1": l1})
    assert _lr(g) == pytest.approx(1e-5)
    state = [v.numpy() for v in sched.state_variables]
    # A resumed run: optimizer lr restored by the checkpoint, state restored too.
    resumed = cb.LearningRateSchedule([g], [d], 1e-4, 0.1, "plateau", patience=1, monitor="l1")
    for v, value in zip(resumed.state_variables, state, strict=True):
        v.assign(value)
    resumed.on_train_begin()
    assert _lr(g) == pytest.approx(1e-5)
    # The user restarts with another lr: it wins and the plateau state resets.
    changed = cb.LearningRateSchedule([g], [d], 3e-5, 0.1, "plateau", patience=1, monitor="l1")
    for v, value in zip(changed.state_variables, state, strict=True):
        v.assign(value)
    changed.on_train_begin()
    assert _lr(g) == pytest.approx(3e-5) and math.isnan(float(changed.best.numpy()))


def test_step_schedule_follows_the_step_counter():
    g, d = _opts()
    step = tf.Variable(0, dtype=tf.int64)
    sched = cb.LearningRateSchedule(
        [g], [d], 1e-4, 0.1, "steps", step=step, factor=0.1, boundaries=[3, 5]
    )
    sched.on_train_begin()
    seen = []
    for i in range(7):
        sched.on_train_batch_begin(i)
        seen.append(_lr(g))
        step.assign_add(1)
    assert seen == pytest.approx([1e-4] * 3 + [1e-5] * 2 + [1e-6] * 2)
    step.assign(4)  # resumed mid-schedule
    sched.on_train_begin()
    assert _lr(g) == pytest.approx(1e-5) and _lr(d) == pytest.approx(1e-6)


def test_best_weights_written_on_improvement_only(tmp_path):
    from edgeconnect_tf.weights import read_config

    nets = build_networks(1, 8, names=("edge_generator",))
    step = tf.Variable(0, dtype=tf.int64)
    best = cb.BestWeights(str(tmp_path / "best"), nets, "val_mae", step, model="edge")
    for i, mae in enumerate([0.5, 0.3, 0.4]):
        step.assign(10 * (i + 1))
        best.on_epoch_end(i, {"val_mae": mae})
    meta = read_config(str(tmp_path / "best"))
    assert meta["iteration"] == 20 and meta["val_mae"] == 0.3 and meta["model"] == "edge"
    assert float(best.best.numpy()) == 0.3
