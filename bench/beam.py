"""Images per second: `edgeconnect inpaint-beam` with 1 and 2 local workers against
`edgeconnect inpaint`, on the same folder, full-size networks (random weights).

    python -m bench.beam                    # 256², 8 and 16 images (about 10 min on 2 cores)
    python -m bench.beam --size 128 --images 4   # smoke run

Each command runs as its own process on a folder of N and of 2N images; the
marginal rate N / (t(2N) - t(N)) is the steady state without the fixed costs
(Python and TensorFlow start-up, model load, Beam's workers), which are reported
apart: t(N) - N / rate. The Beam runs use the FnApiRunner (the DirectRunner's
engine) in multi_processing mode; each worker process logs its model load
("loaded ... in X s (pid P)"), collected here. Prints a markdown table.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from bench.common import REPO

LOAD_LINE = re.compile(r"loaded \S+ in ([0-9.]+) s \(pid (\d+)\)")


def make_data(root, count, size):
    """root/weights (8 blocks, 64 filters), root/in{count} and root/in{2count}, root/masks."""
    import cv2
    import numpy as np

    from edgeconnect_tf.weights import REQUIRED, build_networks, save_networks

    save_networks(os.path.join(root, "weights"), build_networks(8, 64, names=REQUIRED))
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(root, "masks"))
    for k in range(2 * count):
        y, x = np.mgrid[0:size, 0:size]
        image = np.stack([x, y, (x + y) // 2], -1) * (255 / size) + rng.normal(
            0, 12, (size, size, 3)
        )
        mask = np.zeros((size, size), np.uint8)
        top = int(rng.integers(0, size // 2))
        mask[top : top + size // 3, size // 4 : size // 2 + size // 8] = 255
        for folder in (f"in{2 * count}",) + ((f"in{count}",) if k < count else ()):
            os.makedirs(os.path.join(root, folder), exist_ok=True)
            path = os.path.join(root, folder, f"{k:04d}.png")
            cv2.imwrite(path, np.clip(image, 0, 255).astype(np.uint8))
        cv2.imwrite(os.path.join(root, "masks", f"{k:04d}.png"), mask)


def timed(argv, env):
    """Runs `python -m edgeconnect_tf.cli ARGV`; returns (seconds, model loads [seconds])."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "edgeconnect_tf.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed:\n{proc.stderr[-3000:]}")
    loads = {pid: float(s) for s, pid in LOAD_LINE.findall(proc.stderr)}
    return seconds, sorted(loads.values())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=8, help="N (runs N and 2N)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args(argv)
    root = tempfile.mkdtemp(prefix="bench-beam-")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")])}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        make_data(root, args.images, args.size)
        common = ["--weights", os.path.join(root, "weights"), "--mask", os.path.join(root, "masks")]
        beam = ["--batch-size", str(args.batch_size), "--runner", "FnApiRunner"]
        commands = {
            "edgeconnect inpaint": ["inpaint"],
            "inpaint-beam, 1 worker": ["inpaint-beam", *beam, "--direct_num_workers", "1",
                                       "--direct_running_mode", "multi_processing"],
            "inpaint-beam, 2 workers": ["inpaint-beam", *beam, "--direct_num_workers", "2",
                                        "--direct_running_mode", "multi_processing"],
        }  # fmt: skip
        rows = []
        for label, command in commands.items():
            times, loads = {}, []
            for n in (args.images, 2 * args.images):
                out = os.path.join(root, f"out-{len(rows)}-{n}")
                inputs = ["--input", os.path.join(root, f"in{n}"), "--output", out]
                times[n], load = timed([command[0], *common, *inputs, *command[1:]], env)
                loads += load
            rate = args.images / (times[2 * args.images] - times[args.images])
            fixed = times[args.images] - args.images / rate
            rows.append((label, times, rate, fixed, loads))
            print(f"{label}: {times} s, {rate:.3f} images/s, loads {loads}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = rows[0][2]
    n = args.images
    print(f"\n{args.size}², batch size {args.batch_size}, N = {n}\n")
    print(
        "| command | t(N) s | t(2N) s | images/s (marginal) | vs inpaint | fixed s "
        "| model loads s (per worker) |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, times, rate, fixed, loads in rows:
        shown = ", ".join(f"{s:.1f}" for s in loads) or "in process"
        print(
            f"| {label} | {times[n]:.1f} | {times[2 * n]:.1f} | {rate:.3f} | {rate / base:.2f}× "
            f"| {fixed:.1f} | {shown} |"
        )


if __name__ == "__main__":
    main()
