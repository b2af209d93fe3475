"""Converter: PyTorch reference checkpoints -> weights directory, same outputs; bad inputs."""

import os

import h5py
import numpy as np
import pytest
import torch
import torch_reference as tr

from edgeconnect_tf import convert, weights
from edgeconnect_tf.convert import ConvertError

NAMES = tuple(weights.FILES)  # edge_generator, inpaint_generator, edge_discriminator, ...
CHANNELS = {"edge_generator": 3, "inpaint_generator": 4, "edge_discriminator": 2,
            "inpaint_discriminator": 3}  # fmt: skip
TOL = 1e-4


def make_reference(residual_blocks, filters, seed=0):
    """Reference nets with perturbed biases and u/v moved off their initial values."""
    torch.manual_seed(seed)
    nets = dict(zip(NAMES, tr.build_reference(residual_blocks, filters), strict=True))
    for name, net in nets.items():
        with torch.no_grad():
            for key, p in net.named_parameters():
                if key.endswith("bias"):
                    p.normal_(0.0, 0.1)
            net.train()  # two power iterations on every spectral-norm layer
            for _ in range(2):
                net(torch.rand(1, CHANNELS[name], 32, 32))
        net.eval()
    return nets


def save_checkpoints(nets, directory, zip_format=True, module_prefix=False, names=NAMES):
    """Writes the reference's checkpoint files for `names` into `directory`."""
    os.makedirs(directory, exist_ok=True)
    for name in names:
        filename, entry = convert.CHECKPOINTS[name]
        state = nets[name].state_dict()
        if module_prefix:
            state = {f"module.{k}": v for k, v in state.items()}
        torch.save(
            {"iteration": 1234, entry: state},
            os.path.join(directory, filename),
            _use_new_zipfile_serialization=zip_format,
        )


def max_abs_diff(torch_net, keras_net, x):
    """max |Δ| between torch eval and Keras inference on NHWC `x` (for D: scores and features).

    Returns (max |Δ|, the reference's first output as NHWC numpy).
    """
    with torch.no_grad():
        ref = torch_net(torch.from_numpy(x).permute(0, 3, 1, 2))
    out = keras_net(x, training=False)
    if isinstance(ref, tuple):  # discriminator: (scores, features)
        ref = [ref[0], *ref[1]]
        out = [out[0], *out[1]]
    else:
        ref, out = [ref], [out]
    assert len(ref) == len(out)
    ref = [r.permute(0, 2, 3, 1).numpy() for r in ref]
    diffs = []
    for r, o in zip(ref, out, strict=True):
        o = np.asarray(o)
        assert r.shape == o.shape
        diffs.append(float(np.abs(r - o).max()))
    return max(diffs), ref[0]


def inputs(name, size, seed=0):
    return np.random.default_rng(seed).random((2, size, size, CHANNELS[name]), dtype=np.float32)


# ---------------------------------------------------------------- full-size parity


@pytest.fixture(scope="module")
def full_reference():
    return make_reference(8, 64)


@pytest.fixture(scope="module")
def full_converted(full_reference, tmp_path_factory):
    """Legacy-format checkpoints without prefix, converted and loaded back."""
    ckpt = tmp_path_factory.mktemp("ckpt_legacy")
    out = tmp_path_factory.mktemp("weights") / "converted"
    save_checkpoints(full_reference, ckpt, zip_format=False)
    info = convert.convert_checkpoints(str(ckpt), str(out))
    assert info == {"networks": list(NAMES), "residual_blocks": 8, "filters": 64,
                    "iteration": 1234}  # fmt: skip
    nets, config = weights.load_networks(str(out), names=NAMES)
    return out, nets, config


@pytest.mark.slow  # full size (8 blocks, 64 filters, 100 MB checkpoints)
def test_config_records_architecture(full_converted):
    _, _, config = full_converted
    assert config["residual_blocks"] == 8 and config["filters"] == 64
    assert config["iteration"] == 1234


@pytest.mark.slow  # full size (8 blocks, 64 filters, 100 MB checkpoints)
@pytest.mark.parametrize("name", NAMES)
def test_parity_64(full_reference, full_converted, name):
    diff, ref = max_abs_diff(full_reference[name], full_converted[1][name], inputs(name, 64))
    print(f"max |delta| {name} 64x64: {diff:.2e}")
    assert diff <= TOL
    if name.endswith("generator"):
        assert ref.std() > 0.05  # the comparison is not between near-constant images


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_parity_256(full_reference, full_converted, name):
    x = inputs(name, 256, seed=1)
    diff, _ = max_abs_diff(full_reference[name], full_converted[1][name], x)
    print(f"max |delta| {name} 256x256: {diff:.2e}")
    assert diff <= TOL


def _h5_arrays(path):
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda k, v: arrays.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None
        )
    return arrays


