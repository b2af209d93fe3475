"""What int8 costs: dynamic-range and full-integer `.tflite` files of a trained model against
its float32 file, in the hole, on photos held out from training and calibration.

    python -m bench.tflite_int8 --weights demo_output/weights [--size 256]

Exports float32, dynamic and int8 (calibrated on `edgeconnect export`'s
default photos: scikit-image's astronaut, coffee, chelsea, rocket) and runs
each on scikit-image's immunohistochemistry and retina photos (in neither the
demo's training set nor the calibration set) with 4 free-form holes each.
Per file: hole PSNR and SSIM against the float32 file's output (how far
quantization moves the fill) and hole PSNR against the photo (what a user
sees), mean and worst over the 8 pairs; plus the export's own check
(`tflite.quantization_loss` on the calibration pairs), which is what the
export warns on. Prints a markdown table.
"""

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def held_out_pairs(size, count=8):
    """(image [S, S, 3], mask [S, S, 1]) float32 pairs of the held-out photos."""
    from edgeconnect_tf.deploy import tflite
    from edgeconnect_tf.deploy.tflite import SKIMAGE_CHECK_PHOTOS, load_photos

    photos = load_photos(names=SKIMAGE_CHECK_PHOTOS)  # what the export checks int8 on
    return tflite.calibration_pairs(photos, size, count=count, seed=11)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--calibration-count", type=int, default=16)
    args = parser.parse_args(argv)

    import numpy as np
    from skimage.metrics import structural_similarity

    from edgeconnect_tf.deploy import tflite
    from edgeconnect_tf.deploy.tflite import load_photos
    from edgeconnect_tf.edgeconnect import EdgeConnect

    model = EdgeConnect.from_pretrained(args.weights)
    workdir = tempfile.mkdtemp(prefix="bench_int8_")
    calibration = tflite.calibration_pairs(load_photos(), args.size, args.calibration_count)
    pairs = held_out_pairs(args.size)
    outputs, sizes, checks = {}, {}, {}
    for quantize in ("none", "dynamic", "int8"):
        path = os.path.join(workdir, f"{quantize}.tflite")
        tflite.export_tflite(
            model, path, args.size, quantize,
            calibration=calibration if quantize == "int8" else None,
        )  # fmt: skip
        sizes[quantize] = os.path.getsize(path) / 1e6
        runner = tflite.signature_runner(path)
        outputs[quantize] = [runner(image=i[None], mask=m[None])["inpainted"][0] for i, m in pairs]
        if quantize != "none":
            checks[quantize] = tflite.quantization_loss(
                os.path.join(workdir, "none.tflite"), path, calibration
            )

    def hole_psnr(a, b, hole):
        mse = float(np.mean((a[hole] - b[hole]) ** 2))
        return 10 * np.log10(1.0 / max(mse, 1e-12))

    def hole_ssim(a, b, hole):
        _, full = structural_similarity(a, b, channel_axis=-1, data_range=1.0, full=True)
        return float(full[hole].mean())

    lines = [
        f"`python -m bench.tflite_int8 --weights {args.weights} --size {args.size}`",
        "",
        "| file | MB | hole PSNR vs fp32 file, mean / worst dB | hole SSIM vs fp32, mean / worst "
        "| hole PSNR vs photo, mean dB (fp32: same column) | export check on calibration "
        "(mean / worst dB vs fp32) |",
        "| --- | ---: | --- | --- | --- | --- |",
    ]
    for quantize in ("none", "dynamic", "int8"):
        vs_fp32, ssim, vs_photo = [], [], []
        for (image, mask), out, ref in zip(pairs, outputs[quantize], outputs["none"], strict=True):
            hole = mask[..., 0] > 0.5
            vs_photo.append(hole_psnr(out, image, hole))
            if quantize != "none":
                vs_fp32.append(hole_psnr(out, ref, hole))
                ssim.append(hole_ssim(out, ref, hole))
        label = "float32" if quantize == "none" else quantize
        if quantize == "none":
            lines.append(f"| {label} | {sizes[quantize]:.1f} | | | {np.mean(vs_photo):.2f} | |")
            continue
        check = checks[quantize]
        lines.append(
            f"| {label} | {sizes[quantize]:.1f} | {np.mean(vs_fp32):.2f} / {min(vs_fp32):.2f} | "
            f"{np.mean(ssim):.4f} / {min(ssim):.4f} | {np.mean(vs_photo):.2f} | "
            f"{check['mean_db']:.2f} / {check['worst_db']:.2f} |"
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
