"""Deployment artifacts: a SavedModel for TensorFlow Serving and `.tflite` files for devices.

Both hold the whole pipeline (Canny of the known part, G1, G2, composite), so a
client sends an image and a mask and gets the filled image back.

SavedModel (`export_saved_model`), written with `keras.export.ExportArchive`
in TF Serving's layout `BASE/NAME/VERSION/`, signatures:

- `serving_default`: `image` float32 [N, H, W, 3] in [0, 1] (the Python API's
  convention, so a client gets the same pixels as `EdgeConnect`; float32
  rather than uint8 also lets clients send already-resized or blended
  images), `mask` float32 [N, H, W, 1] in [0, 1] (1 = hole) -> `inpainted`
  float32 [N, H, W, 3], `edges` float32 [N, H, W, 1]. Any H, W >= 9
  (reflect-padded to multiples of 4 inside, cropped back).
- `inpaint_with_edges`: the same plus `edges` [N, H, W, 1] in [0, 1], lines
  drawn by a person, which replace G1's prediction inside the hole.
- `inpaint_bytes`: `image_bytes`, `mask_bytes` string [N] (PNG/JPEG/BMP/GIF
  files; mask white = hole, gray > 127) -> `inpainted_png_bytes` string [N]
  (8-bit RGB PNG). TF Serving's REST API base64-encodes outputs whose name
  ends in `_bytes`. Images of a batch may differ in size.
- Warm-up records (`assets.extra/tf_serving_warmup_requests`), one per
  signature, so the server traces and allocates before the first request.

Inputs are checked inside the graph; a bad tensor fails with InvalidArgument
and a message saying what was expected (rank 4, 3 channels, mask size = image
size, values in [0, 1], H and W >= 9). The tensor signatures therefore declare
unknown shapes (`saved_model_cli` shows `unknown_rank`): with declared shapes
the server would reject a rank-3 tensor with a generic placeholder error.

TFLite (`export_tflite`): one file per input size with static shapes
[1, S, S, ...], builtin ops only (a Flex op makes the conversion fail),
signature `inpaint` (inputs `image`, `mask`; outputs `inpainted`, `edges`).
Quantization: `none` (float32), `float16` (weights stored as float16,
computed in float32), `dynamic` (weights int8, activations quantized on the
fly), `int8` (see `export_tflite` and `quantize_int8`). Two things matter for
speed and correctness (bench/RESULTS.md, "Export"):
- The variables are frozen into constants before conversion. Converted as a
  SavedModel that still holds them, the file keeps VAR_HANDLE/READ_VARIABLE
  ops, recomputes spectral norm per call, hands XNNPACK run-time conv
  weights it does not accelerate (about 2x slower) and, in TF 2.21, never
  initializes the variables (no weights in the file, NaN outputs).
- Static shapes: with dynamic H and W the builtin-only conversion fails
  (TF 2.21 reports the Canny blur's depthwise conv and the generators' first
  convs as needing Flex); with static ones the dilated convs stay single
  CONV_2D ops (no SPACE_TO_BATCH_ND) and the shape arithmetic folds away.
"""

import contextlib
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

SIGNATURES = ("serving_default", "inpaint_with_edges", "inpaint_bytes", "inpaint_bytes_with_edges")
FILE_INPUTS = ("image_bytes", "mask_bytes", "edges_bytes")
TFLITE_SIGNATURE = "inpaint"
QUANTIZE_MODES = ("none", "float16", "dynamic", "int8")
WARMUP_FILE = "tf_serving_warmup_requests"
MIN_SIZE = 9  # padded to 12: the residual blocks reflect-pad 2 px at 1/4 resolution (3 px)
MASK_THRESHOLD = 127  # mask files: gray value > 127 is a hole


# --------------------------------------------------------------------------- validation


