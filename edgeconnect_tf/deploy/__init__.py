"""Deployment artifacts: `saved_model` for TensorFlow Serving, `tflite` for devices.

This file imports no TensorFlow, so the command line can read the choices.
"""

QUANTIZE_MODES = ("none", "float16", "dynamic", "int8")  # TFLite variants
