"""`edgeconnect eval`: the paper's metrics on a dataset, by hole-ratio bucket, with baselines.

    edgeconnect eval --weights DIR --data DIR (--masks DIR | --mask-type TYPE) --output DIR

Every file is checked from its header before TensorFlow starts (`check`); each
image is decoded once, when it is scored. Writes metrics.json, metrics.md and
comparison.png (a few rows per hole-ratio bucket).
"""

import os

from edgeconnect_tf.cli import add_conv_mode_argument, add_renamed_argument, error
from edgeconnect_tf.cli.inpaint import load_model
from edgeconnect_tf.inpaint import TILINGS, InpaintError
from edgeconnect_tf.jobs import check_output_dir, check_reference, check_weights


def add_arguments(parser):
    from edgeconnect_tf.evaluation.evaluate import MASK_TYPES

    parser.add_argument(
        "--weights",
        required=True,
        help="weights directory, or an exported .tflite file (run in windows of its size)",
    )
    parser.add_argument("--data", required=True, help="directory of ground-truth images")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--masks",
        help="a mask file for every image, or a directory of masks (white = hole) paired with "
        "the images by relative path and name without extension, as `inpaint`'s (see "
        "--mask-order); resized to each image",
    )
    group.add_argument(
        "--mask-type",
        choices=MASK_TYPES,
        help="generated masks; 'buckets' spreads free-form masks over the 10-60%% buckets",
    )
    parser.add_argument(
        "--mask-order",
        action="store_true",
        help="pair --masks by sorted order instead: image i takes mask i mod N (mask sets "
        "such as NVIDIA's irregular masks)",
    )
    parser.add_argument("--output", required=True, help="directory for metrics.json / metrics.md")
    parser.add_argument(
        "--inception-weights", help="local Keras InceptionV3 (include_top=False) weights, for FID"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of generated masks")
    parser.add_argument(
        "--crop-size", type=int, help="centre-crop and resize images to SIZE×SIZE (default: native)"
    )
    parser.add_argument("--limit", type=int, help="evaluate the first N images only")
    parser.add_argument(
        "--tiling",
        choices=TILINGS,
        default="auto",
        help="as `inpaint --tiling` (default auto: images of up to 512 px whole, the paper's "
        "protocol; larger ones, or a .tflite file's, in windows)",
    )
    add_renamed_argument(parser, "--strategy", "--tiling")
    add_conv_mode_argument(parser)
    parser.add_argument(
        "--no-baselines", action="store_true", help="skip the OpenCV Telea/Navier-Stokes rows"
    )
    parser.add_argument(
        "--save-images", action="store_true", help="write every result to OUTPUT/images/METHOD/"
    )
    parser.add_argument(
        "--grid-rows",
        type=int,
        default=3,
        help="rows per hole-ratio bucket in OUTPUT/comparison.png (input, edges, EdgeConnect, "
        "Telea, Navier-Stokes, ground truth); 0: no grid (default: 3)",
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="the authors' protocol: their test() at native size, results written to "
        "OUTPUT/images/METHOD/ with the input's name (JPEG quality 75) and scored from the files",
    )
    return parser


def check(args):
    """Arguments, weights files, pairing and every file's header, before TensorFlow starts.

    Returns (samples, info) of `evaluate.load_samples`, kept on `args` for `main`.
    """
    from edgeconnect_tf.evaluation import evaluate

    if getattr(args, "planned", None) is None:
        for name in ("crop_size", "limit"):
            value = getattr(args, name)
            if value is not None and value < 1:
                flag = name.replace("_", "-")
                raise InpaintError(f"--{flag} must be a positive integer, got {value}")
        check_output_dir(args.output)
        check_reference(args.reference, args.tiling, crop_size=args.crop_size, weights=args.weights)
        if args.grid_rows < 0:
            raise InpaintError(f"--grid-rows must be 0 or more, got {args.grid_rows}")
        check_weights(args.weights)
        if args.inception_weights and not os.path.isfile(args.inception_weights):
            raise InpaintError(f"inception weights file {args.inception_weights} does not exist")
        samples, info = evaluate.load_samples(
            args.data,
            masks=args.masks,
            mask_type=args.mask_type,
            seed=args.seed,
            size=args.crop_size,
            limit=args.limit,
            mask_order=args.mask_order,
        )
        for sample in samples:  # headers only: each image is decoded once, when scored
            sample["check"]()
        args.planned = samples, info
    return args.planned


def main(args):
    """`edgeconnect eval`: metrics by hole-ratio bucket with OpenCV baselines. Returns 0 / 1."""
    from edgeconnect_tf.evaluation import evaluate

    try:
        samples, info = check(args)
        model = load_model(args.weights, args.conv_mode)
        inception = None
        if args.inception_weights:
            from edgeconnect_tf.evaluation.metrics import InceptionFeatures

            inception = InceptionFeatures(args.inception_weights)
        save_dir = (
            os.path.join(args.output, "images") if args.save_images or args.reference else None
        )
        report = evaluate.evaluate(
            model,
            samples,
            baselines=not args.no_baselines,
            inception=inception,
            tiling=args.tiling,
            save_dir=save_dir,
            reference=args.reference,
            grid_per_bucket=args.grid_rows,
        )
        info.update(weights=args.weights, tiling=args.tiling, reference=args.reference)
        report = {"config": info, **report}
        paths = evaluate.write_report(report, args.output)
    except (ValueError, OSError) as e:
        return error("eval", e)
    print(evaluate.markdown_table(report), end="")
    print(f"wrote {', '.join(paths)}")
    return 0
