"""Deployment artifacts: `saved_model` for TensorFlow Serving, `tflite` for devices.

This file imports no TensorFlow, so the command line can read the choices.
"""

QUANTIZE_MODES = ("none", "float16", "dynamic", "int8")  # TFLite variants
# Most pixels the networks run on at once (N·H·W of a tensor input, H·W of each file).
# Full-size networks, CPU, peak RSS of a process running `serving_default` (measured,
# TF 2.21): 2.1 GiB at 1024², 4.1 GiB at 2048². `export_saved_model(max_pixels=...)`,
# `edgeconnect export --max-pixels`.
DEFAULT_MAX_PIXELS = 2048 * 2048
# int8 export: warn below this mean hole PSNR (dB) of the int8 file against the float32
# one on photos it was not calibrated on (deploy/tflite.py states the measurements).
INT8_MARGIN_DB = 25.0
