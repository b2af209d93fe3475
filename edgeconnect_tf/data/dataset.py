"""The `tf.data` input pipeline: image files or TFRecords -> batches of image, gray, edge, mask.

`build_dataset(source, training=...)` reads images from

- a directory, searched recursively for .jpg, .jpeg, .png, .bmp and .webp
  files (case-insensitive; TensorFlow 2.21 decodes WebP), or for TFRecord
  files (.tfrecord, .tfrecords, .tfrec) when it holds no images;
- a text file of paths, one per line (the reference's .flist; relative paths
  are taken relative to the current directory, as the reference does);
- a glob pattern (`"data/**/*.jpg"` style, `tf.io.gfile.glob` syntax);
- one image file, one TFRecord file, or a Python list of paths.

TFRecord files hold `tf.train.Example` records with the encoded image (JPEG,
PNG, BMP or WebP bytes) in a bytes feature named "image/encoded" (the TF
object-detection convention) or "image".

Each element is a dict of batched tensors:
    image: [B, H, W, 3] float32 in [0, 1]
    gray:  [B, H, W, 1] float32, 0.2125 R + 0.7154 G + 0.0721 B
    edge:  [B, H, W, 1] float32 in [0, 1]: Canny edges of `gray`, or an
           external edge map (times Canny with `nms`)
    mask:  [B, H, W, 1] float32 in {0, 1}, 1 = hole
    path:  [B] string, the image file (test mode only)

Training (`training=True`): the file list is shuffled every epoch and repeated
forever; images are centre-cropped to a square, resized to `input_size`
(shrinking averages over the covered area, an antialiased filter; JPEGs at
least twice too large are first decoded at 1/2, 1/4 or 1/8 scale by libjpeg;
enlarging is bilinear) and flipped left-right with probability 1/2; edges are
computed on the whole image. Test mode: native size unless `input_size` is
given, the list's order, one pass, no flips, and edges only where the image is
known (Canny's mask = 1 - hole), so none come from the hole.

Everything random (order, flips, masks, sigma) derives from `seed` with
stateless ops keyed by the element's position and file name: two pipelines
built with the same arguments give identical batches.

Bad data: a file that cannot be read or decoded is skipped with one absl
warning naming it and the running count of skipped files; the pipeline goes
on (if every file of the list fails, iterating raises). A source that does not
exist or holds no images is a ValueError at once. The warnings come from a
`tf.py_function`, so the dataset runs in the Python process that built it
(not in a tf.data service).

Distribution: the dataset sets `AutoShardPolicy.FILE`, so under
`MultiWorkerMirroredStrategy` each worker reads its own share of the files
(at least one file per worker is needed). With
`strategy.distribute_datasets_from_function`, pass its `input_context`: the
files are sharded here and the batch size becomes the per-replica one.
"""

import os
import threading

import numpy as np
import tensorflow as tf
from absl import logging

from edgeconnect_tf.data import masks as masks_lib
from edgeconnect_tf.data.canny import canny, random_sigma
from edgeconnect_tf.data.image_ops import rgb_to_gray
from edgeconnect_tf.files.io import IMAGE_EXTENSIONS, ImageFileError, list_images

TFRECORD_EXTENSIONS = (".tfrecord", ".tfrecords", ".tfrec")
TFRECORD_KEYS = ("image/encoded", "image")
_GLOB_CHARS = "*?["
_TFRECORD_SHUFFLE = 1024  # records buffered for shuffling within TFRecord files
_CYCLE = 16  # images decoded concurrently


