"""Training runs end to end: the four stages, resume after SIGKILL, multi-worker, the command."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from edgeconnect_tf import weights as weights_lib
from edgeconnect_tf.cli import build_parser
from edgeconnect_tf.cli import main as cli_main
from edgeconnect_tf.cli.train import config_from_args
from edgeconnect_tf.training import train as train_lib
from edgeconnect_tf.training.config import Config, ConfigError
from edgeconnect_tf.training.train import check_cpu_switches, make_datasets, train

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir))
TINY = [
    "--input_size", "32", "--residual_blocks", "1", "--filters", "8", "--batch_size", "2",
    "--vgg_weights", "none", "--mask", "block", "--sample_size", "2", "--steps_per_epoch", "2",
    "--log_interval", "1", "--verbose", "0",
]  # fmt: skip


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Six small PNG photos-to-be: coloured backgrounds with shapes (edges to find)."""
    directory = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(6):
        image = np.full((40, 48, 3), rng.integers(0, 255, 3), np.uint8)
        cv2.rectangle(image, (4 + i, 6), (28, 30 - i), (255, 255, 255), -1)
        cv2.circle(image, (32, 20), 7 + i % 3, (0, 0, 255), 2)
        cv2.imwrite(str(directory / f"{i}.png"), image)
    return str(directory)


def _config(images, output_dir, *args):
    base = [*TINY, "--train_flist", images, "--output_dir", str(output_dir)]
    return config_from_args(build_parser().parse_args(["train", *base, *args]))


def edge_config_sigma(images, tmp_path):
    return _config(images, tmp_path / "edge").sigma


def _weights(directory, name):
    """(values of the network's variables in `net.variables` order, config.json) of a dir."""
    nets, meta = weights_lib.load_networks(str(directory), names=(name,))
    return [v.numpy().copy() for v in nets[name].variables], meta


def _checkpoint_values(path, name):
    reader = tf.train.load_checkpoint(path)
    n = sum(k.startswith(f"{name}/") for k in reader.get_variable_to_shape_map())
    return [reader.get_tensor(f"{name}/{i}/.ATTRIBUTES/VARIABLE_VALUE") for i in range(n)]


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.slow
@pytest.mark.long
def test_four_stages_train_and_hand_over_weights(images, tmp_path):
    """edge, inpaint (with validation), edge_inpaint (G1 frozen), joint (G1 trained)."""
    common = ["--max_iters", "2", "--save_interval", "2", "--sample_interval", "2"]
    edge = train(_config(images, tmp_path / "edge", *common), "edge")
    assert edge.step == 2 and edge.weights_dir == str(tmp_path / "edge" / "weights")
    assert {"d1", "g1", "fm", "precision", "recall", "f1"} <= set(edge.logs)
    assert sorted(os.listdir(tmp_path / "edge" / "samples")) == ["step_0000002.png"]
    assert os.path.isfile(tmp_path / "edge" / "config.yaml")
    assert Config.from_yaml(str(tmp_path / "edge" / "config.yaml")).model == "edge"
    g1, meta = _weights(edge.weights_dir, "edge_generator")
    assert meta["iteration"] == 2 and meta["model"] == "edge"
    assert meta["sigma"] == edge_config_sigma(images, tmp_path) == 2.0  # what inference reads

    cfg = _config(images, tmp_path / "inpaint", *common, "--val_flist", images, "--val_steps", "2")
    _, val_ds, _ = make_datasets(cfg)
    end = keras.callbacks.Callback()  # gives access to the trained model
    inpaint = train(cfg, "inpaint", val_dataset=val_ds, callbacks=[end])
    assert {"d2", "g2", "l1", "perceptual", "style", "psnr", "mae"} <= set(inpaint.logs)
    # Validation = the mean of test_step over the val batches (no stray zero averaged in).
    model = end.model
    model.reset_metrics()
    manual = [model.test_step(batch) for batch in val_ds][-1]
    for key in ("psnr", "mae", "l1"):
        assert inpaint.logs[f"val_{key}"] == pytest.approx(float(manual[key]), rel=1e-5)
    best = weights_lib.read_config(str(tmp_path / "inpaint" / "best"))
    assert best["val_psnr"] == pytest.approx(inpaint.logs["val_psnr"])
    assert best["sigma"] == cfg.sigma
    g2, _ = _weights(inpaint.weights_dir, "inpaint_generator")

    pretrained = f"{edge.weights_dir},{inpaint.weights_dir}"
    cfg = _config(images, tmp_path / "ei", *common, "--pretrained", pretrained)
    edge_inpaint = train(cfg, "edge_inpaint")
    # Fine-tuning weights saved at iteration 2 with max_iters 2 still trains 2 steps.
    assert edge_inpaint.step == 2
    assert {"psnr", "precision", "recall"} <= set(edge_inpaint.logs)
    g1_after, _ = _weights(edge_inpaint.weights_dir, "edge_generator")
    g2_after, _ = _weights(edge_inpaint.weights_dir, "inpaint_generator")
    assert _same(g1, g1_after)  # G1 frozen
    assert not _same(g2, g2_after)  # G2 trained from the inpaint run's weights

    cfg = _config(images, tmp_path / "joint", *common, "--pretrained", edge_inpaint.weights_dir)
    joint = train(cfg, "joint")
    assert joint.logs["learning_rate"] == pytest.approx(Config().joint_lr)
    g1_joint, _ = _weights(joint.weights_dir, "edge_generator")
    assert not _same(g1, g1_joint)  # G2's loss reached G1
    assert not os.path.exists(os.path.join(joint.weights_dir, "edge_discriminator.weights.h5"))


