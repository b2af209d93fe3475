"""Keras callbacks of a training run: step counter, checkpoints, schedule, logs, samples.

All callbacks share one step counter (`StepCounter.step`, an int64 `tf.Variable`
that the checkpoint saves), so intervals, TensorBoard steps, file names and the
learning-rate schedule stay right across resumes. `train.py` assembles them in
this order (each sees what the previous ones added to the epoch logs):

    StepCounter, NaNGuard, DerivedMetrics, LearningRateSchedule, CheckpointSaver,
    TensorBoardScalars, SampleWriter, BestWeights, StopAtStep

They work under `model.fit` and under the multi-worker custom loop, which calls
the same hooks.
"""

import math
import os

import keras
import numpy as np
import tensorflow as tf

from edgeconnect_tf.files.io import write_image

SAMPLE_COLUMNS = ("gt", "masked", "edges", "raw", "composite")
_HIGHER_IS_BETTER = ("psnr", "ssim", "precision", "recall", "f1", "accuracy")


class TrainingDivergedError(FloatingPointError):
    """A logged metric became NaN or infinite; the message names the metric and step."""


def higher_is_better(metric):
    """True for metrics to maximize (psnr, precision, recall, f1, ...), False for losses."""
    name = metric.removeprefix("val_")
    return any(name == m or name.endswith("_" + m) for m in _HIGHER_IS_BETTER)


def _is_better(value, best, metric):
    if best is None or math.isnan(best):
        return True
    return value > best if higher_is_better(metric) else value < best


# ----------------------------------------------------------------- checkpoints


class Checkpointer:
    """Atomic checkpoints of networks, optimizers, the step and callback state.

    Networks are saved as lists of their variables (`net.variables`, in Keras'
    deterministic order, spectral-norm `u`/`v` included): `tf.train.Checkpoint`
    does not see Keras 3 layers kept in Python lists, so passing the networks
    themselves would silently save nothing for them. Optimizers (Keras 3
    optimizers are trackable) keep their slots, iteration count and learning
    rate.

    Each checkpoint is written as new files `ckpt-STEP.*`; the `checkpoint` index
    file that names the latest one is replaced atomically only after they are
    complete, so a process killed at any moment leaves the previous checkpoint
    as the latest (see `tf.train.CheckpointManager`).

    Args:
        directory: where checkpoints go (created).
        networks: dict name -> keras.Model (built).
        optimizers: dict name -> keras optimizer (built).
        step: the int64 step `tf.Variable`.
        extra: dict name -> list of tf.Variables (callback state) to save too.
        max_to_keep: checkpoints kept.
    """

    def __init__(self, directory, networks, optimizers, step, extra=None, max_to_keep=3):
        self.directory = directory
        self.step = step
        objects = {name: list(net.variables) for name, net in networks.items()}
        objects.update(optimizers)
        objects.update({name: list(v) for name, v in (extra or {}).items()})
        self.checkpoint = tf.train.Checkpoint(step=step, **objects)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, directory, max_to_keep=max_to_keep, checkpoint_name="ckpt"
        )

    @property
    def latest(self):
        """Path prefix of the latest complete checkpoint, or None."""
        return self.manager.latest_checkpoint

    def save(self):
        """Writes a checkpoint named after the current step; returns its path prefix."""
        return self.manager.save(checkpoint_number=int(self.step.numpy()))

    def restore(self, path=None):
        """Restores `path` (default: the latest); returns the restored step or None.

        Every saved value must find its variable and vice versa, so a checkpoint
        of another model type or size is an error rather than a partial load.
        """
        path = path or self.latest
        if path is None:
            return None
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as e:
            raise ValueError(
                f"checkpoint {path} does not match this model (another model type, "
                f"residual_blocks or filters?): {str(e)[:500]}"
            ) from None
        return int(self.step.numpy())


# ------------------------------------------------------------------- callbacks


class StepCounter(keras.callbacks.Callback):
    """Counts optimizer steps in `self.step` (int64 tf.Variable), +1 after each batch."""

    def __init__(self, step=None):
        super().__init__()
        self.step = step if step is not None else tf.Variable(0, dtype=tf.int64, name="step")

    def on_train_batch_end(self, batch, logs=None):
        self.step.assign_add(1)