def list_files(source, name="source"):
    """The files named by `source` and their kind.

    Args:
        source: a directory, a text file of paths, a glob pattern, an image or
            TFRecord file, or a list of paths.
        name: the argument's name, for error messages.

    Returns:
        (paths, kind): a list of str (sorted for directories and globs, in
        order for lists) and "images" or "tfrecord".

    Raises:
        ValueError: `source` does not exist, matches nothing, holds no image
            or TFRecord files, or mixes TFRecords with images.
    """
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if isinstance(source, list | tuple):
        paths = [os.fspath(p) for p in source]
        if not paths:
            raise ValueError(f"`{name}` is an empty list of files.")
    elif not isinstance(source, str) or not source:
        raise ValueError(f"`{name}` must be a path, a glob or a list of paths, got {source!r}.")
    elif any(c in source for c in _GLOB_CHARS) and not tf.io.gfile.exists(source):
        paths = sorted(p for p in tf.io.gfile.glob(source) if not tf.io.gfile.isdir(p))
        if not paths:
            raise ValueError(f"`{name}` pattern {source!r} matches no files.")
    elif not tf.io.gfile.exists(source):
        raise ValueError(f"`{name}` {source!r} does not exist.")
    elif tf.io.gfile.isdir(source):
        try:
            paths = list_images(source, f"`{name}` directory")
        except ImageFileError:
            found = []
            for root, _, files in tf.io.gfile.walk(source):
                found.extend(os.path.join(root, f) for f in files)
            paths = sorted(p for p in found if p.lower().endswith(TFRECORD_EXTENSIONS))
        if not paths:
            raise ValueError(
                f"`{name}` directory {source!r} holds no image files "
                f"({', '.join(IMAGE_EXTENSIONS)}) or TFRecord files."
            )
    elif source.lower().endswith(IMAGE_EXTENSIONS + TFRECORD_EXTENSIONS):
        paths = [source]
    else:  # a text file of paths
        with tf.io.gfile.GFile(source) as f:
            paths = [line.strip() for line in f]
        paths = [p for p in paths if p and not p.startswith("#")]
        if not paths:
            raise ValueError(f"`{name}` file list {source!r} is empty.")

    records = [p.lower().endswith(TFRECORD_EXTENSIONS) for p in paths]
    if all(records):
        return paths, "tfrecord"
    if any(records):
        raise ValueError(f"`{name}` {source!r} mixes TFRecord files with image files.")
    return paths, "images"


