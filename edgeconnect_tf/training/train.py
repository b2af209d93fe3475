"""Training: config -> strategy -> data -> model -> `fit` (or a multi-worker loop) -> weights.

`train(config, model_type)` runs one stage (edge, inpaint, edge_inpaint, joint)
(`edgeconnect train`, see `cli/train.py`).

The run directory (`config.output_dir`):

    config.yaml                   the effective configuration of the latest start
    checkpoints/ckpt-STEP.*       networks, optimizers, step, schedule state;
                                  a restarted run resumes from the latest one
    logs/train, logs/validation   TensorBoard scalars and sample images
    samples/step_XXXXXXX.png      sample grids: gt, masked, edges, raw, composite
    best/                         weights directory of the best validation
    weights/                      weights directory at the end (`weights.py`),
                                  what `--pretrained` and inference read

Steps count per run directory: `max_iters` is the total of the run, so a resumed
run continues from its checkpoint's step, and a fine-tune of `pretrained`
weights (a new run directory) starts at step 0 and trains `max_iters` steps.

Distribution (`strategy`): "default" (one device), "mirrored" (all local GPUs)
and "multi_worker" (`MultiWorkerMirroredStrategy` from TF_CONFIG). `model.fit`
fails under MultiWorkerMirroredStrategy in Keras 3 (keras-team/keras#20585), so
multi-worker runs the same `train_step`/`test_step` and callbacks in a small
custom loop (`experimental_distribute_dataset` + `strategy.run`). Only the chief
writes the run directory; other workers write their checkpoints to a temporary
directory that is deleted at the end.
"""

import dataclasses
import math
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from edgeconnect_tf import weights as weights_lib
from edgeconnect_tf.training import callbacks as cb
from edgeconnect_tf.training.config import MODELS, ConfigError
from edgeconnect_tf.training.optimizers import TorchAdam


class TrainError(ValueError):
    """A training run cannot start: bad data source, missing pretrained weights, ..."""


@dataclasses.dataclass
class TrainResult:
    """What `train` returns: the final step, the last epoch's logs and where things are."""

    step: int
    logs: dict
    output_dir: str
    weights_dir: str | None


# ---------------------------------------------------------------------- pieces


def make_strategy(name):
    """A tf.distribute strategy for the config's `strategy` key.

    "multi_worker" reads the cluster from TF_CONFIG and must be created before
    any other TensorFlow op runs in the process.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise TrainError("strategy multi_worker needs the TF_CONFIG environment variable")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise TrainError(f"strategy must be default, mirrored or multi_worker, got {name!r}")


def is_chief(strategy):
    """True in single-host runs and on the chief (or worker 0 without chief) of a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def build_model(config, model_type):
    """The training model of `model_type` with the config's sizes and loss weights.

    Call inside the strategy scope (and after setting the mixed-precision policy).
    """
    from edgeconnect_tf.training.stages import EdgeInpaintModel, EdgeModel, InpaintModel

    common = dict(
        residual_blocks=config.residual_blocks,
        filters=config.filters,
        gan_loss=config.gan_loss,
        conv_mode=config.conv_mode,
        adv_warmup_iters=config.adv_warmup_iters,
    )

    def edge():
        return EdgeModel(
            **common,
            fm_loss_weight=config.fm_loss_weight,
            edge_threshold=config.edge_threshold,
        )

    def inpaint():
        return InpaintModel(
            **common,
            vgg_weights=config.vgg_weights,
            l1_loss_weight=config.l1_loss_weight,
            content_loss_weight=config.content_loss_weight,
            style_loss_weight=config.style_loss_weight,
            inpaint_adv_loss_weight=config.inpaint_adv_loss_weight,
            hole_fill=config.hole_fill,
        )

    if model_type == "edge":
        return edge()
    if model_type == "inpaint":
        return inpaint()
    if model_type in ("edge_inpaint", "joint"):
        return EdgeInpaintModel(edge(), inpaint(), joint=model_type == "joint")
    raise ConfigError(f"model must be one of {list(MODELS)}, got {model_type!r}")


