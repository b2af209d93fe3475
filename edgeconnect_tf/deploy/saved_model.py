"""The SavedModel for TensorFlow Serving: the pipeline, whole and stage by stage.

Canny of the known part, G1, G2 and the composite run inside, so a client
sends an image and a mask and gets the filled image back. Written with
`tf.saved_model.save` (`ServingModule`) in TF Serving's layout `BASE/NAME/VERSION/`:

- `serving_default`: `image` float32 [N, H, W, 3] in [0, 1] (the Python API's
  convention, so a client gets the same pixels as `EdgeConnect`; float32
  rather than uint8 also lets clients send already-resized or blended
  images), `mask` float32 [N, H, W, 1] in [0, 1] (1 = hole) -> `inpainted`
  float32 [N, H, W, 3], `edges` float32 [N, H, W, 1]. Any H, W >= 9
  (reflect-padded to multiples of 4 inside, cropped back).
- `inpaint_with_edges`: the same plus `edges` [N, H, W, 1] in [0, 1], lines
  drawn by a person, which replace G1's prediction inside the hole.
- `inpaint_bytes`: `image_bytes`, `mask_bytes` string [N] (PNG/JPEG/BMP
  files; mask white = hole, gray > 127) -> `inpainted_png_bytes` string [N]
  (8-bit RGB PNG), `edges_png_bytes` (the edge map as a 16-bit gray PNG,
  level = round(edge · 65535): `encode_edge_png`). TF Serving's REST API
  base64-encodes outputs whose name ends in `_bytes`. Images of a batch may
  differ in size. Each file's size is read from its header before it is decoded
  (`image_headers`): GIF, animated PNG and files above the pixel limit are
  refused. `inpaint_bytes_with_edges` adds `edges_bytes`, drawn lines (white >
  127; a 16-bit PNG is read by its high byte).

Stage by stage (the editor's "Redraw edges" and "Repaint"; `EdgeConnect.complete_edges`
and `EdgeConnect.repaint`): chaining them gives `serving_default`'s pixels.
- `edges`: `image`, `mask` -> `edges` float32 [N, H, W, 1], the edge map G2
  would see (G1 in the hole, Canny of the known part outside); G2 does not run.
- `repaint`: `image`, `mask`, `edges` [N, H, W, 1] in [0, 1], a full edge map
  (the `edges` output, edited or not) -> `inpainted`, `edges`: G2 alone, the
  map taken as given inside and outside the hole (no Canny, no G1), about half
  the work of a full run.
- `edges_bytes`: `image_bytes`, `mask_bytes` -> `edges_png_bytes` (16-bit gray
  PNG, as above); `repaint_bytes`: `image_bytes`, `mask_bytes`, `edges_bytes`
  (a full edge map: a 16-bit gray PNG, level / 65535, or an 8-bit one, level /
  255; not thresholded: `decode_edge_png`) -> `inpainted_png_bytes`,
  `edges_png_bytes`. The 16-bit map is within 1/131070 of the float one, so
  Repaint of an unedited map gives the full run's pixels within 1 level; an
  8-bit map (up to half a level of 255 off) moves them by 2–3 levels with
  full-size networks (tests/test_serve.py, bench/repaint.py).

Over TF Serving's REST API: `POST /v1/models/NAME:predict` with
`{"signature_name": "repaint", "inputs": {"image": [...], "mask": [...], "edges": [...]}}`
(or row format, `"instances"`; files as `{"b64": "..."}`); over gRPC: a
`PredictRequest` whose `model_spec.signature_name` names the signature and whose
`inputs` map holds the tensors above (`tf.make_tensor_proto`).
- Warm-up records (`assets.extra/tf_serving_warmup_requests`), one per
  signature, so the server traces and allocates before the first request.

Inputs are checked inside the graph; a bad tensor fails with InvalidArgument
and a message saying what was expected (rank 4, 3 channels, mask size = image
size, finite values in [0, 1], H and W >= 9, at most `max_pixels` pixels:
`DEFAULT_MAX_PIXELS`, an export option). The tensor signatures therefore declare
unknown shapes (`saved_model_cli` shows `unknown_rank`): with declared shapes
the server would reject a rank-3 tensor with a generic placeholder error.
"""

