"""inpaint.inpaint: input formats, bit-exact known pixels, tilings, guidance edges."""

import os
import warnings

import cv2
import numpy as np
import pytest
import skimage.data

from edgeconnect_tf import inpaint as inpaint_lib
from edgeconnect_tf.edgeconnect import EdgeConnect
from edgeconnect_tf.files.io import read_image
from edgeconnect_tf.inpaint import InpaintError, inpaint
from edgeconnect_tf.weights import REQUIRED, build_networks


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(1)
    nets = build_networks(residual_blocks=1, filters=8, names=REQUIRED)
    return EdgeConnect(
        nets["edge_generator"], nets["inpaint_generator"], residual_blocks=1, filters=8
    )


def photo(height=64, width=64):
    """skimage's astronaut resized: a real photo with edges."""
    return cv2.resize(skimage.data.astronaut(), (width, height), interpolation=cv2.INTER_AREA)


def box_mask(height, width, top, left, h, w):
    mask = np.zeros((height, width), bool)
    mask[top : top + h, left : left + w] = True
    return mask


def test_known_pixels_bit_exact_and_hole_filled(model):
    image = photo()
    hole = box_mask(64, 64, 16, 20, 24, 20)
    result, edges = inpaint(model, image, hole)
    assert result.dtype == np.uint8 and result.shape == (64, 64, 3)
    np.testing.assert_array_equal(result[~hole], image[~hole])
    assert np.mean(np.any(result[hole] != image[hole], axis=-1)) > 0.5
    assert edges.shape == (64, 64) and edges.dtype == np.float32
    assert 0.0 <= edges.min() and edges.max() <= 1.0


def test_result_is_the_models_composite(model):
    """Independent path: the model called directly, rounded to uint8, inside the hole."""
    image = photo(48, 56)
    hole = box_mask(48, 56, 10, 12, 16, 20)
    out = model(
        {
            "image": (image / 255.0).astype("float32")[None],
            "mask": hole.astype("float32")[None, ..., None],
        }
    )
    expected = np.round(np.asarray(out["inpainted"])[0] * 255).astype(np.uint8)
    result, edges = inpaint(model, image, hole, tiling="full")
    np.testing.assert_allclose(result[hole].astype(int), expected[hole].astype(int), atol=1)
    np.testing.assert_allclose(edges, np.asarray(out["edges"])[0, ..., 0], atol=1e-5)