def build_dataset(
    source,
    *,
    training,
    batch_size=8,
    input_size=None,
    mask=None,
    mask_source=None,
    sigma=2.0,
    edge="canny",
    edge_source=None,
    nms=True,
    seed=10,
    input_context=None,
):
    """The EdgeConnect input pipeline (see the module docstring for the element layout).

    Args:
        source: images: a directory, a text file of paths (flist), a glob, an
            image or TFRecord file, or a list of paths (`list_files`).
        training: True for training (shuffle, repeat, crop + resize, flips,
            edges of the whole image), False for test/validation (one pass in
            order, edges only outside the hole, a "path" entry).
        batch_size: images per batch (global batch under `tf.distribute`). In
            test mode at native size, batch only images of one size.
        input_size: side of the square training crop; 0 keeps the native size.
            Default: 256 in training, native size in test mode.
        mask: a `masks.mask_sampler` spec: reference MASK code 1-6, a name
            ("block", "half", "irregular", "free_form", "paired", or the
            presets "block_irregular", "block_half", "mixed"), a dict of
            probabilities or a (low, high) ratio bucket. "paired" (6) pairs
            the i-th mask file with the i-th image. Default: "irregular" in
            training and "paired" in test mode when `mask_source` is given,
            else "free_form".
        mask_source: mask files (white = hole), any form `list_files` accepts.
        sigma: Canny sigma; 0 draws an integer sigma in 1..4 per image; -1
            gives empty edge maps (the reference's SIGMA).
        edge: "canny" (1) or "external" (2): edge maps from `edge_source`,
            paired with the images by index (resized like the image).
        edge_source: edge map files for `edge="external"`.
        nms: with external edges, multiply them by the Canny edges.
        seed: integer seed of every random choice.
        input_context: a `tf.distribute.InputContext`, to shard the files
            here (for `distribute_datasets_from_function`).

    Returns:
        A `tf.data.Dataset` of dicts (image, gray, edge, mask[, path]).

    Raises:
        ValueError: a missing or empty source, mismatched paired lists, or
            invalid options (each names the argument).
    """
    paths, kind = list_files(source, "source")
    edge = {1: "canny", 2: "external"}.get(edge, edge)
    if edge not in ("canny", "external"):
        raise ValueError(f"`edge` must be 'canny' (1) or 'external' (2), got {edge!r}.")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1, got {batch_size}.")
    if not (sigma == -1 or sigma >= 0):
        raise ValueError(f"`sigma` must be >= 0 (0: random 1..4) or -1 (no edges), got {sigma}.")
    if input_size is None:
        input_size = 256 if training else 0
    if input_size < 0:
        raise ValueError(f"`input_size` must be >= 0 (0: native size), got {input_size}.")

    mask_files = list_files(mask_source, "mask_source")[0] if mask_source is not None else None
    if mask is None:
        mask = ("irregular" if training else "paired") if mask_files else "free_form"
    mask_fn = masks_lib.mask_sampler(mask, mask_files, augment=training)
    paired_mask = mask in ("paired", 6) or (isinstance(mask, dict) and "paired" in mask)

    columns = {"path": paths}
    if paired_mask:
        columns["mask_path"] = _paired(mask_files, paths, "mask_source")
    if edge == "external":
        if edge_source is None:
            raise ValueError("`edge='external'` needs `edge_source` (edge map files).")
        if sigma == -1 and nms:
            raise ValueError("`nms` multiplies external edges by Canny edges: needs `sigma` >= 0.")
        columns["edge_path"] = _paired(
            list_files(edge_source, "edge_source")[0], paths, "edge_source"
        )
    if kind == "tfrecord" and len(columns) > 1:
        raise ValueError("Paired masks or edge files need an image list, not TFRecords.")

    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    reader = _Reader(
        training=training,
        input_size=input_size,
        mask_fn=mask_fn,
        sigma=sigma,
        seed=seed,
        tfrecord=kind == "tfrecord",
        num_files=len(paths),
    )

    ds = tf.data.Dataset.from_tensor_slices(columns)
    if input_context is not None:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if training:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True).repeat()
    # Number the list entries (after sharding and repetition) to key their random draws.
    ds = ds.scan(tf.constant(0, tf.int64), lambda i, x: (i + 1, {**x, "index": i}))
    if kind == "tfrecord":
        ds = ds.interleave(
            _read_records,
            cycle_length=min(len(paths), 8),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        if training:
            ds = ds.shuffle(_TFRECORD_SHUFFLE, seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(
        reader.load_or_flag,
        cycle_length=_CYCLE,
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    ds = ds.filter(reader.keep_or_report)
    ds = ds.batch(batch_size, drop_remainder=training)
    ds = ds.map(
        lambda batch: _finish(batch, training, sigma, edge, nms),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    ds = ds.prefetch(tf.data.AUTOTUNE)

    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF
        if input_context is not None
        else tf.data.experimental.AutoShardPolicy.FILE
    )
    return ds.with_options(options)


def _paired(files, paths, name):
    if len(files) != len(paths):
        raise ValueError(
            f"`{name}` lists {len(files)} files but the source has {len(paths)} images; "
            "paired files must match the images one to one (by sorted order or list order)."
        )
    return files


def _read_records(element):
    """{path: "file#k", record: serialized Example, index} for each record of a TFRecord file.

    The records share the file's `index`; their names (hashed into the random
    key with it) tell them apart.
    """
    path = element["path"]

    def named(k, record):
        name = tf.strings.join([path, "#", tf.strings.as_string(k)])
        return {"path": name, "record": record, "index": element["index"]}

    return tf.data.TFRecordDataset(path).enumerate().map(named)


def _decode_record(record):
    """Encoded image bytes of a serialized Example (feature "image/encoded" or "image")."""
    spec = {k: tf.io.FixedLenFeature([], tf.string, default_value="") for k in TFRECORD_KEYS}
    features = tf.io.parse_single_example(record, spec)
    encoded = features[TFRECORD_KEYS[0]]
    return tf.where(tf.strings.length(encoded) > 0, encoded, features[TFRECORD_KEYS[1]])


def _decode(data, channels):
    """Encoded image -> uint8 [h, w, channels]; gray/RGBA/16-bit converted (top byte).

    TensorFlow decodes PNG, JPEG, BMP, GIF and WebP; TIFF (the rest of
    `io.IMAGE_EXTENSIONS`) goes through OpenCV in a `tf.numpy_function`.
    """
    magic = tf.strings.substr(data, 0, 4)
    is_tiff = tf.logical_or(tf.equal(magic, b"II*\x00"), tf.equal(magic, b"MM\x00*"))

    def tiff():
        image = tf.numpy_function(
            lambda b: _decode_with_opencv(b, channels), [data], tf.uint8, stateful=False
        )
        return tf.ensure_shape(image, [None, None, channels])

    def other():
        return tf.io.decode_image(data, channels=channels, dtype=tf.uint8, expand_animations=False)

    return tf.cond(is_tiff, tiff, other)


def _decode_with_opencv(data, channels):
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("not a readable image")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)  # the top byte, as decode_image does
    image = image.reshape(image.shape[:2] + (-1,))[..., :3]
    if channels == 1:
        weights = (0.114, 0.587, 0.299) if image.shape[-1] == 3 else (1.0,)  # BGR -> luma
        return np.round(image @ np.array(weights)).astype(np.uint8)[..., None]
    if image.shape[-1] == 1:
        return np.repeat(image, 3, axis=-1)
    return np.ascontiguousarray(image[..., ::-1])  # BGR -> RGB


def _decode_for_size(data, size):
    """Like `_decode(data, 3)`, but large JPEGs are decoded at 1/2, 1/4 or 1/8 scale.

    libjpeg scales in the DCT domain (cheaper than decoding everything and
    resizing); the scale is the smallest that keeps the short side >= `size`.
    """

    def jpeg():
        shape = tf.io.extract_jpeg_shape(data)
        short = tf.minimum(shape[0], shape[1])
        # libjpeg's output side at ratio r is ceil(side / r).
        branch = sum(tf.cast((short + r - 1) // r >= size, tf.int32) for r in (2, 4, 8))
        decoders = [lambda r=r: tf.io.decode_jpeg(data, channels=3, ratio=r) for r in (1, 2, 4, 8)]
        return tf.switch_case(branch, decoders)

    return tf.cond(tf.io.is_jpeg(data), jpeg, lambda: _decode(data, 3))


def _fit(image, size):
    """uint8 [h, w, C] -> float32 [size, size, C] in [0, 1]: centre square, resized.

    Shrinking averages the covered area (antialiased, like a bilinear filter
    with antialiasing but 3x cheaper); enlarging is bilinear.
    """
    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    top, left = (shape[0] - side) // 2, (shape[1] - side) // 2
    image = image[top : top + side, left : left + side]
    image = tf.cond(
        side > size,
        lambda: tf.image.resize(image, (size, size), method="area"),
        lambda: tf.image.resize(image, (size, size), method="bilinear"),
    )
    return tf.clip_by_value(image / 255.0, 0.0, 1.0)


class _Reader:
    """Per-image work of the pipeline, with decode errors turned into flagged elements."""

    def __init__(self, *, training, input_size, mask_fn, sigma, seed, tfrecord, num_files):
        self.training = training
        self.input_size = input_size
        self.mask_fn = mask_fn
        self.sigma = sigma
        self.seed = seed
        self.tfrecord = tfrecord
        self.num_files = num_files
        self.skipped = set()
        self._lock = threading.Lock()

    def load(self, element):
        """One element -> image, mask, [external edge], [sigma], path, ok=True."""
        key = tf.random.experimental.stateless_fold_in(
            tf.constant([self.seed, 0], tf.int64), element["index"]
        )
        key = tf.random.experimental.stateless_fold_in(
            key, tf.strings.to_hash_bucket_fast(element["path"], 2**62)
        )
        seed_flip, seed_mask, seed_sigma = tf.unstack(
            tf.random.experimental.stateless_split(key, 3)
        )
        if self.tfrecord:
            data = _decode_record(element["record"])
        else:
            data = tf.io.read_file(element["path"])
        if self.input_size:
            image = _fit(_decode_for_size(data, self.input_size), self.input_size)
            height = width = self.input_size
        else:
            image = tf.cast(_decode(data, 3), tf.float32) / 255.0
            height, width = tf.shape(image)[0], tf.shape(image)[1]
        out = {"image": image, "path": element["path"], "ok": tf.constant(True)}

        if "edge_path" in element:
            edge = _decode(tf.io.read_file(element["edge_path"]), 1)
            if self.input_size:
                edge = _fit(edge, self.input_size)
            else:
                edge = tf.image.resize(edge, (height, width), antialias=True) / 255.0
                edge = tf.clip_by_value(edge, 0.0, 1.0)
            out["external_edge"] = edge
        if "mask_path" in element:  # paired with the image: flipped with it
            out["mask"] = masks_lib.file_mask(element["mask_path"], height, width)
        if self.training:
            flip = tf.random.stateless_uniform([], seed_flip) < 0.5
            for k in ("image", "external_edge", "mask"):
                if k in out:
                    out[k] = tf.cond(flip, lambda x=out[k]: x[:, ::-1], lambda x=out[k]: x)
        if "mask" not in out:
            out["mask"] = self.mask_fn(seed_mask, height, width)
        if self.sigma == 0:
            out["sigma"] = random_sigma(seed=seed_sigma)
        return out

    def _placeholder(self, element):
        """A flagged element (ok=False) with the structure `load` returns."""
        size = self.input_size
        out = {
            "image": tf.zeros((size, size, 3)),
            "path": element["path"],
            "ok": tf.constant(False),
            "mask": tf.zeros((size, size, 1)),
        }
        if "edge_path" in element:
            out["external_edge"] = tf.zeros((size, size, 1))
        if self.sigma == 0:
            out["sigma"] = tf.constant(0.0)
        return out

    def load_or_flag(self, element):
        """A one-element dataset: `load(element)`, or the placeholder if loading fails.

        tf.data has no try/except: the element goes through a nested dataset
        whose `ignore_errors` drops it on any error, and the placeholder that
        follows it then comes first. Unlike a global `ignore_errors`, this keeps
        the file name for the warning.
        """
        single = tf.data.Dataset.from_tensors(element)
        if not self.tfrecord:
            # An empty reader of the file: it marks the element as a file name
            # for tf.data's FILE auto-sharding (which looks for reader datasets).
            marker = tf.data.TextLineDataset(element["path"]).take(0).map(lambda _: element)
            single = marker.concatenate(single)
        loaded = single.map(self.load).ignore_errors()
        return loaded.concatenate(tf.data.Dataset.from_tensors(self._placeholder(element))).take(1)

    def keep_or_report(self, element):
        """Filter predicate: True for loaded elements; warns (once per file) for the others."""
        return tf.cond(
            element["ok"],
            lambda: tf.constant(True),
            lambda: tf.reshape(tf.py_function(self._report, [element["path"]], tf.bool), []),
        )

    def _report(self, path):
        name = path.numpy().decode("utf-8", "replace")
        with self._lock:
            new = name not in self.skipped
            self.skipped.add(name)
            count = len(self.skipped)
        if new:
            total = "" if self.tfrecord else f" of {self.num_files}"
            logging.warning(
                "Skipping unreadable image %s (not an image, truncated or missing); "
                "%d%s files skipped so far.",
                name,
                count,
                total,
            )
        if not self.tfrecord and count >= self.num_files:
            raise ValueError(f"None of the {self.num_files} image files could be read.")
        return False


def _finish(batch, training, sigma, edge, nms):
    """Adds gray and edges to a batch and drops the internal entries."""
    image, mask = batch["image"], batch["mask"]
    gray = rgb_to_gray(image)
    known = None if training else 1.0 - mask  # test time: no edges from the hole

    def detect():
        value = batch["sigma"] if sigma == 0 else float(sigma)
        return canny(gray, sigma=value, mask=known)

    out = {"image": image, "gray": gray, "mask": mask}
    if edge == "external":
        out["edge"] = batch["external_edge"] * detect() if nms else batch["external_edge"]
    elif sigma == -1:
        out["edge"] = tf.zeros_like(gray)
    else:
        out["edge"] = detect()
    if not training:
        out["path"] = batch["path"]
    return out
