"""The benchmark's own arithmetic: MAC counts, the PyTorch training step, variant parsing."""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

_TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_TESTS, os.path.dirname(_TESTS)]  # torch_reference, the repository's bench/

from bench import common  # noqa: E402
from bench.inference import parse_variant  # noqa: E402
from edgeconnect_tf.networks import Discriminator, EdgeGenerator, InpaintGenerator  # noqa: E402


def test_generator_macs_at_256_is_the_published_48_1_g():
    # By hand: 7x7 conv 256²·64·49·3, two 4x4 s2 convs and two 4x4 s2 transposed convs
    # of 2^31 each, 16 residual 3x3 convs 64²·256·9·256, 7x7 conv 256²·1·49·64.
    by_hand = 616_562_688 + 4 * 2_147_483_648 + 16 * 2_415_919_104 + 205_520_896
    assert common.generator_macs(256) == by_hand == 48_066_723_840


@pytest.mark.parametrize("net, channels, closed_form", [
    (lambda: EdgeGenerator(2, 8), 3, lambda s: common.generator_macs(s, 2, 8, 3, 1)),
    (lambda: InpaintGenerator(2, 8), 4, lambda s: common.generator_macs(s, 2, 8, 4, 3)),
    (lambda: Discriminator(8), 3, lambda s: common.discriminator_macs(s, 3, 8)),
])  # fmt: skip
def test_graph_count_agrees_with_closed_form(net, channels, closed_form):
    model = net()
    model(np.zeros((1, 32, 32, channels), "float32"))
    counted = common.count_conv_macs(lambda x: model(x), tf.TensorSpec((1, 48, 48, channels)))
    conv = sum(v for k, v in counted["by_op"].items() if "MatMul" not in k)
    assert conv == closed_form(48)


def test_vgg_macs_counts_the_convs_up_to_relu5_2():
    # 3x3 convs: 2 at full res (3->64, 64->64), 2 at 1/2, 4 at 1/4, 4 at 1/8, 2 at 1/16.
    s = 64
    expected = (
        s * s * 9 * (3 * 64 + 64 * 64)
        + (s // 2) ** 2 * 9 * (64 * 128 + 128 * 128)
        + (s // 4) ** 2 * 9 * (128 * 256 + 3 * 256 * 256)
        + (s // 8) ** 2 * 9 * (256 * 512 + 3 * 512 * 512)
        + (s // 16) ** 2 * 9 * (2 * 512 * 512)
    )
    assert common.vgg_macs(s) == expected


def test_torch_training_step_updates_generator_and_discriminator_only():
    torch = pytest.importorskip("torch")
    from bench.train_step import make_torch_step

    step, modules = make_torch_step("inpaint", size=32, batch=2, residual_blocks=1, filters=8)
    before = [[p.detach().clone() for p in m.parameters()] for m in modules]
    losses = [step() for _ in range(2)]
    assert all(np.isfinite(losses))
    changed = [
        any(not torch.equal(a, p) for a, p in zip(old, m.parameters(), strict=True))
        for old, m in zip(before, modules, strict=True)
    ]
    assert changed == [True, True, False]  # G2, D2 change; the frozen VGG does not


def test_torch_vgg19_stops_at_relu5_2_with_vgg_shapes():
    torch = pytest.importorskip("torch")
    from bench.train_step import torch_vgg19

    out = torch_vgg19()(torch.zeros(1, 3, 32, 32))
    assert list(out)[-1] == "relu5_2"
    assert out["relu3_4"].shape == (1, 256, 8, 8)
    assert out["relu5_2"].shape == (1, 512, 2, 2)


def test_parse_variant():
    assert parse_variant("generators_winograd_xla") == ("generators", {"winograd", "xla"})
    for bad in ("pipeline_turbo", "savedmodel_xla", "generators_jit", "gen", "pipeline_xla_xla"):
        with pytest.raises(ValueError):
            parse_variant(bad)


def test_psnr_and_snr():
    ref = np.linspace(0, 1, 100)
    noisy = ref + 0.01
    assert common.psnr(noisy, ref) == pytest.approx(40.0)
    assert common.snr(noisy, ref) == pytest.approx(10 * np.log10(ref.var() / 1e-4))
    mask = np.zeros(100)
    mask[:10] = 1
    assert common.psnr(ref + mask * 0.1, ref, mask) == pytest.approx(20.0)


def test_isa_classes_add_an_avx2_child_on_avx512_cpus(monkeypatch):
    from bench import forms

    monkeypatch.setattr(forms, "cpu_flags", lambda: ["avx2", "avx512f", "fma"])
    assert forms.isa_classes() == [("avx512", {}), ("avx2", forms.AVX2_ENV)]
    assert forms.AVX2_ENV["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    monkeypatch.setattr(forms, "cpu_flags", lambda: ["avx2", "fma"])
    assert forms.isa_classes() == [("avx2", {})]


@pytest.mark.parametrize("kind, op", [("convs", "CONV_2D"), ("matmuls", "FULLY_CONNECTED")])
def test_kernel_probe_is_one_kind_of_op_with_the_stated_macs(tmp_path, kind, op):
    """`bench.browser`'s probe files: the `inpaint` signature the page opens (edges = the
    mask), and the filters -> filters stack's MACs, counted from the file's weight shapes,
    equal to what the bench reports (the same for both kinds)."""
    from ai_edge_litert.interpreter import Interpreter

    from bench.browser import export_probe

    path = str(tmp_path / f"{kind}.tflite")
    size, filters, convs = 32, 8, 2
    macs = export_probe(path, size, kind, filters=filters, convs=convs)
    assert macs == (size // 4) ** 2 * 9 * filters * filters * convs
    interpreter = Interpreter(model_path=path)
    mask = (np.random.default_rng(0).uniform(size=(1, size, size, 1)) > 0.5).astype("float32")
    out = interpreter.get_signature_runner("inpaint")(
        image=np.zeros((1, size, size, 3), "float32"), mask=mask
    )
    np.testing.assert_array_equal(out["edges"], mask)
    assert out["inpainted"].shape == (1, size, size, 3)
    tensors = {t["index"]: t["shape"] for t in interpreter.get_tensor_details()}
    counted = 0
    for detail in interpreter._get_ops_details():
        if detail["op_name"] in ("CONV_2D", "FULLY_CONNECTED"):
            weights, output = tensors[detail["inputs"][1]], tensors[detail["outputs"][0]]
            if weights[0] == weights[-1] == filters:  # the stack, not the stem or the head
                assert detail["op_name"] == op
                counted += int(np.prod(output[:-1])) * int(np.prod(weights))
    assert counted == macs