@pytest.mark.parametrize("shape", [(37, 53), (9, 10), (41, 41)])
def test_odd_sizes_round_trip(model, shape):
    h, w = shape
    image = photo(h, w)
    hole = box_mask(h, w, h // 3, w // 3, max(1, h // 3), max(1, w // 3))
    result, edges = inpaint(model, image, hole, tiling="full")
    assert result.shape == (h, w, 3) and edges.shape == (h, w)
    np.testing.assert_array_equal(result[~hole], image[~hole])


def test_input_modes(model):
    rgb = photo(40, 44)
    hole = box_mask(40, 44, 8, 8, 12, 16)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    wide = np.random.default_rng(0).integers(0, 65536, rgb.shape, dtype=np.uint16)
    floats = np.random.default_rng(1).random(rgb.shape).astype(np.float32)
    cases = [
        (gray, np.repeat(gray[..., None], 3, axis=-1)),
        (gray[..., None], np.repeat(gray[..., None], 3, axis=-1)),
        (rgba, rgb),
        (wide, np.floor(wide / 257.0 + 0.5).astype(np.uint8)),
        (floats, np.floor(floats.astype(np.float64) * 255 + 0.5).astype(np.uint8)),
        (floats.astype(np.float64), np.floor(floats.astype(np.float64) * 255 + 0.5)),
    ]
    for image, expected in cases:
        result, _ = inpaint(model, image, hole)
        assert result.shape == (40, 44, 3) and result.dtype == np.uint8
        np.testing.assert_array_equal(result[~hole], expected[~hole].astype(np.uint8))


def test_mask_formats_agree(model):
    image = photo(40, 40)
    hole = box_mask(40, 40, 5, 9, 14, 11)
    reference, _ = inpaint(model, image, hole)
    u8 = hole.astype(np.uint8)
    three = np.zeros((40, 40, 3), np.uint8)
    three[..., 1] = u8 * 255  # a hole painted in one colour
    for mask in [
        u8,
        u8 * 255,
        hole.astype(np.float32),
        hole.astype(np.float64) * 255.0,
        (u8 * 255)[..., None],
        np.repeat(u8[..., None], 3, axis=-1),
        three,
        u8.astype(np.uint16) * 65535,
        np.where(hole, 200, 40).astype(np.uint8),  # soft values: > 127.5 is a hole
    ]:
        result, _ = inpaint(model, image, mask)
        np.testing.assert_array_equal(result, reference)


def test_drawn_edges_guide_the_hole(model):
    image = photo(48, 48)
    hole = box_mask(48, 48, 12, 12, 24, 24)
    drawn = np.zeros((48, 48), np.uint8)
    drawn[24, 8:40] = 255  # a horizontal line through the hole
    drawn[12:36, 30] = 255
    plain, plain_edges = inpaint(model, image, hole)
    guided, guided_edges = inpaint(model, image, hole, edges=drawn)
    np.testing.assert_array_equal(guided[~hole], image[~hole])
    np.testing.assert_array_equal(guided_edges[hole], drawn[hole] / 255.0)
    np.testing.assert_array_equal(guided_edges[~hole], plain_edges[~hole])
    assert np.abs(guided[hole].astype(int) - plain[hole].astype(int)).max() > 0
    # an RGB drawing gives the same result
    rgb_drawn, _ = inpaint(model, image, hole, edges=np.dstack([drawn] * 3))
    np.testing.assert_array_equal(rgb_drawn, guided)


def test_hole_windows_cover_each_hole_once():
    hole = np.zeros((100, 160), bool)
    hole[5:10, 5:12] = True  # near a corner
    hole[80:95, 140:158] = True
    hole[8:12, 20:24] = True  # overlaps the first one's window: merged
    windows = inpaint_lib.hole_windows(hole, window=32)
    assert len(windows) == 2
    for y0, y1, x0, x1 in windows:
        assert 0 <= y0 < y1 <= 100 and 0 <= x0 < x1 <= 160
        assert y1 - y0 >= 32 and x1 - x0 >= 32
    # every hole pixel lies in exactly one window; windows do not overlap
    cover = np.zeros(hole.shape, int)
    for y0, y1, x0, x1 in windows:
        cover[y0:y1, x0:x1] += 1
    assert cover.max() == 1 and np.all(cover[hole] == 1)
    # window = max(32, 2 × box) per side: an 18-wide hole gets a 36-wide window
    assert windows[1][3] - windows[1][2] == 36


def test_choose_tiling():
    assert inpaint_lib.choose_tiling((512, 300)) == "full"
    assert inpaint_lib.choose_tiling((513, 300)) == "crop"
    assert inpaint_lib.choose_tiling((100, 200), max_side=64) == "crop"


@pytest.mark.parametrize("tiling", ["full", "crop", "resize", "auto"])
def test_strategies_keep_size_and_known_pixels(model, tiling):
    image = photo(72, 100)
    hole = box_mask(72, 100, 4, 6, 6, 8) | box_mask(72, 100, 30, 50, 36, 44)
    result, edges = inpaint(model, image, hole, tiling=tiling, window=24, max_side=48)
    assert result.shape == (72, 100, 3) and edges.shape == (72, 100)
    np.testing.assert_array_equal(result[~hole], image[~hole])
    assert np.any(result[hole] != image[hole])


def test_crop_runs_the_model_on_the_window(model):
    image = photo(64, 96)
    hole = box_mask(64, 96, 40, 70, 8, 10)
    [(y0, y1, x0, x1)] = inpaint_lib.hole_windows(hole, window=24)
    assert (y1 - y0, x1 - x0) == (24, 24)
    result, edges = inpaint(model, image, hole, tiling="crop", window=24, max_side=48)
    sub, sub_hole = image[y0:y1, x0:x1], hole[y0:y1, x0:x1]
    out = model(
        {
            "image": (sub / 255.0).astype("float32")[None],
            "mask": sub_hole.astype("float32")[None, ..., None],
        }
    )
    expected = np.round(np.asarray(out["inpainted"])[0] * 255).astype(int)
    np.testing.assert_allclose(result[y0:y1, x0:x1][sub_hole], expected[sub_hole], atol=1)
    np.testing.assert_allclose(edges[y0:y1, x0:x1], np.asarray(out["edges"])[0, ..., 0], atol=1e-5)
    outside = np.ones(hole.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert not edges[outside].any()  # not computed outside the window


def test_resize_equals_full_when_small_enough(model):
    image = photo(40, 48)
    hole = box_mask(40, 48, 10, 10, 12, 12)
    full, full_edges = inpaint(model, image, hole, tiling="full")
    small, small_edges = inpaint(model, image, hole, tiling="resize", max_side=48)
    np.testing.assert_array_equal(small, full)
    np.testing.assert_allclose(small_edges, full_edges, atol=1e-6)


def test_resize_never_sees_hole_content(model):
    """Whatever the hole holds, the result is the same (no ground truth leaks in)."""
    image = photo(80, 96)
    hole = box_mask(80, 96, 21, 33, 17, 23)  # odd offsets: mixed pixels when downscaled
    other = image.copy()
    other[hole] = 255 - other[hole]
    for tiling in ("resize", "crop", "full"):
        a, _ = inpaint(model, image, hole, tiling=tiling, window=24, max_side=40)
        b, _ = inpaint(model, other, hole, tiling=tiling, window=24, max_side=40)
        np.testing.assert_array_equal(a[hole], b[hole])


def test_empty_and_full_masks(model):
    image = photo(32, 32)
    with pytest.warns(UserWarning, match="no hole pixels"):
        result, _ = inpaint(model, image, np.zeros((32, 32), bool))
    np.testing.assert_array_equal(result, image)
    with pytest.warns(UserWarning, match="whole image"):
        result, edges = inpaint(model, image, np.ones((32, 32), np.uint8) * 255)
    assert result.shape == (32, 32, 3) and np.all(np.isfinite(edges))


def test_mask_size_mismatch(model):
    image = photo(40, 40)
    small = box_mask(20, 20, 5, 5, 6, 6)
    with pytest.raises(InpaintError, match=r"mask size 20×20 differs .* 40×40"):
        inpaint(model, image, small)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result, _ = inpaint(model, image, small, resize_mask=True)
    big = cv2.resize(small.astype(np.uint8), (40, 40), interpolation=cv2.INTER_NEAREST) > 0
    np.testing.assert_array_equal(result[~big], image[~big])
    assert np.any(result[big] != image[big])


@pytest.mark.parametrize(
    "image, mask, match",
    [
        (np.zeros((20, 20, 3), np.float32) + 2.0, None, r"in \[0, 1\]"),
        (np.zeros((20, 20, 3), np.int64), None, "dtype"),
        (np.zeros((8, 20, 3), np.uint8), None, "at least 9"),
        (np.zeros((20, 20, 5), np.uint8), None, "shape"),
        (np.zeros((20, 20, 3), np.uint8), -np.ones((20, 20)), "negative"),
        (np.zeros((20, 20, 3), np.uint8), np.full((20, 20), np.nan), "NaN"),
        (np.zeros((20, 20, 3), np.uint8), np.zeros((20, 20), object), "dtype"),
    ],
)
def test_bad_inputs(model, image, mask, match):
    mask = np.ones((20, 20), bool) if mask is None else mask
    with pytest.raises(InpaintError, match=match):
        inpaint(model, image, mask)


def test_bad_strategy(model):
    with pytest.raises(InpaintError, match="tiling"):
        inpaint(model, photo(20, 20), np.ones((20, 20)), tiling="tiles")


# ------------------------------------------------------------------- edgeconnect inpaint


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    import keras

    from edgeconnect_tf.weights import save_networks

    keras.utils.set_random_seed(3)
    directory = tmp_path_factory.mktemp("weights")
    save_networks(str(directory), build_networks(1, 8, names=REQUIRED))
    return directory


def run_inpaint(argv, capsys):
    import argparse

    from edgeconnect_tf.cli.inpaint import add_arguments as add_inpaint_arguments
    from edgeconnect_tf.cli.inpaint import main as inpaint_command

    parser = argparse.ArgumentParser()
    add_inpaint_arguments(parser)
    code = inpaint_command(parser.parse_args([str(a) for a in argv]))
    out, err = capsys.readouterr()
    return code, out, err


def write(path, image):
    """RGB (or gray) uint8/uint16 to a file with OpenCV's BGR order."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 3:
        image = image[..., ::-1]
    assert cv2.imwrite(str(path), image)
    return path


def read(path):
    return read_image(str(path))


@pytest.fixture
def folder(tmp_path):
    """tmp/in/{a.png, b.jpg, c.png}, tmp/masks/{a,b,c}.png (a box hole), tmp/out."""
    (tmp_path / "in").mkdir()
    (tmp_path / "masks").mkdir()
    hole = box_mask(40, 48, 10, 12, 14, 16)
    for k, name in enumerate(["a.png", "b.jpg", "c.png"]):
        write(tmp_path / "in" / name, np.roll(photo(40, 48), 7 * k, axis=1))
        write(tmp_path / "masks" / (name[0] + ".png"), hole.astype(np.uint8) * 255)
    return tmp_path, hole


def one_line_error(code, err, *needles):
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("edgeconnect inpaint: error:"), err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_cli_directory_pairs_names_and_writes_outputs(weights_dir, folder, capsys):
    root, hole = folder
    argv = ["--weights", weights_dir, "--input", root / "in", "--mask", root / "masks"]
    code, out, err = run_inpaint([*argv, "--output", root / "out", "--save-edges"], capsys)
    assert code == 0, err
    assert sorted(os.listdir(root / "out")) == [
        "a.png", "a_edges.png", "b.jpg", "b_edges.png", "c.png", "c_edges.png",
    ]  # fmt: skip
    assert "wrote 3 image(s)" in out
    for name in ("a.png", "c.png"):  # PNG: known pixels bit-exact
        result, source = read(root / "out" / name), read(root / "in" / name)
        assert result.shape == (40, 48, 3)
        np.testing.assert_array_equal(result[~hole], source[~hole])
        assert np.any(result[hole] != source[hole])
    edges = read(root / "out" / "a_edges.png")
    assert edges.shape == (40, 48) and edges.dtype == np.uint8
    _, want = inpaint(
        EdgeConnect.from_pretrained(str(weights_dir)),  # the command's default blocks
        read(root / "in" / "a.png"),
        hole,
    )
    np.testing.assert_array_equal(edges, (want * 255 + 0.5).astype(np.uint8))
    jpeg = read(root / "out" / "b.jpg")  # JPEG in, JPEG out (lossy)
    assert jpeg.shape == (40, 48, 3)
    assert np.abs(jpeg[~hole].astype(int) - read(root / "in" / "b.jpg")[~hole]).mean() < 4


def test_cli_skip_existing_and_overwrite(weights_dir, folder, capsys):
    root, _ = folder
    out = root / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"keep me")
    argv = ["--weights", weights_dir, "--input", root / "in", "--mask", root / "masks"]
    code, stdout, err = run_inpaint([*argv, "--output", out], capsys)
    assert code == 0, err
    assert (out / "a.png").read_bytes() == b"keep me"
    assert "skipped 1" in stdout and sorted(os.listdir(out)) == ["a.png", "b.jpg", "c.png"]
    code, stdout, _ = run_inpaint([*argv, "--output", out, "--overwrite"], capsys)
    assert code == 0 and "wrote 3" in stdout
    assert read(out / "a.png").shape == (40, 48, 3)
    assert sorted(os.listdir(out)) == ["a.png", "b.jpg", "c.png"]  # no temporary files


def test_cli_single_file_with_edges_and_one_mask_for_all(weights_dir, folder, capsys):
    root, hole = folder
    drawn = np.zeros((40, 48), np.uint8)
    drawn[17, 5:40] = 255
    write(root / "lines.png", drawn)
    base = ["--weights", weights_dir, "--input", root / "in" / "a.png"]
    base += ["--mask", root / "masks" / "a.png"]
    assert run_inpaint([*base, "--output", root / "plain"], capsys)[0] == 0
    code, _, err = run_inpaint(
        [*base, "--output", root / "g", "--edges", root / "lines.png"], capsys
    )
    assert code == 0, err
    plain, guided = read(root / "plain" / "a.png"), read(root / "g" / "a.png")
    np.testing.assert_array_equal(plain[~hole], guided[~hole])
    assert np.any(plain[hole] != guided[hole])
    # one mask file for a whole directory
    code, _, err = run_inpaint(
        ["--weights", weights_dir, "--input", root / "in", "--mask", root / "masks" / "a.png",
         "--output", root / "all"],
        capsys,
    )  # fmt: skip
    assert code == 0 and sorted(os.listdir(root / "all")) == ["a.png", "b.jpg", "c.png"]


def test_cli_missing_masks_listed(weights_dir, folder, capsys):
    root, _ = folder
    os.remove(root / "masks" / "b.png")
    os.remove(root / "masks" / "c.png")
    code, _, err = run_inpaint(
        ["--weights", weights_dir, "--input", root / "in", "--mask", root / "masks",
         "--output", root / "out"],
        capsys,
    )  # fmt: skip
    one_line_error(code, err, "2 image(s)", "b.jpg", "c.png")
    assert not (root / "out").exists()


def test_cli_never_writes_over_an_input(weights_dir, folder, capsys):
    root, _ = folder
    code, _, err = run_inpaint(
        ["--weights", weights_dir, "--input", root / "in", "--mask", root / "masks",
         "--output", root / "in", "--overwrite"],
        capsys,
    )  # fmt: skip
    one_line_error(code, err, "overwrite an input")
    assert sorted(os.listdir(root / "in")) == ["a.png", "b.jpg", "c.png"]


def test_cli_bad_inputs_leave_no_files(weights_dir, folder, tmp_path, capsys):
    root, _ = folder
    out = root / "out"
    base = ["--weights", weights_dir, "--mask", root / "masks", "--output", out]

    (root / "in" / "c.png").write_bytes(b"\x89PNG broken")  # unreadable (one of three)
    code, _, err = run_inpaint([*base, "--input", root / "in"], capsys)
    one_line_error(code, err, "c.png", "could not be read")
    assert not out.exists()

    write(root / "in" / "c.png", photo(40, 48))
    write(root / "masks" / "c.png", np.zeros((20, 24), np.uint8))  # wrong size
    code, _, err = run_inpaint([*base, "--input", root / "in"], capsys)
    one_line_error(code, err, "c.png", "24×20", "--resize-mask")
    assert not out.exists()
    code, _, err = run_inpaint([*base, "--input", root / "in", "--resize-mask"], capsys)
    assert code == 0, err  # opted in; the resized mask is empty: a warning, image unchanged
    assert "warning" in err and "no hole pixels" in err
    np.testing.assert_array_equal(read(out / "c.png"), read(root / "in" / "c.png"))

    partial = tmp_path / "partial"  # weights without the inpaint generator
    partial.mkdir()
    for name in ("config.json", "edge_generator.weights.h5"):
        (partial / name).write_bytes((weights_dir / name).read_bytes())
    code, _, err = run_inpaint(
        ["--weights", partial, "--input", root / "in", "--mask", root / "masks",
         "--output", tmp_path / "o2"],
        capsys,
    )  # fmt: skip
    one_line_error(code, err, "inpaint_generator.weights.h5")
    assert not (tmp_path / "o2").exists()
    code, _, err = run_inpaint(
        ["--weights", tmp_path / "nowhere", "--input", root / "in", "--mask", root / "masks",
         "--output", tmp_path / "o2"],
        capsys,
    )  # fmt: skip
    one_line_error(code, err, "nowhere")
    code, _, err = run_inpaint(
        ["--weights", weights_dir, "--input", root / "missing.png", "--mask", root / "masks",
         "--output", tmp_path / "o2"],
        capsys,
    )  # fmt: skip
    one_line_error(code, err, "missing.png")
    assert not (tmp_path / "o2").exists()


def test_cli_full_mask_warns_and_works(weights_dir, folder, capsys):
    root, _ = folder
    write(root / "full.png", np.full((40, 48), 255, np.uint8))
    code, _, err = run_inpaint(
        ["--weights", weights_dir, "--input", root / "in" / "a.png", "--mask", root / "full.png",
         "--output", root / "out", "--tiling", "crop"],
        capsys,
    )  # fmt: skip
    assert code == 0
    assert "warning" in err and "whole image" in err
    assert read(root / "out" / "a.png").shape == (40, 48, 3)
