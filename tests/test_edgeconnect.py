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
