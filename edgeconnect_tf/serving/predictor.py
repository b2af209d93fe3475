"""A checked REST predict body -> a run of the model's signatures (`Predictor`).

The model is a SavedModel from `edgeconnect export` or a weights directory whose
signatures are built in memory by the same code (`load_signatures`). Everything that
needs no network is checked before a request queues (`Predictor.prepare`); a run
stops at its next network call once its deadline is past or the server is stopping.

The `inpaint_bytes*` signatures run through `inpaint.inpaint`'s auto tiling, so the
networks never see more than `inpaint.MAX_SIDE` px a side (holes are cropped, large
ones scaled down); the exported SavedModel runs the whole image instead (README, "The
same answer under TF Serving"). Tensor signatures run at full size and take at most
MAX_SIDE² pixels (N·H·W).

The networks' tensor signatures run as `memory.FrozenSignature`s: a frozen graph in a
session replaced every `Limits.max_shapes` distinct input shapes, so RSS stays bounded
under traffic of many image sizes (TensorFlow's oneDNN kernels keep per-shape state in
per-thread caches that only die with their threads; `edgeconnect_tf.memory`).
"""

import logging
import os
import threading
import time

import numpy as np

from edgeconnect_tf.files import image_headers
from edgeconnect_tf.serving.codec import (
    error_summary,
    format_response,
    object_array,
    parse_request,
    to_tensor,
)
from edgeconnect_tf.serving.limits import Abandoned, Limits, RequestError, TooLargeError

FILE_SIGNATURES = {  # signatures answered by `inpaint.inpaint`: name -> its network signature
    "inpaint_bytes": "serving_default",
    "inpaint_bytes_with_edges": "inpaint_with_edges",
    "edges_bytes": "edges",  # the editor's Redraw edges: G1 alone (`inpaint.complete_edges`)
    "repaint_bytes": "repaint",  # its Repaint: G2 alone on a full edge map (`edge_map=`)
}

log = logging.getLogger("edgeconnect.serve")


def load_signatures(model_dir=None, weights_dir=None):
    """name -> callable(**tensors) -> dict of tensors, from a SavedModel or a weights dir."""
    import tensorflow as tf

    if (model_dir is None) == (weights_dir is None):
        raise ValueError("give exactly one of model_dir (SavedModel) or weights_dir")
    if model_dir is not None:
        if not os.path.isfile(os.path.join(model_dir, "saved_model.pb")):
            raise ValueError(
                f"{model_dir} holds no saved_model.pb: expected a SavedModel version directory "
                "written by `edgeconnect export` (e.g. models/edgeconnect/1)"
            )
        loaded = tf.saved_model.load(model_dir)
        signatures = dict(loaded.signatures)
        signatures["__loaded__"] = loaded  # keeps the variables alive
        return signatures
    from edgeconnect_tf.deploy.saved_model import serving_functions
    from edgeconnect_tf.edgeconnect import EdgeConnect

    model = EdgeConnect.from_pretrained(weights_dir)
    signatures = {
        name: _TracedOnFirstUse(fn, spec) for name, (fn, spec) in serving_functions(model).items()
    }
    signatures["__model__"] = model  # keeps the variables alive (functions hold weak refs)
    return signatures


class _TracedOnFirstUse:
    """A signature of `load_signatures(weights_dir=...)`, traced when first called or frozen
    (`get_concrete_function`), its input specs known at once: the server starts without
    tracing the signatures no request has used (the file signatures, answered in Python
    through `FILE_SIGNATURES`, are traced only if something calls them)."""

    def __init__(self, fn, input_signature):
        import tensorflow as tf

        self._function = tf.function(fn, input_signature=input_signature)
        self.structured_input_signature = (tuple(input_signature), {})

    def get_concrete_function(self):
        return self._function.get_concrete_function()

    def __call__(self, *args, **kwargs):
        return self._function(*args, **kwargs)


def _input_names(fn):
    """Input names of a SavedModel signature (keyword specs) or a concrete function."""
    args, kwargs = fn.structured_input_signature
    return set(kwargs) | {spec.name for spec in args}