def validate_inputs(image, mask, edges=None):
    """Checks serving inputs in the graph; returns them with their static rank restored.

    image [N, H, W, 3], mask [N, H, W, 1], edges [N, H, W, 1] (optional), all
    float32 in [0, 1], H and W >= MIN_SIZE. A violation raises
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
    for name, x, _ in named:
        flat = tf.reshape(x, [-1])  # any rank: reductions over unknown ranks can misfire
        low, high = tf.reduce_min(flat), tf.reduce_max(flat)
        checks.append(
            tf.debugging.Assert(
                tf.logical_and(low >= 0.0, high <= 1.0),
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


# --------------------------------------------------------------------------- SavedModel


def _any_shape(name):
    """A float32 input of unknown rank: the shape is checked in the graph (module docstring)."""
    return tf.TensorSpec(shape=None, dtype=tf.float32, name=name)


def _decode(data, channels):
    return tf.io.decode_image(data, channels=channels, dtype=tf.uint8, expand_animations=False)


def _to_png(image):
    """[H, W, 3] float in [0, 1] -> PNG bytes of the 8-bit image (rounded)."""
    pixels = tf.cast(tf.round(tf.clip_by_value(image, 0.0, 1.0) * 255.0), tf.uint8)
    return tf.io.encode_png(pixels)


def _edges_to_png(edges):
    """[H, W, 1] float in [0, 1] -> PNG bytes of the 8-bit gray edge map."""
    pixels = tf.cast(tf.round(tf.clip_by_value(edges, 0.0, 1.0) * 255.0), tf.uint8)
    return tf.io.encode_png(pixels)


def serving_functions(model):
    """{signature name: (function, input signature)} of the serving signatures.

    What `build_archive` exports and what `edgeconnect serve --weights` runs in
    memory, so the editor sees the same contract with or without a SavedModel.
    """
    if not model.built:  # `from_pretrained` builds the generators, not the model itself
        image, mask = sample_inputs(32)
        model({"image": image, "mask": mask}, training=False)

    def serving_default(image, mask):
        image, mask = validate_inputs(image, mask)
        out = model({"image": image, "mask": mask}, training=False)
        return {"inpainted": out["inpainted"], "edges": out["edges"]}

    def inpaint_with_edges(image, mask, edges):
        image, mask, edges = validate_inputs(image, mask, edges)
        out = model({"image": image, "mask": mask, "edges": edges}, training=False)
        return {"inpainted": out["inpainted"], "edges": out["edges"]}

    def inpaint_files(files):
        image = tf.image.convert_image_dtype(_decode(files[0], 3), tf.float32)
        mask = tf.cast(_decode(files[1], 1) > MASK_THRESHOLD, tf.float32)
        inputs = [image[None], mask[None]]
        if len(files) == 3:
            inputs.append(tf.cast(_decode(files[2], 1) > MASK_THRESHOLD, tf.float32)[None])
        inputs = validate_inputs(*inputs)
        out = model(dict(zip(("image", "mask", "edges"), inputs, strict=False)), training=False)
        return _to_png(out["inpainted"][0]), _edges_to_png(out["edges"][0])

    def map_files(*files):
        for name, other in zip(("mask_bytes", "edges_bytes"), files[1:], strict=False):
            tf.debugging.assert_equal(
                tf.shape(files[0]),
                tf.shape(other),
                message=f"`image_bytes` and `{name}` must hold as many files each",
            )
        pngs, edges = tf.map_fn(
            inpaint_files,
            files,
            fn_output_signature=(tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.string)),
        )
        return {"inpainted_png_bytes": pngs, "edges_png_bytes": edges}

    def inpaint_bytes(image_bytes, mask_bytes):
        return map_files(image_bytes, mask_bytes)

    def inpaint_bytes_with_edges(image_bytes, mask_bytes, edges_bytes):
        return map_files(image_bytes, mask_bytes, edges_bytes)

    files = [tf.TensorSpec([None], tf.string, name=n) for n in FILE_INPUTS]
    return {
        "serving_default": (serving_default, [_any_shape("image"), _any_shape("mask")]),
        "inpaint_with_edges": (
            inpaint_with_edges,
            [_any_shape("image"), _any_shape("mask"), _any_shape("edges")],
        ),
        "inpaint_bytes": (inpaint_bytes, files[:2]),
        "inpaint_bytes_with_edges": (inpaint_bytes_with_edges, files),
    }


def build_archive(model):
    """A `keras.export.ExportArchive` tracking `model` with the serving signatures."""
    functions = serving_functions(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (fn, signature) in functions.items():
        archive.add_endpoint(name, fn, input_signature=signature)
    return archive


def export_saved_model(model, directory, *, warmup_size=256, model_name=None):
    """Writes `model` (an `EdgeConnect`) as a SavedModel with serving signatures and warm-up.

    Args:
        model: an `edgeconnect_tf.edgeconnect.EdgeConnect`.
        directory: the version directory, `BASE/NAME/VERSION` for TF Serving
            (VERSION a positive integer); must not exist or be empty.
        warmup_size: side of the warm-up requests' images; 0 writes none.
        model_name: name in the warm-up requests' model spec; default NAME,
            the parent directory's name.

    Returns:
        `directory`.
    """
    if os.path.isdir(directory) and os.listdir(directory):
        raise ValueError(f"--output {directory!r} exists and is not empty; pick a new version")
    with plain_blocks(model):
        build_archive(model).write_out(directory, options=SAVE_OPTIONS, verbose=False)
    if warmup_size:
        name = model_name or os.path.basename(os.path.dirname(os.path.abspath(directory)))
        write_warmup_file(directory, warmup_records(name, warmup_size))
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
    }


def warmup_records(model_name, size):
    """Serialized `tensorflow.serving.PredictionLog` protos, one per signature."""
    return [
        prediction_log(model_name, signature, inputs)
        for signature, inputs in warmup_requests(size).items()
    ]


def prediction_log(model_name, signature_name, inputs):
    """A serialized PredictionLog holding a PredictRequest for `signature_name`.

    Uses `tensorflow_serving.apis` when installed; otherwise writes the same
    protobuf wire format by hand (field numbers from tensorflow_serving/apis:
    PredictionLog.predict_log = 6, PredictLog.request = 1, PredictRequest
    model_spec = 1 / inputs = 2 (map<string, TensorProto>), ModelSpec name = 1
    / signature_name = 3).
    """
    tensors = {k: tf.make_tensor_proto(v) for k, v in inputs.items()}
    try:
        from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
    except ImportError:
        spec = _field(1, model_name.encode()) + _field(3, signature_name.encode())
        request = _field(1, spec)
        for key in sorted(tensors):
            entry = _field(1, key.encode()) + _field(2, tensors[key].SerializeToString())
            request += _field(2, entry)
        return _field(6, _field(1, request))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for key in sorted(tensors):
        request.inputs[key].CopyFrom(tensors[key])
    log = prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )
    return log.SerializeToString(deterministic=True)


def _varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number, payload):
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def write_warmup_file(directory, records):
    """Writes `records` to `directory/assets.extra/tf_serving_warmup_requests` (TFRecord)."""
    extra = os.path.join(directory, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    path = os.path.join(extra, WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)
    return path


# --------------------------------------------------------------------------- TFLite


def _size_hw(size):
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if min(h, w) < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE} pixels per side, got {size!r}")
    return int(h), int(w)


def tflite_function(model, size):
    """The pipeline as a `tf.function` with static shapes [1, H, W, C] for conversion."""
    h, w = _size_hw(size)

    @tf.function(
        input_signature=[
            tf.TensorSpec([1, h, w, 3], tf.float32, name="image"),
            tf.TensorSpec([1, h, w, 1], tf.float32, name="mask"),
        ],
        autograph=False,
    )
    def pipeline(image, mask):
        out = model({"image": image, "mask": mask}, training=False)
        return {"inpainted": out["inpainted"], "edges": out["edges"]}

    return pipeline


def _reflect_pad_by_slices(layer, x):
    """`ReflectionPadding2D` as one-pixel slices + concatenations (static H and W only)."""
    p = layer.padding
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        return _ORIGINAL_REFLECTION_CALL[0](layer, x)
    top = [x[:, k : k + 1] for k in range(p, 0, -1)]
    bottom = [x[:, height - 1 - k : height - k] for k in range(1, p + 1)]
    x = tf.concat([*top, x, *bottom], axis=1)
    left = [x[:, :, k : k + 1] for k in range(p, 0, -1)]
    right = [x[:, :, width - 1 - k : width - k] for k in range(1, p + 1)]
    return tf.concat([*left, x, *right], axis=2)


_ORIGINAL_REFLECTION_CALL = []


@contextlib.contextmanager
def delegable_reflection_padding():
    """While tracing, `ReflectionPadding2D` becomes slices + concat instead of MIRROR_PAD.

    Same values (bit for bit). XNNPACK does not take MIRROR_PAD, so each of
    the 36 reflection pads of G1 + G2 ends an XNNPACK partition and runs on
    the single-threaded builtin kernel: 41 partitions with MIRROR_PAD, 13
    with slices, about 12 % less latency at 256² (bench/RESULTS.md). The
    layer itself keeps MIRROR_PAD, which TensorFlow runs faster.
    """
    from edgeconnect_tf.layers import ReflectionPadding2D

    original = ReflectionPadding2D.call
    _ORIGINAL_REFLECTION_CALL[:] = [original]
    ReflectionPadding2D.call = _reflect_pad_by_slices
    try:
        yield
    finally:
        ReflectionPadding2D.call = original


# Inference graphs only: the training-time custom gradients (instance norm, Winograd
# convs) keep forward tensors, which SavedModel cannot serialize with their gradients.
SAVE_OPTIONS = tf.saved_model.SaveOptions(experimental_custom_gradients=False)


def plain_blocks(model):
    """Exports trace the direct residual blocks: no XLA cluster in a SavedModel or
    `.tflite` (TF Serving and TFLite run without XLA), whatever `model.winograd` says."""
    if hasattr(model, "plain_blocks"):
        return model.plain_blocks()
    return contextlib.nullcontext()


def converter_for(model, size, workdir):
    """A `tf.lite.TFLiteConverter` for the static-shape pipeline, builtin ops only.

    The variables are frozen into constants first (the converter's SavedModel
    importer keeps Keras variables as VAR_HANDLE/READ_VARIABLE, so spectral
    norm would run per call and XNNPACK would see non-constant conv weights),
    then saved as a variable-free SavedModel in `workdir` so the `.tflite`
    gets a named signature (`inpaint`) with named inputs and outputs.
    """
    from tensorflow.python.framework import convert_to_constants

    with delegable_reflection_padding(), plain_blocks(model):
        concrete = tflite_function(model, size).get_concrete_function()
    frozen = convert_to_constants.convert_variables_to_constants_v2(
        concrete, lower_control_flow=False
    )
    specs = concrete.structured_input_signature[0]

    @tf.function(input_signature=specs, autograph=False)
    def frozen_pipeline(image, mask):
        return tf.nest.pack_sequence_as(concrete.structured_outputs, frozen(image, mask))

    module = tf.Module()
    module.pipeline = frozen_pipeline
    path = os.path.join(workdir, "saved_model")
    tf.saved_model.save(
        module, path, signatures={TFLITE_SIGNATURE: frozen_pipeline}, options=SAVE_OPTIONS
    )
    converter = tf.lite.TFLiteConverter.from_saved_model(path, signature_keys=[TFLITE_SIGNATURE])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = False
    return converter


def export_tflite(model, path, size=256, quantize="none", calibration=None):
    """Converts the pipeline for one input size to a `.tflite` file; returns its op names.

    Args:
        model: an `EdgeConnect`.
        path: the `.tflite` file to write.
        size: side S of the square input, or (H, W).
        quantize: `none`, `float16`, `dynamic` or `int8`. `int8` is full-integer
            quantization of the generators calibrated on `calibration`; the
            model's inputs and outputs stay float32, and ops without an int8
            kernel stay float (builtin float fallback, no Flex).
        calibration: for `int8`, an iterable of (image [H, W, 3], mask [H, W, 1])
            float32 pairs (real photos and hole masks) at the export size; see
            `calibration_pairs`.

    Raises:
        ValueError: unknown `quantize`, `int8` without calibration data, or the
            converter needed an op outside TFLite's builtins (Flex).
    """
    if quantize not in QUANTIZE_MODES:
        raise ValueError(f"quantize must be one of {QUANTIZE_MODES}, got {quantize!r}")
    h, w = _size_hw(size)
    workdir = tempfile.mkdtemp(prefix="edgeconnect_tflite_")
    try:
        converter = converter_for(model, (h, w), workdir)
        if quantize == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif quantize == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        elif quantize == "int8":
            pairs = _check_calibration(calibration, h, w)
        try:
            flatbuffer = converter.convert()
        except Exception as e:  # the converter raises ConverterError and others
            raise ValueError(
                f"TFLite conversion with builtin ops only failed (no Flex ops allowed): {e}"
            ) from e
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if quantize == "int8":
        flatbuffer = quantize_int8(flatbuffer, pairs)
    ops = tflite_ops(flatbuffer)
    flex = sorted(op for op in ops if op.startswith("Flex") or op == "CUSTOM")
    if flex:
        raise ValueError(f"the TFLite model needs non-builtin ops {flex}; refusing to write it")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(flatbuffer)
    return ops


def _schema():
    """The TFLite flatbuffer schema module (ai-edge-litert's, else TensorFlow's copy)."""
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        from tensorflow.lite.python import schema_py_generated
    return schema_py_generated


def tflite_ops(model):
    """Op names of a TFLite model (path or flatbuffer bytes), with their counts, subgraphs too."""
    schema = _schema()

    if isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as f:
            model = f.read()
    parsed = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    counts = {}
    for subgraph in parsed.subgraphs:
        for op in subgraph.operators or []:
            code = parsed.operatorCodes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            name = names.get(builtin, str(builtin))
            if name == "CUSTOM":
                name = (code.customCode or b"CUSTOM").decode()
            counts[name] = counts.get(name, 0) + 1
    return counts


def _check_calibration(calibration, h, w):
    if calibration is None:
        raise ValueError("quantize='int8' needs calibration images and masks")
    pairs = [(np.asarray(i, "float32"), np.asarray(m, "float32")) for i, m in calibration]
    if not pairs:
        raise ValueError("quantize='int8' needs at least one calibration pair")
    for image, mask in pairs:
        if image.shape != (h, w, 3) or mask.shape != (h, w, 1):
            raise ValueError(
                f"calibration pairs must be [{h}, {w}, 3] and [{h}, {w}, 1], "
                f"got {image.shape} and {mask.shape}"
            )
    return pairs


GENERATOR_SCOPES = (b"edge_generator", b"inpaint_generator")


def quantize_int8(float_model, pairs):
    """Full-integer quantization of G1 and G2 inside a float `.tflite`; Canny stays float32.

    TFLite's own calibrator crashes (segfault, TF 2.21) on models whose WHILE
    loop reads a tensor from outside the loop, as Canny's hysteresis does, so
    we calibrate here: run the float model on `pairs` with all tensors kept,
    record each generator activation's min and max into the flatbuffer, and
    hand it to the converter's MLIR quantizer. Only tensors inside the two
    generators get statistics, so only their ops become int8 (weights per
    channel, activations per tensor); Canny, the compositing and the model's
    float32 inputs and outputs stay float, with QUANTIZE/DEQUANTIZE at the
    borders. Ops without an int8 kernel would stay float too.
    """
    import flatbuffers
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from tensorflow.lite.python.convert import mlir_quantize

    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(float_model), 0)
    graph = model.subgraphs[0]

    def is_activation(tensor):
        buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
        constant = buffer is not None and buffer.data is not None and len(buffer.data) > 0
        in_generator = any(scope in (tensor.name or b"") for scope in GENERATOR_SCOPES)
        return tensor.type == schema.TensorType.FLOAT32 and not constant and in_generator

    wanted = [i for i, t in enumerate(graph.tensors) if is_activation(t)]
    interpreter = Interpreter(
        model_content=float_model,
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    runner = interpreter.get_signature_runner(TFLITE_SIGNATURE)
    low = dict.fromkeys(wanted, np.inf)
    high = dict.fromkeys(wanted, -np.inf)
    for image, mask in pairs:
        runner(image=image[None], mask=mask[None])
        for i in wanted:
            values = interpreter.get_tensor(i)
            low[i] = min(low[i], float(values.min()))
            high[i] = max(high[i], float(values.max()))
    for i in wanted:
        stats = schema.QuantizationParametersT()
        stats.min, stats.max = [low[i]], [high[i]]
        graph.tensors[i].quantization = stats
    builder = flatbuffers.Builder(len(float_model) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return mlir_quantize(
        bytes(builder.Output()), input_data_type=tf.float32, output_data_type=tf.float32
    )


def calibration_pairs(images, size, count=8, seed=0):
    """(image, mask) pairs for int8 calibration: photos resized to `size`, free-form holes.

    `images` are [H, W, 3] uint8 or float photos (e.g. `skimage.data` samples
    or a folder of the training domain); masks come from
    `edgeconnect_tf.masks.free_form_mask`.
    """
    from edgeconnect_tf.masks import free_form_mask

    h, w = _size_hw(size)
    pairs = []
    images = list(images)
    if not images:
        raise ValueError("calibration needs at least one photo")
    for k in range(count):
        photo = np.asarray(images[k % len(images)])
        photo = photo.astype("float32") / (255.0 if photo.dtype == np.uint8 else 1.0)
        image = tf.image.resize(photo[..., :3], (h, w), antialias=True).numpy()
        mask = free_form_mask(tf.constant([seed, k]), h, w).numpy()
        pairs.append((np.clip(image, 0, 1).astype("float32"), mask.astype("float32")))
    return pairs
