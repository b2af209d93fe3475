"""Training models, one per EdgeConnect stage: `keras.Model`s with a custom `train_step`.

- `EdgeModel` (mode 1): G1 + D1 on ground-truth edges.
- `InpaintModel` (mode 2): G2 + D2 on ground-truth edges.
- `EdgeInpaintModel` (mode 3, `joint=False`): G2 + D2 on G1's edges composited as
  G1·m + edge·(1−m), G1 frozen; (mode 4, `joint=True`): the same, with G2's loss
  gradients reaching G1. The joint fine-tune drops D1, as in the paper: G1 is
  updated only through G2's loss.

Batches are dicts of float32 tensors: image [B, H, W, 3] in [0, 1], gray, edge
and mask [B, H, W, 1] (mask 1 = hole). Usage:

    with strategy.scope():
        model = EdgeModel(residual_blocks=8, filters=64)
        model.build_networks(256)
        model.compile(g_optimizer, d_optimizer)  # optimizers made in the scope, or None
    model.fit(dataset, ...)

A step runs D once on [real; fake] concatenated along the batch (D has no
batch statistics, so this equals two calls), and takes the D and G gradients
from that one forward: both come from the same pre-update discriminator. The
spectral-norm `u`/`v` of D therefore get one power iteration per step (the
reference calls D three times per step, so three).

Logged metrics are the reference's: the G terms it logs are weighted, so the G
loss is g1 + fm (edge) and g2 + l1 + perceptual + style (inpaint); g1 and g2
are the (weighted) adversarial terms.

Distribution: each loss is a mean over the replica's batch; it is divided by the
replica count before differentiation because `optimizer.apply` sums gradients
across replicas (Keras 3 TF backend: `_all_reduce_sum_gradients`). For losses
that are plain means this gives the one-device update of the same global batch;
the L1 term is normalized by each replica's mean mask, which equals the global
one when the replicas' masks cover the same fraction. Logged metrics are the
mean over replicas. Create the model inside the strategy scope; `compile`
creates and builds the optimizers in that scope. XLA (`jit_compile=True`)
works on one device only: under a multi-replica strategy `compile` refuses it
(Keras compiles around `strategy.run`, which XLA cannot do across devices).

Mixed precision: set the Keras global policy before creating the model; the
networks and losses compute in float32 at their outputs, and under
"mixed_float16" `compile` wraps both optimizers in `LossScaleOptimizer`.
"""

import keras
import tensorflow as tf

from edgeconnect_tf.data.image_ops import composite, edge_generator_inputs, inpaint_generator_inputs
from edgeconnect_tf.evaluation.metrics import edge_precision_recall_tf, mae_tf, psnr_tf
from edgeconnect_tf.training import losses
from edgeconnect_tf.training.optimizers import TorchAdam
from edgeconnect_tf.weights import INPUT_CHANNELS
from edgeconnect_tf.weights import build_networks as make_networks

G_LR, D_LR, BETA_1, BETA_2 = 1e-4, 1e-5, 0.0, 0.9


def _num_replicas():
    context = tf.distribute.get_replica_context()
    if context is None:  # cross-replica context
        return tf.distribute.get_strategy().num_replicas_in_sync
    return context.num_replicas_in_sync


def _prepare_optimizer(optimizer, learning_rate, variables, arg, policy):
    """The optimizer (PyTorch's Adam(lr, 0, 0.9) if None), loss-scaled under mixed_float16, built.

    Runs in the model's strategy scope, so new variables are mirrored.
    """
    if optimizer is None:
        optimizer = TorchAdam(learning_rate, beta_1=BETA_1, beta_2=BETA_2)
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(f"{arg} must be a keras.optimizers.Optimizer, got {optimizer!r}")
    created_in = getattr(optimizer, "_distribution_strategy", None)
    if created_in is not None and created_in is not tf.distribute.get_strategy():
        raise ValueError(
            f"{arg} was created outside the model's distribution strategy scope; "
            "create it inside `with strategy.scope():` (or pass None for the default)"
        )
    if policy == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer, name=f"{arg}_loss_scale")
    if not optimizer.built:
        optimizer.build(variables)
    return optimizer


