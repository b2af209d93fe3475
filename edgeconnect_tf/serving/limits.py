"""What one request may cost (`Limits`) and the errors that refuse a request.

Imports nothing heavy: the command line reads the defaults for its `--help`.
"""

import dataclasses

from edgeconnect_tf.memory import DEFAULT_MAX_SHAPES

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one request may cost; the defaults keep full-size networks under 6 GiB of
    peak RSS (measured: 1.1 GiB for a 256² request, 1.5 GiB at 2048², 2.2 GiB at 4096²
    with a hole over half the image).

    max_pixels: pixels of all image files of one request together, read from their
        headers before decoding (4096² by default: decoding, the result and its PNG
        take ~60 bytes a pixel, ~1 GiB at 4096²). Tensor inputs run the networks at
        full size and take at most `inpaint.MAX_SIDE`² pixels (N·H·W) whatever this is.
    queue_size: requests waiting for the inference thread before 503.
    timeout_s: seconds from arrival to answer, queue included.
    max_request_bytes: body size before 413.
    max_shapes: distinct input shapes the networks' session sees before it is replaced,
        which frees TensorFlow's per-shape oneDNN state (`edgeconnect_tf.memory`); None
        keeps one session for good (RSS then grows with every new image size).
    """

    max_pixels: int = 4096 * 4096
    queue_size: int = 16
    timeout_s: float = 120.0
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_shapes: int | None = DEFAULT_MAX_SHAPES


class RequestError(ValueError):
    """A malformed request: answered with HTTP 400 and this message."""

    status = 400


class TooLargeError(RequestError):
    """A request above a size limit: answered with HTTP 413."""

    status = 413


class Abandoned(Exception):
    """A run stopped before it finished: time limit (504) or server shutdown (503)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message
