"""Config: reference defaults, strict YAML keys, typed overrides, round trip, shipped configs."""

import os

import pytest
import yaml

from edgeconnect_tf.cli import build_parser
from edgeconnect_tf.cli.train import config_from_args
from edgeconnect_tf.training.config import CONFIG_DIR, Config, ConfigError, load_config


def cli_config(*argv):
    """The Config `edgeconnect train ARGV` runs with (parsed by the real command line)."""
    return config_from_args(build_parser().parse_args(["train", *argv]))


# The reference's config.yml defaults (edgeconnect-reference.md, lower-cased).
REFERENCE_DEFAULTS = {
    "mask": "irregular",  # MASK 3
    "edge": "canny",  # EDGE 1
    "nms": True,
    "seed": 10,
    "lr": 1e-4,
    "d2g_lr": 0.1,
    "beta1": 0.0,
    "beta2": 0.9,
    "batch_size": 8,
    "input_size": 256,
    "sigma": 2.0,
    "max_iters": 2_000_000,
    "edge_threshold": 0.5,
    "l1_loss_weight": 1.0,
    "fm_loss_weight": 10.0,
    "style_loss_weight": 250.0,
    "content_loss_weight": 0.1,
    "inpaint_adv_loss_weight": 0.1,
    "gan_loss": "nsgan",
    "save_interval": 1000,
    "sample_interval": 1000,
    "sample_size": 12,
    "eval_interval": 0,
    "log_interval": 10,
}