@pytest.mark.slow  # full size (8 blocks, 64 filters, 100 MB checkpoints)
def test_zip_format_with_module_prefix_gives_same_weights(full_reference, full_converted, tmp_path):
    """The other torch format and DataParallel keys convert to identical weight files."""
    save_checkpoints(full_reference, tmp_path / "ckpt", zip_format=True, module_prefix=True)
    convert.convert_checkpoints(str(tmp_path / "ckpt"), str(tmp_path / "out"))
    for name, filename in weights.FILES.items():
        a = _h5_arrays(full_converted[0] / filename)
        b = _h5_arrays(tmp_path / "out" / filename)
        assert a.keys() == b.keys() and len(a) > 0, name
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name} {key}")


# ---------------------------------------------------------------- tiny networks


@pytest.fixture(scope="module")
def tiny_reference():
    return make_reference(1, 8, seed=1)


# full size covers legacy without prefix (parity) and zip with module. (identical weights)
@pytest.mark.parametrize(
    "zip_format, module_prefix", [(False, True), (True, False)], ids=["legacy-module", "zip-plain"]
)
def test_tiny_round_trip(tiny_reference, tmp_path, zip_format, module_prefix):
    save_checkpoints(tiny_reference, tmp_path / "ckpt", zip_format, module_prefix)
    info = convert.convert_checkpoints(str(tmp_path / "ckpt"), str(tmp_path / "out"))
    assert (info["residual_blocks"], info["filters"]) == (1, 8)
    nets, _ = weights.load_networks(str(tmp_path / "out"), names=NAMES)
    for name in NAMES:
        assert max_abs_diff(tiny_reference[name], nets[name], inputs(name, 32))[0] <= 1e-5


def test_discriminators_are_optional(tiny_reference, tmp_path):
    save_checkpoints(tiny_reference, tmp_path / "ckpt", names=NAMES[:2])
    info = convert.convert_checkpoints(str(tmp_path / "ckpt"), str(tmp_path / "out"))
    assert info["networks"] == list(NAMES[:2])
    assert sorted(os.listdir(tmp_path / "out")) == sorted(
        [weights.CONFIG_FILE, weights.FILES["edge_generator"], weights.FILES["inpaint_generator"]]
    )


def test_spectral_norm_in_checkpoint_is_baked_where_we_have_none(tmp_path):
    """A G2 trained with spectral norm: sigma is folded into the plain kernel."""
    torch.manual_seed(2)
    g1 = tr.EdgeGenerator(1, 8)
    g2 = tr.InpaintGenerator(1, 8)
    for module in [*g2.encoder, *g2.middle[0].conv_block, *g2.decoder]:
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.utils.spectral_norm(module)
    with torch.no_grad():
        g2.train()
        g2(torch.rand(1, 4, 32, 32))
    g1.eval()
    g2.eval()
    assert "decoder.0.weight_v" in g2.state_dict()
    nets = {"edge_generator": g1, "inpaint_generator": g2}
    save_checkpoints(nets, tmp_path / "ckpt", names=NAMES[:2])
    convert.convert_checkpoints(str(tmp_path / "ckpt"), str(tmp_path / "out"))
    ours, _ = weights.load_networks(str(tmp_path / "out"))
    for name in NAMES[:2]:
        assert max_abs_diff(nets[name], ours[name], inputs(name, 32))[0] <= 1e-5


# ---------------------------------------------------------------- bad inputs


def _tiny_dir(tiny_reference, path, names=NAMES[:2]):
    save_checkpoints(tiny_reference, path, names=names)
    return path


def _edit_g1(path, edit):
    """Rewrites EdgeModel_gen.pth's state dict with edit(state)."""
    file = path / "EdgeModel_gen.pth"
    ckpt = torch.load(file, weights_only=True)
    edit(ckpt["generator"])
    torch.save(ckpt, file)


def _assert_error(directory, *fragments, output=None):
    with pytest.raises(ConvertError) as info:
        convert.convert_checkpoints(str(directory), str(output or directory / "out"))
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message
    assert not (directory / "out").exists()  # nothing written on failure
    return message


def test_inpainting_checkpoint_given_as_edge_model(tiny_reference, tmp_path):
    d = _tiny_dir(tiny_reference, tmp_path)
    g2 = torch.load(d / "InpaintingModel_gen.pth", weights_only=True)
    torch.save(g2, d / "EdgeModel_gen.pth")
    _assert_error(d, "EdgeModel_gen.pth", "'encoder.1.weight_orig'", "InpaintingModel_gen.pth")


def test_edge_checkpoint_given_as_inpainting_model(tiny_reference, tmp_path):
    d = _tiny_dir(tiny_reference, tmp_path)
    g1 = torch.load(d / "EdgeModel_gen.pth", weights_only=True)
    torch.save(g1, d / "InpaintingModel_gen.pth")
    _assert_error(d, "InpaintingModel_gen.pth", "'encoder.1.weight_orig'", "(8, 3, 7, 7)")


