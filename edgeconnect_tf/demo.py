"""`make demo`: EdgeConnect trained on a CPU in minutes, with nothing to download.

1. Cuts training crops from scikit-image's bundled colour photos, at random
   scales (chelsea and coffee are held out).
2. Trains the edge model (G1 + D1), then the inpainting model (G2 + D2) with the
   shipped `quickstart` config, through the same `train` as `edgeconnect train`:
   Keras progress bars, checkpoints, TensorBoard logs, sample grids.
3. Inpaints the held-out photos at 128² and 256², each with a block and a
   free-form hole, with `EdgeConnect` (Canny -> G1 -> G2 -> composite) and with
   OpenCV's Telea and Navier–Stokes; prints hole PSNR / SSIM (and G2's pyramid
   fill on its own: what G2 adds to it) and writes `demo_output/demo.png` (input ·
   edges · EdgeConnect · Telea · Navier–Stokes · ground truth) and
   `demo_output/demo.md` (the table).

The recipe is `quickstart`'s: small networks, G2 refining a pyramid fill of the
hole (`hole_fill: pyramid`), an L1 warm-up before the adversarial losses switch
on (`adv_warmup_iters`), no VGG losses (their ImageNet weights would be a
download). It is a minutes-long run on six photos, not the paper's model: for
that, convert the published weights (`edgeconnect convert`).

    python -m edgeconnect_tf.demo [--output demo_output] [--edge-steps N] [--inpaint-steps N]

The weights end up in OUTPUT/weights (`edgeconnect inpaint --weights demo_output/weights`).
The photos come with scikit-image (`pip install "edgeconnect-tf[demo]"`).
"""

import argparse
import os
import sys
import time

import cv2
import numpy as np

# Colour photos that ship inside scikit-image (no download); two held out for scoring.
TRAIN_PHOTOS = (
    "astronaut",
    "rocket",
    "stereo_motorcycle",
    "immunohistochemistry",
    "retina",
    "colorwheel",
)
HELD_OUT = ("chelsea", "coffee")
TEST_SIZES = (128, 256)
TEST_HOLES = ("block", "free_form")
TEST_SEED = 20
SHORT_SIDE = (128, 320)  # each crop is cut from the photo scaled to a short side in this range
CROPS = 300  # per photo, 1800 in all (bench/RESULTS.md, "`make demo`")
EDGE_STEPS = 1000  # G1's share; G2 trains the config's max_iters (3000 for quickstart)
PYRAMID = "pyramid_fill"  # score rows: a "pyramid" G2's input fill on its own