class Predictor:
    """Checks predict bodies against `Limits` and turns them into runs for the worker."""

    def __init__(self, signatures, limits=None, stopping=None):
        from edgeconnect_tf.memory import FrozenSignature

        self.signatures = signatures
        self.limits = limits or Limits()
        self.stopping = stopping or threading.Event()
        self.runners = {  # what runs each tensor signature (file signatures run in Python)
            name: FrozenSignature(fn, self.limits.max_shapes)
            for name, fn in signatures.items()
            if not name.startswith("__") and name not in FILE_SIGNATURES
        }

    @property
    def sessions(self):
        """Sessions the networks have opened so far (one per `max_shapes` new shapes)."""
        return sum(r.sessions for r in self.runners.values())

    def freeze(self):
        """Freezes the network behind `inpaint_bytes` (the page's Inpaint, most requests) now,
        so the first request does not wait for it; the others freeze on first use (each
        frozen graph and its session hold their own memory)."""
        self.runners[FILE_SIGNATURES["inpaint_bytes"]].freeze()

    def prepare(self, body):
        """Body -> job(deadline) -> (status, payload). Raises RequestError (4xx) at once.

        Everything that needs no network runs here, before the request queues:
        JSON, base64, input names, file headers and sizes, tensor shapes.
        """
        try:
            return self._prepare(body)
        except RequestError:
            raise
        except (ValueError, TypeError) as e:
            raise RequestError(error_summary(str(e))) from None

    def _prepare(self, body):
        from edgeconnect_tf.deploy.saved_model import FILE_INPUTS

        name, columns, row_format = parse_request(body)
        fn = self.signatures.get(name)
        if fn is None or name.startswith("__"):
            known = sorted(n for n in self.signatures if not n.startswith("__"))
            raise RequestError(f"unknown signature_name {name!r}; this model has {known}")
        expected = _input_names(fn)
        if set(columns) != expected:
            raise RequestError(
                f"signature {name!r} takes inputs {sorted(expected)}, got {sorted(columns)}"
            )
        if name in FILE_SIGNATURES:
            files = self._check_files(columns, [n for n in FILE_INPUTS if n in expected])
            return lambda deadline: self._guarded(
                self._run_files, files, row_format, deadline, name
            )
        tensors = {n: to_tensor(v, n) for n, v in columns.items()}
        self._check_tensor_pixels(tensors)
        runner = self.runners[name]

        def run(deadline):
            self._check_time(deadline)
            return format_response(runner(**tensors), row_format)

        return lambda deadline: self._guarded(run, deadline)

    # ------------------------------------------------------------------ checks

    def _check_files(self, columns, names):
        """[(image, mask[, edges]) bytes of each instance], after checking every header."""
        from edgeconnect_tf.inpaint import MIN_SIDE

        count = len(columns[names[0]])
        if any(len(columns[n]) != count for n in names):
            raise RequestError(f"inputs {names} must hold as many files each")
        total = 0
        for i in range(count):
            sizes = {}
            for n in names:
                data = columns[n][i]
                label = n if count == 1 else f"{n}[{i}]"
                if not isinstance(data, bytes):
                    raise RequestError(f'input {label!r} must be a file as {{"b64": "..."}}')
                try:
                    header = image_headers.read_header(data, label)
                    image_headers.check_pixels(
                        header.width, header.height, self.limits.max_pixels, label
                    )
                except image_headers.ImageTooLarge as e:
                    raise TooLargeError(str(e)) from None
                except image_headers.ImageRejected as e:
                    raise RequestError(str(e)) from None
                if header.cmyk and n != "image_bytes":  # decoded to gray: TF cannot
                    raise RequestError(f"{label} is a CMYK JPEG; send a grayscale or RGB file")
                sizes[label] = (header.width, header.height)
            (first, (width, height)), *others = sizes.items()
            for label, (w, h) in others:
                if (w, h) != (width, height):
                    raise RequestError(
                        f"{label} is {w}×{h} pixels but {first} is {width}×{height}; "
                        "they must be the same size"
                    )
            if min(width, height) < MIN_SIDE:
                raise RequestError(
                    f"{first} is {width}×{height} pixels; at least {MIN_SIDE}×{MIN_SIDE} needed"
                )
            total += width * height
        if total > self.limits.max_pixels:
            raise TooLargeError(
                f"the request's {count} images hold {total} pixels together; the limit is "
                f"{self.limits.max_pixels} pixels per request (--max-pixels)"
            )
        return list(zip(*(columns[n] for n in names), strict=True))

    def _check_tensor_pixels(self, tensors):
        """N·H·W of `image` at most `max_pixels`, and at most MAX_SIDE² (full-size runs)."""
        from edgeconnect_tf.inpaint import MAX_SIDE

        image = tensors.get("image")
        if image is not None and image.shape.rank == 4:
            pixels = int(np.prod(image.shape[:3]))
            if pixels > self.limits.max_pixels:
                raise TooLargeError(
                    f"input 'image' of shape {image.shape.as_list()} holds {pixels} pixels "
                    f"(N·H·W); the limit is {self.limits.max_pixels} pixels per request "
                    "(--max-pixels)"
                )
            if pixels > MAX_SIDE * MAX_SIDE:
                raise TooLargeError(
                    f"input 'image' of shape {image.shape.as_list()} holds {pixels} pixels "
                    f"(N·H·W); tensor signatures run the networks at full size and take at "
                    f"most {MAX_SIDE * MAX_SIDE}: send files (inpaint_bytes) for larger images"
                )

    # ------------------------------------------------------------------ runs

    def _check_time(self, deadline):
        if self.stopping.is_set():
            raise Abandoned(503, "the server is stopping; retry later")
        if deadline is not None and time.monotonic() > deadline:
            raise Abandoned(504, f"no answer within the time limit of {self.limits.timeout_s:g} s")

    def _model(self, deadline):
        """Calls the tensor signatures like an `EdgeConnect`; refuses once `deadline` is past."""

        def model(inputs, training=False):
            self._check_time(deadline)
            tensors = {"image": inputs["image"], "mask": inputs["mask"]}
            if inputs.get("stage") == "edges":
                return self.runners["edges"](**tensors)
            if "edge_map" in inputs:
                return self.runners["repaint"](**tensors, edges=inputs["edge_map"])
            name = "inpaint_bytes_with_edges" if "edges" in inputs else "inpaint_bytes"
            return self.runners[FILE_SIGNATURES[name]](**inputs)

        return model

    def _run_files(self, files, row_format, deadline, name="inpaint_bytes"):
        """Decodes, inpaints (auto tiling: at most MAX_SIDE px a side) and encodes.

        `edges_bytes` draws the edge map only; `repaint_bytes` reads its `edges_bytes` as a
        full edge map (16- or 8-bit gray PNG: `decode_edge_png`) and runs G2 alone on it,
        tiled as `inpaint_bytes` tiles. Edge maps go out as 16-bit PNGs (`encode_edge_png`).
        """
        from edgeconnect_tf.deploy.saved_model import (
            MASK_THRESHOLD,
            decode_edge_png,
            decode_file,
            encode_edge_png,
            encode_png,
        )
        from edgeconnect_tf.inpaint import complete_edges, inpaint

        model = self._model(deadline)
        pngs, edge_pngs = [], []
        for instance in files:
            image = _decoded(decode_file, instance[0], "image_bytes", 3)
            hole = _decoded(decode_file, instance[1], "mask_bytes", 1)[..., 0] > MASK_THRESHOLD
            edges = edge_map = result = None
            if name == "edges_bytes":
                edge_map = complete_edges(model, image, hole, tiling="auto")
            elif name == "repaint_bytes":
                full_map = _decoded(decode_edge_png, instance[2], "edges_bytes")[..., 0]
                result, edge_map = inpaint(model, image, hole, edge_map=full_map, tiling="auto")
            else:
                if len(instance) == 3:
                    lines = _decoded(decode_file, instance[2], "edges_bytes", 1)
                    edges = lines[..., 0] > MASK_THRESHOLD
                result, edge_map = inpaint(model, image, hole, edges, tiling="auto")
            del image, hole, edges
            if result is not None:
                pngs.append(encode_png(result))
            edge_pngs.append(encode_edge_png(edge_map[..., None]).numpy())
            del result, edge_map
        outputs = {"edges_png_bytes": edge_pngs}
        if name != "edges_bytes":
            outputs["inpainted_png_bytes"] = pngs
        return format_response({n: object_array(v) for n, v in outputs.items()}, row_format)

    def _guarded(self, run, *args):
        """(status, payload) of run(*args): errors become one clear message, never a trace."""
        import tensorflow as tf

        from edgeconnect_tf.inpaint import InpaintError

        try:
            return 200, run(*args)
        except Abandoned as e:
            return e.status, {"error": e.message}
        except RequestError as e:
            return e.status, {"error": str(e)}
        except InpaintError as e:
            return 400, {"error": str(e)}
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
            return 400, {"error": error_summary(getattr(e, "message", None) or str(e))}
        except Exception:  # never a stack trace to the client
            log.exception("predict failed")
            return 500, {"error": "internal error while running the model; see the server log"}


def _decoded(decode, data, name, *args):
    """decode(data, *args) as a numpy array (the SavedModel's decoders: the same pixels);
    a file TensorFlow cannot decode is the client's error, naming the input."""
    import tensorflow as tf

    try:
        return decode(data, *args).numpy()
    except tf.errors.InvalidArgumentError as e:
        raise RequestError(f"{name} could not be decoded: {error_summary(e.message)}") from None
