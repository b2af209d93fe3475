"""Image files: which files are images, how they are found, read and written.

One rule for every command (train, eval, inpaint, export): `list_images` finds
the files with an `IMAGE_EXTENSIONS` suffix under a directory, recursively,
hidden files and folders skipped, sorted. `atomic_path` / `atomic_write` are the
one way the package writes a file: a unique temporary file in the target's
directory, flushed to disk, renamed over the target, removed on failure;
`atomic_directory` does the same for a directory (a SavedModel version).

A path is a local path or a URL (anything with "://": gs://bucket/x, s3://,
hdfs://, TensorFlow's in-memory ram://). `_filesystem` is the one place that
tells them apart: `exists`, `isdir`, `isfile`, `remove`, `makedirs`,
`open_file`, `read_bytes`, `relative_path`, `list_images` and the atomic writer
take either; URLs go through `tf.io.gfile` (TensorFlow imported then, only then)
and its errors come out as OSError naming the path. Standard library only at
import (OpenCV and numpy load when an image is read).
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import types

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


def is_url(path):
    """Whether `path` is a URL of a `tf.io.gfile` filesystem (gs://bucket/a.png), not local."""
    return "://" in os.fspath(path)


_LOCAL = types.SimpleNamespace(
    exists=os.path.exists,
    isdir=os.path.isdir,
    isfile=os.path.isfile,
    walk=os.walk,
    remove=os.remove,
    makedirs=lambda path: os.makedirs(path, exist_ok=True),
    open=open,
    replace=os.replace,
)


def _filesystem(path):
    """The calls for `path`'s filesystem: the os module's for local paths, TensorFlow's
    `tf.io.gfile` for any other filesystem it knows (gs://, s3://, hdfs://, ram://)."""
    return _gfile_calls() if is_url(path) else _LOCAL


@functools.cache
def _gfile_calls():
    import tensorflow as tf

    gfile = tf.io.gfile
    return types.SimpleNamespace(
        exists=gfile.exists,
        isdir=gfile.isdir,
        isfile=lambda p: gfile.exists(p) and not gfile.isdir(p),
        walk=gfile.walk,
        remove=gfile.remove,
        makedirs=gfile.makedirs,
        open=gfile.GFile,
        replace=lambda source, target: gfile.rename(source, target, overwrite=True),
    )


@contextlib.contextmanager
def _os_errors(path):
    """TensorFlow's filesystem errors (tf.errors.OpError, not OSError) raised in the block,
    for a URL `path`, as OSError naming it (FileNotFoundError for a missing one)."""
    if not is_url(path):
        yield
        return
    import tensorflow as tf

    try:
        yield
    except tf.errors.NotFoundError as e:
        raise FileNotFoundError(f"{path}: {e.message}") from None
    except tf.errors.OpError as e:
        raise OSError(f"{path}: {e.message}") from None


def _call(name, path, *args):
    path = os.fspath(path)
    with _os_errors(path):
        return getattr(_filesystem(path), name)(path, *args)


def exists(path):
    return _call("exists", path)


def isdir(path):
    return _call("isdir", path)


def isfile(path):
    return _call("isfile", path)


def remove(path):
    _call("remove", path)


def makedirs(path):
    """Creates a directory and its parents; nothing when it exists."""
    _call("makedirs", path)


def open_file(path, mode="rb"):
    """A file object of `path` (`open`, or `tf.io.gfile.GFile` for URLs: read and write
    errors come later, wrap them with `read_bytes` / `atomic_write`)."""
    return _call("open", path, mode)


def read_bytes(path, name="file", limit=None):
    """The bytes of a file, or its first `limit` bytes.

    Raises ImageFileError "NAME file PATH does not exist" when it is missing (or a
    directory); other read errors of a URL come out as OSError naming it.
    """
    path = os.fspath(path)
    try:
        if not is_url(path) and not os.path.isfile(path):
            raise FileNotFoundError(path)
        with _os_errors(path), open_file(path, "rb") as f:
            return f.read(-1 if limit is None else limit)
    except FileNotFoundError:
        raise ImageFileError(f"{name} file {path} does not exist") from None


def relative_path(path, root):
    """`path` below the directory `root`: "sub/a.png". For URLs the part after `root/`
    (never os.path.relpath: it would take `gs://b` for a local folder); ValueError when
    `path` is not below `root`."""
    path, root = os.fspath(path), os.fspath(root)
    if not is_url(path):
        return os.path.relpath(path, root)
    prefix = root.rstrip("/") + "/"
    if not path.startswith(prefix):
        raise ValueError(f"{path} is not below {root}")
    return path[len(prefix) :]


def real_path(path):
    """`path` spelled one way, to tell whether two paths are one file: local paths
    absolute with links resolved (os.path.realpath), URLs as given."""
    return os.fspath(path) if is_url(path) else os.path.realpath(path)


def list_images(path, name="input"):
    """Image files under a directory (recursive, sorted), or [path] for one file.

    Local paths and URLs of TensorFlow's filesystems (`gs://bucket/photos`).
    Raises ImageFileError naming `name` when `path` does not exist or a
    directory holds no image files.
    """
    path = os.fspath(path)
    if not isdir(path):
        if exists(path):
            return [path]
        raise ImageFileError(f"{name} {path} does not exist")
    found = []
    with _os_errors(path):
        for root, dirs, files in _filesystem(path).walk(path):
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
    from edgeconnect_tf.files.image_headers import ImageRejected, read_header

    head = read_bytes(path, name, limit=64 * 1024)
    try:
        header = read_header(head, f"{name} file {path}")
    except ImageRejected:  # another format, or a header past the first 64 KiB
        return read_image(path, name).shape[:2]
    return header.height, header.width


def read_image(path, name="image"):
    """Reads an image file as RGB(A) / gray numpy (uint8 or uint16, as stored).

    Raises ImageFileError naming the file if it is missing or cannot be decoded
    (OSError naming it for a URL that cannot be read).
    """
    import cv2
    import numpy as np

    data = np.frombuffer(read_bytes(path, name), np.uint8)
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
    """Yields a unique temporary path beside `path` with the same suffix (a hidden name:
    `list_images` never lists it); when the block succeeds it is renamed over `path`,
    else removed. The target's directory is created if needed.

    For writers that take a file name (Keras `save_weights` wants `.weights.h5`).
    A local file is synced to disk before the rename (os.replace, atomic). A URL's
    temporary object is renamed with `tf.io.gfile.rename(..., overwrite=True)`: on GCS
    (and S3) an object becomes visible only once its upload has completed, and the
    rename (a server-side copy) creates the target whole, so a reader never sees a part
    of one; TensorFlow's errors in the block come out as OSError naming the path.
    """
    path = os.fspath(path)
    url = is_url(path)
    directory = os.path.dirname(path if url else os.path.abspath(path))
    makedirs(directory)
    base = os.path.basename(path)
    suffix = next((s for s in (".weights.h5",) if base.endswith(s)), os.path.splitext(base)[1])
    tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp{suffix}")
    if not url:
        # Not mkstemp: its files are private (0600); this one gets the umask's permissions.
        open(tmp, "xb").close()
    try:
        with _os_errors(path):
            yield tmp
            if not url:
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
            _filesystem(path).replace(tmp, path)
    finally:
        if exists(tmp):
            remove(tmp)


def atomic_write(path, data):
    """Writes `data` (bytes, or str as UTF-8) to `path` atomically (see `atomic_path`)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_path(path) as tmp, open_file(tmp, "wb") as f:
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
