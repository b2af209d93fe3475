"""Images/s of the tf.data pipeline next to a numpy/skimage/OpenCV loader doing the same work.

The work per image, at 256 x 256, batch 8: decode a JPEG, centre square crop,
resize, gray, Canny edges with a random sigma in 1..4, an irregular mask from
a random PNG file (the reference's default MASK 3), random flip, batch.

The numpy loader does it the way the reference's `Dataset.__getitem__` does:
image read, crop, resize, `skimage.color.rgb2gray`, `skimage.feature.canny`,
mask read, resize, threshold, per image; it runs in this process ("1 process")
and in a pool of one worker process per core ("N processes", what a PyTorch
DataLoader with num_workers = cores does).

Test data: 64 JPEGs (short side 320-512 px) cut from scikit-image's sample
photos and 32 free-form mask PNGs (512 x 512), written to a temporary folder.

Images/s depend on what else runs on the machine; the CPU time per image
(all threads, and the worker processes for the pool) does much less, and
cores / CPU time is what the loader could reach with every core to itself.

Usage: python -m bench.data_pipeline [--seconds 8] [--repeats 3]
"""

import argparse
import multiprocessing
import os
import platform
import subprocess
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage.color  # noqa: E402
import skimage.data  # noqa: E402
import skimage.feature  # noqa: E402
import tensorflow as tf  # noqa: E402

from edgeconnect_tf.data import dataset, masks  # noqa: E402
from edgeconnect_tf.data.canny import canny  # noqa: E402

SIZE = 256
BATCH = 8
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
          "hubble_deep_field", "camera", "retina")  # fmt: skip


