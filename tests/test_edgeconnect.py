"""The EdgeConnect inference model: padding, compositing, drawn edges, loading."""

import os

import numpy as np
import pytest
import skimage.feature

from edgeconnect_tf.data.image_ops import rgb_to_gray
from edgeconnect_tf.edgeconnect import EdgeConnect
from edgeconnect_tf.weights import WeightsError, build_networks, save_networks


@pytest.fixture(scope="module")
def model():
    nets = build_networks(1, 8, names=("edge_generator", "inpaint_generator"), conv_mode="graph")
    return EdgeConnect(nets["edge_generator"], nets["inpaint_generator"])


def _inputs(h, w, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.random((1, h, w, 3)).astype("float32")
    mask = np.zeros((1, h, w, 1), "float32")
    mask[:, h // 4 : h // 2, w // 3 : w // 2 + 3] = 1
    return image, mask


@pytest.mark.parametrize("h,w", [(32, 32), (37, 53)])
def test_output_shapes_and_known_pixels_exact(model, h, w):
    image, mask = _inputs(h, w)
    out = model({"image": image, "mask": mask})
    assert out["inpainted"].shape == (1, h, w, 3)
    assert out["edges"].shape == (1, h, w, 1)
    known = mask[..., 0] == 0
    np.testing.assert_array_equal(np.asarray(out["inpainted"])[known], image[known])
    hole = ~known
    np.testing.assert_array_equal(np.asarray(out["inpainted"])[hole], np.asarray(out["raw"])[hole])


def test_known_edges_are_canny_of_known_part(model):
    from skimage import data, transform

    photo = transform.resize(data.astronaut(), (64, 64), anti_aliasing=True).astype("float32")
    image = photo[None]
    mask = np.zeros((1, 64, 64, 1), "float32")
    mask[:, 20:40, 20:44] = 1
    edges = np.asarray(model({"image": image, "mask": mask})["edges"])[0, ..., 0]
    gray = np.asarray(rgb_to_gray(image))[0, ..., 0]
    expected = skimage.feature.canny(
        gray.astype("float64"),
        sigma=2.0,
        low_threshold=0.1,
        high_threshold=0.2,
        mask=mask[0, ..., 0] == 0,
    )
    known = mask[0, ..., 0] == 0
    assert np.mean(edges[known] != expected[known]) < 1e-3


def test_drawn_edges_replace_g1_inside_hole(model):
    image, mask = _inputs(32, 32)
    drawn = np.zeros((1, 32, 32, 1), "float32")
    drawn[:, 12, :] = 1
    out = model({"image": image, "mask": mask, "edges": drawn})
    hole = mask[0, ..., 0] == 1
    np.testing.assert_array_equal(np.asarray(out["edges"])[0, ..., 0][hole], drawn[0, ..., 0][hole])
    plain = model({"image": image, "mask": mask})
    assert not np.allclose(np.asarray(out["raw"]), np.asarray(plain["raw"]))


def test_from_pretrained_round_trip(model, tmp_path):
    save_networks(
        str(tmp_path),
        {"edge_generator": model.edge_generator, "inpaint_generator": model.inpaint_generator},
    )
    loaded = EdgeConnect.from_pretrained(str(tmp_path))
    assert model.conv_mode == loaded.conv_mode == "graph"  # the default, built and loaded
    direct = EdgeConnect.from_pretrained(str(tmp_path), conv_mode="direct")
    assert direct.conv_mode == "direct" and direct.inpaint_generator.conv_mode == "direct"
    image, mask = _inputs(32, 32)
    a = model({"image": image, "mask": mask})["inpainted"]
    b = loaded({"image": image, "mask": mask})["inpainted"]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    c = direct({"image": image, "mask": mask})["inpainted"]
    np.testing.assert_allclose(np.asarray(c), np.asarray(a), atol=1e-4)  # graph vs direct


def test_save_pretrained_round_trip_keeps_sigma(tmp_path):
    import json

    nets = build_networks(1, 8, names=("edge_generator", "inpaint_generator"), conv_mode="graph")
    model = EdgeConnect(nets["edge_generator"], nets["inpaint_generator"], sigma=1.5,
                        residual_blocks=1, filters=8)  # fmt: skip
    assert model.save_pretrained(str(tmp_path / "w")) == str(tmp_path / "w")
    assert sorted(os.listdir(tmp_path / "w")) == [
        "config.json",
        "edge_generator.weights.h5",
        "inpaint_generator.weights.h5",
    ]
    config = json.loads((tmp_path / "w" / "config.json").read_text())
    assert (config["sigma"], config["residual_blocks"], config["filters"]) == (1.5, 1, 8)
    loaded = EdgeConnect.from_pretrained(str(tmp_path / "w"))
    assert (loaded.sigma, loaded.residual_blocks, loaded.filters) == (1.5, 1, 8)
    other = EdgeConnect.from_pretrained(str(tmp_path / "w"), sigma=2.0)  # an explicit σ wins
    assert other.sigma == 2.0
    image, mask = _inputs(64, 64)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    out, again, at_2 = (m({"image": image, "mask": mask}) for m in (model, loaded, other))
    for key in ("inpainted", "edges"):  # σ 1.5 drew the same known edges
        np.testing.assert_array_equal(np.asarray(out[key]), np.asarray(again[key]))
    assert not np.array_equal(np.asarray(out["edges"]), np.asarray(at_2["edges"]))
    # A model never called is built before it is saved (its generators have variables then).
    fresh = EdgeConnect(residual_blocks=1, filters=8, sigma=2.5)
    fresh.save_pretrained(str(tmp_path / "fresh"))
    reloaded = EdgeConnect.from_pretrained(str(tmp_path / "fresh"))
    assert reloaded.sigma == 2.5
    for a, b in zip(fresh.get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_from_pretrained_names_missing_file(model, tmp_path):
    save_networks(str(tmp_path), {"edge_generator": model.edge_generator})
    with pytest.raises(WeightsError, match="inpaint_generator.weights.h5"):
        EdgeConnect.from_pretrained(str(tmp_path))
    with pytest.raises(WeightsError, match="does not exist"):
        EdgeConnect.from_pretrained(os.path.join(str(tmp_path), "nope"))


# ------------------------------------------------------------------ stage by stage


def _photo(h, w):
    from skimage import data, transform

    return transform.resize(data.astronaut(), (h, w), anti_aliasing=True).astype("float32")


@pytest.mark.parametrize("h,w", [(48, 48), (37, 53)])  # 37×53: padded to 40×56 inside
def test_complete_edges_then_repaint_is_call(model, h, w):
    image, mask = _photo(h, w)[None], np.zeros((1, h, w, 1), "float32")
    mask[:, h // 4 : 3 * h // 4, w // 3 : 2 * w // 3] = 1
    full = model({"image": image, "mask": mask})
    edge_map = model.complete_edges(image, mask)
    np.testing.assert_array_equal(np.asarray(edge_map), np.asarray(full["edges"]))
    again = model.repaint(image, mask, edge_map)
    for key in ("inpainted", "raw"):
        np.testing.assert_array_equal(np.asarray(again[key]), np.asarray(full[key]))
    # The compiled stages (what `inpaint` and the serving signatures run) agree too.
    compiled = model.inference_function(stage="edges")(image, mask)
    np.testing.assert_array_equal(np.asarray(compiled), np.asarray(edge_map))
    painted = model.inference_function(stage="repaint")(image, mask, compiled)
    np.testing.assert_array_equal(np.asarray(painted["inpainted"]), np.asarray(full["inpainted"]))


def test_complete_edges_is_g1_in_the_hole_and_known_edges_outside(model):
    """The edge map against G1 run by hand on its documented input
    [gray·(1−m) + m, edges·(1−m), m], gray = skimage's rgb2gray (0.2125 R + 0.7154 G
    + 0.0721 B), edges = the map outside."""
    image, mask = _photo(48, 48)[None], np.zeros((1, 48, 48, 1), "float32")
    mask[:, 12:36, 16:32] = 1
    edge_map = np.asarray(model.complete_edges(image, mask))
    gray = (image @ np.array([0.2125, 0.7154, 0.0721], "float32"))[..., None]
    known = 1 - mask
    g1_in = np.concatenate([gray * known + mask, edge_map * known, mask], axis=-1)
    by_hand = np.asarray(model.edge_generator(g1_in, training=False))
    hole = mask[0, ..., 0] == 1
    np.testing.assert_allclose(edge_map[0, ..., 0][hole], by_hand[0, ..., 0][hole], atol=1e-5)
    assert set(np.unique(edge_map[0, ..., 0][~hole])) <= {0.0, 1.0}  # Canny: binary


def test_repaint_follows_the_edited_map_in_the_hole_only(model):
    h = w = 64
    image, mask = _photo(h, w)[None], np.zeros((1, h, w, 1), "float32")
    mask[:, 16:48, 16:48] = 1
    edge_map = np.asarray(model.complete_edges(image, mask)).copy()
    full = np.asarray(model.repaint(image, mask, edge_map)["inpainted"])
    edited = edge_map.copy()
    edited[:, 16:48, 16:32] = 0  # the left half of the predicted edges erased
    edited[:, 40, 16:48] = 1  # and one line drawn
    after = np.asarray(model.repaint(image, mask, edited)["inpainted"])
    hole = mask[0, ..., 0] == 1
    np.testing.assert_array_equal(after[0][~hole], image[0][~hole])  # known pixels untouched
    change = np.abs(after[0] - full[0]).max(axis=-1) * 255
    assert change[16:48, 16:32].mean() > 1  # the fill moved where the edges were erased
    assert change[40, 16:48].mean() > 1  # and along the drawn line


def test_numpy_stages_give_inpaints_pixels(model):
    """`inpaint_edges` then `inpaint(edge_map=)` = `inpaint`: full size, crop windows at
    native size; and with the map rounded to 8 bits (as a PNG carries it) within 1 level."""
    rng = np.random.default_rng(3)
    photo = (_photo(45, 70) * 255).round().astype(np.uint8)
    hole = np.zeros((45, 70), bool)
    hole[10:30, 20:40] = True
    big = (rng.random((150, 170, 3)) * 255).astype(np.uint8)
    big[:75] = (_photo(75, 170) * 255).astype(np.uint8)
    big_hole = np.zeros((150, 170), bool)
    big_hole[20:40, 30:50] = True
    big_hole[110:125, 130:150] = True  # two windows of 64 px
    cases = [(photo, hole, {"tiling": "full"}), (big, big_hole, {"tiling": "crop", "window": 64})]
    for image, mask, options in cases:
        result, edges = model.inpaint(image, mask, **options)
        edge_map = model.inpaint_edges(image, mask, **options)
        np.testing.assert_array_equal(edge_map, edges)
        again, used = model.inpaint(image, mask, edge_map=edge_map, **options)
        np.testing.assert_array_equal(again, result)
        rounded = np.round(edge_map * 255).astype(np.uint8)
        eight_bit, _ = model.inpaint(image, mask, edge_map=rounded, **options)
        assert np.abs(eight_bit.astype(int) - result.astype(int)).max() <= 1
    with pytest.raises(ValueError, match="not both"):
        model.inpaint(photo, hole, edges=edge_map, edge_map=edge_map)