def _write(tmp_path, text, name="run.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_defaults_are_the_reference_values():
    config = Config()
    for key, value in REFERENCE_DEFAULTS.items():
        assert getattr(config, key) == value, key
    for flist in ("train", "val", "test"):
        for kind in ("", "_edge", "_mask"):
            assert getattr(config, f"{flist}{kind}_flist") is None


def test_unknown_yaml_key_names_key_and_file(tmp_path):
    path = _write(tmp_path, "lr: 1.0e-4\nbatch_sise: 4\n")
    with pytest.raises(ConfigError) as e:
        Config.from_yaml(path)
    message = str(e.value)
    assert "'batch_sise'" in message and path in message
    assert "did you mean 'batch_size'" in message


def test_upper_case_reference_keys_are_accepted(tmp_path):
    path = _write(tmp_path, "LR: 0.001\nMAX_ITERS: 2e6\nGAN_LOSS: hinge\n")
    config = Config.from_yaml(path)
    assert (config.lr, config.max_iters, config.gan_loss) == (0.001, 2_000_000, "hinge")
    assert isinstance(config.max_iters, int)


@pytest.mark.parametrize(
    "text, key",
    [
        ("batch_size: 2.5\n", "batch_size"),
        ("batch_size: 0\n", "batch_size"),
        ("lr: -1.0e-4\n", "lr"),
        ("lr: fast\n", "lr"),
        ("beta2: 1.0\n", "beta2"),
        ("gan_loss: wgan\n", "gan_loss"),
        ("input_size: 250\n", "input_size"),
        ("jit_compile: maybe\n", "jit_compile"),
        ("strategy: tpu\n", "strategy"),
        ("mask: 7\n", "mask"),
        ("mask: stripes\n", "mask"),
        ("lr_boundaries: [2000, 1000]\n", "lr_boundaries"),
        ("model: both\n", "model"),
        ("train_flist: 3\n", "train_flist"),
        ("sigma: -2\n", "sigma"),
        ("conv_mode: winograd\n", "conv_mode"),
        ("conv_mode: true\n", "conv_mode"),
    ],
)
def test_bad_value_names_key_and_file(tmp_path, text, key):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        Config.from_yaml(path)
    assert str(e.value).startswith(f"{key} in {path}")


def test_yaml_scientific_notation_and_integral_floats(tmp_path):
    # YAML 1.1 reads 1e-4 (no dot) as a string: it must still mean the number.
    path = _write(tmp_path, "lr: 1e-4\nmax_iters: 2e6\nsave_interval: 1_000\n")
    config = Config.from_yaml(path)
    assert config.lr == 1e-4 and config.max_iters == 2_000_000 and config.save_interval == 1000


def test_missing_file_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        Config.from_yaml(str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        Config.from_yaml(_write(tmp_path, "lr: [1, 2\n"))
    with pytest.raises(ConfigError, match="mapping"):
        Config.from_yaml(_write(tmp_path, "- 1\n- 2\n"))


def test_command_line_forms(capsys):
    config = cli_config("--lr", "1e-5", "--max-iters=30", "--jit_compile", "--val_flist", "none")
    assert (config.lr, config.max_iters, config.jit_compile, config.val_flist) == (
        1e-5,
        30,
        True,
        None,
    )
    with pytest.raises(SystemExit) as exit_info:
        cli_config("--lr")
    assert exit_info.value.code == 2 and "--lr: expected one argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_config("--batchsize", "4")
    assert "did you mean --batch_size" in capsys.readouterr().err


def test_overrides_are_typed_by_field():
    config = cli_config(
        "--lr=2e-5",
        "--batch_size",
        "4",
        "--jit_compile",
        "--nms",
        "false",
        "--pretrained",
        "a/weights, b/weights",
        "--lr_boundaries",
        "1000,2000",
        "--vgg_weights",
        "none",
        "--mask",
        "4",
        "--edge",
        "2",
    )
    assert config.lr == 2e-5 and config.batch_size == 4
    assert config.jit_compile is True and config.nms is False
    assert config.pretrained == ["a/weights", "b/weights"]
    assert config.lr_boundaries == [1000, 2000]
    assert config.vgg_weights is None
    assert config.mask == 4 and config.edge == "external"


def test_override_errors_name_the_key():
    with pytest.raises(ConfigError, match="unknown config key 'learning_rate'.*command-line"):
        load_config(None, {"learning_rate": "1"})
    with pytest.raises(ConfigError, match="^batch_size in command-line overrides: expected an"):
        cli_config("--batch_size", "four")


def test_conv_mode_key_and_the_old_winograd_key(tmp_path):
    assert Config().conv_mode == "direct"  # training's default; inference defaults to graph
    assert cli_config("--conv_mode", "xla").conv_mode == "xla"
    assert Config.from_yaml(_write(tmp_path, "conv_mode: graph\n")).conv_mode == "graph"
    with pytest.raises(ConfigError, match="^conv_mode in .*direct.*graph.*xla"):
        Config.from_yaml(_write(tmp_path, "conv_mode: fast\n"))
    # The old bool key is refused with its new spelling, from a file and from overrides.
    path = _write(tmp_path, "lr: 1.0e-4\nwinograd: true\n")
    hint = "'winograd: true' is 'conv_mode: xla', 'winograd: false' is 'conv_mode: direct'"
    with pytest.raises(ConfigError) as e:
        Config.from_yaml(path)
    assert f"config key 'winograd' in {path} is now conv_mode" in str(e.value)
    assert hint in str(e.value)
    with pytest.raises(ConfigError, match="'winograd' in command-line overrides is now conv_mode"):
        load_config(None, {"winograd": "true"})


def test_round_trip_through_yaml(tmp_path):
    config = cli_config("--model", "joint", "--pretrained", "x,y", "--mask", "block:1,half:3")
    path = str(tmp_path / "out" / "config.yaml")
    text = config.to_yaml(path)
    assert os.listdir(tmp_path / "out") == ["config.yaml"]
    again = Config.from_yaml(path)
    assert again == config
    assert yaml.safe_load(text)["pretrained"] == ["x", "y"]


def test_replace_validates():
    assert Config().replace(lr=3e-4).lr == 3e-4
    with pytest.raises(ConfigError, match="lr"):
        Config().replace(lr=0)


def test_mask_spec_forms():
    assert Config(mask=3).mask_spec() == 3
    assert Config(mask="block_half").mask_spec() == "block_half"
    assert Config(mask="block:1,irregular:3").mask_spec() == {"block": 1.0, "irregular": 3.0}
    assert Config.from_dict({"mask": {"block": 1, "free_form": 1}}).mask_spec() == {
        "block": 1.0,
        "free_form": 1.0,
    }
    for bad in ("block:x", "paired:1,block:1", "block:-1", "stripes:1"):
        with pytest.raises(ConfigError, match="mask"):
            Config(mask=bad)


def test_mask_names_are_those_masks_accepts():
    from edgeconnect_tf.data import masks
    from edgeconnect_tf.training import config as config_lib

    accepted = set(masks.SOURCES) | set(masks.PRESETS) | {"external"}
    assert set(config_lib.MASK_SOURCES + config_lib.MASK_PRESETS) <= accepted
    for spec in [1, 2, 3, 4, 5, "block", "mixed", {"block": 0.3, "irregular": 0.7}]:
        masks.mask_sampler(spec, ["m.png"])  # raises for a spec it does not accept


@pytest.mark.parametrize("name", ["places2", "celeba", "psv", "quickstart"])
def test_shipped_configs_load(name):
    config = load_config(name)
    assert config == Config.from_yaml(os.path.join(CONFIG_DIR, f"{name}.yaml"))
    assert "{model}" in config.output_dir
    if name == "quickstart":
        assert config.input_size <= 64 and config.residual_blocks <= 2 and config.filters <= 16
        assert config.vgg_weights is None and config.mask_spec() == {"block": 0.5, "free_form": 0.5}
    else:
        # The paper's settings.
        for key, value in REFERENCE_DEFAULTS.items():
            if key not in ("eval_interval",):
                assert getattr(config, key) == value, (name, key)
        assert (config.min_lr, config.joint_lr, config.lr_schedule) == (1e-5, 1e-6, "plateau")
        assert (config.residual_blocks, config.filters) == (8, 64)


def test_load_config_precedence(tmp_path):
    path = _write(tmp_path, "lr: 1.0e-3\nbatch_size: 2\n")
    config = load_config(path, {"batch_size": "3"}, seed=5)
    assert (config.lr, config.batch_size, config.seed) == (1e-3, 3, 5)
    assert cli_config("--config", path, "--seed", "7") == Config(lr=1e-3, batch_size=2, seed=7)
    with pytest.raises(ConfigError, match="neither a file nor one of the shipped.*places2"):
        load_config("places3")