class _Capture(keras.callbacks.Callback):
    """Records the step, the G optimizer's iterations and G1's weights when training starts."""

    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def on_train_begin(self, logs=None):
        self.seen["iterations"] = int(self.model.g_optimizer.iterations.numpy())
        self.seen["g1"] = [
            v.numpy().copy() for v in self.model.networks["edge_generator"].variables
        ]


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    return {**env, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


@pytest.mark.slow
def test_sigkill_then_resume_continues_step_count(images, tmp_path):
    out = tmp_path / "run"
    args = [*TINY, "--train_flist", images, "--output_dir", str(out), "--model", "edge"]
    args += ["--max_iters", "100000", "--save_interval", "2", "--sample_interval", "0"]
    child = subprocess.Popen(
        [sys.executable, "-m", "edgeconnect_tf.cli", "train", *args],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    ckpt_dir = str(out / "checkpoints")
    try:
        deadline = time.time() + 300
        while time.time() < deadline and child.poll() is None:
            latest = tf.train.latest_checkpoint(ckpt_dir)
            if latest and int(latest.rsplit("-", 1)[1]) >= 4:
                break
            time.sleep(0.2)
        assert child.poll() is None, child.stderr.read().decode()[-3000:]
        child.send_signal(signal.SIGKILL)  # no chance to clean up or save
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
        child.stderr.close()

    latest = tf.train.latest_checkpoint(ckpt_dir)
    killed_at = int(latest.rsplit("-", 1)[1])
    assert killed_at >= 4 and killed_at % 2 == 0
    reader = tf.train.load_checkpoint(latest)
    assert reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == killed_at
    saved_g1 = _checkpoint_values(latest, "edge_generator")

    seen = {}
    config = Config.from_yaml(str(out / "config.yaml")).replace(max_iters=killed_at + 2)
    result = train(config, callbacks=[_Capture(seen)])
    assert seen["iterations"] == killed_at  # optimizer state restored with the step
    for saved, restored in zip(saved_g1, seen["g1"], strict=True):
        np.testing.assert_array_equal(saved, restored)  # weights incl. spectral-norm u, v
    assert result.step == killed_at + 2
    assert tf.train.latest_checkpoint(ckpt_dir).endswith(f"ckpt-{killed_at + 2}")
    assert weights_lib.read_config(result.weights_dir)["iteration"] == killed_at + 2


@pytest.mark.slow
@pytest.mark.long
def test_multi_worker_two_local_processes_only_chief_writes(images, tmp_path):
    out = tmp_path / "run"
    args = [*TINY, "--train_flist", images, "--output_dir", str(out), "--model", "edge"]
    args += ["--max_iters", "4", "--save_interval", "2", "--sample_interval", "2"]
    args += ["--strategy", "multi_worker", "--val_flist", images, "--val_steps", "1"]
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs, tmpdirs = [], []
    for index in range(2):
        tmpdir = tmp_path / f"tmp{index}"
        tmpdir.mkdir()
        tmpdirs.append(tmpdir)
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "edgeconnect_tf.cli", "train", *args],
                cwd=REPO,
                env=_env(TF_CONFIG=tf_config, TMPDIR=str(tmpdir)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=400)
            outputs.append(stdout)
            assert proc.returncode == 0, stderr[-3000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    chief, worker = (json.loads(o.strip().splitlines()[-1]) for o in outputs)
    assert chief == {"step": 4, "weights": str(out / "weights")}
    assert worker == {"step": 4, "weights": None}
    ckpts = tf.train.get_checkpoint_state(str(out / "checkpoints")).all_model_checkpoint_paths
    assert [int(p.rsplit("-", 1)[1]) for p in ckpts] == [2, 4]
    assert sorted(os.listdir(out / "samples")) == ["step_0000002.png", "step_0000004.png"]
    best = weights_lib.read_config(str(out / "best"))  # validated by the custom loop
    assert best["iteration"] in (2, 4) and 0 <= best["val_f1"] <= 1
    # The non-chief's checkpoints went to a temporary directory, removed at the end.
    assert os.listdir(tmpdirs[1]) == []
    # The exported weights are those of the last checkpoint (spectral-norm u, v included).
    g1, meta = _weights(out / "weights", "edge_generator")
    assert meta["iteration"] == 4
    for saved, exported in zip(_checkpoint_values(ckpts[-1], "edge_generator"), g1, strict=True):
        np.testing.assert_array_equal(saved, exported)


def test_validation_data_is_fixed_and_has_edges_in_holes(images):
    config = _config(images, "unused", "--val_flist", images, "--val_steps", "2")
    train_ds, val_ds, sample = make_datasets(config)
    first = list(val_ds)
    second = list(val_ds)
    assert len(first) == 2 and int(val_ds.cardinality()) == 2
    for a, b in zip(first, second, strict=True):
        for key in ("image", "edge", "mask"):
            np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
    # Edges of the whole image (as the reference validates): some lie in the holes.
    assert any(float(tf.reduce_sum(b["edge"] * b["mask"])) > 0 for b in first)
    assert sample["image"].shape == (2, 32, 32, 3) and set(sample) == {
        "image",
        "gray",
        "edge",
        "mask",
    }
    assert next(iter(train_ds))["image"].shape == (2, 32, 32, 3)


def train_command(argv):
    return cli_main(["train", *argv])


def test_train_command_usage_errors(tmp_path, capsys, images):

    bad = tmp_path / "bad.yaml"
    bad.write_text("batch_sise: 4\n")
    assert train_command(["--config", str(bad), "--model", "edge"]) == 2
    err = capsys.readouterr().err
    assert "batch_sise" in err and str(bad) in err and len(err.strip().splitlines()) == 1

    assert train_command(["--train_flist", images]) == 2
    assert "model is not set: pass --model" in capsys.readouterr().err

    assert train_command(["--model", "inpaint", "--lr", "-3"]) == 2
    assert "lr in command-line overrides" in capsys.readouterr().err

    out = str(tmp_path / "ei")
    argv = ["--model", "edge_inpaint", "--train_flist", images, "--output_dir", out]
    assert train_command(argv) == 2
    assert "--pretrained" in capsys.readouterr().err

    argv = ["--model", "edge", "--train_flist", str(tmp_path / "none"), "--output_dir", out]
    assert train_command(argv) == 2
    assert "train_flist" in capsys.readouterr().err


@pytest.mark.slow  # exports/compiles at several sizes: once, in the slow tier
@pytest.mark.long
def test_conv_mode_key_builds_the_generators_in_that_mode(images, tmp_path):
    seen = {}

    class Modes(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            g1 = self.model.networks["edge_generator"]
            seen["modes"] = [g1.conv_mode, *(b.conv_mode for b in g1.middle)]

    cfg = _config(images, tmp_path / "w", "--max_iters", "1", "--conv_mode", "xla")
    result = train(cfg, "edge", callbacks=[Modes()])
    assert seen["modes"] == ["xla", "xla"] and result.step == 1  # XLA Winograd blocks
    assert np.isfinite(result.logs["d1"]) and np.isfinite(result.logs["g1"])


def test_float16_is_refused_up_front_on_a_cpu(images, tmp_path):
    """A full-size first step would take minutes (5.5x float32's steps): one line, before
    anything is written."""
    assert not tf.config.list_logical_devices("GPU")
    cfg = _config(images, tmp_path / "w", "--max_iters", "1", "--mixed_precision", "mixed_float16")
    with pytest.raises(ConfigError, match="mixed_float16 needs a GPU.*bfloat16") as e:
        train(cfg, "edge")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "w").exists()


def test_bfloat16_is_refused_where_tensorflow_has_no_fast_kernels(images, tmp_path, monkeypatch):
    cfg = _config(images, tmp_path / "w", "--mixed_precision", "mixed_bfloat16")
    # TensorFlow's rule (oneDNN on, AVX-512 or AVX-NE-CONVERT) against this CPU's flags.
    with open("/proc/cpuinfo") as f:
        flags = set(f.read().split())
    expected = bool(flags & {"avx512f", "avx_ne_convert"})
    expected = expected and os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0"
    assert train_lib.onednn_runs_bfloat16() == expected
    monkeypatch.setattr(train_lib, "onednn_runs_bfloat16", lambda: False)  # an AVX2 CPU
    with pytest.raises(ConfigError, match="mixed_bfloat16 on this CPU.*AVX-512.*Use none"):
        train(cfg, "edge")
    assert not (tmp_path / "w").exists()


def test_the_other_cpu_switches_are_not_refused(images, tmp_path):
    cfg = _config(images, tmp_path / "w", "--conv_mode", "xla", "--jit_compile", "true")
    for model in ("edge", "joint"):  # jit_compile + xla: the joint stage's first step 85 s
        check_cpu_switches(cfg.replace(model=model))
    check_cpu_switches(cfg.replace(model="joint", jit_compile=False))
    check_cpu_switches(cfg.replace(model="joint", conv_mode="direct"))
    check_cpu_switches(cfg.replace(model="joint", conv_mode="graph"))


def test_pretrained_weights_of_another_hole_fill_are_refused(tmp_path):
    """A `pyramid` G2 reads its output as a correction to a fill; loading it into a `white`
    run (or the reverse) would train a different function: one line names the key."""
    from edgeconnect_tf.training.config import load_config
    from edgeconnect_tf.training.train import TrainError, load_pretrained

    sizes = dict(residual_blocks=1, filters=8)
    names = ("inpaint_generator",)
    saved = weights_lib.build_networks(**sizes, names=names, hole_fill="pyramid")
    weights_lib.save_networks(str(tmp_path), saved)
    config = load_config("quickstart", **sizes)
    fresh = weights_lib.build_networks(**sizes, names=names, hole_fill="pyramid")
    assert load_pretrained(fresh, [str(tmp_path)], config) == {"inpaint_generator": str(tmp_path)}
    white = config.replace(hole_fill="white")
    with pytest.raises(TrainError, match="hole_fill=pyramid but the config has hole_fill=white"):
        load_pretrained(weights_lib.build_networks(**sizes, names=names), [str(tmp_path)], white)
