"""Image sizes read from file headers, before anything is decoded (decompression bombs).

A 100 KB PNG can declare 5000×5000 pixels and decode to 75 MB, and the networks
then need gigabytes for it. The server and the SavedModel's `inpaint_bytes`
signatures therefore read the size from the header first and refuse what is
above a pixel limit, as Pillow does with `Image.MAX_IMAGE_PIXELS`. One rule, two
implementations side by side: `read_header` (Python, for `edgeconnect serve`)
and `check_file_in_graph` (TensorFlow ops, for the SavedModel).

Accepted: PNG (size from the IHDR chunk; an animated PNG is refused), JPEG (size
from the frame header, SOFn) and BMP with a Windows header (40+ bytes; width and
height are the int32 at bytes 18 and 22, as TensorFlow's decoder reads them).
Refused with a message: GIF (an animated GIF decodes to all its frames), other
formats, zero-size images, and images of more than the limit's pixels.
"""

import collections
import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FORMATS = "PNG, JPEG or BMP"
MAX_PNG_CHUNKS = 1000  # chunks read before the image data when looking for an animation
# Frame headers: SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


Header = collections.namedtuple("Header", "kind width height cmyk")


class ImageRejected(ValueError):
    """A file that is not decoded: not an accepted format, malformed, or zero-size."""


class ImageTooLarge(ImageRejected):
    """A file whose header declares more pixels than the limit."""


def read_header(data, name="image"):
    """Header(kind, width, height, cmyk) of an image file, from its header only.

    `kind` is "PNG", "JPEG" or "BMP"; `cmyk` is True for a 4-component JPEG (CMYK
    or YCCK), which TensorFlow decodes to RGB but not to gray.

    `data`: the file's bytes. Raises ImageRejected naming `name` for anything that
    is not a PNG / JPEG / BMP this package decodes, an animated PNG, or a header
    that declares zero width or height.
    """
    components = 3
    if data.startswith(PNG_SIGNATURE):
        kind, (width, height) = "PNG", _png_size(data, name)
    elif data.startswith(b"\xff\xd8\xff"):
        kind, (width, height, components) = "JPEG", _jpeg_size(data, name)
    elif data.startswith(b"BM"):
        kind, (width, height) = "BMP", _bmp_size(data, name)
    else:
        raise ImageRejected(f"{name} is {_describe(data)}; expected a {FORMATS} file")
    if width <= 0 or height <= 0:
        raise ImageRejected(f"{name} is a {kind} of {width}×{height} pixels (zero-size)")
    return Header(kind, width, height, components == 4)


def check_pixels(width, height, max_pixels, name="image"):
    """Raises ImageTooLarge when width·height exceeds `max_pixels` (None: no limit)."""
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLarge(
            f"{name} is {width}×{height} = {width * height} pixels; "
            f"the limit is {max_pixels} pixels (--max-pixels)"
        )


def _describe(data):
    if not data:
        return "empty (0 bytes)"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF (not accepted: an animated GIF decodes to every frame at once)"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "a WebP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "a TIFF"
    return f"not an image file (it starts with {data[:8]!r})"


def _png_size(data, name):
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ImageRejected(f"{name} is a truncated or malformed PNG (no IHDR chunk)")
    width, height = struct.unpack(">II", data[16:24])
    offset = 8
    for _ in range(MAX_PNG_CHUNKS):
        if offset + 8 > len(data):
            break
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"acTL":
            raise ImageRejected(f"{name} is an animated PNG (APNG); send a single-frame image")
        if kind in (b"IDAT", b"IEND"):
            break
        offset += 12 + length
    return width, height


def _jpeg_size(data, name):
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            break
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # no length field
            offset += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            break
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        if marker in JPEG_SOF:
            if offset + 10 > len(data):
                break
            height, width = struct.unpack(">HH", data[offset + 5 : offset + 9])
            return width, height, data[offset + 9]
        offset += 2 + length
    raise ImageRejected(f"{name} is a truncated or malformed JPEG (no frame header)")


def _bmp_size(data, name):
    if len(data) < 26:
        raise ImageRejected(f"{name} is a truncated BMP ({len(data)} bytes)")
    header, width, height = struct.unpack("<Iii", data[14:26])
    if header < 40:
        raise ImageRejected(f"{name} is an OS/2 BMP ({header}-byte header); send PNG or JPEG")
    return width, abs(height)


# --------------------------------------------------------------------------- in the graph


