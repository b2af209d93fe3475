"""evaluate + `edgeconnect eval`: per-image metrics vs skimage, buckets, baselines, reports."""

import argparse
import json
import os

import cv2
import numpy as np
import pytest
import skimage.data
from skimage.color import rgb2gray
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from edgeconnect_tf.cli.evaluate import add_arguments as add_eval_arguments
from edgeconnect_tf.cli.evaluate import main as eval_command
from edgeconnect_tf.evaluation import evaluate
from edgeconnect_tf.weights import FILES, REQUIRED, build_networks, save_networks

SIZE = 64
# hole boxes (top, left, h, w) of 64×64 masks with ratios 15.6 %, 25 %, 45.3 %
BOXES = {"astronaut": (4, 4, 16, 40), "coffee": (10, 10, 32, 32), "chelsea": (0, 0, 29, 64)}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    import keras

    keras.utils.set_random_seed(2)
    save_networks(str(root / "weights"), build_networks(1, 8, names=REQUIRED))
    (root / "data").mkdir()
    (root / "masks").mkdir()
    for name, (top, left, h, w) in BOXES.items():
        image = cv2.resize(
            getattr(skimage.data, name)(), (SIZE, SIZE), interpolation=cv2.INTER_AREA
        )
        cv2.imwrite(str(root / "data" / f"{name}.png"), image[..., ::-1])
        mask = np.zeros((SIZE, SIZE), np.uint8)
        mask[top : top + h, left : left + w] = 255
        cv2.imwrite(str(root / "masks" / f"{name}.png"), mask)
    return root


def run_eval(argv, capsys):
    parser = argparse.ArgumentParser()
    add_eval_arguments(parser)
    code = eval_command(parser.parse_args([str(a) for a in argv]))
    out, err = capsys.readouterr()
    return code, out, err


def gray_metrics(gt, pred):
    """The authors' metrics computed independently with skimage and numpy."""
    g, p = rgb2gray(gt), rgb2gray(pred)
    return {
        "psnr": peak_signal_noise_ratio(g, p, data_range=1),
        "ssim": structural_similarity(
            g, p, win_size=51, data_range=1, gaussian_weights=False, use_sample_covariance=True
        ),
        "mae": np.sum(np.abs(g - p)) / np.sum(g + p),
        "psnr_rgb": peak_signal_noise_ratio(gt, pred, data_range=255),
        "ssim_rgb": structural_similarity(
            gt, pred, win_size=51, data_range=255, channel_axis=-1, gaussian_weights=False
        ),
    }


def test_bucket_labels():
    assert evaluate.RATIO_BUCKETS == tuple(
        __import__("edgeconnect_tf.data.masks", fromlist=["x"]).RATIO_BUCKETS
    )
    labels = [evaluate.bucket_label(r) for r in (0.0, 0.099, 0.1, 0.25, 0.4999, 0.5, 0.6, 1.0)]
    assert labels == ["<10%", "<10%", "10-20%", "20-30%", "40-50%", "50-60%", ">=60%", ">=60%"]


def test_opencv_baseline_never_sees_the_hole():
    image = cv2.resize(skimage.data.coffee(), (SIZE, SIZE))
    hole = np.zeros((SIZE, SIZE), bool)
    hole[20:40, 16:30] = True
    other = image.copy()
    other[hole] = 0
    for method, flag in (("telea", cv2.INPAINT_TELEA), ("navier_stokes", cv2.INPAINT_NS)):
        result = evaluate.opencv_inpaint(image, hole, method)
        np.testing.assert_array_equal(result[~hole], image[~hole])
        direct = cv2.inpaint(other, hole.astype(np.uint8), 3, flag)
        np.testing.assert_array_equal(result[hole], direct[hole])
    with pytest.raises(ValueError, match="method"):
        evaluate.opencv_inpaint(image, hole, "magic")


