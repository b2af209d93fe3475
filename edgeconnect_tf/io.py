"""Image files on disk: which files are images, how they are found, read and written.

One rule for every command (train, eval, inpaint, export): `list_images` finds
the files with an `IMAGE_EXTENSIONS` suffix under a directory, recursively,
hidden files and folders skipped, sorted. `atomic_path` / `atomic_write` are the
one way the package writes a file: a unique temporary file in the target's
directory, flushed to disk, renamed over the target, removed on failure;
`atomic_directory` does the same for a directory (a SavedModel version).
Standard library only at import (OpenCV and numpy load when an image is read).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
JPEG_EXTENSIONS = (".jpg", ".jpeg")
JPEG_QUALITY = 95  # written JPEG results
# The authors' imsave is PIL's Image.save with its default JPEG quality, 75 (OpenCV at
# 75 writes the same bytes): what `--reference` outputs use.
REFERENCE_JPEG_QUALITY = 75


class ImageFileError(ValueError):
    """An image file that is missing, unreadable, or a folder that holds none."""


def is_image_file(path):
    name = os.path.basename(path)
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def _filesystem(path):
    """(isdir, exists, walk) for `path`: the os module's for local paths, TensorFlow's
    `tf.io.gfile` for any other filesystem it knows (gs://, s3://, hdfs://, ram://)."""
    if "://" not in path:
        return os.path.isdir, os.path.exists, os.walk
    import tensorflow as tf

    return tf.io.gfile.isdir, tf.io.gfile.exists, tf.io.gfile.walk


def list_images(path, name="input"):
    """Image files under a directory (recursive, sorted), or [path] for one file.

    Local paths and URLs of TensorFlow's filesystems (`gs://bucket/photos`).
    Raises ImageFileError naming `name` when `path` does not exist or a
    directory holds no image files.
    """
    path = os.fspath(path)
    isdir, exists, walk = _filesystem(path)
    if not isdir(path):
        if exists(path):
            return [path]
        raise ImageFileError(f"{name} {path} does not exist")
    found = []
    for root, dirs, files in walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, f) for f in sorted(files) if is_image_file(f)]
    if not found:
        raise ImageFileError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {name} {path}")
    return found


def image_size(path, name="image"):
    """(height, width) of an image file, from its header when it is a PNG, JPEG or BMP
    (`image_headers`, nothing decoded), else by decoding it (WebP, TIFF).

    Raises ImageFileError naming the file when it is missing or is not a readable image.
    """
    from edgeconnect_tf.image_headers import ImageRejected, read_header

    if not os.path.isfile(path):
        raise ImageFileError(f"{name} file {path} does not exist")
    with open(path, "rb") as f:
        head = f.read(64 * 1024)
    try:
        header = read_header(head, f"{name} file {path}")
    except ImageRejected:  # another format, or a header past the first 64 KiB
        return read_image(path, name).shape[:2]
    return header.height, header.width


def read_image(path, name="image"):
    """Reads an image file as RGB(A) / gray numpy (uint8 or uint16, as stored).

    Raises ImageFileError naming the file if it is missing or cannot be decoded.
    """
    import cv2
    import numpy as np

    if not os.path.isfile(path):
        raise ImageFileError(f"{name} file {path} does not exist")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ImageFileError(f"{name} file {path} could not be read as an image")
    if image.ndim == 3 and image.shape[-1] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[-1] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


def encode_image(path, image, jpeg_quality=JPEG_QUALITY):
    """[H, W, 3] RGB or [H, W] gray uint8 -> encoded bytes for `path`'s extension."""
    import cv2
    import numpy as np

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ext = os.path.splitext(path)[1].lower() or ".png"
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if ext in JPEG_EXTENSIONS else []
    ok, data = cv2.imencode(ext, image, params)
    if not ok:
        raise ImageFileError(f"could not encode an image as {ext} for {path}")
    return data.tobytes()


def write_image(path, image, jpeg_quality=JPEG_QUALITY):
    """Writes an RGB/gray uint8 image (format from the extension) atomically."""
    atomic_write(path, encode_image(path, image, jpeg_quality))


@contextlib.contextmanager
def atomic_path(path):
    """Yields a unique temporary path beside `path` with the same suffix; when the
    block succeeds the file is synced and renamed over `path`, else removed.

    For writers that take a file name (Keras `save_weights` wants `.weights.h5`).
    The target's directory is created if needed.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    base = os.path.basename(path)
    suffix = next((s for s in (".weights.h5",) if base.endswith(s)), os.path.splitext(base)[1])
    # Not mkstemp: its files are private (0600); this one gets the umask's permissions.
    tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp{suffix}")
    open(tmp, "xb").close()
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write(path, data):
    """Writes `data` (bytes, or str as UTF-8) to `path` atomically (see `atomic_path`)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


@contextlib.contextmanager
def atomic_directory(path):
    """Yields a new hidden directory beside `path`; when the block succeeds it is renamed to
    `path` (which must not exist, or be empty), else removed with its contents.

    A reader polling the parent (TF Serving watching `BASE/NAME/` for versions) never sees
    a half-written `path`: hidden, non-numeric names are not versions. A `path` that holds
    something is refused (FileExistsError naming it) before the block runs, and never
    written over.
    """
    path = os.path.abspath(os.fspath(path))
    _refuse_occupied(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    os.mkdir(tmp)
    try:
        yield tmp
        _refuse_occupied(path)  # another writer may have filled it meanwhile
        if os.path.isdir(path):
            os.rmdir(path)  # empty
        os.rename(tmp, path)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def _refuse_occupied(path):
    """FileExistsError unless `path` is absent or an empty directory."""
    if not os.path.lexists(path) or (os.path.isdir(path) and not os.listdir(path)):
        return
    raise FileExistsError(
        f"{path} already exists and is not an empty directory: it is never written over "
        "(remove it, or write another version)"
    )
