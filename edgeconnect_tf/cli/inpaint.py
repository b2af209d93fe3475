"""`edgeconnect inpaint`: fill the holes of one image or of a folder of images.

    edgeconnect inpaint --weights DIR --input FILE|DIR --mask FILE|DIR --output DIR

Listing, pairing, output names and the header checks are `jobs`'s (shared with
the Beam pipeline). `check` runs them before TensorFlow starts, so a bad path or
file ends at once with a one-line error and exit code 1, before anything is
written. Outputs are written atomically; existing ones are skipped unless
--overwrite. Progress names each file (`progress.Progress`: plain lines when
stdout is not a terminal). `edgeconnect eval` shares `add_conv_mode_argument`
and `load_model`.
"""

from __future__ import annotations

import sys
import warnings

from edgeconnect_tf.cli import add_conv_mode_argument, add_renamed_argument, error
from edgeconnect_tf.files.io import atomic_write, makedirs, read_image
from edgeconnect_tf.inpaint import TILINGS
from edgeconnect_tf.jobs import (
    check_job,
    check_reference,
    check_weights,
    encoded_outputs,
    is_tflite,
    pending,
    plan_inpaint,
)
from edgeconnect_tf.progress import Progress


def add_arguments(parser):
    """Registers `edgeconnect inpaint`'s options on an argparse (sub)parser."""
    parser.add_argument(
        "--weights",
        required=True,
        help="weights directory (config.json, ...), or an exported .tflite file (run in "
        "windows of its size)",
    )
    add_job_arguments(parser)
    add_conv_mode_argument(parser)
    return parser


def add_job_arguments(parser):
    """The options that say what to inpaint and how (shared with `inpaint-beam`)."""
    parser.add_argument("--input", required=True, help="an image file or a directory of images")
    parser.add_argument(
        "--mask",
        required=True,
        help="a mask file (white = hole; used for every input) or a directory of masks "
        "paired with the images by relative path and name without extension",
    )
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument(
        "--edges",
        help="drawn guidance lines (white on black; a file, or a directory paired as masks); "
        "inside the hole they replace the predicted edges",
    )
    parser.add_argument(
        "--save-edges", action="store_true", help="also write the edge map used as NAME_edges.png"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument(
        "--tiling",
        choices=TILINGS,
        default="auto",
        help="full: whole image; crop: windows around the holes; resize: at most 512 px; "
        "auto: full up to 512 px, crop above (default)",
    )
    add_renamed_argument(parser, "--strategy", "--tiling")
    parser.add_argument(
        "--resize-mask",
        action="store_true",
        help="resize masks/edges of another size to the image (nearest) instead of failing",
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="the authors' test(): G2 fed G1's raw edges over the whole image, native size, "
        "result truncated to uint8, JPEG at quality 75 (their published results; default: "
        "composite)",
    )
    return parser


def load_model(path, conv_mode="graph"):
    """The model `--weights` names: a `TFLiteModel` for a `.tflite` file, else the
    `EdgeConnect` of a weights directory, generators in `--conv-mode`'s mode."""
    if is_tflite(path):
        from edgeconnect_tf.deploy.tflite_runner import TFLiteModel

        return TFLiteModel(path)
    from edgeconnect_tf.edgeconnect import EdgeConnect

    return EdgeConnect.from_pretrained(path, conv_mode=conv_mode)


def uses_tensorflow(args):
    """Only when something is left to do (a rerun says "nothing to do" at once); the
    checks' own errors are reported by `main`."""
    try:
        return bool(check(args)[1])
    except (ValueError, OSError):
        return False


def check(args):
    """Everything `main` can check before TensorFlow starts: arguments, weights files,
    listing and pairing, output names, and the headers of the files still to do.

    Returns (all jobs, jobs to run); raises a ValueError / OSError naming what is wrong.
    The result is kept on `args`, so `main` does not list the folders twice.
    """
    if getattr(args, "planned", None) is None:
        check_reference(args.reference, args.tiling, edges=args.edges, weights=args.weights)
        check_weights(args.weights)
        jobs = plan_inpaint(args.input, args.mask, args.output, args.edges, args.save_edges)
        todo = pending(jobs, args.overwrite)
        for job in todo:  # every input must be usable before anything is written
            check_job(job, args.resize_mask)
        args.planned = jobs, todo
    return args.planned


def main(args):
    """`edgeconnect inpaint`: fills the holes of one image or a directory. Returns 0 / 1."""
    from edgeconnect_tf.inpaint import inpaint

    try:
        jobs, todo = check(args)
        model = load_model(args.weights, args.conv_mode) if todo else None
    except (ValueError, OSError) as e:  # InpaintError and WeightsError are ValueErrors
        return error("inpaint", e)

    skipped = len(jobs) - len(todo)
    if not todo:
        print(f"nothing to do: all {len(jobs)} output(s) exist in {args.output} (--overwrite)")
        return 0
    makedirs(args.output)
    progress = Progress(len(todo)).iterate(todo, lambda job: job.image)
    notes = []
    for k, job in enumerate(progress):
        try:
            image = read_image(job.image)
            mask = read_image(job.mask, "mask")
            edges = None if job.edges is None else read_image(job.edges, "edges")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                result, edge_map = inpaint(
                    model,
                    image,
                    mask,
                    edges,
                    tiling=args.tiling,
                    resize_mask=args.resize_mask,
                    reference=args.reference,
                    **getattr(model, "inpaint_options", {}),  # a .tflite file's window rule
                )
            notes += [f"{job.image}: {w.message}" for w in caught]
            for path, data in encoded_outputs(job, result, edge_map, args.reference).items():
                atomic_write(path, data)
        except (ValueError, OSError) as e:  # a file broken past its header
            kept = f"; the {k} result(s) before it are written" if k else ""
            return error("inpaint", f"{job.image}: {e}{kept}")
    for note in notes:
        print(f"edgeconnect inpaint: warning: {note}", file=sys.stderr)
    message = f"wrote {len(todo)} image(s) to {args.output}"
    if skipped:
        message += f"; skipped {skipped} with existing output (use --overwrite to redo them)"
    print(message)
    return 0