class NaNGuard(keras.callbacks.Callback):
    """Stops training with `TrainingDivergedError` when a logged value is NaN or infinite.

    Raised before the checkpoint callback runs for that step, so the last
    checkpoint still holds finite weights.
    """

    def __init__(self, step, checkpoint_dir=None):
        super().__init__()
        self.step = step
        self.checkpoint_dir = checkpoint_dir

    def on_train_batch_end(self, batch, logs=None):
        for name, value in (logs or {}).items():
            if isinstance(value, (int, float, np.floating, np.ndarray)) and not np.all(
                np.isfinite(value)
            ):
                where = ""
                if self.checkpoint_dir:
                    latest = tf.train.latest_checkpoint(self.checkpoint_dir)
                    where = f" The last checkpoint is {latest}." if latest else ""
                raise TrainingDivergedError(
                    f"training diverged: metric {name!r} is {float(np.mean(value))} at step "
                    f"{int(self.step.numpy())}.{where} Try a lower lr, gan_loss: lsgan or "
                    "mixed_precision: none."
                )


class DerivedMetrics(keras.callbacks.Callback):
    """Adds `f1` (and `val_f1`) = 2PR / (P + R) to epoch logs holding precision and recall."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for prefix in ("", "val_"):
            p, r = logs.get(prefix + "precision"), logs.get(prefix + "recall")
            if p is not None and r is not None:
                logs[prefix + "f1"] = 2 * p * r / (p + r) if p + r > 0 else 0.0


class LearningRateSchedule(keras.callbacks.Callback):
    """The paper's learning-rate schedule for a generator and a discriminator optimizer.

    The discriminator's rate is always the generator's times `d2g_lr`.

    Args:
        g_optimizers, d_optimizers: lists of Keras optimizers.
        lr: initial generator learning rate (paper: 1e-4).
        d2g_lr: discriminator / generator ratio (paper: 0.1).
        schedule: "constant"; "plateau": lr × factor when `monitor` (an epoch
            log, e.g. "val_psnr" or "g2") has not improved for `patience`
            epochs, never below `min_lr` (paper: 1e-4 → 1e-5); "steps": lr ×
            factor^k after the k-th of `boundaries` (steps).
        step: the step variable (for "steps").
    The plateau state (initial lr, best value, epochs waited) is in
    `state_variables` so the checkpoint carries it across resumes; the current
    rate lives in the optimizers' own (checkpointed) learning-rate variables. A
    resumed plateau run keeps its lowered rate unless `lr` was changed.
    """

    def __init__(
        self,
        g_optimizers,
        d_optimizers,
        lr,
        d2g_lr=0.1,
        schedule="constant",
        *,
        step=None,
        factor=0.1,
        patience=10,
        monitor="g1",
        min_lr=1e-5,
        boundaries=(),
    ):
        super().__init__()
        if schedule not in ("constant", "plateau", "steps"):
            raise ValueError(f"schedule must be constant, plateau or steps, got {schedule!r}")
        if schedule == "steps" and step is None:
            raise ValueError("the steps schedule needs the step variable")
        self.g_optimizers, self.d_optimizers = list(g_optimizers), list(d_optimizers)
        self.base_lr, self.d2g_lr, self.schedule = float(lr), float(d2g_lr), schedule
        self.step, self.factor, self.patience = step, float(factor), int(patience)
        self.monitor, self.min_lr, self.boundaries = monitor, float(min_lr), list(boundaries)
        self.best = tf.Variable(math.nan, dtype=tf.float64, trainable=False, name="lr_best")
        self.wait = tf.Variable(0, dtype=tf.int64, trainable=False, name="lr_wait")
        self.base = tf.Variable(math.nan, dtype=tf.float64, trainable=False, name="lr_base")

    @property
    def state_variables(self):
        return [self.best, self.wait, self.base]

    @property
    def learning_rate(self):
        """The generator learning rate now (float)."""
        return float(np.asarray(self.g_optimizers[0].learning_rate))

    def set_learning_rate(self, lr):
        for opt in self.g_optimizers:
            opt.learning_rate = lr
        for opt in self.d_optimizers:
            opt.learning_rate = lr * self.d2g_lr

    def _step_lr(self):
        k = sum(int(self.step.numpy()) >= b for b in self.boundaries)
        return self.base_lr * self.factor**k

    def on_train_begin(self, logs=None):
        # A resumed plateau run keeps its restored (possibly lowered) rate, unless the
        # configured initial lr changed since (a user lowering it by hand on resume).
        if self.schedule == "plateau" and float(self.base.numpy()) == self.base_lr:
            return
        self.base.assign(self.base_lr)
        self.best.assign(math.nan)
        self.wait.assign(0)
        self.set_learning_rate(self._step_lr() if self.schedule == "steps" else self.base_lr)

    def on_train_batch_begin(self, batch, logs=None):
        if self.schedule == "steps":
            lr = self._step_lr()
            if not math.isclose(lr, self.learning_rate, rel_tol=1e-6):
                self.set_learning_rate(lr)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if self.schedule == "plateau" and self.monitor in logs:
            value = float(logs[self.monitor])
            if _is_better(value, float(self.best.numpy()), self.monitor):
                self.best.assign(value)
                self.wait.assign(0)
            else:
                self.wait.assign_add(1)
                if self.wait.numpy() >= self.patience and self.learning_rate > self.min_lr:
                    new_lr = max(self.learning_rate * self.factor, self.min_lr)
                    self.set_learning_rate(new_lr)
                    self.wait.assign(0)
                    print(
                        f"\n{self.monitor} has not improved for {self.patience} epochs: "
                        f"learning rate lowered to {new_lr:.3g}"
                    )
        logs["learning_rate"] = self.learning_rate


class CheckpointSaver(keras.callbacks.Callback):
    """Saves `checkpointer` every `interval` steps (0: never) and at the end of training."""

    def __init__(self, checkpointer, interval):
        super().__init__()
        self.checkpointer, self.interval = checkpointer, int(interval)
        self._last_saved = None

    def _save(self):
        step = int(self.checkpointer.step.numpy())
        if step != self._last_saved:
            self.checkpointer.save()
            self._last_saved = step

    def on_train_begin(self, logs=None):
        self._last_saved = int(self.checkpointer.step.numpy())

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.checkpointer.step.numpy())
        if self.interval and step % self.interval == 0:
            self._save()

    def on_train_end(self, logs=None):
        self._save()


class TensorBoardScalars(keras.callbacks.Callback):
    """Training metrics every `interval` steps and epoch/validation metrics, to TensorBoard.

    Writes to `log_dir/train` (tags as the metric names, plus learning_rate) and
    `log_dir/validation` (val_X as X), so train and validation curves overlay.
    Steps are the run's step counter, continuous across resumes.
    """

    def __init__(self, log_dir, step, interval=10):
        super().__init__()
        self.log_dir, self.step, self.interval = log_dir, step, int(interval)
        self.train_writer = tf.summary.create_file_writer(os.path.join(log_dir, "train"))
        self.val_writer = tf.summary.create_file_writer(os.path.join(log_dir, "validation"))

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.step.numpy())
        if not self.interval or step % self.interval or not logs:
            return
        with self.train_writer.as_default(step=step):
            for name, value in logs.items():
                if np.ndim(value) == 0:
                    tf.summary.scalar(name, float(value))

    def on_epoch_end(self, epoch, logs=None):
        step = int(self.step.numpy())
        logs = logs or {}
        with self.val_writer.as_default(step=step):
            for name, value in logs.items():
                if name.startswith("val_") and np.ndim(value) == 0:
                    tf.summary.scalar(name[4:], float(value))
        with self.train_writer.as_default(step=step):
            for name in ("learning_rate", "f1"):
                if name in logs:
                    tf.summary.scalar(name, float(logs[name]))
        self.train_writer.flush()
        self.val_writer.flush()

    def on_train_end(self, logs=None):
        self.train_writer.flush()
        self.val_writer.flush()


def sample_grid(images, columns=SAMPLE_COLUMNS, border=2):
    """Rows of images side by side: dict name -> [B, H, W, C] in [0, 1] -> uint8 [R, C', 3].

    One row per batch element, one column per name in `columns` (1-channel
    images are repeated to RGB), separated by white `border` pixels.
    """
    missing = [c for c in columns if c not in images]
    if missing:
        raise ValueError(f"sample images lack {missing}; got {sorted(images)}")
    cols = []
    for name in columns:
        x = np.clip(np.asarray(images[name], np.float32), 0.0, 1.0)
        if x.ndim != 4 or x.shape[-1] not in (1, 3):
            raise ValueError(f"sample image {name!r} must be [B, H, W, 1 or 3], got {x.shape}")
        cols.append(np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x)
    b, h, w, _ = cols[0].shape
    grid = np.ones((b * (h + border) + border, len(cols) * (w + border) + border, 3), np.float32)
    for i in range(b):
        for j, col in enumerate(cols):
            top, left = border + i * (h + border), border + j * (w + border)
            grid[top : top + h, left : left + w] = col[i]
    return np.round(grid * 255.0).astype(np.uint8)


class SampleWriter(keras.callbacks.Callback):
    """Every `interval` steps: `model.sample(batch)` as a PNG grid and a TensorBoard image.

    Columns: ground truth, masked input, edges, raw output, composite; one row
    per image of the fixed `batch`. PNGs go to `sample_dir/step_0001000.png`;
    the image goes to the summary `writer` (e.g. `TensorBoardScalars.train_writer`)
    under the tag "samples".
    """

    def __init__(self, batch, step, interval, sample_dir=None, writer=None):
        super().__init__()
        self.batch, self.step, self.interval = batch, step, int(interval)
        self.sample_dir, self.writer = sample_dir, writer

    def write(self):
        """Writes the grid for the current step; returns the grid (uint8 RGB)."""
        step = int(self.step.numpy())
        grid = sample_grid({k: np.asarray(v) for k, v in self.model.sample(self.batch).items()})
        if self.sample_dir:
            write_image(os.path.join(self.sample_dir, f"step_{step:07d}.png"), grid)
        if self.writer is not None:
            with self.writer.as_default(step=step):
                tf.summary.image("samples", grid[None], max_outputs=1)
            self.writer.flush()
        return grid

    def on_train_batch_end(self, batch, logs=None):
        if self.interval and int(self.step.numpy()) % self.interval == 0:
            self.write()


class BestWeights(keras.callbacks.Callback):
    """Writes a weights directory (weights.save_networks) when `monitor` improves.

    `monitor` is an epoch log such as "val_psnr" (maximized) or "val_mae"
    (minimized). The best value is in `state_variables`, saved by the checkpoint.
    """

    def __init__(self, directory, networks, monitor, step, **metadata):
        super().__init__()
        self.directory, self.networks, self.monitor = directory, networks, monitor
        self.step, self.metadata = step, metadata
        self.best = tf.Variable(math.nan, dtype=tf.float64, trainable=False, name="best")

    @property
    def state_variables(self):
        return [self.best]

    def on_epoch_end(self, epoch, logs=None):
        from edgeconnect_tf.weights import save_networks

        if not logs or self.monitor not in logs:
            return
        value = float(logs[self.monitor])
        if math.isfinite(value) and _is_better(value, float(self.best.numpy()), self.monitor):
            self.best.assign(value)
            save_networks(
                self.directory,
                self.networks,
                iteration=int(self.step.numpy()),
                **{self.monitor: value},
                **self.metadata,
            )


class StopAtStep(keras.callbacks.Callback):
    """Stops training once the step counter reaches `max_iters` (total steps of the run)."""

    def __init__(self, step, max_iters):
        super().__init__()
        self.step, self.max_iters = step, int(max_iters)

    def on_train_batch_end(self, batch, logs=None):
        if int(self.step.numpy()) >= self.max_iters:
            self.model.stop_training = True