import os
import warnings

import numpy as np
import tensorflow as tf

from edgeconnect_tf.deploy import DEFAULT_MAX_PIXELS
from edgeconnect_tf.files.image_headers import check_file_in_graph, file_pixels_in_graph
from edgeconnect_tf.files.io import atomic_directory
from edgeconnect_tf.inpaint import MIN_SIDE as MIN_SIZE

# Inference graphs only: the training-time custom gradient of instance norm is not saved
# (an inference file does not need it).
SAVE_OPTIONS = tf.saved_model.SaveOptions(experimental_custom_gradients=False)
SIGNATURES = (
    "serving_default",
    "inpaint_with_edges",
    "inpaint_bytes",
    "inpaint_bytes_with_edges",
    "edges",
    "repaint",
    "edges_bytes",
    "repaint_bytes",
)
FILE_INPUTS = ("image_bytes", "mask_bytes", "edges_bytes")
WARMUP_FILE = "tf_serving_warmup_requests"
MASK_THRESHOLD = 127  # mask files: gray value > 127 is a hole
EDGE_PNG_MAX = 65535  # edge-map PNGs are 16-bit gray: level = round(edge · 65535)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- validation


def validate_inputs(image, mask, edges=None, max_pixels=None):
    """Checks serving inputs in the graph; returns them with their static rank restored.

    image [N, H, W, 3], mask [N, H, W, 1], edges [N, H, W, 1] (optional), all
    float32 in [0, 1] (finite), H and W >= MIN_SIZE, N >= 1 and N·H·W at most
    `max_pixels` (None: no limit). A violation raises
    InvalidArgumentError (in a graph: when it runs) naming the input, what was
    expected and the shape or value received. Each check is vacuous when an
    earlier one fails (channels are only checked for rank-4 tensors, sizes
    only when ranks and channels are right), so the message names the first
    problem whatever order the runtime runs the checks in.
    """
    named = [("image", image, 3), ("mask", mask, 1)]
    if edges is not None:
        named.append(("edges", edges, 1))
    checks, shape_ok = [], []
    for name, x, channels in named:
        expected = f"[N, H, W, {channels}]"
        rank_ok = tf.equal(tf.rank(x), 4)
        # Padded to 4 entries so that no slice can fail, whatever runs first.
        shape = tf.concat([tf.shape(x), [-1, -1, -1, -1]], 0)[:4]
        channels_ok = tf.equal(shape[3], channels)
        checks.append(
            tf.debugging.Assert(
                rank_ok, [f"`{name}` must be a rank-4 tensor {expected}, got shape", tf.shape(x)]
            )
        )
        plural = "s" if channels > 1 else ""
        checks.append(
            tf.debugging.Assert(
                tf.logical_or(tf.logical_not(rank_ok), channels_ok),
                [f"`{name}` must have {channels} channel{plural} {expected}, got shape", shape],
            )
        )
        shape_ok.append((name, shape, tf.logical_and(rank_ok, channels_ok)))
    all_ok = tf.reduce_all(tf.stack([ok for _, _, ok in shape_ok]))
    image_shape = shape_ok[0][1]
    for name, shape, _ in shape_ok[1:]:
        checks.append(
            tf.debugging.Assert(
                tf.logical_or(
                    tf.logical_not(all_ok), tf.reduce_all(tf.equal(shape[:3], image_shape[:3]))
                ),
                [
                    f"`{name}` must have the batch size, height and width [N, H, W] of "
                    f"`image`; got `{name}` shape",
                    shape,
                    "and `image` shape",
                    image_shape,
                ],
            )
        )
    checks.append(
        tf.debugging.Assert(
            tf.logical_or(tf.logical_not(all_ok), tf.reduce_min(image_shape[1:3]) >= MIN_SIZE),
            [
                f"`image` height and width must be at least {MIN_SIZE} pixels, got shape",
                image_shape,
            ],
        )
    )
    if max_pixels is not None:
        checks.append(_pixel_check(image_shape, all_ok, max_pixels))
    for name, x, _ in named:
        flat = tf.reshape(x, [-1])  # any rank: reductions over unknown ranks can misfire
        finite = tf.reduce_all(tf.math.is_finite(flat))
        checks.append(
            tf.debugging.Assert(finite, [f"`{name}` must not contain NaN or infinite values"])
        )
        low, high = tf.reduce_min(flat), tf.reduce_max(flat)
        checks.append(
            tf.debugging.Assert(
                tf.logical_or(tf.logical_not(finite), tf.logical_and(low >= 0.0, high <= 1.0)),
                [
                    f"`{name}` values must be float32 in [0, 1] (not 0..255), got min",
                    low,
                    "max",
                    high,
                ],
            )
        )
    out = []
    with tf.control_dependencies([c for c in checks if c is not None]):
        for (_, x, channels), (_, shape, _) in zip(named, shape_ok, strict=True):
            # A reshape rather than tf.ensure_shape: grappler would read EnsureShape's
            # rank back into the unknown-rank input and fold the rank checks to true.
            y = tf.reshape(x, tf.stack([shape[0], shape[1], shape[2], channels]))
            y.set_shape([None, None, None, channels])
            out.append(y)
    return tuple(out) if edges is not None else (out[0], out[1])