def write_test_data(root, num_images=64, num_masks=32):
    """JPEG images and PNG masks in root/images and root/masks; returns both folders."""
    rng = np.random.default_rng(0)
    image_dir, mask_dir = os.path.join(root, "images"), os.path.join(root, "masks")
    os.makedirs(image_dir)
    os.makedirs(mask_dir)
    photos = []
    for name in PHOTOS:
        photo = getattr(skimage.data, name)()
        photos.append(np.dstack([photo] * 3) if photo.ndim == 2 else photo[..., :3])
    for i in range(num_images):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        scale = rng.uniform(0.6, 1.0)
        ch, cw = int(h * scale), int(w * rng.uniform(0.6, 1.0))
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = photo[top : top + ch, left : left + cw]
        short = rng.integers(320, 513)
        factor = short / min(ch, cw)
        crop = cv2.resize(crop, (round(cw * factor), round(ch * factor)), cv2.INTER_AREA)
        path = os.path.join(image_dir, f"{i:03d}.jpg")
        cv2.imwrite(path, crop[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    for i in range(num_masks):
        mask = masks.free_form_mask(tf.constant([i, 99], tf.int64), 512, 512).numpy()
        cv2.imwrite(os.path.join(mask_dir, f"{i:03d}.png"), (mask[..., 0] * 255).astype(np.uint8))
    return image_dir, mask_dir


# ----------------------------------------------------------------------- numpy loader
def _center_square(img):
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return img[top : top + side, left : left + side]


def load_item_numpy(args):
    """One training item the reference's way: (image, gray, edge, mask) float32."""
    path, mask_path, sigma, flip = args
    img = cv2.imread(path, cv2.IMREAD_COLOR)[..., ::-1]
    img = cv2.resize(_center_square(img), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    gray = skimage.color.rgb2gray(img)
    if mask_path is None:  # gray only (for `canny_only`)
        return [None, gray[..., None].astype(np.float32)]
    edge = skimage.feature.canny(gray, sigma=sigma, low_threshold=0.1, high_threshold=0.2)
    mask = cv2.imread(mask_path, cv2.IMREAD_GRAYSCALE)
    mask = cv2.resize(_center_square(mask), (SIZE, SIZE), interpolation=cv2.INTER_NEAREST) > 0
    item = [img.astype(np.float32) / 255.0, gray, edge, mask]
    item = [x[..., None] if x.ndim == 2 else x for x in item]
    item = [x.astype(np.float32) for x in item]
    if flip:
        item = [x[:, ::-1] for x in item]
    return item


def numpy_batches(paths, mask_paths, pool=None, seed=0):
    """Endless batches of 8 (lists of stacked arrays), like the reference's DataLoader."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(paths))
        for start in range(0, len(order) - BATCH + 1, BATCH):
            jobs = [
                (paths[i], mask_paths[rng.integers(len(mask_paths))], int(rng.integers(1, 5)),
                 bool(rng.integers(2)))
                for i in order[start : start + BATCH]
            ]  # fmt: skip
            items = pool.map(load_item_numpy, jobs) if pool else [load_item_numpy(j) for j in jobs]
            yield [np.stack(column) for column in zip(*items, strict=True)]


# ------------------------------------------------------------------------- timing
def _cpu_seconds(pool):
    """CPU time of this process (all threads) plus that of `pool`'s worker processes."""
    total = time.process_time()
    for worker in pool._pool if pool else ():  # no public API for the worker pids
        with open(f"/proc/{worker.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def measure(batches, seconds, pool=None, warmup=3):
    """Consumes batches for about `seconds`; returns (images/s, CPU ms per image)."""
    for _ in range(warmup):
        next(batches)
    count, start, cpu = 0, time.perf_counter(), _cpu_seconds(pool)
    while time.perf_counter() - start < seconds:
        next(batches)
        count += BATCH
    wall = time.perf_counter() - start
    return count / wall, 1000 * (_cpu_seconds(pool) - cpu) / count


def tf_batches(image_dir, mask_dir, sigma, edge="canny"):
    """Batches of the tf.data pipeline (training mode, irregular masks from files)."""
    ds = dataset.build_dataset(
        image_dir,
        training=True,
        batch_size=BATCH,
        input_size=SIZE,
        sigma=sigma,
        mask=3,
        mask_source=mask_dir,
        edge=edge,
        seed=1,
    )
    return iter(ds)


def canny_only(paths, sigma_random):
    """Canny alone on a batch of 8 of the test photos (gray, 256 x 256; tf.function)."""
    grays = [load_item_numpy((p, None, 2, False))[1] for p in paths[:BATCH]]
    gray = tf.constant(np.stack(grays), tf.float32)
    sigma = tf.constant([1.0, 2.0, 3.0, 4.0] * (BATCH // 4)) if sigma_random else 2.0
    fn = tf.function(lambda g: canny(g, sigma=sigma))

    def gen():
        while True:
            yield fn(gray).numpy()

    return gen()


def skimage_canny_only(paths):
    """skimage's Canny alone on the same 8 gray photos, sigma 1, 2, 3, 4, 1, ..."""
    grays = [load_item_numpy((p, None, 2, False))[1][..., 0] for p in paths[:BATCH]]

    def gen():
        while True:
            yield [
                skimage.feature.canny(g.astype(np.float64), sigma=1 + k % 4, low_threshold=0.1,
                                      high_threshold=0.2)
                for k, g in enumerate(grays)
            ]  # fmt: skip

    return gen()


def machine():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(
            line.split(":", 1)[1].strip() for line in out.splitlines() if "Model name" in line
        )
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="timing per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per loader")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as root:
        image_dir, mask_dir = write_test_data(root)
        paths = sorted(os.path.join(image_dir, f) for f in os.listdir(image_dir))
        mask_paths = sorted(os.path.join(mask_dir, f) for f in os.listdir(mask_dir))
        cores = os.cpu_count()
        load = os.getloadavg()[0]

        with multiprocessing.get_context("spawn").Pool(cores) as pool:
            # Factories: each measurement starts a fresh iterator and drops it
            # afterwards, so no pipeline prefetches while another is timed.
            loaders = {
                "tf.data pipeline (random sigma)": lambda: tf_batches(image_dir, mask_dir, 0),
                "numpy loader, 1 process": lambda: numpy_batches(paths, mask_paths),
                f"numpy loader, {cores} processes": lambda: numpy_batches(paths, mask_paths, pool),
            }
            stages = {
                "tf.data: everything, fixed sigma 2": lambda: tf_batches(image_dir, mask_dir, 2),
                "Canny alone (tf.function, batch 8, sigma 1-4)": lambda: canny_only(paths, True),
                "Canny alone (tf.function, batch 8, sigma 2)": lambda: canny_only(paths, False),
                "skimage Canny alone (1 process, sigma 1-4)": lambda: skimage_canny_only(paths),
            }
            pools = {f"numpy loader, {cores} processes": pool}
            results = {name: [] for name in [*loaders, *stages]}
            for _ in range(args.repeats):  # interleaved, so load changes hit all alike
                for name, make in {**loaders, **stages}.items():
                    batches = make()
                    results[name].append(measure(batches, args.seconds, pools.get(name)))
                    del batches

        best = {name: max(rate for rate, _ in values) for name, values in results.items()}
        cpu = {name: min(ms for _, ms in values) for name, values in results.items()}
        reference = best["numpy loader, 1 process"]
        print(f"\nMachine: {machine()}; load average before the run {load:.1f}")
        print(f"{SIZE}x{SIZE}, batch {BATCH}, best of {args.repeats} x {args.seconds:.0f} s\n")
        print(
            "| loader | images/s (best) | all runs | vs numpy 1 process | CPU ms/image "
            "| images/s on an idle machine (usable cores / CPU) |"
        )
        print("|---|---:|---|---:|---:|---:|")
        for name, values in results.items():
            runs = ", ".join(f"{rate:.0f}" for rate, _ in values)
            usable = 1 if "1 process" in name else cores
            print(
                f"| {name} | {best[name]:.0f} | {runs} | {best[name] / reference:.2f}x "
                f"| {cpu[name]:.1f} | {1000 * usable / cpu[name]:.0f} |"
            )
        print(f"\nload average after the run {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
