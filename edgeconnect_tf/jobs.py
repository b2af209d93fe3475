"""Job planning for `edgeconnect inpaint`, `eval` and the Beam pipeline: what to run on what.

    jobs = plan_inpaint("photos/", "masks/", "out/")   # list of InpaintJob
    todo = pending(jobs)                               # skip outputs that exist
    for job in todo:
        check_job(job)                                 # headers only, nothing decoded

Files are listed by `io.list_images`. A mask (or edges) argument is one file
used for every image, or a directory whose files pair with the images by
relative path and name without extension (`pair_key`): `photos/a/b.jpg` takes
`masks/a/b.png`. A result keeps the input's relative path and name, as PNG
(JPEG for a JPEG input: `output_name`). Planning refuses an output that would
overwrite an input or another output. Paths are local or URLs (gs://bucket/in:
every file access goes through `io`). Standard library only for local paths
(OpenCV and numpy load when a WebP/TIFF size is read, TensorFlow's filesystems
for URLs), so the command line checks all of this before TensorFlow starts.
"""

from __future__ import annotations

import dataclasses
import os

from edgeconnect_tf.files.image_headers import check_pixels
from edgeconnect_tf.files.io import (
    JPEG_EXTENSIONS,
    exists,
    image_size,
    isdir,
    isfile,
    list_images,
    real_path,
    relative_path,
)
from edgeconnect_tf.inpaint import MIN_SIDE, InpaintError

EDGES_SUFFIX = "_edges.png"


@dataclasses.dataclass(frozen=True)
class InpaintJob:
    """One image to fill: its files and where its results go (paths as given)."""

    image: str
    mask: str
    edges: str | None
    output: str
    edges_output: str | None = None

    def done(self):
        """Whether every output of this job exists."""
        return all(p is None or exists(p) for p in (self.output, self.edges_output))


# --------------------------------------------------------------------------- names


def relative_name(path, root):
    """A listed file's name below the directory `root` ("sub/a.png"), or its file name
    when `root` is that file itself (`io.list_images` lists a file as [root])."""
    root = os.fspath(root)
    return os.path.basename(path) if path == root else relative_path(path, root)


def pair_key(path, root):
    """What pairs files: `relative_name` without its extension."""
    return os.path.splitext(relative_name(path, root))[0]


def output_name(image_path, root):
    """Relative name of an image's result: its `pair_key` plus .png (JPEG inputs keep theirs)."""
    ext = os.path.splitext(image_path)[1]
    return pair_key(image_path, root) + (ext if ext.lower() in JPEG_EXTENSIONS else ".png")


