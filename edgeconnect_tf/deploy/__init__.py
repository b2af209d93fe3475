"""Deployment artifacts: `saved_model` for TensorFlow Serving, `tflite` for devices."""