def _as_rgb(x):
    """[B, H, W, 1 or 3] -> [B, H, W, 3] float32 clipped to [0, 1]."""
    x = tf.clip_by_value(tf.cast(x, tf.float32), 0.0, 1.0)
    return tf.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def _split_real_fake(discriminator, real, fake, training):
    """D on [real; fake] in one call -> (real scores, fake scores, real feats, fake feats)."""
    scores, features = discriminator(tf.concat([real, fake], axis=0), training=training)
    real_scores, fake_scores = tf.split(scores, 2, axis=0)
    halves = [tf.split(f, 2, axis=0) for f in features]
    return real_scores, fake_scores, [h[0] for h in halves], [h[1] for h in halves]


def _check_input_size(input_size):
    if int(input_size) != input_size or input_size < 32 or input_size % 4:
        raise ValueError(f"input_size must be a multiple of 4, >= 32, got {input_size!r}")
    return int(input_size)


class _GANModel(keras.Model):
    """Shared plumbing: metric trackers, compile with two optimizers, one GAN update."""

    METRICS = ()

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._trackers = [keras.metrics.Mean(name=name) for name in self.METRICS]

    @property
    def metrics(self):
        return list(self._trackers)

    def generator_variables(self):
        raise NotImplementedError

    def discriminator_variables(self):
        raise NotImplementedError

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        """Stores and builds the generator and discriminator optimizers.

        Runs in the model's strategy scope (the one it was created in); optimizers
        passed in must have been created in that scope too. Defaults: Adam(1e-4,
        0, 0.9) for G and Adam(1e-5, 0, 0.9) for D, as PyTorch computes it
        (`optimizers.TorchAdam`, ε 1e-8); under a "mixed_float16" model
        policy each is wrapped in a `LossScaleOptimizer`. `kwargs` (jit_compile,
        steps_per_execution, run_eagerly, ...) go to `keras.Model.compile`; the G
        optimizer becomes `model.optimizer`, so `model.optimizer.iterations`
        counts steps.
        """
        if "optimizer" in kwargs:
            raise ValueError("pass g_optimizer and d_optimizer, not optimizer")
        strategy = self.distribute_strategy
        replicas = strategy.num_replicas_in_sync
        if kwargs.get("jit_compile") is True and replicas > 1:
            # Keras compiles its step function around `strategy.run`, one XLA cluster
            # over all devices, which fails ("Trying to access resource ... located in
            # device"); Keras' own jit_compile="auto" turns XLA off under tf.distribute.
            raise ValueError(
                f"jit_compile=True is not supported with {replicas} replicas: Keras "
                "compiles the step around strategy.run and XLA cannot span devices; "
                "use jit_compile=False under a multi-device strategy"
            )
        policy = self.dtype_policy.name
        with strategy.scope():
            if not self.built:
                self.build_networks(32)
            self.g_optimizer = _prepare_optimizer(
                g_optimizer, G_LR, self.generator_variables(), "g_optimizer", policy
            )
            self.d_optimizer = _prepare_optimizer(
                d_optimizer, D_LR, self.discriminator_variables(), "d_optimizer", policy
            )
            super().compile(optimizer=self.g_optimizer, **kwargs)

    def _apply_gradients(self, tape, g_loss, d_loss):
        """Both gradients from the recorded (pre-update) forward, then both updates."""
        g_vars, d_vars = self.generator_variables(), self.discriminator_variables()
        d_grads = tape.gradient(d_loss, d_vars)
        g_grads = tape.gradient(g_loss, g_vars)
        self.d_optimizer.apply(d_grads, d_vars)
        self.g_optimizer.apply(g_grads, g_vars)

    def _scaled(self, optimizer, loss):
        """Per-replica mean loss -> what to differentiate (replica share, loss scale)."""
        return optimizer.scale_loss(loss / _num_replicas())

    def _log(self, values):
        for tracker in self._trackers:
            tracker.update_state(values[tracker.name])
        return {m.name: m.result() for m in self._trackers}

    def sample(self, batch):
        """Images for sample grids, numpy [B, H, W, 3] float32 in [0, 1] (inference mode).

        Keys: gt, masked (the generator's masked input), edges, raw (generator
        output), composite (raw inside the hole, known pixels outside).
        """
        batch = {k: tf.convert_to_tensor(v, tf.float32) for k, v in batch.items()}
        return {k: keras.ops.convert_to_numpy(_as_rgb(v)) for k, v in self._sample(batch).items()}