def _pixel_check(image_shape, shape_ok, max_pixels):
    """Assert 1 <= N·H·W <= max_pixels for an image of shape [N, H, W, 3].

    Vacuous when an earlier check fails (`shape_ok` false, or H or W below MIN_SIZE).
    """
    pixels = tf.reduce_prod(tf.cast(image_shape[:3], tf.int64))
    earlier_failed = tf.logical_not(shape_ok) | (tf.reduce_min(image_shape[1:3]) < MIN_SIZE)
    return tf.debugging.Assert(
        earlier_failed | ((pixels >= 1) & (pixels <= max_pixels)),
        [
            f"`image` must hold 1 to {max_pixels} pixels (N·H·W, this model's limit), got shape",
            image_shape,
        ],
    )


# --------------------------------------------------------------------------- SavedModel


def _any_shape(name):
    """A float32 input of unknown rank: the shape is checked in the graph (module docstring)."""
    return tf.TensorSpec(shape=None, dtype=tf.float32, name=name)


def decode_file(data, channels):
    """PNG/JPEG/BMP bytes -> uint8 [H, W, channels] (the first frame; also `edgeconnect serve`)."""
    return tf.io.decode_image(data, channels=channels, dtype=tf.uint8, expand_animations=False)


def encode_edge_png(edge_map):
    """Edge map [H, W, 1] float in [0, 1] -> 16-bit gray PNG bytes (a string tensor).

    The one rule for every edge map the signatures and `edgeconnect serve` send:
    level = round(edge · 65535), so a map read back (`decode_edge_png`) is within
    1/131070 of the float one.
    """
    levels = tf.round(tf.clip_by_value(edge_map, 0.0, 1.0) * float(EDGE_PNG_MAX))
    return tf.io.encode_png(tf.cast(levels, tf.uint16))


def decode_edge_png(data):
    """A full edge map's file -> float32 [H, W, 1] in [0, 1] (in a graph or eagerly).

    A 16-bit PNG (gray, or colour read as gray) gives level / 65535; any other file
    `decode_file` reads (an 8-bit PNG: the maps of earlier versions) level / 255.
    """
    head = tf.strings.substr(tf.strings.join([tf.strings.substr(data, 0, 25), "\0" * 25]), 0, 25)
    sixteen_bits = tf.logical_and(  # the PNG signature, then IHDR's bit depth at byte 24
        tf.equal(tf.strings.substr(head, 0, 8), PNG_SIGNATURE),
        tf.equal(tf.strings.substr(head, 24, 1), b"\x10"),
    )
    return tf.cond(
        sixteen_bits,
        lambda: (
            tf.cast(tf.io.decode_png(data, channels=1, dtype=tf.uint16), tf.float32)
            / float(EDGE_PNG_MAX)
        ),
        lambda: tf.cast(decode_file(data, 1), tf.float32) / 255.0,
    )