def load_pretrained(networks, directories, config):
    """Loads each network's weights from the last of `directories` holding its file.

    Returns dict name -> directory it came from. A directory whose generators
    have another size (or whose G2, when G2 is loaded, another `hole_fill`) than
    the config's is an error naming both.
    """
    loaded = {}
    for directory in directories:
        meta = weights_lib.read_config(directory)
        keys = ["residual_blocks", "filters"]
        if "inpaint_generator" in networks:
            keys.append("hole_fill")
        for key in keys:
            if key in meta and meta[key] != getattr(config, key):
                raise TrainError(
                    f"pretrained {directory} has {key}={meta[key]} but the config has "
                    f"{key}={getattr(config, key)}; set --{key} {meta[key]}"
                )
        for name, net in networks.items():
            path = os.path.join(directory, weights_lib.FILES[name])
            if os.path.isfile(path):
                try:
                    net.load_weights(path)
                except Exception as e:  # h5py/keras raise many types for a bad file
                    raise TrainError(f"{path} could not be loaded: {e}") from None
                loaded[name] = directory
    return loaded


def _check_pretrained(directories, model_type):
    """Fails early for unreadable directories and edge_inpaint/joint without a trained G1."""
    for directory in directories:
        weights_lib.read_config(directory)
    if model_type in ("edge_inpaint", "joint"):
        name = weights_lib.FILES["edge_generator"]
        if not any(os.path.isfile(os.path.join(d, name)) for d in directories):
            raise TrainError(
                f"model {model_type} starts from a trained edge generator: pass --pretrained "
                f"DIR, a weights directory with {name} (an edge run's output_dir/weights or "
                "converted official weights)"
            )


def make_datasets(config):
    """(train, validation or None, sample batch) from the config's file lists."""
    from edgeconnect_tf.data.dataset import build_dataset

    if not config.train_flist:
        raise TrainError("train_flist is not set: pass --train_flist DIR_OR_FLIST")
    common = dict(
        input_size=config.input_size,
        mask=config.mask_spec(),
        sigma=config.sigma,
        edge=config.edge,
        nms=config.nms,
        seed=config.seed,
    )

    def build(source, key, training, batch_size, mask_source, edge_source):
        try:
            return build_dataset(
                source,
                training=training,
                batch_size=batch_size,
                mask_source=mask_source,
                edge_source=edge_source,
                **common,
            )
        except ValueError as e:
            raise TrainError(f"{key} data ({key}_flist, {key}_mask_flist, mask): {e}") from None

    train_args = (config.train_mask_flist, config.train_edge_flist)
    train_ds = build(config.train_flist, "train", True, config.batch_size, *train_args)
    val_ds = None
    sample_source = train_ds
    if config.val_flist:
        # As the reference evaluates: training-mode data (edges of the whole image, so
        # edge precision/recall inside the hole mean something), `val_steps` batches,
        # cached in memory so every validation sees the same images and masks.
        val_args = (config.val_mask_flist or config.train_mask_flist, config.val_edge_flist)
        sample_source = build(config.val_flist, "val", True, config.batch_size, *val_args)
        val_ds = sample_source.take(config.val_steps).cache()
        # A known length: Keras 3.15's evaluate averages an extra zero into every metric
        # on a dataset of unknown cardinality (what tf.data `filter` gives).
        val_ds = val_ds.apply(tf.data.experimental.assert_cardinality(config.val_steps))
    # The sample grid's images: the first validation (else training) images.
    sample_batch = next(iter(sample_source.unbatch().batch(config.sample_size).take(1)))
    return train_ds, val_ds, sample_batch


def _monitor(setting, model_type, has_val, fallback):
    if setting != "auto":
        return None if setting.lower() == "none" else setting
    if model_type == "edge":
        return "val_f1" if has_val else fallback[0]
    return "val_psnr" if has_val else fallback[1]


def _optimizer(config, lr):
    return TorchAdam(lr, beta_1=config.beta1, beta_2=config.beta2)


# ----------------------------------------------------------------------- train