def _photo(name):
    """A scikit-image sample photo as uint8 RGB (the left view of stereo pairs)."""
    from skimage import data

    image = getattr(data, name)()
    if isinstance(image, tuple):
        image = image[0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return image[..., :3].astype(np.uint8)


def write_training_crops(directory, crops_per_photo, crop, seed=0):
    """crop × crop crops of TRAIN_PHOTOS, each at a random scale and channel order, as PNGs.

    Returns the count.
    The photo is resized so that its short side is uniform in SHORT_SIDE, which
    spans the scales the held-out photos are scored at (128² and 256²).
    """
    from edgeconnect_tf.files.io import write_image

    rng = np.random.default_rng(seed)
    count = 0
    for name in TRAIN_PHOTOS:
        photo = _photo(name)
        for i in range(crops_per_photo):
            scale = rng.uniform(*SHORT_SIDE) / min(photo.shape[:2])
            image = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            h, w = image.shape[:2]
            y, x = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
            # A random order of the colour channels: the photos' own palette (few
            # scenes) cannot become a prior; the fill's colour must come from the context.
            piece = image[y : y + crop, x : x + crop][..., rng.permutation(3)]
            write_image(os.path.join(directory, f"{name}_{i:03d}.png"), piece)
            count += 1
    return count


def held_out_cases(sizes=TEST_SIZES, seed=TEST_SEED):
    """(name, size, hole kind, uint8 [S, S, 3] photo, bool [S, S] hole) for every test case."""
    from edgeconnect_tf.evaluation.evaluate import center_resize, generated_mask

    cases = []
    for size in sizes:
        for name in HELD_OUT:
            photo = center_resize(_photo(name), size)
            for kind in TEST_HOLES:
                hole = generated_mask(kind, size, size, seed, len(cases))
                cases.append((name, size, kind, photo, hole))
    return cases


def hole_scores(gt, result, hole):
    """(PSNR in dB over the hole's pixels, mean SSIM map over them) of uint8 RGB images.

    SSIM: skimage's default (uniform 7×7 window) on the RGB image, its map averaged
    over the hole pixels, so both numbers judge the fill alone.
    """
    from skimage.metrics import structural_similarity

    from edgeconnect_tf.evaluation.metrics import psnr

    _, ssim_map = structural_similarity(gt, result, channel_axis=-1, data_range=255, full=True)
    return psnr(gt[hole] / 255.0, result[hole] / 255.0), float(ssim_map[hole].mean())


def pyramid_fill_alone(photo, hole):
    """uint8 RGB [H, W, 3]: `image_ops.pyramid_fill`, what a "pyramid" G2 starts from."""
    from edgeconnect_tf.data.image_ops import pyramid_fill

    image = photo[None].astype(np.float32) / 255.0
    fill = pyramid_fill(image, hole[None, ..., None].astype(np.float32))[0].numpy()
    return np.round(np.clip(fill, 0, 1) * 255).astype(np.uint8)


def score(model, cases):
    """Scores EdgeConnect, Telea and Navier–Stokes on `cases` (see `held_out_cases`);
    with a "pyramid" G2 also its input fill alone (the table's `PYRAMID` row: what G2 adds).

    Returns (per-case rows {name, size, hole, ratio, METHOD: (psnr, ssim)},
    `evaluate.grid_row`s for the comparison grid).
    """
    from edgeconnect_tf.evaluation.evaluate import METHOD_NAMES, METHODS, grid_row, opencv_inpaint
    from edgeconnect_tf.inpaint import inpaint

    rows, grid = [], []
    for name, size, kind, photo, hole in cases:
        results = {}
        results["edgeconnect"], edges = inpaint(model, photo, hole, tiling="full")
        for method in METHODS[1:]:
            results[method] = opencv_inpaint(photo, hole, method)
        row = {"name": name, "size": size, "hole": kind, "ratio": float(hole.mean())}
        row.update({m: hole_scores(photo, r, hole) for m, r in results.items()})
        if model.inpaint_generator.hole_fill == "pyramid":
            row[PYRAMID] = hole_scores(photo, pyramid_fill_alone(photo, hole), hole)
        rows.append(row)
        scores = ", ".join(f"{METHOD_NAMES[m]} {row[m][0]:.1f}" for m in METHODS)
        caption = f"{name} {size}x{size}, {kind} hole {row['ratio']:.0%}: hole PSNR {scores} dB"
        grid.append(grid_row(photo, hole, results, edges, caption))
    return rows, grid


def score_table(rows):
    """Markdown table: mean hole PSNR / SSIM of each method at each test size."""
    from edgeconnect_tf.evaluation.evaluate import METHOD_NAMES, METHODS

    names = {**METHOD_NAMES, PYRAMID: "G2's pyramid fill alone"}
    sizes = sorted({r["size"] for r in rows})
    lines = ["| Method | " + " | ".join(f"PSNR {s}² | SSIM {s}²" for s in sizes) + " |"]
    lines.append("|---|" + "---:|---:|" * len(sizes))
    for m in [m for m in (*METHODS, PYRAMID) if m in rows[0]]:
        cells = []
        for s in sizes:
            values = np.array([r[m] for r in rows if r["size"] == s])
            cells += [f"{values[:, 0].mean():.2f}", f"{values[:, 1].mean():.3f}"]
        lines.append(f"| {names[m]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def add_arguments(parser):
    parser.add_argument("--output", default="demo_output", help="where data, runs, weights go")
    parser.add_argument("--config", default="quickstart", help="training config (name or YAML)")
    parser.add_argument(
        "--edge-steps", type=int, default=EDGE_STEPS, help=f"edge model steps ({EDGE_STEPS})"
    )
    parser.add_argument(
        "--inpaint-steps", type=int, help="inpaint model steps (default: the config's max_iters)"
    )
    parser.add_argument(
        "--crops", type=int, default=CROPS, help=f"training crops cut from each photo ({CROPS})"
    )


def main(args):
    try:
        import skimage.data  # noqa: F401
    except ImportError:
        print('the demo\'s photos come with scikit-image: pip install "edgeconnect-tf[demo]"')
        return 1
    from edgeconnect_tf.startup import quiet_tensorflow

    quiet_tensorflow()
    from edgeconnect_tf.edgeconnect import EdgeConnect
    from edgeconnect_tf.evaluation.evaluate import comparison_grid
    from edgeconnect_tf.files.io import atomic_write, write_image
    from edgeconnect_tf.training.config import load_config
    from edgeconnect_tf.training.train import train
    from edgeconnect_tf.weights import load_networks, save_networks

    started = time.time()
    out = os.path.abspath(args.output)
    data_dir = os.path.join(out, "data", "train")
    run_dir = os.path.join(out, "runs", "{model}")
    base = load_config(args.config, train_flist=data_dir, output_dir=run_dir)
    n = write_training_crops(data_dir, args.crops, base.input_size)
    print(f"[1/3] {n} training crops of {len(TRAIN_PHOTOS)} photos in {data_dir}", flush=True)

    inpaint_steps = base.max_iters if args.inpaint_steps is None else args.inpaint_steps
    results = {}
    for model_type, steps in (("edge", args.edge_steps), ("inpaint", inpaint_steps)):
        print(f"[2/3] training the {model_type} model for {steps} steps", flush=True)
        results[model_type] = train(base.replace(max_iters=steps), model_type)

    weights_dir = os.path.join(out, "weights")
    g1, _ = load_networks(results["edge"].weights_dir, names=("edge_generator",))
    g2, _ = load_networks(results["inpaint"].weights_dir, names=("inpaint_generator",))
    save_networks(weights_dir, {**g1, **g2}, sigma=base.sigma)
    trained = (time.time() - started) / 60

    print("[3/3] inpainting the held-out photos (chelsea, coffee)", flush=True)
    model = EdgeConnect.from_pretrained(weights_dir)
    rows, grid = score(model, held_out_cases())
    table = score_table(rows)
    path = os.path.join(out, "demo.png")
    write_image(path, comparison_grid(grid))
    atomic_write(
        os.path.join(out, "demo.md"), "Hole PSNR (dB) and SSIM, held-out photos\n\n" + table
    )
    minutes = (time.time() - started) / 60
    tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    print(
        f"\nHole PSNR (dB) and SSIM on {len(HELD_OUT)} held-out photos x {len(TEST_HOLES)} holes, "
        f"after {trained:.1f} min of data + training:\n\n{table}\n"
        f"wrote {path} and demo.md ({minutes:.1f} min in all); weights in {weights_dir}\n"
        f"TensorBoard: {tensorboard} --logdir {os.path.join(out, 'runs')}"
    )
    return 0


def run(argv=None):
    parser = argparse.ArgumentParser(prog="python -m edgeconnect_tf.demo", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_arguments(parser)
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(run())