def pair_files(images, root, path, what, required):
    """For each of `images` (listed under `root`): the file `path` names for it.

    `path` None gives None for each; a file is used for all; a directory's files
    pair by `pair_key`. Raises InpaintError naming `what` for a missing path, two
    files with one key, or (when `required`) images without a file.
    """
    if path is None:
        return [None] * len(images)
    if isfile(path):
        return [path] * len(images)
    if not isdir(path):
        raise InpaintError(f"{what} {path} does not exist")
    table = {}
    for p in list_images(path, what):
        key = pair_key(p, path)
        if key in table:
            raise InpaintError(f"two {what} files named {key!r}: {table[key]} and {p} (ambiguous)")
        table[key] = p
    paired = [table.get(pair_key(i, root)) for i in images]
    missing = [relative_name(i, root) for i, m in zip(images, paired, strict=True) if m is None]
    if missing and required:
        shown = ", ".join(missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        raise InpaintError(
            f"no {what} in {path} for {len(missing)} image(s): {shown} "
            f"({what}s are paired with images by relative path and name without extension)"
        )
    return paired


# --------------------------------------------------------------------------- planning


def check_output_dir(path):
    """Raises InpaintError when `path` exists and is not a directory."""
    if exists(path) and not isdir(path):
        raise InpaintError(f"output {path} exists and is not a directory")


def plan_inpaint(input, mask, output, edges=None, save_edges=False):
    """The `InpaintJob`s for an image file or directory `input`, in listing order.

    Raises InpaintError (or io.ImageFileError) naming the argument for a missing
    input, mask or edges path, unpaired images, an output that is a file, and
    outputs that would overwrite an input or collide with each other.
    """
    images = list_images(input, "input")
    masks = pair_files(images, input, mask, "mask", required=True)
    drawn = pair_files(images, input, edges, "edges", required=False)
    check_output_dir(output)
    jobs = [
        InpaintJob(
            image=image,
            mask=m,
            edges=e,
            output=os.path.join(output, output_name(image, input)),
            edges_output=(
                os.path.join(output, pair_key(image, input) + EDGES_SUFFIX) if save_edges else None
            ),
        )
        for image, m, e in zip(images, masks, drawn, strict=True)
    ]
    inputs = {real_path(p) for j in jobs for p in (j.image, j.mask, j.edges) if p}
    seen = {}
    for job in jobs:
        for path in (job.output, job.edges_output):
            if path is None:
                continue
            real = real_path(path)
            if real in inputs:
                raise InpaintError(
                    f"output {path} would overwrite an input file; choose another --output"
                )
            if real in seen:
                raise InpaintError(f"{seen[real]} and {job.image} would both be written to {path}")
            seen[real] = job.image
    return jobs


def pending(jobs, overwrite=False):
    """The jobs still to run: all with `overwrite`, else those with a missing output."""
    return list(jobs) if overwrite else [j for j in jobs if not j.done()]


def check_job(job, resize_mask=False, max_pixels=None):
    """Checks one job's files from their headers: readable images of at least MIN_SIDE px,
    at most `max_pixels` (None: no limit), masks and edges of the image's size (unless
    `resize_mask`). Returns the image's (height, width); raises a ValueError naming the file.
    """
    height, width = image_size(job.image)
    if min(height, width) < MIN_SIDE:
        raise InpaintError(f"image {job.image} is {width}×{height}: at least {MIN_SIDE} px")
    check_pixels(width, height, max_pixels, f"image {job.image}")
    for what in ("mask", "edges"):
        path = getattr(job, what)
        if path is None:
            continue
        size = image_size(path, what)
        if size != (height, width) and not resize_mask:
            raise InpaintError(
                f"{job.image}: {what} {path} is {size[1]}×{size[0]}, the image "
                f"{width}×{height} (use --resize-mask to resize it)"
            )
    return height, width


def encoded_outputs(job, result, edge_map, reference=False):
    """{path: file bytes} a finished job writes: the result (JPEG quality 75 with
    `reference`, as the authors' imsave) and, if asked for, the edge map as 8-bit PNG.

    `result`: [H, W, 3] uint8 RGB; `edge_map`: [H, W] float32 in [0, 1] (`inpaint.inpaint`'s).
    """
    from edgeconnect_tf.files.io import REFERENCE_JPEG_QUALITY, encode_image

    quality = {"jpeg_quality": REFERENCE_JPEG_QUALITY} if reference else {}
    files = {job.output: encode_image(job.output, result, **quality)}
    if job.edges_output is not None:
        edge8 = (edge_map * 255.0 + 0.5).astype("uint8")
        files[job.edges_output] = encode_image(job.edges_output, edge8)
    return files


# --------------------------------------------------------------------------- settings


def check_weights(directory):
    """Cheap check of a model path: a `.tflite` file that exists, or a weights directory
    with config.json and both generators (nothing loaded; WeightsError naming what is
    missing)."""
    from edgeconnect_tf.weights import FILES, REQUIRED, WeightsError, read_config

    if is_tflite(directory):
        if not isfile(directory):
            raise WeightsError(f"model file {directory} does not exist")
        return
    read_config(directory)
    for name in REQUIRED:
        path = os.path.join(directory, FILES[name])
        if not os.path.isfile(path):
            raise WeightsError(f"{path} is missing ({name.replace('_', ' ')} weights)")


def is_tflite(path):
    """Whether a model path names an exported `.tflite` file (else a weights directory)."""
    return os.fspath(path).lower().endswith(".tflite")


def check_reference(reference, tiling, edges=None, crop_size=None, weights=None):
    """`reference` (the authors' test()) runs the whole image at native size, no drawn edges,
    from a weights directory."""
    if not reference:
        return
    if weights is not None and is_tflite(weights):
        raise InpaintError(
            "--reference (the authors' test()) runs a weights directory, not a .tflite file"
        )
    if tiling not in ("auto", "full"):
        raise InpaintError(
            f"--reference runs the whole image at native size: drop --tiling {tiling}"
        )
    for flag, value in (("edges", edges), ("crop-size", crop_size)):
        if value is not None:
            reason = "takes no drawn edges" if flag == "edges" else "runs at native size"
            raise InpaintError(f"--reference (the authors' test()) {reason}: drop --{flag}")
