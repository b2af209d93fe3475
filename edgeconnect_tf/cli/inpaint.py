"""`edgeconnect inpaint`: fill the holes of one image or of a folder of images.

    edgeconnect inpaint --weights DIR --input FILE|DIR --mask FILE|DIR --output DIR

Folders are searched recursively (`io.list_images`); results keep the input's
relative path and name (PNG, or JPEG for JPEG inputs). Before anything is
written, every file's header is checked (it exists, is an image, the mask and
edges match its size) along with pairing, output names and the weights files, so
a bad input ends with a one-line error and exit code 1. Outputs are written
atomically; existing ones are skipped unless --overwrite. `edgeconnect eval`
(cli/evaluate.py) shares the weights and --reference checks here.
"""

from __future__ import annotations

import os
import sys
import warnings

from edgeconnect_tf.cli import add_conv_mode_argument, error
from edgeconnect_tf.inpaint import MIN_SIDE, STRATEGIES, InpaintError
from edgeconnect_tf.io import (
    JPEG_EXTENSIONS,
    REFERENCE_JPEG_QUALITY,
    image_size,
    list_images,
    read_image,
    write_image,
)

EDGES_SUFFIX = "_edges.png"


def add_arguments(parser):
    """Registers `edgeconnect inpaint`'s options on an argparse (sub)parser."""
    parser.add_argument("--weights", required=True, help="weights directory (config.json, ...)")
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
        "--strategy",
        choices=STRATEGIES,
        default="auto",
        help="full: whole image; crop: windows around the holes; resize: at most 512 px; "
        "auto: full up to 512 px, crop above (default)",
    )
    add_conv_mode_argument(parser)
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


# -------------------------------------------------------------------------- checks


def _key(path, root):
    """What pairs files: the path below `root` without its extension."""
    relative = os.path.relpath(path, root) if os.path.isdir(root) else os.path.basename(path)
    return os.path.splitext(relative)[0]


