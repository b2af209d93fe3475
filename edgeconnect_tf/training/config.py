"""Training configuration: one `Config` dataclass, loaded from YAML with strict keys.

Keys mirror the reference's `config.yml` in lower case (`lr`, `d2g_lr`, `batch_size`,
`max_iters`, `save_interval`, ...) plus keys of ours (network size, distribution
strategy, mixed precision, XLA, learning-rate schedule, output directory). An
unknown key or a value of the wrong type or range is a `ConfigError` naming the key
(and the file it came from); any key can be overridden (`edgeconnect train --lr 1e-5`).
The effective configuration is written as YAML into the run directory next to the
checkpoints, so a run can be reproduced. The paper's configurations ship with the
package: `places2`, `celeba`, `psv` and `quickstart` (tiny, CPU-sized) name them.

Example:
>>> config = load_config("places2", {"lr": "1e-5", "batch_size": 4})
>>> config.lr, config.batch_size
(1e-05, 4)
"""

import dataclasses
import math
import os
import types
import typing

import yaml

from edgeconnect_tf.files.io import atomic_write
from edgeconnect_tf.nn.conv_mode import CONV_MODES
from edgeconnect_tf.nn.hole_fill import HOLE_FILLS

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
MODELS = ("edge", "inpaint", "edge_inpaint", "joint")
# Mask kinds of masks.mask_sampler: reference MASK codes, sources and presets.
MASK_CODES = (1, 2, 3, 4, 5, 6)
MASK_SOURCES = ("block", "half", "irregular", "external", "free_form", "paired")
MASK_PRESETS = ("block_irregular", "block_half", "mixed")
EDGE_CODES = {1: "canny", 2: "external"}
GAN_LOSSES = ("nsgan", "lsgan", "hinge")
STRATEGIES = ("default", "mirrored", "multi_worker")
MIXED_PRECISION = ("none", "mixed_bfloat16", "mixed_float16")
LR_SCHEDULES = ("constant", "plateau", "steps")


MULTIPLE_OF_4 = "a multiple of 4, >= 32"
_POSITIVE_INTS = "batch_size sample_size residual_blocks filters steps_per_epoch val_steps".split()
_POSITIVE_INTS += ["keep_checkpoints", "lr_patience"]
_NON_NEGATIVE_INTS = "max_iters save_interval sample_interval eval_interval log_interval".split()
_NON_NEGATIVE_INTS += ["adv_warmup_iters"]
_LOSS_WEIGHTS = [k + "_loss_weight" for k in ("l1", "fm", "style", "content", "inpaint_adv")]


class ConfigError(ValueError):
    """A configuration key is unknown, or its value has the wrong type or range."""


def _field(default, help, choices=None, **kwargs):
    """A dataclass field carrying its help text and allowed values as metadata."""
    metadata = {"help": help, "choices": choices}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