class _Stage(_GANModel):
    """One stage's generator and discriminator (`NETWORKS` names them, as in
    `weights.FILES`), their building and their Keras config; the subclass adds its
    losses (`compute_losses`, `train_step`) and lists its loss settings in
    `CONFIG_KEYS`."""

    NETWORKS = ()
    CONFIG_KEYS = ()
    RENAMED = {}  # old keyword -> its name now (refused, naming the new one)

    def __init__(
        self,
        generator=None,
        discriminator=None,
        *,
        residual_blocks=8,
        filters=64,
        gan_loss="nsgan",
        conv_mode="direct",
        adv_warmup_iters=0,
        hole_fill="white",
        **kwargs,
    ):
        for old in sorted(set(kwargs) & set(self.RENAMED)):
            raise TypeError(f"{type(self).__name__}({old}=...) is now {self.RENAMED[old]}=...")
        super().__init__(**kwargs)
        _check_gan_loss(gan_loss, discriminator)
        self.residual_blocks, self.filters, self.gan_loss = residual_blocks, filters, gan_loss
        self.adv_warmup_iters = int(adv_warmup_iters)
        self.generator, self.discriminator = _networks(
            generator,
            discriminator,
            self.NETWORKS,
            residual_blocks=residual_blocks,
            filters=filters,
            gan_loss=gan_loss,
            conv_mode=conv_mode,
            hole_fill=hole_fill,
        )

    @property
    def networks(self):
        return dict(zip(self.NETWORKS, (self.generator, self.discriminator), strict=True))

    def generator_variables(self):
        return self.generator.trainable_variables

    def discriminator_variables(self):
        return self.discriminator.trainable_variables

    def adversarial_factor(self, optimizer):
        """1.0 once `optimizer` has taken `adv_warmup_iters` steps, 0.0 before (float32 scalar).

        The reconstruction warm-up: the generator's adversarial term is left out of
        its loss for the first `adv_warmup_iters` steps; D trains from the first step.
        """
        return tf.cast(optimizer.iterations >= self.adv_warmup_iters, tf.float32)

    def build_networks(self, input_size=256):
        """Creates G's and D's variables (a call on zeros) so `fit` needn't build them."""
        size = _check_input_size(input_size)
        for name, network in self.networks.items():
            _build(network, [1, size, size, INPUT_CHANNELS[name]])
        self.built = True

    def get_config(self):
        return {
            **super().get_config(),
            **_serialize_networks(self, ("generator", "discriminator")),
            "residual_blocks": self.residual_blocks,
            "filters": self.filters,
            "gan_loss": self.gan_loss,
            "adv_warmup_iters": self.adv_warmup_iters,
            **{key: getattr(self, key) for key in self.CONFIG_KEYS},
        }

    @classmethod
    def from_config(cls, config):
        return cls(**_deserialize_networks(config, ("generator", "discriminator")))