def train(
    config,
    model_type=None,
    *,
    train_dataset=None,
    val_dataset=None,
    sample_batch=None,
    callbacks=(),
    strategy=None,
):
    """Trains `model_type` (default: `config.model`) as `config` says; returns a TrainResult.

    Args:
        config: a `Config`.
        model_type: edge, inpaint, edge_inpaint or joint; overrides config.model.
        train_dataset, val_dataset, sample_batch: replace the datasets built from
            the config's file lists (dicts of image, gray, edge, mask batches;
            `train_dataset` must repeat forever).
        callbacks: extra Keras callbacks, called after the built-in ones.
        strategy: a tf.distribute strategy instead of `config.strategy`'s.

    Raises:
        ConfigError, TrainError, weights.WeightsError: the run cannot start.
        callbacks.TrainingDivergedError: a metric became NaN (message: metric, step).
    """
    if model_type is not None:
        config = config.replace(model=model_type)
    if config.model is None:
        raise ConfigError(f"model is not set: pass --model {'|'.join(MODELS)}")
    model_type = config.model
    config = config.replace(output_dir=config.output_dir.replace("{model}", model_type))
    # MultiWorkerMirroredStrategy must exist before any other TensorFlow op runs.
    strategy = strategy or make_strategy(config.strategy)
    chief = is_chief(strategy)
    if not tf.config.list_logical_devices("GPU"):
        check_cpu_switches(config)
    keras.utils.set_random_seed(config.seed)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(
        "float32" if config.mixed_precision == "none" else config.mixed_precision
    )
    try:
        return _train(config, strategy, chief, train_dataset, val_dataset, sample_batch, callbacks)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _train(config, strategy, chief, train_ds, val_ds, sample_batch, extra_callbacks):
    model_type, out = config.model, config.output_dir
    checkpoint_dir = os.path.join(out, "checkpoints")
    latest = tf.train.latest_checkpoint(checkpoint_dir)
    if not latest:
        _check_pretrained(config.pretrained, model_type)
    if train_ds is None:
        train_ds, built_val, built_sample = make_datasets(config)
        val_ds = val_ds if val_ds is not None else built_val
        sample_batch = sample_batch if sample_batch is not None else built_sample
    if chief:
        os.makedirs(out, exist_ok=True)
        config.to_yaml(os.path.join(out, "config.yaml"))

    lr = config.joint_lr if model_type == "joint" else config.lr
    jit_compile = config.jit_compile and strategy.num_replicas_in_sync == 1
    if config.jit_compile and not jit_compile:
        _say(chief, "jit_compile ignored: XLA cannot compile a step spanning several replicas")
    with strategy.scope():
        model = build_model(config, model_type)
        model.build_networks(config.input_size)
        model.compile(
            g_optimizer=_optimizer(config, lr),
            d_optimizer=_optimizer(config, lr * config.d2g_lr),
            jit_compile=jit_compile,
        )
    networks = model.networks
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    schedule, best = _schedule_and_best(config, model, step, lr, has_val=val_ds is not None)
    state = {"lr_schedule": schedule.state_variables}
    if best is not None:
        state["best_weights"] = best.state_variables
    # Workers other than the chief save (all workers take part in a save) to a temporary
    # directory, deleted at the end; everyone restores from the chief's.
    save_dir = checkpoint_dir if chief else tempfile.mkdtemp(prefix="edgeconnect_worker_ckpt_")
    optimizers = {"g_optimizer": model.g_optimizer, "d_optimizer": model.d_optimizer}
    checkpointer = cb.Checkpointer(
        save_dir, networks, optimizers, step, extra=state, max_to_keep=config.keep_checkpoints
    )
    try:
        if latest:
            try:
                restored = checkpointer.restore(latest)
            except ValueError as e:
                hint = "resume with the same settings or use another --output_dir"
                raise TrainError(f"{e}; {hint}") from None
            _say(chief, f"Resuming {model_type} training from {latest} at step {restored}.")
        else:
            loaded = load_pretrained(networks, config.pretrained, config)
            for name, directory in sorted(loaded.items()):
                _say(chief, f"Loaded {name} from {directory}.")
        callbacks = [cb.StepCounter(step), cb.NaNGuard(step, checkpoint_dir), cb.DerivedMetrics()]
        callbacks += [schedule, cb.CheckpointSaver(checkpointer, config.save_interval)]
        if chief:
            callbacks += _chief_callbacks(config, step, sample_batch, best)
        callbacks += [cb.StopAtStep(step, config.max_iters), *extra_callbacks]
        logs = _fit(config, model, strategy, chief, step, train_ds, val_ds, callbacks)
    finally:
        if not chief:
            shutil.rmtree(save_dir, ignore_errors=True)

    weights_dir = None
    if chief:
        weights_dir = os.path.join(out, "weights")
        iteration = int(step.numpy())
        weights_lib.save_networks(
            weights_dir, networks, iteration=iteration, model=model_type, **_edge_metadata(config)
        )
        _say(chief, f"Weights written to {weights_dir} (step {iteration}).")
    return TrainResult(int(step.numpy()), logs, out, weights_dir)