@dataclasses.dataclass
class Config:
    """Every setting of a training run; defaults are the reference's (paper) values."""

    # What to train.
    model: str | None = _field(
        None,
        "stage to train: edge (G1), inpaint (G2 on ground-truth edges), edge_inpaint "
        "(G2 on frozen G1's edges), joint (G1 and G2 end to end, D1 dropped)",
        MODELS,
    )
    # Data (reference keys).
    train_flist: str | None = _field(
        None, "training images: a directory, a .flist text file of paths, a glob or TFRecords"
    )
    val_flist: str | None = _field(None, "validation images (same forms); none: no validation")
    test_flist: str | None = _field(None, "test images (used by evaluation, not training)")
    train_edge_flist: str | None = _field(None, "external edge maps for training (edge: external)")
    val_edge_flist: str | None = _field(None, "external edge maps for validation")
    test_edge_flist: str | None = _field(None, "external edge maps for testing")
    train_mask_flist: str | None = _field(
        None, "irregular mask files for training (PNG, white = hole)"
    )
    val_mask_flist: str | None = _field(None, "mask files for validation")
    test_mask_flist: str | None = _field(None, "mask files for testing")
    mask: int | str = _field(
        "irregular",
        "hole masks: a reference MASK code 1-6, or block (random half-size box), half "
        "(left/right half), irregular (random file of *_mask_flist), free_form (strokes), "
        "block_irregular, block_half, mixed, or a mixture such as block:0.3,irregular:0.7",
    )
    edge: str = _field(
        "canny",
        "edge source: canny (1, computed) or external (2, files of *_edge_flist)",
        ("canny", "external"),
    )
    nms: bool = _field(True, "external edges: keep them only where Canny finds edges")
    sigma: float = _field(
        2.0, "Canny Gaussian sigma; 0 draws a random integer sigma in 1..4; -1: no edges"
    )
    input_size: int = _field(256, "training crop size (square, multiple of 4, >= 32)")
    seed: int = _field(10, "random seed (initialization, data order, masks)")
    # Optimization.
    lr: float = _field(1e-4, "generator learning rate (Adam)")
    d2g_lr: float = _field(0.1, "discriminator / generator learning-rate ratio")
    beta1: float = _field(0.0, "Adam beta1")
    beta2: float = _field(0.9, "Adam beta2")
    batch_size: int = _field(8, "global batch size (split across replicas)")
    max_iters: int = _field(
        2_000_000, "training steps of this run directory (resumed runs count from their step)"
    )
    lr_schedule: str = _field(
        "plateau",
        "constant; plateau: lr x lr_decay_factor when lr_monitor stops improving for "
        "lr_patience epochs, down to min_lr; steps: lr x lr_decay_factor at each of "
        "lr_boundaries",
        LR_SCHEDULES,
    )
    lr_decay_factor: float = _field(0.1, "factor of each learning-rate decrease")
    lr_patience: int = _field(10, "plateau: epochs without improvement before a decrease")
    lr_monitor: str = _field(
        "auto", "plateau: metric to watch, e.g. val_psnr, g2; auto: val_psnr/val_f1 or g1/g2"
    )
    min_lr: float = _field(1e-5, "plateau: the learning rate is never lowered below this")
    lr_boundaries: list[int] = _field([], "steps: step numbers where the lr is multiplied")
    joint_lr: float = _field(
        1e-6, "learning rate of the joint fine-tune (model: joint), constant as in the paper"
    )
    # Losses (reference keys) and networks (ours).
    gan_loss: str = _field("nsgan", "adversarial loss", GAN_LOSSES)
    edge_threshold: float = _field(0.5, "edge precision/recall threshold")
    l1_loss_weight: float = _field(1.0, "G2 L1 loss weight")
    fm_loss_weight: float = _field(10.0, "G1 feature-matching loss weight")
    style_loss_weight: float = _field(250.0, "G2 style loss weight")
    content_loss_weight: float = _field(0.1, "G2 perceptual loss weight")
    inpaint_adv_loss_weight: float = _field(0.1, "G2 adversarial loss weight")
    adv_warmup_iters: int = _field(
        0,
        "reconstruction warm-up: steps at the start of a run whose generator loss leaves out "
        "the adversarial term (G1: feature matching only; G2: L1 + VGG losses); D trains "
        "throughout. 0: adversarial from the first step, as the paper",
    )
    residual_blocks: int = _field(8, "residual blocks per generator")
    hole_fill: str = _field(
        "white",
        "what G2 sees in the hole: white (the authors'), or pyramid (the known colours "
        "pushed in, G2 adding a correction: learns colour in short runs; see "
        "networks.InpaintGenerator)",
        HOLE_FILLS,
    )
    filters: int = _field(64, "width of the first conv (generators and discriminators)")
    vgg_weights: str | None = _field(
        "imagenet",
        "VGG19 for perceptual/style losses: imagenet (Keras' Caffe VGG19), a Keras .h5 path, "
        "torchvision's vgg19-dcbb9e9d.pth (the authors' VGG and feeding, their loss balance), "
        "or none: random weights (for tests). Unused when content_loss_weight and "
        "style_loss_weight are both 0 (no VGG is built)",
    )
    pretrained: list[str] = _field(
        [],
        "weights directories to initialize networks from (comma-separated on the command "
        "line; a later directory wins); ignored when the run resumes from its checkpoint",
    )
    # Intervals (reference keys).
    save_interval: int = _field(1000, "steps between checkpoints (0: only at the end)")
    sample_interval: int = _field(1000, "steps between sample grids (0: none)")
    sample_size: int = _field(12, "images in a sample grid")
    eval_interval: int = _field(
        0, "steps between validations, rounded up to whole epochs (0: every epoch if val_flist)"
    )
    log_interval: int = _field(10, "steps between TensorBoard scalar writes")
    # Run (ours).
    output_dir: str = _field(
        "runs/{model}", "run directory: checkpoints, logs, weights; {model} is replaced"
    )
    steps_per_epoch: int = _field(1000, "steps per Keras epoch (progress bar, plateau checks)")
    val_steps: int = _field(
        25, "validation batches, the same each time (kept in memory: about 1.5 MB per 256² image)"
    )
    keep_checkpoints: int = _field(3, "checkpoints kept in output_dir/checkpoints")
    best_metric: str = _field(
        "auto",
        "validation metric for output_dir/best (val_psnr, val_f1, val_mae, ...); auto: "
        "val_psnr for inpainting models, val_f1 for edge; none: off",
    )
    strategy: str = _field(
        "default",
        "default (one device), mirrored (all local GPUs), multi_worker (hosts from TF_CONFIG)",
        STRATEGIES,
    )
    mixed_precision: str = _field(
        "none", "Keras mixed-precision policy (mixed_float16: GPUs only)", MIXED_PRECISION
    )
    jit_compile: bool = _field(False, "compile the train step with XLA")
    conv_mode: str = _field(
        "direct",
        "how the generators compute their convolutions (edgeconnect_tf.nn.conv_mode): direct, "
        "xla (Winograd residual blocks, each its own XLA cluster: ~1.3x faster float32 steps on "
        "CPU, same gradients to float32 rounding) or graph (the inference default)",
        CONV_MODES,
    )
    verbose: int = _field(1, "Keras progress: 0 silent, 1 progress bar, 2 one line per epoch")

    def __post_init__(self):
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self, source=None):
        """Checks types and ranges; raises ConfigError naming the key (and `source`)."""
        where = f" in {source}" if source else ""
        if str(self.edge).strip() in ("1", "2"):
            self.edge = EDGE_CODES[int(self.edge)]
        if isinstance(self.mask, dict):  # YAML mapping {source: probability}
            self.mask = ",".join(f"{k}:{v}" for k, v in self.mask.items())
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            try:
                value = _coerce(value, f.type)
            except (TypeError, ValueError) as e:
                raise ConfigError(f"{f.name}{where}: {e}") from None
            setattr(self, f.name, value)
            choices = f.metadata.get("choices")
            if choices and value is not None and value not in choices:
                raise ConfigError(f"{f.name}{where}: must be one of {list(choices)}, got {value!r}")

        def check(key, ok, expected):
            if not ok:
                raise ConfigError(f"{key}{where}: expected {expected}, got {getattr(self, key)!r}")

        for key in ("lr", "d2g_lr", "joint_lr", "min_lr"):
            check(key, getattr(self, key) > 0, "a number > 0")
        for key in ("beta1", "beta2"):
            check(key, 0 <= getattr(self, key) < 1, "a number in [0, 1)")
        check("lr_decay_factor", 0 < self.lr_decay_factor < 1, "a number in (0, 1)")
        check("edge_threshold", 0 < self.edge_threshold < 1, "a number in (0, 1)")
        check("sigma", self.sigma >= 0 or self.sigma == -1, "a number >= 0, or -1")
        try:
            self.mask_spec()
        except ValueError as e:
            raise ConfigError(f"mask{where}: {e}") from None
        check("input_size", self.input_size >= 32 and self.input_size % 4 == 0, MULTIPLE_OF_4)
        for key in _POSITIVE_INTS:
            check(key, getattr(self, key) >= 1, "an integer >= 1")
        for key in _NON_NEGATIVE_INTS:
            check(key, getattr(self, key) >= 0, "an integer >= 0")
        for key in _LOSS_WEIGHTS:
            check(key, getattr(self, key) >= 0, "a number >= 0")
        check("verbose", self.verbose in (0, 1, 2), "0, 1 or 2")
        b = self.lr_boundaries
        check(
            "lr_boundaries", all(x > 0 for x in b) and b == sorted(set(b)), "increasing steps > 0"
        )
        return self

    def mask_spec(self):
        """`mask` as `masks.mask_sampler` takes it: a code, a name or {source: probability}."""
        mask = self.mask
        if isinstance(mask, int):
            if mask not in MASK_CODES:
                raise ValueError(f"a MASK code must be one of 1-6, got {mask}")
            return mask
        names = MASK_SOURCES + MASK_PRESETS
        if ":" not in mask:
            if mask not in names:
                raise ValueError(
                    f"expected a code 1-6, one of {list(names)} or a mixture such as "
                    f"block:0.5,irregular:0.5, got {mask!r}"
                )
            return mask
        spec = {}
        for part in mask.split(","):
            name, _, p = part.partition(":")
            name = name.strip()
            if name not in MASK_SOURCES or name == "paired":
                sources = [n for n in MASK_SOURCES if n != "paired"]
                raise ValueError(f"unknown mask source {name!r} in {mask!r}; expected {sources}")
            try:
                spec[name] = float(p)
            except ValueError:
                raise ValueError(f"bad probability {p!r} for {name!r} in {mask!r}") from None
            if not spec[name] >= 0:
                raise ValueError(f"probabilities must be >= 0, got {mask!r}")
        if not sum(spec.values()) > 0:
            raise ValueError(f"probabilities must have a positive sum, got {mask!r}")
        return spec

    # ------------------------------------------------------------- conversions
    @classmethod
    def from_dict(cls, values, source=None):
        """A Config from a mapping; unknown keys are a ConfigError naming them and `source`."""
        where = f" in {source}" if source else ""
        if not isinstance(values, dict):
            raise ConfigError(f"expected a mapping of keys to values{where}, got {values!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        values = {str(k).lower(): v for k, v in values.items()}
        if "winograd" in values:
            raise ConfigError(
                f"config key 'winograd'{where} is now conv_mode: 'winograd: true' is "
                "'conv_mode: xla', 'winograd: false' is 'conv_mode: direct'"
            )
        unknown = sorted(set(values) - names)
        if unknown:
            hints = [_suggest(k, names) for k in unknown]
            raise ConfigError(
                f"unknown config key{'s' if len(unknown) > 1 else ''} "
                + ", ".join(f"{k!r}{h}" for k, h in zip(unknown, hints, strict=True))
                + where
            )
        config = cls.__new__(cls)
        for f in dataclasses.fields(cls):
            default = f.default_factory() if callable(f.default_factory) else f.default
            setattr(config, f.name, values.get(f.name, default))
        return config.validate(source)

    @classmethod
    def from_yaml(cls, path):
        """A Config from a YAML file of `key: value` lines."""
        if not os.path.isfile(path):
            raise ConfigError(f"config file {path!r} does not exist")
        with open(path, encoding="utf-8") as f:
            try:
                values = yaml.safe_load(f)
            except yaml.YAMLError as e:
                raise ConfigError(f"{path} is not valid YAML: {e}") from None
        return cls.from_dict(values or {}, source=path)

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_yaml(self, path=None):
        """The config as YAML text; also written (atomically) to `path` if given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)
        if path is not None:
            atomic_write(path, text)
        return text

    def replace(self, _source="overrides", **changes):
        """A copy with `changes` applied and validated (ConfigError for unknown keys)."""
        return Config.from_dict({**self.to_dict(), **changes}, source=_source)


def _suggest(key, names):
    import difflib

    close = difflib.get_close_matches(key, sorted(names), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


_NONE_WORDS = ("none", "null", "~", "")
_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")


def _coerce(value, annotation):
    """`value` converted to the field type `annotation`; TypeError/ValueError if impossible.

    Strings (command line, or YAML's `1e-4`, which YAML reads as a string) are parsed;
    a float with an integral value is accepted for an int (`max_iters: 2e6`).
    """
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        inner = [a for a in args if a is not type(None)]
        if len(inner) < len(args) and (
            value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS)
        ):
            return None
        if inner == [int, str]:  # an integer code or a name
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                return int(value)
            return value if isinstance(value, str) else _coerce(value, int)
        return _coerce(value, inner[0])
    if typing.get_origin(annotation) is list:
        if value is None:
            return []
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif not isinstance(value, (list, tuple)):
            value = [value]
        return [_coerce(v, args[0]) for v in value]
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS + _FALSE_WORDS:
            return value.strip().lower() in _TRUE_WORDS
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise TypeError(f"expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise TypeError(f"expected an integer, got {value!r}")
        if isinstance(value, str):
            text = value.strip().replace("_", "")
            try:
                return int(text)
            except ValueError:
                value = _parse_float(text, "an integer")
        if isinstance(value, float) and math.isfinite(value) and value == int(value):
            return int(value)
        if isinstance(value, int):
            return value
        raise TypeError(f"expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, bool):
            raise TypeError(f"expected a number, got {value!r}")
        if isinstance(value, str):
            value = _parse_float(value.strip(), "a number")
        if isinstance(value, (int, float)) and math.isfinite(value):
            return float(value)
        raise TypeError(f"expected a finite number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise TypeError(f"expected a string, got {value!r}")
    raise TypeError(f"unsupported field type {annotation!r}")


def _parse_float(text, expected):
    try:
        return float(text)
    except ValueError:
        raise TypeError(f"expected {expected}, got {text!r}") from None


def builtin_configs():
    """Names of the configurations that ship with the package (places2, celeba, ...)."""
    return sorted(f[: -len(".yaml")] for f in os.listdir(CONFIG_DIR) if f.endswith(".yaml"))


def config_path(name_or_path):
    """A YAML path as given, or the shipped configuration of that name."""
    if os.path.exists(name_or_path) or name_or_path.endswith((".yaml", ".yml")):
        return name_or_path
    if name_or_path in builtin_configs():
        return os.path.join(CONFIG_DIR, name_or_path + ".yaml")
    raise ConfigError(
        f"config {name_or_path!r} is neither a file nor one of the shipped configurations "
        f"({', '.join(builtin_configs())})"
    )


def load_config(path=None, overrides=None, **changes):
    """Config from YAML `path` or a shipped name (or defaults), then `overrides`
    ({key: value or string}, e.g. from the command line), then `changes`."""
    config = Config.from_yaml(config_path(path)) if path else Config()
    if overrides:
        config = config.replace(_source="command-line overrides", **overrides)
    if changes:
        config = config.replace(**changes)
    return config