@keras.saving.register_keras_serializable(package="edgeconnect_tf")
class EdgeModel(_Stage):
    """Mode 1: edge generator G1 against discriminator D1 (on [gray, edge]).

    G loss = edge_adv_loss_weight · adversarial + fm_loss_weight · feature matching.
    Metrics: d1, g1 (weighted adversarial), fm (weighted feature matching),
    precision and recall of G1's edges inside the hole at `edge_threshold`.

    Example:
    >>> model = EdgeModel(residual_blocks=1, filters=8)
    >>> model.compile()
    >>> logs = model.train_step(batch)  # or model.fit(dataset)
    """

    METRICS = ("d1", "g1", "fm", "precision", "recall")
    NETWORKS = ("edge_generator", "edge_discriminator")
    CONFIG_KEYS = ("fm_loss_weight", "edge_adv_loss_weight", "edge_threshold")
    RENAMED = {"adv_loss_weight": "edge_adv_loss_weight"}

    def __init__(
        self, *args, fm_loss_weight=10.0, edge_adv_loss_weight=1.0, edge_threshold=0.5, **kw
    ):
        super().__init__(*args, **kw)
        self.fm_loss_weight, self.edge_adv_loss_weight = fm_loss_weight, edge_adv_loss_weight
        self.edge_threshold = edge_threshold

    def predict_edges(self, gray, edge, mask, training=False):
        """G1's raw edge map [B, H, W, 1]; the same input assembly as inference."""
        return self.generator(edge_generator_inputs(gray, edge, mask), training=training)

    def call(self, batch, training=False):
        """G1's raw edge map [B, H, W, 1] for a batch dict (gray, edge, mask)."""
        return self.predict_edges(batch["gray"], batch["edge"], batch["mask"], training=training)

    def compute_losses(self, batch, training):
        """One forward of G1 and D1 -> (G1 output, dict of the logged values)."""
        gray, edge, mask = batch["gray"], batch["edge"], batch["mask"]
        pred = self.predict_edges(gray, edge, mask, training=training)
        real_scores, fake_scores, real_feats, fake_feats = _split_real_fake(
            self.discriminator,
            tf.concat([gray, edge], axis=-1),
            tf.concat([gray, pred], axis=-1),
            training,
        )
        precision, recall = edge_precision_recall_tf(edge, pred, mask, self.edge_threshold)
        return pred, {
            "d1": losses.discriminator_loss(real_scores, fake_scores, self.gan_loss),
            "g1": self.edge_adv_loss_weight
            * losses.generator_adversarial_loss(fake_scores, self.gan_loss),
            "fm": self.fm_loss_weight * losses.feature_matching_loss(fake_feats, real_feats),
            "precision": precision,
            "recall": recall,
        }

    def train_step(self, batch):
        with tf.GradientTape(persistent=True) as tape:
            _, logs = self.compute_losses(batch, training=True)
            d_loss = self._scaled(self.d_optimizer, logs["d1"])
            adversarial = self.adversarial_factor(self.g_optimizer)
            g_loss = self._scaled(self.g_optimizer, adversarial * logs["g1"] + logs["fm"])
        self._apply_gradients(tape, g_loss, d_loss)
        return self._log(logs)

    def test_step(self, batch):
        return self._log(self.compute_losses(batch, training=False)[1])

    def _sample(self, batch):
        gray, edge, mask = batch["gray"], batch["edge"], batch["mask"]
        pred = self.predict_edges(gray, edge, mask, training=False)
        return {
            "gt": batch["image"],
            "masked": gray * (1.0 - mask) + mask,
            "edges": edge,
            "raw": pred,
            "composite": composite(pred, edge, mask),
        }