def test_discriminator_given_as_generator(tiny_reference, tmp_path):
    d = _tiny_dir(tiny_reference, tmp_path, names=NAMES)
    d_ckpt = torch.load(d / "EdgeModel_dis.pth", weights_only=True)
    torch.save(d_ckpt, d / "EdgeModel_gen.pth")
    _assert_error(d, "EdgeModel_gen.pth", "'generator'", "'discriminator'")
    torch.save({"generator": d_ckpt["discriminator"]}, d / "EdgeModel_gen.pth")
    _assert_error(d, "EdgeModel_gen.pth", "'encoder.1.weight_orig'", "EdgeModel_dis.pth")


def test_missing_key(tiny_reference, tmp_path):
    d = _tiny_dir(tiny_reference, tmp_path)
    _edit_g1(d, lambda s: s.pop("middle.0.conv_block.5.weight_u"))
    _assert_error(d, "EdgeModel_gen.pth", "missing key 'middle.0.conv_block.5.weight_u'")


def test_extra_key(tiny_reference, tmp_path):
    d = _tiny_dir(tiny_reference, tmp_path)
    _edit_g1(d, lambda s: s.__setitem__("middle.0.conv_block.1.bias", torch.zeros(32)))
    _assert_error(d, "EdgeModel_gen.pth", "unexpected key 'middle.0.conv_block.1.bias'")


def test_wrong_shape(tiny_reference, tmp_path):
    d = _tiny_dir(tiny_reference, tmp_path)
    _edit_g1(d, lambda s: s.__setitem__("decoder.3.weight_v", torch.zeros(7)))
    _assert_error(d, "EdgeModel_gen.pth", "'decoder.3.weight_v'", "(7,)", "(256,)")


def test_plain_weight_where_spectral_norm_is_expected(tiny_reference, tmp_path):
    d = _tiny_dir(tiny_reference, tmp_path)

    def drop_sn(s):
        s["encoder.4.weight"] = s.pop("encoder.4.weight_orig")
        del s["encoder.4.weight_u"], s["encoder.4.weight_v"]

    _edit_g1(d, drop_sn)
    _assert_error(d, "EdgeModel_gen.pth", "'encoder.4.weight_orig'", "without spectral norm")


def test_mismatched_sizes(tiny_reference, tmp_path):
    d = _tiny_dir(tiny_reference, tmp_path)
    g2 = tr.InpaintGenerator(residual_blocks=2, filters=8)
    torch.save({"iteration": 1, "generator": g2.state_dict()}, d / "InpaintingModel_gen.pth")
    _assert_error(d, "InpaintingModel_gen.pth", "residual_blocks=2")


@pytest.mark.parametrize(
    "content",
    [b"", bytes(range(256)) * 8, b"this is a text file, not a checkpoint\n"],
    ids=["empty", "random", "text"],
)
def test_not_a_checkpoint(tiny_reference, tmp_path, content):
    d = _tiny_dir(tiny_reference, tmp_path)
    (d / "InpaintingModel_gen.pth").write_bytes(content)
    _assert_error(d, "InpaintingModel_gen.pth", "not a PyTorch checkpoint")


def test_tensor_instead_of_dict(tiny_reference, tmp_path):
    d = _tiny_dir(tiny_reference, tmp_path)
    torch.save(torch.zeros(3), d / "EdgeModel_gen.pth")
    _assert_error(d, "EdgeModel_gen.pth", "expected a dict")


def test_pickled_python_object_is_refused_unless_trusted(tiny_reference, tmp_path):
    d = _tiny_dir(tiny_reference, tmp_path)
    ckpt = torch.load(d / "EdgeModel_gen.pth", weights_only=True)
    ckpt["iteration"] = np.int64(1234)  # a numpy scalar: not allowed by weights_only
    torch.save(ckpt, d / "EdgeModel_gen.pth")
    _assert_error(d, "EdgeModel_gen.pth", "weights-only", "--trust-pickle")
    info = convert.convert_checkpoints(str(d), str(d / "out"), trust_pickle=True)
    assert info["iteration"] == 1234


def test_missing_files(tiny_reference, tmp_path):
    d = _tiny_dir(tiny_reference, tmp_path)
    os.remove(d / "InpaintingModel_gen.pth")
    _assert_error(d, "InpaintingModel_gen.pth", "not found")
    _assert_error(tmp_path / "nope", "nope", "not found")


def test_command_exit_codes(tiny_reference, tmp_path, capsys):
    d = _tiny_dir(tiny_reference, tmp_path)
    from edgeconnect_tf.cli import main

    assert main(["convert", "--checkpoints", str(d), "--output", str(tmp_path / "w")]) == 0
    assert "wrote" in capsys.readouterr().out
    (d / "EdgeModel_gen.pth").write_text("not a checkpoint")
    assert main(["convert", "--checkpoints", str(d), "--output", str(tmp_path / "w2")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "EdgeModel_gen.pth" in err
    assert err.startswith("edgeconnect convert: error: ")


def test_torch_is_not_imported_at_module_import():
    import subprocess
    import sys

    code = "import sys, edgeconnect_tf.convert; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_clear_error_without_torch(tiny_reference, tmp_path, monkeypatch):
    import builtins

    d = _tiny_dir(tiny_reference, tmp_path)
    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    _assert_error(d, "pip install 'edgeconnect-tf[torch]'")
