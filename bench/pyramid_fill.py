"""G2's pyramid fill on its own: hole PSNR / SSIM on the demo's held-out photos, and cost.

    python -m bench.pyramid_fill

For each number of relaxation steps per level (`image_ops.pyramid_fill(smoothing=...)`),
the fill alone (no network) on `demo.held_out_cases()` (chelsea and coffee, 128² and
256², a block and a free-form hole each), scored as `make demo` scores, beside OpenCV's
Telea; then the seconds of one 512² fill (a traced `tf.function`, median of 5).
"""

import numpy as np

STEPS = (0, 5, 10, 20, 40)


def main():
    import tensorflow as tf

    from bench.common import measure
    from edgeconnect_tf import demo
    from edgeconnect_tf.data.image_ops import pyramid_fill
    from edgeconnect_tf.evaluation.evaluate import opencv_inpaint

    scores = {}
    for _, size, _, photo, hole in demo.held_out_cases():
        x = photo[None].astype(np.float32) / 255
        m = (hole > 0).astype(np.float32)[None, ..., None]
        row = []
        for steps in STEPS:
            fill = pyramid_fill(x, m, smoothing=steps)[0].numpy()
            row.append(demo.hole_scores(photo, np.round(fill * 255).astype(np.uint8), hole))
        row.append(demo.hole_scores(photo, opencv_inpaint(photo, hole, "telea"), hole))
        scores.setdefault(size, []).append(row)
    x = tf.random.uniform([1, 512, 512, 3], seed=1)
    m = tf.cast(tf.random.uniform([1, 512, 512, 1], seed=2) < 0.2, tf.float32)
    print("| fill | " + " | ".join(f"{s}² PSNR / SSIM" for s in scores) + " | 512² ms |")
    print("|---|" + "---:|" * (len(scores) + 1))
    for i, label in enumerate([f"{s} steps per level" for s in STEPS] + ["OpenCV Telea"]):
        cells = [" / ".join(f"{v:.3f}" for v in np.mean(rows, 0)[i]) for rows in scores.values()]
        ms = ""
        if i < len(STEPS):
            fill = tf.function(lambda a, b, k=STEPS[i]: pyramid_fill(a, b, smoothing=k))
            ms = f"{1e3 * measure(lambda f=fill: f(x, m).numpy(), repeat=5)['median']:.1f}"
        print(f"| {label} | " + " | ".join(cells) + f" | {ms} |", flush=True)


if __name__ == "__main__":
    main()