def test_eval_cli_metrics_buckets_and_reports(dataset, tmp_path, capsys):
    out = tmp_path / "report"
    code, stdout, err = run_eval(
        [
            "--weights", dataset / "weights",
            "--data", dataset / "data",
            "--masks", dataset / "masks",
            "--output", out,
            "--save-images",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    report = json.loads((out / "metrics.json").read_text())
    assert report["config"]["mask_pairing"] == "name"
    assert report["methods"] == ["edgeconnect", "telea", "navier_stokes"]
    rows = {os.path.splitext(r["image"])[0]: r for r in report["per_image"]}
    assert set(rows) == set(BOXES)
    expected_bucket = {"astronaut": "10-20%", "coffee": "20-30%", "chelsea": "40-50%"}
    for name, (top, left, h, w) in BOXES.items():
        row = rows[name]
        assert row["hole_ratio"] == pytest.approx(h * w / SIZE**2)
        assert row["bucket"] == expected_bucket[name]
        gt = cv2.imread(str(dataset / "data" / f"{name}.png"))[..., ::-1]
        hole = np.zeros((SIZE, SIZE), bool)
        hole[top : top + h, left : left + w] = True
        for method in report["methods"]:
            pred = cv2.imread(str(out / "images" / method / f"{name}.png"))[..., ::-1]
            np.testing.assert_array_equal(pred[~hole], gt[~hole])
            want = gray_metrics(gt, pred)
            for metric, value in want.items():
                assert row[method][metric] == pytest.approx(value, rel=1e-7, abs=1e-10), (
                    name,
                    method,
                    metric,
                )
        telea = evaluate.opencv_inpaint(gt, hole, "telea")
        saved = cv2.imread(str(out / "images" / "telea" / f"{name}.png"))[..., ::-1]
        np.testing.assert_array_equal(saved, telea)

    buckets = {b["bucket"]: b for b in report["buckets"]}
    assert list(buckets) == ["10-20%", "20-30%", "40-50%", "all"]
    assert buckets["all"]["count"] == 3 and buckets["20-30%"]["count"] == 1
    for method in report["methods"]:
        for metric in evaluate.METRICS:
            mean = np.mean([r[method][metric] for r in rows.values()])
            assert buckets["all"][method][metric] == pytest.approx(mean, rel=1e-12)
            assert buckets["20-30%"][method][metric] == rows["coffee"][method][metric]
        assert "fid" not in buckets["all"][method]

    md = (out / "metrics.md").read_text()
    table = evaluate.markdown_table(report)
    assert table in md and table in stdout
    lines = table.strip().splitlines()
    assert len(lines) == 2 + 4 * 3
    v = buckets["all"]["navier_stokes"]
    assert (
        f"| all | OpenCV Navier–Stokes | 3 | {v['psnr']:.2f} | {v['ssim']:.3f} | "
        f"{v['mae'] * 100:.2f} | {v['psnr_rgb']:.2f} | {v['ssim_rgb']:.3f} |"
    ) in lines
    assert sorted(os.listdir(out)) == ["comparison.png", "images", "metrics.json", "metrics.md"]
    assert "(comparison.png)" in md

    # The grid: one row per bucket here (3 rows at most each), in bucket order; panels
    # input · edges · EdgeConnect · Telea · Navier–Stokes · ground truth at native size.
    grid = cv2.imread(str(out / "comparison.png"))[..., ::-1]
    strip, gap, step = 18, 4, SIZE + 4
    assert grid.shape == (strip + 3 * (strip + SIZE), 6 * SIZE + 5 * gap, 3)
    for k, name in enumerate(["astronaut", "coffee", "chelsea"]):
        top = strip + k * (strip + SIZE) + strip
        panels = [grid[top : top + SIZE, c * step : c * step + SIZE] for c in range(6)]
        gt = cv2.imread(str(dataset / "data" / f"{name}.png"))[..., ::-1]
        top_, left, h, w = BOXES[name]
        hole = np.zeros((SIZE, SIZE), bool)
        hole[top_ : top_ + h, left : left + w] = True
        assert np.all(panels[0][hole] == 255)
        np.testing.assert_array_equal(panels[0][~hole], gt[~hole])
        for c, method in ((2, "edgeconnect"), (3, "telea"), (4, "navier_stokes")):
            saved = cv2.imread(str(out / "images" / method / f"{name}.png"))[..., ::-1]
            np.testing.assert_array_equal(panels[c], saved)
        np.testing.assert_array_equal(panels[5], gt)


def test_masks_paired_by_order_and_limit(dataset, tmp_path, capsys):
    masks = tmp_path / "nvidia"
    masks.mkdir()
    big = np.zeros((128, 128), np.uint8)
    big[:64, :] = 255  # 50 %, resized to each image
    cv2.imwrite(str(masks / "00000.png"), big)
    code, _, err = run_eval(
        [
            "--weights", dataset / "weights",
            "--data", dataset / "data",
            "--masks", masks,
            "--mask-order",
            "--output", tmp_path / "r",
            "--no-baselines",
            "--limit", "2",
            "--grid-rows", "0",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    report = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert report["config"]["mask_pairing"] == "order"
    assert report["methods"] == ["edgeconnect"]
    assert [r["mask"] for r in report["per_image"]] == ["00000.png"] * 2
    assert [r["hole_ratio"] for r in report["per_image"]] == [0.5, 0.5]
    assert [b["bucket"] for b in report["buckets"]] == ["50-60%", "all"]
    assert not (tmp_path / "r" / "comparison.png").exists()  # --grid-rows 0
    # Without --mask-order the masks pair by name, as `inpaint`'s: none matches, and it says so.
    argv = ["--weights", dataset / "weights", "--data", dataset / "data", "--masks", masks]
    code, _, err = run_eval([*argv, "--output", tmp_path / "s", "--no-baselines"], capsys)
    assert code == 1 and "no mask in" in err and "with --mask-order" in err


def test_generated_masks():
    for index in range(5):
        hole = evaluate.generated_mask("buckets", 64, 64, seed=3, index=index)
        low, high = evaluate.RATIO_BUCKETS[index]
        assert low <= hole.mean() < high
    again = evaluate.generated_mask("buckets", 64, 64, seed=3, index=4)
    np.testing.assert_array_equal(hole, again)  # a pure function of (seed, index)
    assert evaluate.generated_mask("block", 64, 64, 0, 0).mean() == 0.25
    assert evaluate.generated_mask("half", 64, 64, 0, 0).mean() == 0.5


class MeanColour:
    """A stand-in for InceptionFeatures: 3-d features (mean colour and its spread)."""

    def extract(self, images):
        x = np.asarray(images, np.float64) / 255.0
        return np.concatenate([x.mean(axis=(1, 2)), x.std(axis=(1, 2))], axis=-1)


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_fid_per_bucket(dataset):
    from edgeconnect_tf.edgeconnect import EdgeConnect
    from edgeconnect_tf.evaluation.metrics import fid_from_features

    model = EdgeConnect.from_pretrained(str(dataset / "weights"))
    samples, _ = evaluate.load_samples(str(dataset / "data"), mask_type="block")
    samples = samples * 2  # 6 images, all in the 20-30 % bucket
    report = evaluate.evaluate(
        model, samples, inception=MeanColour(), progress=False, save_dir=None
    )
    feats = MeanColour()
    real, fake = [], []
    for sample in samples:
        image, hole = sample["load"]()
        real.append(feats.extract(image[None])[0])
        fake.append(feats.extract(evaluate.opencv_inpaint(image, hole, "telea")[None])[0])
    buckets = {b["bucket"]: b for b in report["buckets"]}
    assert list(buckets) == ["20-30%", "all"]
    assert report["grid"].shape == (18 + 3 * (18 + SIZE), 6 * SIZE + 5 * 4, 3)  # 3 of 6 rows
    want = fid_from_features(np.stack(real), np.stack(fake))
    assert buckets["all"]["telea"]["fid"] == pytest.approx(want, rel=1e-9)
    assert "FID ↓" in evaluate.markdown_table(report)
    single = evaluate.summarize(
        report["per_image"][:1],
        report["methods"],
        {
            k: v[:1]
            for k, v in {
                "ground_truth": real,
                "telea": fake,
                "edgeconnect": fake,
                "navier_stokes": fake,
            }.items()
        },
    )
    assert single[0]["telea"]["fid"] is None  # one image: no FID


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_eval_cli_fid_with_inception_weights_file(dataset, tmp_path, capsys, monkeypatch):
    """The CLI hands the weights file to InceptionFeatures and reports FID.

    (InceptionFeatures itself is tested in test_metrics.py; a stand-in keeps this fast.)
    """
    from edgeconnect_tf.evaluation import metrics

    loaded = []

    class FakeInception(MeanColour):
        def __init__(self, weights):
            loaded.append(weights)

    monkeypatch.setattr(metrics, "InceptionFeatures", FakeInception)
    weights = tmp_path / "inception.weights.h5"
    weights.write_bytes(b"stand-in")
    argv = ["--weights", dataset / "weights", "--data", dataset / "data", "--mask-type", "block"]
    argv += ["--output", tmp_path / "r", "--no-baselines"]
    code, _, err = run_eval([*argv, "--inception-weights", weights], capsys)
    assert code == 0, err
    assert loaded == [str(weights)]
    report = json.loads((tmp_path / "r" / "metrics.json").read_text())
    fid = report["buckets"][-1]["edgeconnect"]["fid"]
    assert isinstance(fid, float) and fid >= -1e-6
    assert "FID" in (tmp_path / "r" / "metrics.md").read_text()
    code, _, err = run_eval([*argv, "--inception-weights", tmp_path / "none.h5"], capsys)
    _one_line_error(code, err, "none.h5")


def test_json_has_no_infinities(tmp_path):
    report = {
        "methods": ["telea"],
        "per_image": [],
        "buckets": [
            {
                "bucket": "all",
                "count": 1,
                "telea": dict.fromkeys(evaluate.METRICS, float("inf")),
            }
        ],
    }
    evaluate.write_report(report, str(tmp_path))
    text = (tmp_path / "metrics.json").read_text()
    assert "Infinity" not in text and json.loads(text)["buckets"][0]["telea"]["psnr"] is None
    assert "| inf |" in (tmp_path / "metrics.md").read_text()


def _one_line_error(code, err, *needles):
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("edgeconnect eval: error:"), err
    for needle in needles:
        assert needle in lines[0]


def test_eval_bad_inputs(dataset, tmp_path, capsys):
    base = ["--data", dataset / "data", "--masks", dataset / "masks"]
    # a weights directory without the inpaint generator
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("config.json", FILES["edge_generator"]):
        (partial / name).write_bytes((dataset / "weights" / name).read_bytes())
    out = tmp_path / "out"
    code, _, err = run_eval(["--weights", partial, *base, "--output", out], capsys)
    _one_line_error(code, err, FILES["inpaint_generator"])
    assert not out.exists()

    # an unreadable image
    data = tmp_path / "data"
    data.mkdir()
    (data / "broken.png").write_bytes(b"\x89PNG garbage")
    args = ["--weights", dataset / "weights", "--data", data, "--mask-type", "block"]
    code, _, err = run_eval([*args, "--output", out], capsys)
    _one_line_error(code, err, "broken.png")
    assert not out.exists()

    # an image too small for the 51×51 SSIM window
    (data / "broken.png").unlink()
    cv2.imwrite(str(data / "tiny.png"), np.zeros((40, 40, 3), np.uint8))
    code, _, err = run_eval([*args, "--output", out], capsys)
    _one_line_error(code, err, "tiny.png", "51")
    assert not out.exists()
    code, _, err = run_eval([*args, "--output", out, "--crop-size", "64"], capsys)
    assert code == 0, err

    # an empty data directory
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_eval(
        ["--weights", dataset / "weights", "--data", empty, "--mask-type", "half", "--output", out],
        capsys,
    )
    _one_line_error(code, err, "no images")


def test_grid_with_photos_of_other_sizes_keeps_one_column_layout():
    """Rows of a wide and a small photo: every panel sits under its own header's column (the
    EdgeConnect panel under "EdgeConnect"), and the small row is centred in the columns
    instead of leaving the right half of the grid blank."""
    rng = np.random.default_rng(0)
    rows = []
    for h, w in ((60, 160), (40, 50)):
        image = rng.integers(0, 200, (h, w, 3), dtype=np.uint8)  # never white
        hole = np.zeros((h, w), bool)
        hole[h // 3 : h // 2, w // 3 : w // 2] = True
        results = {m: image for m in evaluate.METHODS}
        rows.append(evaluate.grid_row(image, hole, results, np.zeros((h, w)), f"{h}x{w}"))
    grid = evaluate.comparison_grid(rows)
    columns = 3 + len(evaluate.METHODS)  # input, edges, the methods, ground truth
    gap = 4
    column = 160  # the widest panel
    assert grid.shape[1] == columns * column + (columns - 1) * gap
    strip = 18
    small_top = strip + strip + 60 + strip  # header, caption, wide row, caption
    small = grid[small_top : small_top + 40]
    for k in range(columns):
        # The small photo's panel k: 50 px centred in column k, white around it.
        x0 = k * (column + gap) + (column - 50) // 2
        panel = small[:, x0 : x0 + 50]
        if k == 1:  # the edges panel is white with no edges
            continue
        assert (panel.min(axis=-1) < 255).mean() > 0.8, k
        np.testing.assert_array_equal(small[:, k * (column + gap) : x0], 255)
    # The headers start at each column's left edge: ink in the header strip over column k.
    header = grid[:strip].min(axis=-1) < 128
    for k in range(columns):
        x0 = k * (column + gap)
        assert header[:, x0 : x0 + column].any(), k
        assert not header[:, x0 + column : x0 + column + gap].any(), k  # text fits its column
