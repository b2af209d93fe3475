"""Deployment artifacts: `saved_model` for TensorFlow Serving, `tflite` for devices.

This file imports no TensorFlow, so the command line can read the choices.
"""

QUANTIZE_MODES = ("none", "float16", "dynamic", "int8")  # TFLite variants
# The generators' conv mode in a .tflite file of each variant (`export_tflite(conv_mode=None)`):
# "graph" (Winograd blocks in plain ops) is 1.3-1.5x faster with XNNPACK in float
# (bench/RESULTS.md); int8 kernels need constant weights, and the Winograd products' are
# computed at run time, so the int8 variants stay "direct".
TFLITE_CONV_MODE = {"none": "graph", "float16": "graph", "dynamic": "direct", "int8": "direct"}
# Most pixels of one request's images together (N·H·W of a tensor input, the files' H·W);
# peak memory per size: bench/RESULTS.md, "Serving memory". `export_saved_model(max_pixels=...)`,
# `edgeconnect export --max-pixels`.
DEFAULT_MAX_PIXELS = 2048 * 2048
# int8 export: warn below this mean hole PSNR (dB) of the int8 file against the float32
# one on photos it was not calibrated on (deploy/tflite.py states the measurements).
INT8_MARGIN_DB = 25.0


def tflite_name(size, quantize, drawn_edges=False, stage=None):
    """File name for one TFLite variant, e.g. edgeconnect_256x256_float16[_edges].tflite;
    `stage="edges"` (G1 only): edgeconnect_256x256_float16_g1.tflite."""
    h, w = (size, size) if isinstance(size, int) else size
    label = "float32" if quantize == "none" else quantize
    suffix = "_g1" if stage == "edges" else "_edges" if drawn_edges else ""
    return f"edgeconnect_{h}x{w}_{label}{suffix}.tflite"


def __getattr__(name):  # the exporters, imported (with TensorFlow) on first use
    if name == "export_saved_model":
        from edgeconnect_tf.deploy.saved_model import export_saved_model

        return export_saved_model
    if name == "export_tflite":
        from edgeconnect_tf.deploy.tflite import export_tflite

        return export_tflite
    raise AttributeError(f"module 'edgeconnect_tf.deploy' has no attribute {name!r}")