def _to_png(image):
    """[H, W, C] float in [0, 1] -> PNG bytes of the 8-bit image (rounded)."""
    pixels = tf.cast(tf.round(tf.clip_by_value(image, 0.0, 1.0) * 255.0), tf.uint8)
    return tf.io.encode_png(pixels)


def serving_functions(model, max_pixels=DEFAULT_MAX_PIXELS):
    """{signature name: (function, input signature)} of the serving signatures.

    What `ServingModule` exports and what `edgeconnect serve --weights` runs in
    memory, so the editor sees the same contract with or without a SavedModel.
    `max_pixels`: the most pixels of one request's images together: N·H·W of a tensor
    input, the sum of the files' H·W (read from their headers before decoding,
    `image_headers`), the rule of `edgeconnect serve --max-pixels`.
    """
    if not model.built:  # `from_pretrained` builds the generators, not the model itself
        image, mask = sample_inputs(32)
        model({"image": image, "mask": mask}, training=False)

    def serving_default(image, mask):
        image, mask = validate_inputs(image, mask, max_pixels=max_pixels)
        out = model({"image": image, "mask": mask}, training=False)
        return {"inpainted": out["inpainted"], "edges": out["edges"]}

    def inpaint_with_edges(image, mask, edges):
        image, mask, edges = validate_inputs(image, mask, edges, max_pixels=max_pixels)
        out = model({"image": image, "mask": mask, "edges": edges}, training=False)
        return {"inpainted": out["inpainted"], "edges": out["edges"]}

    def edges(image, mask):
        image, mask = validate_inputs(image, mask, max_pixels=max_pixels)
        return {"edges": model.complete_edges(image, mask)}

    def repaint(image, mask, edges):
        image, mask, edges = validate_inputs(image, mask, edges, max_pixels=max_pixels)
        out = model.repaint(image, mask, edges)
        return {"inpainted": out["inpainted"], "edges": out["edges"]}

    def inpaint_files(files, stage=None):
        headers = [
            check
            for name, data in zip(FILE_INPUTS, files, strict=False)
            for check in check_file_in_graph(data, name, max_pixels, gray=name != "image_bytes")
        ]
        with tf.control_dependencies(headers):  # nothing is decoded before its header passes
            # x / 255 as `inpaint` computes it (convert_image_dtype's x · (1/255) is 1 ulp off)
            image = tf.cast(decode_file(files[0], 3), tf.float32) / 255.0
            mask = tf.cast(decode_file(files[1], 1) > MASK_THRESHOLD, tf.float32)
            inputs = [image[None], mask[None]]
            if len(files) == 3 and stage == "repaint":  # a full edge map: gray levels
                inputs.append(decode_edge_png(files[2])[None])
            elif len(files) == 3:  # drawn lines
                inputs.append(tf.cast(decode_file(files[2], 1) > MASK_THRESHOLD, tf.float32)[None])
        inputs = validate_inputs(*inputs)
        if stage == "edges":
            edge_map = model.complete_edges(*inputs)
            return tf.constant(b""), encode_edge_png(edge_map[0])
        if stage == "repaint":
            out = model.repaint(*inputs)
        else:
            out = model(dict(zip(("image", "mask", "edges"), inputs, strict=False)), training=False)
        return _to_png(out["inpainted"][0]), encode_edge_png(out["edges"][0])

    def image_pixels(data):
        with tf.control_dependencies(check_file_in_graph(data, "image_bytes", max_pixels)):
            return file_pixels_in_graph(data)

    def map_files(*files, stage=None):
        for name, other in zip(("mask_bytes", "edges_bytes"), files[1:], strict=False):
            tf.debugging.assert_equal(
                tf.shape(files[0]),
                tf.shape(other),
                message=f"`image_bytes` and `{name}` must hold as many files each",
            )
        # `max_pixels` bounds the request's images together (as `edgeconnect serve`'s does),
        # read from the headers before any file is decoded.
        total = tf.reduce_sum(tf.map_fn(image_pixels, files[0], fn_output_signature=tf.int64))
        total_check = tf.debugging.Assert(
            total <= max_pixels,
            [
                tf.strings.format(
                    "the request's image files hold {} pixels together, more than this "
                    f"model's limit of {max_pixels} pixels",
                    total,
                )
            ],
        )
        with tf.control_dependencies([total_check]):
            files = tuple(tf.identity(f) for f in files)
        pngs, edge_pngs = tf.map_fn(
            lambda f: inpaint_files(f, stage),
            files,
            fn_output_signature=(tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.string)),
        )
        if stage == "edges":
            return {"edges_png_bytes": edge_pngs}
        return {"inpainted_png_bytes": pngs, "edges_png_bytes": edge_pngs}

    def inpaint_bytes(image_bytes, mask_bytes):
        return map_files(image_bytes, mask_bytes)

    def inpaint_bytes_with_edges(image_bytes, mask_bytes, edges_bytes):
        return map_files(image_bytes, mask_bytes, edges_bytes)

    def edges_bytes(image_bytes, mask_bytes):
        return map_files(image_bytes, mask_bytes, stage="edges")

    def repaint_bytes(image_bytes, mask_bytes, edges_bytes):
        return map_files(image_bytes, mask_bytes, edges_bytes, stage="repaint")

    files = [tf.TensorSpec([None], tf.string, name=n) for n in FILE_INPUTS]
    return {
        "serving_default": (serving_default, [_any_shape("image"), _any_shape("mask")]),
        "inpaint_with_edges": (
            inpaint_with_edges,
            [_any_shape("image"), _any_shape("mask"), _any_shape("edges")],
        ),
        "inpaint_bytes": (inpaint_bytes, files[:2]),
        "inpaint_bytes_with_edges": (inpaint_bytes_with_edges, files),
        "edges": (edges, [_any_shape("image"), _any_shape("mask")]),
        "repaint": (repaint, [_any_shape("image"), _any_shape("mask"), _any_shape("edges")]),
        "edges_bytes": (edges_bytes, files[:2]),
        "repaint_bytes": (repaint_bytes, files),
    }


