"""EdgeConnect image inpainting (Nazeri et al. 2019) in TensorFlow 2 / Keras 3.

from edgeconnect_tf import EdgeConnect
model = EdgeConnect.from_pretrained("weights/places2")
result, edges = model.inpaint(image, mask)

Modules are named after concepts and their functions live in them
(`edgeconnect_tf.canny.canny`, `edgeconnect_tf.train.train`,
`edgeconnect_tf.inpaint.inpaint`); the package exports classes and the few
functions whose names no module has. They are imported on first use, so that
importing the package (the command line's `--help`, `edgeconnect serve
--static-only`, the numpy-only modules) does not start TensorFlow.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Config": "config",
    "Discriminator": "networks",
    "EdgeConnect": "edgeconnect",
    "EdgeGenerator": "networks",
    "EdgeInpaintModel": "models",
    "EdgeModel": "models",
    "InpaintError": "inpaint",
    "InpaintGenerator": "networks",
    "InpaintModel": "models",
    "SpectralNormalization": "spectral_norm",
    "build_dataset": "dataset",
    "load_config": "config",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'edgeconnect_tf' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"edgeconnect_tf.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *__all__])
