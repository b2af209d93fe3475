"""`edgeconnect export`: a SavedModel for TF Serving, or `.tflite` files with --tflite.

    edgeconnect export --weights DIR --output BASE/edgeconnect/1
    edgeconnect export --weights DIR --output tflite/ --tflite --size 256 512 \
        --quantize none float16
"""

import argparse
import os

from edgeconnect_tf.cli import add_conv_mode_argument, error
from edgeconnect_tf.deploy import DEFAULT_MAX_PIXELS, INT8_MARGIN_DB, QUANTIZE_MODES, tflite_name
from edgeconnect_tf.inpaint import MIN_SIDE


def _size(text):
    """'256' -> 256, '256x384' -> (256, 384) (height x width)."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts, default=0) < MIN_SIDE:
        raise argparse.ArgumentTypeError(
            f"--size must be S or HxW with sides >= {MIN_SIDE}, got {text!r}"
        )
    return parts[0] if len(parts) == 1 else tuple(parts)


def add_arguments(parser):
    """Adds the export subcommand's arguments to an argparse parser."""
    parser.add_argument("--weights", required=True, help="weights directory (config.json, ...)")
    parser.add_argument(
        "--output",
        required=True,
        help="SavedModel version directory BASE/NAME/VERSION (TF Serving layout); "
        "with --tflite, the directory for the .tflite files",
    )
    parser.add_argument("--sigma", type=float, default=2.0, help="Canny sigma (default 2)")
    add_conv_mode_argument(
        parser,
        choices=("graph", "direct"),
        default=None,
        default_help="graph, except direct for the dynamic and int8 .tflite files, whose int8 "
        "kernels need constant weights",
    )
    parser.add_argument(
        "--warmup-size",
        type=int,
        default=256,
        help="side of the SavedModel's warm-up requests; 0 for none (default 256)",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help="SavedModel: the most pixels of one request's images together, N·H·W of a "
        "tensor or the files' H·W (read from their headers before decoding), the rule of "
        "`serve --max-pixels`; more fails with INVALID_ARGUMENT "
        f"(default {DEFAULT_MAX_PIXELS} = 2048²)",
    )
    parser.add_argument(
        "--tflite", action="store_true", help="write .tflite files instead of a SavedModel"
    )
    parser.add_argument(
        "--size",
        type=_size,
        nargs="+",
        default=[256],
        help="TFLite input size(s): S or HxW, one file each (default 256); a file runs photos "
        "of any size in windows of its size, and its memory grows with it: under 300 MiB "
        "float32 needs 128, dynamic 192, int8 256",
    )
    parser.add_argument(
        "--quantize",
        nargs="+",
        choices=QUANTIZE_MODES,
        default=["none"],
        help="TFLite weight/activation format(s), one file each (default none)",
    )
    parser.add_argument(
        "--drawn-edges",
        action="store_true",
        help="with --tflite, also write *_edges.tflite files (G2 alone on lines drawn in the "
        "hole or on a full, edited edge map: the editor's in-page Repaint) and *_g1.tflite "
        "files (G1 alone: the edge map, the editor's in-page Redraw edges)",
    )
    parser.add_argument(
        "--calibration",
        help="folder of photos for --quantize int8, every 4th held out to check the file "
        f"(warns below {INT8_MARGIN_DB:g} dB hole PSNR against float32; default: scikit-image's "
        "sample photos)",
    )
    parser.add_argument(
        "--calibration-count", type=int, default=16, help="int8 calibration pairs (default 16)"
    )


def main(args):
    """Runs the export; returns the exit code (1 with a one-line message for user errors)."""
    from edgeconnect_tf.edgeconnect import EdgeConnect
    from edgeconnect_tf.weights import WeightsError

    try:
        conv_mode = "graph" if args.tflite else args.conv_mode or "graph"
        model = EdgeConnect.from_pretrained(args.weights, sigma=args.sigma, conv_mode=conv_mode)
        if args.tflite:
            _export_tflite(model, args)
        else:
            _export_saved_model(model, args)
    except (WeightsError, ValueError, OSError) as e:  # OSError: e.g. an occupied --output
        return error("export", e)
    return 0


def _export_saved_model(model, args):
    from edgeconnect_tf.deploy import saved_model

    version = os.path.basename(os.path.normpath(args.output))
    if not version.isdigit() or int(version) < 1:
        raise ValueError(
            f"--output must be BASE/NAME/VERSION with VERSION a positive integer "
            f"(TF Serving's layout), got {args.output!r}"
        )
    saved_model.export_saved_model(
        model,
        args.output,
        warmup_size=args.warmup_size,
        max_pixels=args.max_pixels,
    )
    print(f"wrote SavedModel {args.output} (signatures: {', '.join(saved_model.SIGNATURES)})")


def _export_tflite(model, args):
    from edgeconnect_tf.deploy import tflite

    photos, check_photos = None, None
    if "int8" in args.quantize:
        photos, check_photos = tflite.calibration_and_check(args.calibration)
    for size in args.size:
        calibration = check = None
        if photos is not None:
            calibration = tflite.calibration_pairs(photos, size, count=args.calibration_count)
        if check_photos is not None:
            check = tflite.calibration_pairs(check_photos, size, count=8, seed=11)
        for quantize in args.quantize:
            variants = [(False, None)]
            if args.drawn_edges and quantize != "int8":
                variants += [(True, None), (False, "edges")]
            for drawn, stage in variants:
                path = os.path.join(args.output, tflite_name(size, quantize, drawn, stage))
                ops = tflite.export_tflite(
                    model,
                    path,
                    size,
                    quantize,
                    calibration=calibration if quantize == "int8" else None,
                    drawn_edges=drawn,
                    conv_mode=args.conv_mode,
                    check=check if quantize == "int8" else None,
                    stage=stage,
                )
                megabytes = os.path.getsize(path) / 1e6
                print(f"wrote {path} ({megabytes:.1f} MB, {sum(ops.values())} ops, builtin only)")