class ServingModule(tf.Module):
    """The SavedModel's root: `model`'s variables and one `tf.function` per serving
    signature (`serving_functions`), each traced once, when written.

    `tf.saved_model.save` of this object rather than `keras.export.ExportArchive`, whose
    `write_out` traces every signature twice (once outside the save context to list the
    variables it uses, again inside it): the same SavedModel in about half the time.
    """

    def __init__(self, model, max_pixels=DEFAULT_MAX_PIXELS):
        super().__init__(name="edgeconnect")
        functions = serving_functions(model, max_pixels)
        self.model_variables = list(model.variables)
        self._signature_names = tuple(functions)
        for name, (fn, signature) in functions.items():
            setattr(self, name, tf.function(fn, input_signature=signature, autograph=False))

    def write_out(self, directory, options=None):
        """Writes the SavedModel into `directory` (`tf.saved_model.save`)."""
        signatures = {name: getattr(self, name) for name in self._signature_names}
        tf.saved_model.save(self, directory, signatures=signatures, options=options)


def export_saved_model(
    model,
    directory,
    *,
    warmup_size=256,
    model_name=None,
    max_pixels=DEFAULT_MAX_PIXELS,
):
    """Writes `model` (an `EdgeConnect`) as a SavedModel with serving signatures and warm-up.

    Args:
        model: an `edgeconnect_tf.edgeconnect.EdgeConnect`.
        directory: the version directory, `BASE/NAME/VERSION` for TF Serving
            (VERSION a positive integer); must not exist or be empty.
        warmup_size: side of the warm-up requests' images; 0 writes none.
        model_name: name in the warm-up requests' model spec; default NAME,
            the parent directory's name.
        max_pixels: the most pixels of one request's images together (tensor
            inputs: N·H·W; files: the sum of their H·W, read from their headers
            before decoding); more fails with INVALID_ARGUMENT.

    The generators compute in the model's `conv_mode`: "graph" (the default of
    `EdgeConnect`; about 1.3–1.8× faster per image on CPU than "direct",
    bench/RESULTS.md) or "direct"; "xla" is refused (TF Serving runs without
    XLA: `model.with_conv_mode("graph")`). The directory appears whole or not
    at all (written beside, then renamed: `io.atomic_directory`).

    Returns:
        `directory`.
    """
    if os.path.isdir(directory) and os.listdir(directory):
        raise ValueError(f"--output {directory!r} exists and is not empty; pick a new version")
    if max_pixels < max(MIN_SIZE, warmup_size) ** 2:
        raise ValueError(
            f"--max-pixels {max_pixels} is below the warm-up requests' "
            f"{max(MIN_SIZE, warmup_size)}² pixels; raise it or lower --warmup-size"
        )
    if model.conv_mode == "xla":
        raise ValueError(
            "conv_mode 'xla' cannot be exported (TF Serving runs without XLA): "
            "use model.with_conv_mode('graph') or 'direct'"
        )
    module = ServingModule(model, max_pixels)
    with atomic_directory(directory) as tmp:
        module.write_out(tmp, options=SAVE_OPTIONS)
        if warmup_size and _has_serving_apis():
            name = model_name or os.path.basename(os.path.dirname(os.path.abspath(directory)))
            write_warmup_file(tmp, warmup_records(name, warmup_size))
    return directory


