"""`.tflite` files for devices: the whole pipeline at one static input size.

`export_tflite` writes one file per input size with static shapes
[1, S, S, ...], builtin ops only (a Flex op makes the conversion fail),
signature `inpaint` (inputs `image`, `mask`; outputs `inpainted`, `edges`).
Stage by stage (the editor's "Redraw edges" and "Repaint" in the page):
- `drawn_edges=True` (the `_edges` file): a third input `edges` replaces G1's
  prediction inside the hole, so G1 is not in the file: given a full edge map
  (the `edges` output, edited), it runs G2 alone on it (plus Canny, whose
  output is only used outside the hole, where a full map holds Canny anyway).
- `stage="edges"` (the `_g1` file): signature `edges`, inputs `image`, `mask`
  -> output `edges`, the edge map G2 would see (G1 in the hole, Canny
  outside); G2 is not in the file.
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
import warnings

import numpy as np
import tensorflow as tf

from edgeconnect_tf.deploy import INT8_MARGIN_DB, QUANTIZE_MODES, TFLITE_CONV_MODE
from edgeconnect_tf.deploy.saved_model import MIN_SIZE, SAVE_OPTIONS
from edgeconnect_tf.files.io import atomic_write, list_images, read_image
from edgeconnect_tf.inpaint import to_rgb_uint8

TFLITE_SIGNATURE = "inpaint"
TFLITE_EDGES_SIGNATURE = "edges"  # the G1-only file (`stage="edges"`)
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")  # int8 calibration
SKIMAGE_CHECK_PHOTOS = ("immunohistochemistry", "retina")  # int8 check: not calibrated on
# INT8_MARGIN_DB: the int8 export warns when its file's mean hole PSNR against the
# float32 file, on photos it was not calibrated on, is below it. Measured on the trained
# demo model (bench/RESULTS.md, "What int8 costs"): calibrated on the default photos 27.3 dB
# on held-out ones, on a text page 29.7 dB; on one flat gray image 24.2 dB, on the
# moon 22.8 dB.


def _size_hw(size):
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if min(h, w) < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE} pixels per side, got {size!r}")
    return int(h), int(w)


def tflite_function(model, size, drawn_edges=False, stage=None):
    """The pipeline as a `tf.function` with static shapes [1, H, W, C] for conversion.

    With `drawn_edges`, a third input `edges` [1, H, W, 1] in [0, 1] takes lines
    drawn by a person, which replace the edge network's prediction in the hole
    (as the SavedModel's `inpaint_with_edges`; G1 is then not in the file).
    `stage="edges"`: (image, mask) -> {"edges"}, `EdgeConnect.complete_edges` (G1 only).
    """
    h, w = _size_hw(size)
    image_spec = tf.TensorSpec([1, h, w, 3], tf.float32, name="image")
    mask_spec = tf.TensorSpec([1, h, w, 1], tf.float32, name="mask")
    if stage not in (None, "edges"):
        raise ValueError(f"stage must be None or 'edges', got {stage!r}")
    if stage == "edges":
        if drawn_edges:
            raise ValueError("stage='edges' (G1 only) takes no drawn edges")

        @tf.function(input_signature=[image_spec, mask_spec], autograph=False)
        def edge_stage(image, mask):
            return {"edges": model.complete_edges(image, mask)}

        return edge_stage

    def outputs(inputs):
        out = model(inputs, training=False)
        return {"inpainted": out["inpainted"], "edges": out["edges"]}

    if drawn_edges:
        edges_spec = tf.TensorSpec([1, h, w, 1], tf.float32, name="edges")

        @tf.function(input_signature=[image_spec, mask_spec, edges_spec], autograph=False)
        def pipeline_with_edges(image, mask, edges):
            return outputs({"image": image, "mask": mask, "edges": edges})

        return pipeline_with_edges

    @tf.function(input_signature=[image_spec, mask_spec], autograph=False)
    def pipeline(image, mask):
        return outputs({"image": image, "mask": mask})

    return pipeline


def tflite_model(model, conv_mode):
    """A copy of `model` (an `EdgeConnect`) built for TFLite: generators in `conv_mode`
    ("direct" or "graph") with `tflite_ops` (see `networks._Generator`).

    The stride-2 and output convs stay CONV_2D in "graph" mode too: XNNPACK runs
    them as fast as their matmul forms (3.78 vs 3.79 s at 512²), and LiteRT.js's
    WebGPU delegate computes a graph holding both the Winograd blocks and the
    output conv's matmul form wrong (tests/test_editor_ondevice.py).

    Reflection pads are slices + concat: the same values as MIRROR_PAD bit for
    bit, but XNNPACK does not take MIRROR_PAD, so each of the 36 reflection pads
    of G1 + G2 would end an XNNPACK partition and run on the single-threaded
    builtin kernel: 41 partitions with MIRROR_PAD, 13 with slices, about 12 %
    less latency at 256² (bench/RESULTS.md). `model` itself is not changed.
    """
    if conv_mode not in ("direct", "graph"):
        raise ValueError(f"conv_mode must be 'direct' or 'graph' for TFLite, got {conv_mode!r}")
    return model.with_conv_mode(conv_mode, tflite_ops=True)


def converter_for(model, size, workdir, drawn_edges=False, conv_mode="direct", stage=None):
    """A `tf.lite.TFLiteConverter` for the static-shape pipeline, builtin ops only.

    The variables are frozen into constants first (the converter's SavedModel
    importer keeps Keras variables as VAR_HANDLE/READ_VARIABLE, so spectral
    norm would run per call and XNNPACK would see non-constant conv weights),
    then saved as a variable-free SavedModel in `workdir` so the `.tflite`
    gets a named signature (`inpaint`, or `edges` for `stage="edges"`) with named inputs
    and outputs.
    """
    from edgeconnect_tf.memory import frozen_graph_def

    model = tflite_model(model, conv_mode)
    concrete = tflite_function(model, size, drawn_edges, stage).get_concrete_function()
    graph_def, inputs, outputs = frozen_graph_def(concrete, lower_control_flow=False)
    specs = concrete.structured_input_signature[0]

    def frozen(*tensors):  # the frozen graph, imported into the function being traced
        results = tf.graph_util.import_graph_def(
            graph_def, dict(zip(inputs, tensors, strict=True)), outputs, name="frozen"
        )
        return tf.nest.pack_sequence_as(concrete.structured_outputs, results)

    if drawn_edges:

        @tf.function(input_signature=specs, autograph=False)
        def frozen_pipeline(image, mask, edges):
            return frozen(image, mask, edges)

    else:

        @tf.function(input_signature=specs, autograph=False)
        def frozen_pipeline(image, mask):
            return frozen(image, mask)

    module = tf.Module()
    module.pipeline = frozen_pipeline
    path = os.path.join(workdir, "saved_model")
    name = TFLITE_EDGES_SIGNATURE if stage == "edges" else TFLITE_SIGNATURE
    with _quiet_absl():  # "unsaved custom gradients": inference graphs need none
        tf.saved_model.save(module, path, signatures={name: frozen_pipeline}, options=SAVE_OPTIONS)
        converter = tf.lite.TFLiteConverter.from_saved_model(path, signature_keys=[name])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = False
    return converter


def export_tflite(
    model,
    path,
    size=256,
    quantize="none",
    calibration=None,
    drawn_edges=False,
    conv_mode=None,
    check=None,
    stage=None,
):
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
        drawn_edges: a third input `edges` for drawn lines (see `tflite_function`); given
            a full edge map, the file runs G2 alone on it (the editor's in-page "Repaint").
        stage: "edges" for the G1-only file (signature `edges`: image, mask -> edges; the
            editor's in-page "Redraw edges"); None for the pipeline.
        check: for `int8`, (image, mask) pairs NOT in `calibration` (photos of the same
            kind): a UserWarning if the int8 file's mean hole PSNR against the float32
            file on them is below `INT8_MARGIN_DB` (default: the calibration pairs,
            which catches a broken conversion but not an unrepresentative calibration).
        conv_mode: "graph" (Winograd residual blocks in plain ops:
            STRIDED_SLICE/CONCATENATION/TRANSPOSE around BATCH_MATMUL/
            FULLY_CONNECTED; the 3×3 kernels are stored untransformed, so the
            file keeps its size) or "direct" (CONV_2D). Default (None):
            `TFLITE_CONV_MODE[quantize]`.

    Raises:
        ValueError: unknown `quantize`, `int8` without calibration data or with
            `drawn_edges`, or the converter needed an op outside TFLite's
            builtins (Flex).
    """
    if quantize not in QUANTIZE_MODES:
        raise ValueError(f"quantize must be one of {QUANTIZE_MODES}, got {quantize!r}")
    if (drawn_edges or stage) and quantize == "int8":
        raise ValueError("quantize='int8' is not available with drawn_edges or stage='edges'")
    h, w = _size_hw(size)
    workdir = tempfile.mkdtemp(prefix="edgeconnect_tflite_")
    try:
        conv_mode = TFLITE_CONV_MODE[quantize] if conv_mode is None else conv_mode
        converter = converter_for(model, (h, w), workdir, drawn_edges, conv_mode, stage)
        if quantize == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif quantize == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        elif quantize == "int8":
            pairs = _check_calibration(calibration, h, w)
        try:
            with _quiet_absl():
                flatbuffer = converter.convert()
        except Exception as e:  # the converter raises ConverterError and others
            raise ValueError(
                f"TFLite conversion with builtin ops only failed (no Flex ops allowed): {e}"
            ) from e
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if quantize == "int8":
        float_flatbuffer, flatbuffer = flatbuffer, quantize_int8(flatbuffer, pairs)
        checked = pairs if check is None else _check_calibration(check, h, w)
        loss = quantization_loss(float_flatbuffer, flatbuffer, checked)
        warn_below_margin(
            path, loss, "the calibration pairs" if check is None else "the check photos"
        )
    ops = tflite_ops(flatbuffer)
    flex = sorted(op for op in ops if op.startswith("Flex") or op == "CUSTOM")
    if flex:
        raise ValueError(f"the TFLite model needs non-builtin ops {flex}; refusing to write it")
    atomic_write(path, flatbuffer)
    return ops


@contextlib.contextmanager
def _quiet_absl():
    """absl's WARNING lines off while saving and converting: TensorFlow warns of "unsaved
    custom gradients" (the training-time gradient of instance norm, which an inference
    file does not need) and of untraced functions, nothing a user can
    act on. Errors still show."""
    from absl import logging as absl_logging

    level = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(level)


def warn_below_margin(path, loss, on):
    """A UserWarning when an int8 file's mean hole PSNR against float32 (`quantization_loss`
    on the pairs `on` names) is below `INT8_MARGIN_DB`."""
    if loss["mean_db"] < INT8_MARGIN_DB:
        warnings.warn(
            f"{path}: the int8 file's hole PSNR against float32 on {on} is "
            f"{loss['mean_db']:.1f} dB (worst {loss['worst_db']:.1f} dB), below the "
            f"{INT8_MARGIN_DB:g} dB margin: calibrate on more photos like the ones it will "
            "see, or ship the dynamic-range or float16 file",
            stacklevel=3,
        )


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


def signature_runner(model, threads=2):
    """The `inpaint` signature of a `.tflite` (path or flatbuffer bytes), LiteRT's Interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    source = (
        {"model_content": bytes(model)}
        if isinstance(model, (bytes, bytearray))
        else {"model_path": os.fspath(model)}
    )
    return Interpreter(**source, num_threads=threads).get_signature_runner(TFLITE_SIGNATURE)


def quantization_loss(reference, quantized, pairs):
    """Hole PSNR (dB) of `quantized`'s inpainted output against `reference`'s, per pair.

    `reference`, `quantized`: `.tflite` paths or flatbuffers; `pairs`: (image [H, W, 3],
    mask [H, W, 1]) float32 at the files' size. Returns {"mean_db", "worst_db", "db": [...]}.
    """
    ref, got = signature_runner(reference), signature_runner(quantized)
    scores = []
    for image, mask in pairs:
        a = ref(image=image[None], mask=mask[None])["inpainted"][0]
        b = got(image=image[None], mask=mask[None])["inpainted"][0]
        hole = mask[..., 0] > 0.5
        mse = float(np.mean((a[hole] - b[hole]) ** 2)) if hole.any() else 0.0
        scores.append(10 * np.log10(1.0 / max(mse, 1e-12)))
    return {"mean_db": float(np.mean(scores)), "worst_db": float(min(scores)), "db": scores}


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
    `edgeconnect_tf.data.masks.free_form_mask`.
    """
    from edgeconnect_tf.data.masks import free_form_mask

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


def load_photos(folder=None, names=SKIMAGE_PHOTOS):
    """Calibration photos as uint8 [H, W, 3] arrays from `folder` or scikit-image's `names`."""
    if folder:
        return [to_rgb_uint8(read_image(p), p) for p in list_images(folder, "--calibration")]
    try:
        import skimage.data
    except ImportError:
        raise ValueError(
            "--quantize int8 needs calibration photos: pass --calibration FOLDER "
            "(or install scikit-image for its sample photos)"
        ) from None
    return [np.asarray(getattr(skimage.data, name)()) for name in names]


def calibration_and_check(folder=None):
    """(calibration photos, check photos): every 4th photo of a folder of 4 or more is held
    out for the int8 check; scikit-image's defaults are checked on two other samples."""
    if not folder:
        return load_photos(), load_photos(names=SKIMAGE_CHECK_PHOTOS)
    photos = load_photos(folder)
    if len(photos) < 4:
        return photos, None  # too few to hold any out: checked on the calibration pairs
    return [p for k, p in enumerate(photos) if k % 4 != 3], photos[3::4]