@keras.saving.register_keras_serializable(package="edgeconnect_tf")
class InpaintModel(_Stage):
    """Mode 2: inpainting generator G2 against discriminator D2, on ground-truth edges.

    G loss = inpaint_adv_loss_weight · adversarial + l1_loss_weight · L1 / mean(mask)
    + content_loss_weight · perceptual + style_loss_weight · style (VGG19,
    `vgg_weights`: "imagenet", None, a local Keras .h5 file, or torchvision's
    VGG19 .pth, the authors' VGG and feeding; see `losses`). Metrics: d2, g2,
    l1, perceptual, style (all weighted, g2 the adversarial term), psnr and
    mae of the composite against the image.
    """

    METRICS = ("d2", "g2", "l1", "perceptual", "style", "psnr", "mae")
    NETWORKS = ("inpaint_generator", "inpaint_discriminator")
    CONFIG_KEYS = (
        "vgg_weights",
        "l1_loss_weight",
        "content_loss_weight",
        "style_loss_weight",
        "inpaint_adv_loss_weight",
    )
    RENAMED = {"adv_loss_weight": "inpaint_adv_loss_weight"}

    def __init__(
        self,
        *args,
        vgg_weights="imagenet",
        l1_loss_weight=1.0,
        content_loss_weight=0.1,
        style_loss_weight=250.0,
        inpaint_adv_loss_weight=0.1,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.vgg_weights = vgg_weights
        self.l1_loss_weight, self.content_loss_weight = l1_loss_weight, content_loss_weight
        self.style_loss_weight, self.inpaint_adv_loss_weight = (
            style_loss_weight,
            inpaint_adv_loss_weight,
        )
        # A plain object: the frozen VGG is not part of the model's weights. With both
        # VGG loss weights at 0 there is no VGG to run at all.
        self.perceptual_style = (
            losses.PerceptualStyleLoss(weights=vgg_weights)
            if content_loss_weight or style_loss_weight
            else None
        )

    def build_networks(self, input_size=256):
        """Creates G2's, D2's (and the VGG's) variables so `fit` needn't build them."""
        super().build_networks(input_size)
        if self.perceptual_style is not None:
            _build(self.perceptual_style.features, [1, input_size, input_size, 3])

    def predict_image(self, image, edges, mask, training=False):
        """G2's raw output [B, H, W, 3]; the same input assembly as inference."""
        inputs = inpaint_generator_inputs(image, edges, mask, self.generator.hole_fill)
        return self.generator(inputs, training=training)

    def call(self, batch, training=False):
        """G2's raw output [B, H, W, 3] for a batch dict (image, edge, mask)."""
        return self.predict_image(batch["image"], batch["edge"], batch["mask"], training=training)

    def compute_losses(self, image, edges, mask, training):
        """One forward of G2 and D2 on `edges` -> (G2 output, dict of the logged values)."""
        pred = self.predict_image(image, edges, mask, training=training)
        real_scores, fake_scores, _, _ = _split_real_fake(self.discriminator, image, pred, training)
        if self.perceptual_style is None:
            perceptual = style = tf.constant(0.0)
        else:
            perceptual, style = self.perceptual_style(pred, image, mask)
        merged = composite(pred, image, mask)
        return pred, {
            "d2": losses.discriminator_loss(real_scores, fake_scores, self.gan_loss),
            "g2": self.inpaint_adv_loss_weight
            * losses.generator_adversarial_loss(fake_scores, self.gan_loss),
            "l1": self.l1_loss_weight * losses.masked_l1_loss(pred, image, mask),
            "perceptual": self.content_loss_weight * perceptual,
            "style": self.style_loss_weight * style,
            "psnr": psnr_tf(image, merged),
            "mae": mae_tf(image, merged),
        }

    def generator_loss(self, logs, adversarial=1.0):
        """G2's loss from the logged terms; `adversarial` scales g2 (0 in the warm-up)."""
        return adversarial * logs["g2"] + logs["l1"] + logs["perceptual"] + logs["style"]

    def train_step(self, batch):
        with tf.GradientTape(persistent=True) as tape:
            _, logs = self.compute_losses(batch["image"], batch["edge"], batch["mask"], True)
            d_loss = self._scaled(self.d_optimizer, logs["d2"])
            adversarial = self.adversarial_factor(self.g_optimizer)
            g_loss = self._scaled(self.g_optimizer, self.generator_loss(logs, adversarial))
        self._apply_gradients(tape, g_loss, d_loss)
        return self._log(logs)

    def test_step(self, batch):
        return self._log(
            self.compute_losses(batch["image"], batch["edge"], batch["mask"], False)[1]
        )

    def _sample(self, batch, edges=None):
        image, mask = batch["image"], batch["mask"]
        edges = batch["edge"] if edges is None else edges
        pred = self.predict_image(image, edges, mask, training=False)
        return {
            "gt": image,
            "masked": image * (1.0 - mask) + mask,
            "edges": edges,
            "raw": pred,
            "composite": composite(pred, image, mask),
        }


@keras.saving.register_keras_serializable(package="edgeconnect_tf")
class EdgeInpaintModel(_GANModel):
    """Modes 3 and 4: G2 + D2 trained on G1's edges, composited as G1·m + edge·(1−m).

    `joint=False` (mode 3): G1 is frozen (run in inference mode: weights and
    spectral-norm vectors unchanged); only G2 and D2 train. `joint=True` (mode
    4, the paper's end-to-end fine-tune): G2's loss gradients also reach G1,
    which the G optimizer updates together with G2; D1 is dropped (unused, as
    in the paper), so G1 learns only through G2's loss. The step is
    `InpaintModel.compute_losses`, so losses and weights are `inpaint_model`'s.

    Metrics: the inpaint ones plus precision and recall of G1's edges in the hole.
    `networks`: edge_generator, inpaint_generator, inpaint_discriminator.
    """

    METRICS = InpaintModel.METRICS + ("precision", "recall")

    def __init__(self, edge_model, inpaint_model, *, joint=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(edge_model, EdgeModel):
            raise ValueError(f"edge_model must be an EdgeModel, got {type(edge_model).__name__}")
        if not isinstance(inpaint_model, InpaintModel):
            raise ValueError(
                f"inpaint_model must be an InpaintModel, got {type(inpaint_model).__name__}"
            )
        self.edge_model, self.inpaint_model, self.joint = edge_model, inpaint_model, bool(joint)

    @property
    def networks(self):
        return {
            "edge_generator": self.edge_model.generator,
            **self.inpaint_model.networks,
        }

    def generator_variables(self):
        g2 = self.inpaint_model.generator.trainable_variables
        return g2 + self.edge_model.generator.trainable_variables if self.joint else g2

    def discriminator_variables(self):
        return self.inpaint_model.discriminator.trainable_variables

    def build_networks(self, input_size=256):
        """Builds G1, G2, D2, the VGG (and the unused D1, so nothing is left for `fit`)."""
        self.edge_model.build_networks(input_size)
        self.inpaint_model.build_networks(input_size)
        self.built = True

    def edges(self, batch, training=False):
        """(G1's raw edges, G1·m + edge·(1−m)) for a batch dict."""
        mask = batch["mask"]
        pred = self.edge_model.predict_edges(batch["gray"], batch["edge"], mask, training=training)
        return pred, composite(pred, batch["edge"], mask)

    def call(self, batch, training=False):
        """G2's raw output [B, H, W, 3] on G1's composited edges."""
        _, edges = self.edges(batch, training=training)
        return self.inpaint_model.predict_image(
            batch["image"], edges, batch["mask"], training=training
        )

    def compute_losses(self, batch, training, edges=None):
        """G1 (trained only when joint and training), then InpaintModel's losses on its edges.

        `edges`: G1's (raw, composited) edges if already computed.
        """
        g1_trains = training and self.joint
        if edges is None:
            edges = self.edges(batch, training=g1_trains)
        raw_edges, composited = edges
        if not g1_trains:
            composited = tf.stop_gradient(composited)
        image, edge, mask = batch["image"], batch["edge"], batch["mask"]
        pred, logs = self.inpaint_model.compute_losses(image, composited, mask, training)
        precision, recall = edge_precision_recall_tf(
            edge, raw_edges, mask, self.edge_model.edge_threshold
        )
        return pred, {**logs, "precision": precision, "recall": recall}

    def train_step(self, batch):
        # Frozen G1 runs before the tape, so its activations are not recorded.
        edges = None if self.joint else self.edges(batch, training=False)
        with tf.GradientTape(persistent=True) as tape:
            _, logs = self.compute_losses(batch, training=True, edges=edges)
            d_loss = self._scaled(self.d_optimizer, logs["d2"])
            adversarial = self.inpaint_model.adversarial_factor(self.g_optimizer)
            loss = self.inpaint_model.generator_loss(logs, adversarial)
            g_loss = self._scaled(self.g_optimizer, loss)
        self._apply_gradients(tape, g_loss, d_loss)
        return self._log(logs)

    def test_step(self, batch):
        return self._log(self.compute_losses(batch, training=False)[1])

    def _sample(self, batch):
        _, edges = self.edges(batch, training=False)
        return self.inpaint_model._sample(batch, edges=edges)

    def get_config(self):
        return {
            **super().get_config(),
            **_serialize_networks(self, ("edge_model", "inpaint_model")),
            "joint": self.joint,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**_deserialize_networks(config, ("edge_model", "inpaint_model")))


def _networks(generator, discriminator, names, **settings):
    """(generator, discriminator), creating those given as None with
    `weights.build_networks(**settings)` (a given network keeps its own settings)."""
    given = dict(zip(names, (generator, discriminator), strict=True))
    missing = [name for name, net in given.items() if net is None]
    if missing:
        given.update(make_networks(names=tuple(missing), **settings))
    return given[names[0]], given[names[1]]


def _check_gan_loss(gan_loss, discriminator):
    if gan_loss not in losses.GAN_LOSS_KINDS:
        raise ValueError(f"gan_loss must be one of {losses.GAN_LOSS_KINDS}, got {gan_loss!r}")
    if discriminator is not None and discriminator.use_sigmoid != (gan_loss != "hinge"):
        raise ValueError(
            f"discriminator has use_sigmoid={discriminator.use_sigmoid}, but gan_loss="
            f"{gan_loss!r} needs use_sigmoid={gan_loss != 'hinge'}"
        )


def _build(network, shape):
    if not network.built:
        network(tf.zeros(shape), training=False)


def _serialize_networks(model, names):
    return {n: keras.saving.serialize_keras_object(getattr(model, n)) for n in names}


def _deserialize_networks(config, names):
    config = dict(config)
    for n in names:
        config[n] = keras.saving.deserialize_keras_object(config[n])
    return config