# --------------------------------------------------------------------------- warm-up


def sample_inputs(size, seed=0):
    """A smooth synthetic image [1, S, S, 3] and a rectangular hole [1, S, S, 1] (float32)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    image = np.stack([x, y, 0.5 + 0.4 * np.sin(6 * x * y)], axis=-1)
    image = np.clip(image + 0.02 * rng.standard_normal(image.shape), 0, 1).astype("float32")
    mask = np.zeros((size, size, 1), "float32")
    mask[size // 4 : size // 2, size // 3 : 2 * size // 3] = 1.0
    return image[None], mask[None]


def encode_png(array):
    """[H, W, C] float in [0, 1] or uint8 -> PNG bytes (numpy/TF only, no OpenCV)."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = np.round(np.clip(array, 0, 1) * 255).astype(np.uint8)
    return tf.io.encode_png(array).numpy()


def warmup_requests(size):
    """{signature name: {input name: numpy array}}: one warm-up request per signature."""
    image, mask = sample_inputs(size)
    drawn = np.zeros_like(mask)
    drawn[:, size // 4 : size // 2, size // 2] = 1.0
    files = {
        "image_bytes": np.array([encode_png(image[0])], dtype=object),
        "mask_bytes": np.array([encode_png((mask[0] * 255).astype(np.uint8))], dtype=object),
    }
    drawn_png = np.array([encode_png((drawn[0] * 255).astype(np.uint8))], dtype=object)
    return {
        "serving_default": {"image": image, "mask": mask},
        "inpaint_with_edges": {"image": image, "mask": mask, "edges": drawn},
        "inpaint_bytes": files,
        "inpaint_bytes_with_edges": {**files, "edges_bytes": drawn_png},
        "edges": {"image": image, "mask": mask},
        "repaint": {"image": image, "mask": mask, "edges": drawn},
        "edges_bytes": files,
        "repaint_bytes": {**files, "edges_bytes": drawn_png},
    }


def warmup_records(model_name, size):
    """Serialized `tensorflow.serving.PredictionLog` protos, one per signature."""
    return [
        prediction_log(model_name, signature, inputs)
        for signature, inputs in warmup_requests(size).items()
    ]


def _has_serving_apis():
    try:
        import tensorflow_serving.apis  # noqa: F401
    except ImportError:
        warnings.warn(
            "no warm-up requests written: tensorflow-serving-api is not installed "
            "(pip install --no-deps tensorflow-serving-api)",
            stacklevel=3,
        )
        return False
    return True


def prediction_log(model_name, signature_name, inputs):
    """A serialized `tensorflow.serving.PredictionLog` holding a PredictRequest."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for key in sorted(inputs):
        request.inputs[key].CopyFrom(tf.make_tensor_proto(inputs[key]))
    log = prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )
    return log.SerializeToString(deterministic=True)


def write_warmup_file(directory, records):
    """Writes `records` to `directory/assets.extra/tf_serving_warmup_requests` (TFRecord)."""
    extra = os.path.join(directory, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    path = os.path.join(extra, WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)
    return path
