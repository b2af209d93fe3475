"""`make demo`: the whole pipeline on a CPU in minutes, with nothing to download.

1. Cuts training crops from scikit-image's bundled photos (two held out).
2. Trains a small edge model (G1 + D1) and a small inpainting model (G2 + D2)
   with the shipped `quickstart` config, through the same `train` as `edgeconnect train`:
   Keras progress bars, checkpoints, TensorBoard logs, sample grids.
3. Inpaints the held-out photos with `EdgeConnect` (Canny -> G1 -> G2 -> composite)
   and writes `demo_output/demo.png`: photo, hole, edges, EdgeConnect, OpenCV Telea.

The quickstart model is tiny and trained for minutes on a handful of photos, so it
shows the pipeline working end to end, not the paper's quality: for that, convert
the published weights (`edgeconnect convert`). VGG losses are off here (no ImageNet
weights without a download); set `vgg_weights` to a local file to use them.

    python -m edgeconnect_tf.demo [--output demo_output] [--edge_steps 1500] [--inpaint_steps 2000]

The photos come with scikit-image (`pip install "edgeconnect-tf[demo]"`).
"""

import argparse
import os
import sys
import time

import cv2
import numpy as np

TRAIN_PHOTOS = (
    "astronaut",
    "rocket",
    "hubble_deep_field",
    "camera",
    "brick",
    "grass",
    "gravel",
    "moon",
    "coins",
    "clock",
)
HELD_OUT = ("chelsea", "coffee")
CROP = 128
TEST_SIZE = 128


def _photo(name):
    """A scikit-image sample photo as uint8 RGB."""
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return image[..., :3].astype(np.uint8)


def write_training_crops(directory, crops_per_photo, seed=0):
    """Random CROP x CROP crops of the training photos (at 1x and 0.5x scale) as PNGs."""
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    count = 0
    for name in TRAIN_PHOTOS:
        photo = _photo(name)
        for i in range(crops_per_photo):
            scale = 0.5 if i % 2 else 1.0
            image = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            h, w = image.shape[:2]
            y, x = rng.integers(0, h - CROP + 1), rng.integers(0, w - CROP + 1)
            crop = image[y : y + CROP, x : x + CROP]
            cv2.imwrite(os.path.join(directory, f"{name}_{i:03d}.png"), crop[..., ::-1])
            count += 1
    return count


def test_masks(size, seed=1):
    """One block hole and one free-form hole per held-out photo ([H, W] uint8, 255 = hole)."""
    from edgeconnect_tf.masks import free_form_mask

    block = np.zeros((size, size), np.uint8)
    block[size // 3 : size // 3 + size // 4, size // 4 : size // 4 + size // 3] = 255
    free = np.asarray(free_form_mask([seed, 7], size, size))
    free = free[..., 0] if free.ndim == 3 else free
    return [block, (free > 0.5).astype(np.uint8) * 255]


def _label(image, text):
    out = image.copy()
    cv2.putText(out, text, (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 2)
    cv2.putText(out, text, (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1)
    return out


def demo_grid(model, size=TEST_SIZE):
    """Rows of photo | hole | edges | EdgeConnect | OpenCV Telea (uint8 RGB) and hole PSNRs."""
    from edgeconnect_tf.evaluate import opencv_inpaint
    from edgeconnect_tf.metrics import psnr

    rows, scores = [], {"edgeconnect": [], "telea": []}
    for name in HELD_OUT:
        photo = cv2.resize(_photo(name), (size, size), interpolation=cv2.INTER_AREA)
        for mask in test_masks(size, seed=len(rows)):
            hole = mask > 0
            result, edges = model.inpaint(photo, mask)
            telea = opencv_inpaint(photo, hole, "telea")
            shown = photo.copy()
            shown[hole] = (255, 255, 255)
            edge_rgb = np.repeat((np.clip(edges, 0, 1) * 255).astype(np.uint8)[..., None], 3, -1)
            edge_rgb[hole & (edges < 0.5)] = (40, 40, 90)
            rows.append(
                np.concatenate(
                    [
                        _label(photo, "photo"),
                        _label(shown, "hole"),
                        _label(edge_rgb, "edges (G1 in hole)"),
                        _label(result, "EdgeConnect"),
                        _label(telea, "OpenCV Telea"),
                    ],
                    axis=1,
                )
            )
            scores["edgeconnect"].append(psnr(photo[hole] / 255.0, result[hole] / 255.0))
            scores["telea"].append(psnr(photo[hole] / 255.0, telea[hole] / 255.0))
    return np.concatenate(rows, axis=0), {k: float(np.mean(v)) for k, v in scores.items()}


def add_arguments(parser):
    parser.add_argument("--output", default="demo_output", help="where data, runs, weights go")
    parser.add_argument("--edge_steps", type=int, default=1500, help="edge model training steps")
    parser.add_argument("--inpaint_steps", type=int, default=2000, help="inpaint model steps")
    parser.add_argument("--crops", type=int, default=24, help="training crops cut from each photo")


def main(args):
    try:
        import skimage.data  # noqa: F401
    except ImportError:
        print('the demo\'s photos come with scikit-image: pip install "edgeconnect-tf[demo]"')
        return 1
    from edgeconnect_tf.cli import quiet_tensorflow

    quiet_tensorflow()
    from edgeconnect_tf.config import load_config
    from edgeconnect_tf.edgeconnect import EdgeConnect
    from edgeconnect_tf.io import write_image
    from edgeconnect_tf.train import train
    from edgeconnect_tf.weights import load_networks, save_networks

    started = time.time()
    out = os.path.abspath(args.output)
    data_dir = os.path.join(out, "data", "train")
    n = write_training_crops(data_dir, args.crops)
    print(f"[1/3] {n} training crops of {len(TRAIN_PHOTOS)} photos in {data_dir}", flush=True)

    common = dict(
        train_flist=data_dir,
        output_dir=os.path.join(out, "runs", "{model}"),
        content_loss_weight=0.0,
        style_loss_weight=0.0,
    )
    results = {}
    for model_type, steps in (("edge", args.edge_steps), ("inpaint", args.inpaint_steps)):
        print(f"[2/3] training the {model_type} model for {steps} steps", flush=True)
        config = load_config("quickstart", max_iters=steps, **common)
        results[model_type] = train(config, model_type)

    weights_dir = os.path.join(out, "weights")
    g1, _ = load_networks(results["edge"].weights_dir, names=("edge_generator",))
    g2, _ = load_networks(results["inpaint"].weights_dir, names=("inpaint_generator",))
    save_networks(weights_dir, {**g1, **g2})

    print("[3/3] inpainting held-out photos", flush=True)
    model = EdgeConnect.from_pretrained(weights_dir)
    grid, scores = demo_grid(model)
    path = os.path.join(out, "demo.png")
    write_image(path, grid)
    minutes = (time.time() - started) / 60
    tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    print(
        f"wrote {path} ({minutes:.1f} min). PSNR in the holes: EdgeConnect "
        f"{scores['edgeconnect']:.2f} dB, OpenCV Telea {scores['telea']:.2f} dB.\n"
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
