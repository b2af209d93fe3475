"""An exported `.tflite` file inpainting photos of any size in bounded memory.

Needs numpy, OpenCV and ai-edge-litert; never imports TensorFlow.

    model = TFLiteModel("edgeconnect_128x128_float32.tflite")
    result, edges = model.inpaint(image, mask)  # as EdgeConnect.inpaint

The window rule: the file has one static input size S×S, and the interpreter's
memory grows with S² (about 3.4 KiB per pixel of activations, whatever the
weight format; bench/RESULTS.md, "TFLite memory"), so every call runs at S×S
and nothing larger. `inpaint` is `edgeconnect_tf.inpaint.inpaint` with
`window = max_side = S`: each hole gets a window of max(S, 2 × its bounding
box) (the package's crop rule), scaled down to a long side of S when larger;
the window's short side is reflect-padded up to S with known pixels. A photo of
any size costs one S×S call per (merged) window, and the peak memory is that of
one S×S call plus the photo's own arrays.

Weights: the model is run by LiteRT's `CompiledModel` with XNNPACK's weight
cache, a file of the packed weights that is written on first load and memory
mapped afterwards; without it XNNPACK keeps a second, packed copy of every
weight in anonymous memory (82 MiB more for the fp32 file).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import tempfile

import numpy as np

from edgeconnect_tf.inpaint import InpaintError
from edgeconnect_tf.inpaint import inpaint as inpaint_image

SIGNATURE = "inpaint"
log = logging.getLogger(__name__)


def default_cache_dir():
    """Where the XNNPACK weight caches go: $XDG_CACHE_HOME (or ~/.cache)/edgeconnect_tf/xnnpack."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "edgeconnect_tf", "xnnpack")