def _edge_metadata(config):
    """What a weights directory says about the edges its networks were trained on: Canny's
    sigma (`EdgeConnect.from_pretrained` takes it); none for a random or no sigma."""
    return {"sigma": config.sigma} if config.sigma > 0 else {}


def _schedule_and_best(config, model, step, lr, has_val):
    """The learning-rate schedule and the best-weights callback (None without validation)."""
    model_type = config.model
    schedule = cb.LearningRateSchedule(
        [model.g_optimizer],
        [model.d_optimizer],
        lr,
        config.d2g_lr,
        "constant" if model_type == "joint" else config.lr_schedule,
        step=step,
        factor=config.lr_decay_factor,
        patience=config.lr_patience,
        monitor=_monitor(config.lr_monitor, model_type, has_val, ("fm", "l1")),
        min_lr=config.min_lr,
        boundaries=config.lr_boundaries,
    )
    best_metric = _monitor(config.best_metric, model_type, has_val, (None, None))
    best = None
    if has_val and best_metric:  # on every worker (the checkpoint holds its state)
        directory = os.path.join(config.output_dir, "best")
        best = cb.BestWeights(
            directory, model.networks, best_metric, step, model=model_type, **_edge_metadata(config)
        )
    return schedule, best


def _chief_callbacks(config, step, sample_batch, best):
    """TensorBoard scalars, sample grids and best weights: what only the chief writes."""
    out = config.output_dir
    scalars = cb.TensorBoardScalars(os.path.join(out, "logs"), step, config.log_interval)
    callbacks = [scalars]
    if sample_batch is not None and config.sample_interval:
        samples_dir = os.path.join(out, "samples")
        callbacks.append(
            cb.SampleWriter(
                sample_batch, step, config.sample_interval, samples_dir, scalars.train_writer
            )
        )
    if best is not None:
        callbacks.append(best)
    return callbacks


def _fit(config, model, strategy, chief, step, train_ds, val_ds, callbacks):
    """Runs fit (or the multi-worker loop) from `step` to max_iters; the last epoch's logs."""
    start = int(step.numpy())
    remaining = config.max_iters - start
    if remaining <= 0:
        _say(chief, f"Step {start} >= max_iters {config.max_iters}: nothing to train.")
        return {}
    spe = config.steps_per_epoch
    initial_epoch = start // spe
    fit_args = dict(
        epochs=initial_epoch + math.ceil(remaining / spe),
        initial_epoch=initial_epoch,
        steps_per_epoch=spe,
        validation_data=val_ds,
        validation_freq=max(1, math.ceil(config.eval_interval / spe)),
        callbacks=callbacks,
        verbose=config.verbose if chief else 0,
    )
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        history = fit_custom_loop(model, strategy, train_ds, val_steps=config.val_steps, **fit_args)
    else:
        history = model.fit(train_ds, shuffle=False, **fit_args)
    return {k: v[-1] for k, v in history.history.items() if v}