def _pair(images, root, path, what, required):
    """For each image: the file `path` names (a file: for all; a directory: by `_key`)."""
    if path is None:
        return [None] * len(images)
    if os.path.isfile(path):
        return [path] * len(images)
    if not os.path.isdir(path):
        raise InpaintError(f"{what} {path} does not exist")
    table = {}
    for p in list_images(path, what):
        if _key(p, path) in table:
            raise InpaintError(
                f"two {what} files named {_key(p, path)!r}: {table[_key(p, path)]} and {p} "
                "(ambiguous)"
            )
        table[_key(p, path)] = p
    paired = [table.get(_key(i, root)) for i in images]
    shown_name = (lambda i: os.path.relpath(i, root)) if os.path.isdir(root) else os.path.basename
    missing = [shown_name(i) for i, m in zip(images, paired, strict=True) if m is None]
    if missing and required:
        shown = ", ".join(missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        raise InpaintError(
            f"no {what} in {path} for {len(missing)} image(s): {shown} "
            f"({what}s are paired with images by relative path and name without extension)"
        )
    return paired


def _output_name(image_path, root):
    ext = os.path.splitext(image_path)[1]
    return _key(image_path, root) + (ext if ext.lower() in JPEG_EXTENSIONS else ".png")


def check_weights(directory):
    """Cheap check that a weights directory has config.json and both generators."""
    from edgeconnect_tf.weights import FILES, REQUIRED, WeightsError, read_config

    read_config(directory)
    for name in REQUIRED:
        path = os.path.join(directory, FILES[name])
        if not os.path.isfile(path):
            raise WeightsError(f"{path} is missing ({name.replace('_', ' ')} weights)")


def check_reference(args):
    """--reference is the authors' test(): whole image at native size, no drawn edges."""
    if not args.reference:
        return
    if args.strategy not in ("auto", "full"):
        raise InpaintError(
            f"--reference runs the whole image at native size: drop --strategy {args.strategy}"
        )
    for flag in ("edges", "size"):
        if getattr(args, flag, None) is not None:
            reason = "takes no drawn edges" if flag == "edges" else "runs at native size"
            raise InpaintError(f"--reference (the authors' test()) {reason}: drop --{flag}")


def load_model(directory, conv_mode="graph"):
    """The `EdgeConnect` of a weights directory, generators in `--conv-mode`'s mode."""
    from edgeconnect_tf.edgeconnect import EdgeConnect

    return EdgeConnect.from_pretrained(directory, conv_mode=conv_mode)


def _check_job(job, resize_mask):
    """Checks one job's files from their headers: readable images, matching sizes."""
    height, width = image_size(job["image"])
    if min(height, width) < MIN_SIDE:
        raise InpaintError(f"image {job['image']} is {width}×{height}: at least {MIN_SIDE} px")
    for what in ("mask", "edges"):
        if job[what] is None:
            continue
        size = image_size(job[what], what)
        if size != (height, width) and not resize_mask:
            raise InpaintError(
                f"{job['image']}: {what} {job[what]} is {size[1]}×{size[0]}, the image "
                f"{width}×{height} (use --resize-mask to resize it)"
            )


# -------------------------------------------------------------------------- inpaint


def plan_inpaint(args):
    """The list of jobs {image, mask, edges, output, edges_output} for `args`; checks names."""
    images = list_images(args.input, "input")
    masks = _pair(images, args.input, args.mask, "mask", required=True)
    edges = _pair(images, args.input, args.edges, "edges", required=False)
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise InpaintError(f"output {args.output} exists and is not a directory")
    jobs = []
    for image, mask, edge in zip(images, masks, edges, strict=True):
        out = os.path.join(args.output, _output_name(image, args.input))
        jobs.append(
            {
                "image": image,
                "mask": mask,
                "edges": edge,
                "output": out,
                "edges_output": (
                    os.path.join(args.output, _key(image, args.input) + EDGES_SUFFIX)
                    if args.save_edges
                    else None
                ),
            }
        )
    inputs = {os.path.realpath(p) for j in jobs for p in (j["image"], j["mask"], j["edges"]) if p}
    seen = {}
    for job in jobs:
        for key in ("output", "edges_output"):
            path = job[key]
            if path is None:
                continue
            real = os.path.realpath(path)
            if real in inputs:
                raise InpaintError(
                    f"output {path} would overwrite an input file; choose another --output"
                )
            if real in seen:
                raise InpaintError(
                    f"{seen[real]} and {job['image']} would both be written to {path}"
                )
            seen[real] = job["image"]
    return jobs


def main(args):
    """`edgeconnect inpaint`: fills the holes of one image or a directory. Returns 0 / 1."""
    import keras

    from edgeconnect_tf.inpaint import inpaint

    try:
        check_reference(args)
        check_weights(args.weights)
        jobs = plan_inpaint(args)

        def done(job):
            outputs = [job["output"], job["edges_output"]]
            return all(p is None or os.path.exists(p) for p in outputs)

        todo = jobs if args.overwrite else [j for j in jobs if not done(j)]
        for job in todo:  # every input must be usable before anything is written
            _check_job(job, args.resize_mask)
        model = load_model(args.weights, args.conv_mode) if todo else None
    except (ValueError, OSError) as e:  # InpaintError and WeightsError are ValueErrors
        return error("inpaint", e)

    skipped = len(jobs) - len(todo)
    if not todo:
        print(f"nothing to do: all {len(jobs)} output(s) exist in {args.output} (--overwrite)")
        return 0
    os.makedirs(args.output, exist_ok=True)
    bar = keras.utils.Progbar(len(todo), unit_name="image")
    notes = []
    for k, job in enumerate(todo):
        try:
            image = read_image(job["image"])
            mask = read_image(job["mask"], "mask")
            edges = None if job["edges"] is None else read_image(job["edges"], "edges")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                result, edge_map = inpaint(
                    model,
                    image,
                    mask,
                    edges,
                    strategy=args.strategy,
                    resize_mask=args.resize_mask,
                    reference=args.reference,
                )
            notes += [f"{job['image']}: {w.message}" for w in caught]
            quality = {"jpeg_quality": REFERENCE_JPEG_QUALITY} if args.reference else {}
            write_image(job["output"], result, **quality)
            if job["edges_output"] is not None:
                edge8 = (edge_map * 255.0 + 0.5).astype("uint8")
                write_image(job["edges_output"], edge8)
        except (ValueError, OSError) as e:  # a file broken past its header
            kept = f"; the {k} result(s) before it are written" if k else ""
            return error("inpaint", f"{job['image']}: {e}{kept}")
        bar.update(k + 1)
    for note in notes:
        print(f"edgeconnect inpaint: warning: {note}", file=sys.stderr)
    message = f"wrote {len(todo)} image(s) to {args.output}"
    if skipped:
        message += f"; skipped {skipped} with existing output (use --overwrite to redo them)"
    print(message)
    return 0