def _cache_file(model_path, cache_dir):
    """A cache file named by the model's content hash (a changed file never reads a stale cache)."""
    digest = hashlib.sha256()
    with open(model_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    os.makedirs(cache_dir, exist_ok=True)
    return os.path.join(cache_dir, digest.hexdigest()[:32] + ".xnnpack_cache")


@contextlib.contextmanager
def _native_stderr_to_log():
    """LiteRT's C++ INFO/WARNING lines (file descriptor 2) go to this module's debug log."""
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (some embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # LiteRT's stdio stream is buffered
                ctypes.CDLL(None).fflush(None)
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode(errors="replace").splitlines():
                log.debug("litert: %s", line)


class TFLiteModel:
    """A `.tflite` export called like an `EdgeConnect`, with the window rule (module docstring).

    Args:
        path: an `edgeconnect export --tflite` file (signature `inpaint`).
        threads: CPU threads for XNNPACK.
        weight_cache: True (a file under `default_cache_dir()`), a directory for the
            cache files, or False (no cache: XNNPACK's packed weights in anonymous memory).

    Attributes:
        size: (H, W) of the file's input; calls: how many times the model has run.
    """

    def __init__(self, path, threads=2, weight_cache=True):
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.cpu_options import CpuOptions
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import Options

        if not os.path.isfile(path):
            raise InpaintError(f"model {path} is not a file")
        if not isinstance(threads, int) or threads < 1:
            raise InpaintError(f"threads must be a positive integer, got {threads!r}")
        cache = ""
        if weight_cache:
            cache_dir = default_cache_dir() if weight_cache is True else os.fspath(weight_cache)
            try:
                cache = _cache_file(path, cache_dir)
            except OSError as e:
                log.warning("no XNNPACK weight cache (%s): packed weights stay in memory", e)
        options = Options(
            hardware_accelerators=HardwareAccelerator.CPU,
            cpu_options=CpuOptions(num_threads=threads, xnnpack_weight_cache_path=cache),
        )
        try:
            with _native_stderr_to_log():
                self._model = CompiledModel.from_file(os.fspath(path), options=options)
        except Exception as e:  # RuntimeError from the C++ wrapper
            raise InpaintError(f"model {path}: LiteRT could not load it ({e})") from e
        self.path, self.weight_cache = path, cache
        signatures = self._model.get_signature_list()
        if SIGNATURE not in signatures:
            raise InpaintError(
                f"model {path} has no '{SIGNATURE}' signature (signatures: "
                f"{sorted(signatures)}); export it with `edgeconnect export --tflite`"
            )
        self._index = self._model.get_signature_index(SIGNATURE)
        signature = self._model.get_signature_by_index(self._index)
        self._input_names, self._output_names = signature["inputs"], signature["outputs"]
        details = self._model.get_input_tensor_details(SIGNATURE)
        self._input_shapes = {k: tuple(int(n) for n in d["shape"]) for k, d in details.items()}
        _, height, width, _ = self._input_shapes["image"]
        self.size = (height, width)
        self.drawn_edges = "edges" in self._input_names
        self._inputs = self._model.create_input_buffers(self._index)
        self._outputs = self._model.create_output_buffers(self._index)
        self.calls = 0

    @property
    def inpaint_options(self):
        """`edgeconnect_tf.inpaint.inpaint` keywords of the window rule: window = max_side = S."""
        side = min(self.size)
        return {"window": side, "max_side": side}

    def inpaint(self, image, mask, edges=None, tiling="auto", resize_mask=False):
        """As `EdgeConnect.inpaint`: (uint8 RGB [H, W, 3], edge map [H, W] float32 in [0, 1]).

        Any image size; see `edgeconnect_tf.inpaint.inpaint` for the arguments. "full"
        needs an image of at most the file's size (the others never exceed it).
        """
        return inpaint_image(
            self, image, mask, edges, tiling=tiling, resize_mask=resize_mask,
            **self.inpaint_options,
        )  # fmt: skip

    def __call__(self, inputs, training=False, reference=False):
        """One run on {"image": [1, h, w, 3], "mask": [1, h, w, 1][, "edges"]} float32 in [0, 1].

        h <= H and w <= W: the inputs are reflect-padded (image, as known pixels) to
        the file's H×W and the outputs {"inpainted": [1, h, w, 3], "edges": [1, h, w, 1]}
        cropped back.
        """
        if reference:
            raise InpaintError("a .tflite file does not run the authors' test() (reference=True)")
        height, width = self.size
        _, h, w, _ = np.shape(inputs["image"])
        if h > height or w > width:
            raise InpaintError(
                f"{self.path} runs at most {width}×{height} px per call, got {w}×{h}: use "
                "tiling 'auto', 'crop' or 'resize' (windows of the file's size)"
            )
        if "edges" in inputs and not self.drawn_edges:
            raise InpaintError(
                f"{self.path} takes no drawn edges: export it with --drawn-edges "
                "(edgeconnect_*_edges.tflite)"
            )
        pad = ((0, 0), (0, height - h), (0, width - w), (0, 0))
        feed = {
            "image": np.pad(np.asarray(inputs["image"], np.float32), pad, mode="symmetric"),
            "mask": np.pad(np.asarray(inputs["mask"], np.float32), pad),  # padding is known
        }
        if self.drawn_edges:
            edges = inputs.get("edges")
            if edges is None:  # no drawn lines: G1's edges are not in this file
                edges = np.zeros((1, h, w, 1), np.float32)
            feed["edges"] = np.pad(np.asarray(edges, np.float32), pad)
        for name, buffer in zip(self._input_names, self._inputs, strict=True):
            buffer.write(np.ascontiguousarray(feed[name]))
        self._model.run_by_index(self._index, self._inputs, self._outputs)
        self.calls += 1
        out = {}
        for name, buffer in zip(self._output_names, self._outputs, strict=True):
            channels = 3 if name == "inpainted" else 1
            values = buffer.read(height * width * channels, np.float32)
            out[name] = values.reshape(1, height, width, channels)[:, :h, :w]
        return out