def check_cpu_switches(config):
    """Refuses, before any work, the switches that cannot start a run on a CPU in time.

    Measured at full size (8 blocks, 64 filters, 256², batches 2 and 8) on 2 cores
    (bench/RESULTS.md, "Training switches"): every other combination of jit_compile,
    conv_mode and mixed_precision takes its first step within 2 minutes. Call it only
    without a GPU.

    Raises:
        ConfigError: one line saying why and what to use instead.
    """
    if config.mixed_precision == "mixed_float16":
        raise ConfigError(
            "mixed_precision mixed_float16 needs a GPU: TensorFlow has no fast float16 CPU "
            "kernels (a full-size step takes 5.5x float32's). Use mixed_bfloat16 (CPUs with "
            "AVX-512) or none"
        )
    if config.mixed_precision == "mixed_bfloat16" and not onednn_runs_bfloat16():
        raise ConfigError(
            "mixed_precision mixed_bfloat16 on this CPU: TensorFlow's fast (oneDNN) bfloat16 "
            "kernels need AVX-512 and oneDNN on (TF_ENABLE_ONEDNN_OPTS); its fallback makes a "
            "full-size step about 11x float32's. Use none"
        )


def onednn_runs_bfloat16():
    """Whether TensorFlow runs this CPU's bfloat16 convolutions with oneDNN.

    TensorFlow enables them on AVX-512 (or AVX-NE-CONVERT) CPUs with oneDNN on; elsewhere
    it falls back to Eigen's bfloat16 kernels (a full-size step 10.7x float32's measured
    with `TF_ENABLE_ONEDNN_OPTS=0`, bench/RESULTS.md). True when TensorFlow cannot say.
    """
    try:
        from tensorflow.python.util import _pywrap_util_port, _pywrap_utils

        bfloat16 = tf.bfloat16.as_datatype_enum
        return bool(
            _pywrap_util_port.IsMklEnabled()
            and _pywrap_utils.IsDataTypeSupportedByOneDNNOnThisCPU(bfloat16)
        )
    except (ImportError, AttributeError):  # private API: gone in another TensorFlow
        return True


def _say(chief, message):
    if chief:
        print(message, flush=True)


# ------------------------------------------------------------ multi-worker loop


def fit_custom_loop(
    model,
    strategy,
    dataset,
    *,
    epochs,
    initial_epoch,
    steps_per_epoch,
    validation_data=None,
    validation_freq=1,
    val_steps=50,
    callbacks=(),
    verbose=1,
):
    """`model.fit` for strategies where Keras' fit fails (MultiWorkerMirroredStrategy).

    Runs `model.train_step` under `strategy.run` on `dataset` (global batches,
    repeated forever), averages the replicas' logs, and drives `callbacks`
    exactly as `fit` does (batch/epoch hooks, validation logs as val_*, stop on
    `model.stop_training`). Validation runs `val_steps` batches of the repeated
    `validation_data`, so every worker runs the same number of steps. The step
    is a plain `tf.function` (the config's jit_compile is not applied here).
    Returns a keras.callbacks.History.
    """
    train_iter = iter(strategy.experimental_distribute_dataset(dataset))

    def reduce(logs):
        return {k: strategy.reduce("MEAN", v, axis=None) for k, v in logs.items()}

    @tf.function
    def train_fn(iterator):
        return reduce(strategy.run(model.train_step, args=(next(iterator),)))

    @tf.function
    def test_fn(iterator):
        return reduce(strategy.run(model.test_step, args=(next(iterator),)))

    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList(
        [*callbacks, history],
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=epochs,
        steps=steps_per_epoch,
    )
    val_dist = None
    if validation_data is not None:
        val_dist = strategy.experimental_distribute_dataset(validation_data.repeat())
    model.stop_training = False
    callback_list.on_train_begin()
    epoch_logs = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        logs = {}
        for batch in range(steps_per_epoch):
            callback_list.on_train_batch_begin(batch)
            logs = train_fn(train_iter)
            callback_list.on_train_batch_end(batch, logs)
            if model.stop_training:
                break
        epoch_logs = {k: float(v) for k, v in logs.items()}
        if val_dist is not None and (epoch + 1) % validation_freq == 0:
            model.reset_metrics()
            val_iter = iter(val_dist)
            val_logs = {}
            for _ in range(val_steps):
                val_logs = test_fn(val_iter)
            epoch_logs.update({f"val_{k}": float(v) for k, v in val_logs.items()})
        callback_list.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    callback_list.on_train_end(epoch_logs)
    return history
