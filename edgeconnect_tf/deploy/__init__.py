"""Deployment artifacts: `saved_model` for TensorFlow Serving, `tflite` for devices.

This file imports no TensorFlow, so the command line can read the choices.
"""

QUANTIZE_MODES = ("none", "float16", "dynamic", "int8")  # TFLite variants
# Most pixels of one request's images together (N·H·W of a tensor input, the files' H·W).
# Full-size networks, CPU, peak RSS of a process running `serving_default` (measured,
# TF 2.21): 2.1 GiB at 1024², 4.1 GiB at 2048². `export_saved_model(max_pixels=...)`,
# `edgeconnect export --max-pixels`.
DEFAULT_MAX_PIXELS = 2048 * 2048