def check_file_in_graph(data, name, max_pixels, gray=False):
    """Assertions (TF ops) that `data`, a scalar string tensor, passes `read_header`'s rules.

    The same formats, the same refusals and the pixel limit, decided from at most
    the first bytes of the file (for a PNG, its chunk headers up to the image data;
    for a JPEG, `tf.io.extract_jpeg_shape`). Returns a list of ops to put in
    `tf.control_dependencies` before decoding; a failure raises InvalidArgumentError
    with a message naming `name`, the size found and the limit. `gray`: the file
    is decoded to one channel, which TensorFlow cannot do for a CMYK JPEG.
    """
    import tensorflow as tf

    head, length, is_png, known, read_size = _graph_header(data)

    def png_animated():
        return tf.cond(is_png, lambda: _png_is_animated(data, length), lambda: tf.constant(False))

    known_check = tf.debugging.Assert(
        known,
        [
            f"`{name}` must be a {FORMATS} file (GIF, WebP and others are refused); "
            "it starts with bytes",
            head[:8],
        ],
    )
    with tf.control_dependencies([known_check]):
        height, width, components = read_size()
        animated = png_animated()
    size = [width, "x", height]
    return [
        known_check,
        tf.debugging.Assert(
            tf.logical_not(animated),
            [f"`{name}` is an animated PNG (APNG); send a single-frame image"],
        ),
        tf.debugging.Assert(
            (width > 0) & (height > 0), [f"`{name}` has zero size:", *size, "pixels"]
        ),
        tf.debugging.Assert(
            tf.logical_not(gray) | (components != 4),
            [f"`{name}` is a CMYK JPEG; send a grayscale or RGB file"],
        ),
        tf.debugging.Assert(
            width * height <= max_pixels,
            [f"`{name}` is", *size, f"pixels, more than this model's limit of {max_pixels} pixels"],
        ),
    ]


def file_pixels_in_graph(data):
    """Width · height (int64 scalar) from the header of `data`, a scalar string tensor.

    Meaningful only for a file that passed `check_file_in_graph` (run those checks first).
    """
    height, width, _ = _graph_header(data)[4]()
    return width * height


def _graph_header(data):
    """(first 32 bytes as int64, length, is_png, is a known format, size()) of `data`;
    size() -> (height, width, components) int64, read from the header."""
    import tensorflow as tf

    head = _graph_bytes(data, 0, 32)
    length = tf.cast(tf.strings.length(data), tf.int64)

    def equal(offset, text):
        return tf.reduce_all(tf.equal(head[offset : offset + len(text)], list(text)))

    is_png = equal(0, PNG_SIGNATURE) & equal(12, b"IHDR") & (length >= 24)
    is_jpeg = equal(0, b"\xff\xd8\xff")
    is_bmp = equal(0, b"BM") & (length >= 26) & (_le32(head, 14) >= 40)
    known = is_png | is_jpeg | is_bmp

    def jpeg_size():
        shape = tf.io.extract_jpeg_shape(data, output_type=tf.int64)
        return shape[0], shape[1], shape[2]

    def header_size():
        png = (_be32(head, 20), _be32(head, 16))
        bmp = (tf.abs(_le32(head, 22)), _le32(head, 18))
        size = tuple(tf.where(is_png, p, b) for p, b in zip(png, bmp, strict=True))
        return (*size, tf.constant(3, tf.int64))

    return head, length, is_png, known, lambda: tf.cond(known & is_jpeg, jpeg_size, header_size)


def _graph_bytes(data, offset, count):
    """`count` bytes of `data` from `offset` as int64 [count], zero-padded past the end."""
    import tensorflow as tf

    offset = tf.minimum(tf.cast(offset, tf.int64), tf.cast(tf.strings.length(data), tf.int64))
    part = tf.strings.substr(data, offset, tf.constant(count, tf.int64))
    padded = tf.strings.substr(tf.strings.join([part, b"\x00" * count]), 0, count)
    return tf.cast(tf.io.decode_raw(padded, tf.uint8), tf.int64)


def _be32(head, i):
    return ((head[i] * 256 + head[i + 1]) * 256 + head[i + 2]) * 256 + head[i + 3]


def _le32(head, i):
    """Signed little-endian int32, as int64."""
    unsigned = ((head[i + 3] * 256 + head[i + 2]) * 256 + head[i + 1]) * 256 + head[i]
    return unsigned - 2**32 * (unsigned // 2**31)


def _png_is_animated(data, length):
    """Whether an acTL chunk comes before the image data (first MAX_PNG_CHUNKS chunks)."""
    import tensorflow as tf

    def body(offset, animated, done):
        chunk = _graph_bytes(data, offset, 8)
        kind = chunk[4:8]

        def is_kind(text):
            return tf.reduce_all(tf.equal(kind, list(text)))

        animated = is_kind(b"acTL")
        done = animated | is_kind(b"IDAT") | is_kind(b"IEND") | (offset + 8 > length)
        return offset + 12 + _be32(chunk, 0), animated, done

    _, animated, _ = tf.while_loop(
        lambda offset, animated, done: tf.logical_not(done),
        body,
        (tf.constant(8, tf.int64), tf.constant(False), tf.constant(False)),
        maximum_iterations=MAX_PNG_CHUNKS,
    )
    return animated
