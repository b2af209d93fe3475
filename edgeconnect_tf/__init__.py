"""EdgeConnect image inpainting (Nazeri et al. 2019) in TensorFlow 2 / Keras 3.

from edgeconnect_tf import EdgeConnect
model = EdgeConnect.from_pretrained("weights/places2")
result, edges = model.inpaint(image, mask)
"""

__version__ = "0.1.0"

import importlib
import sys
import types

# Imported on first use, so that `edgeconnect serve --static-only` never loads TensorFlow.
_EXPORTS = {
    "canny": "edgeconnect_tf.canny",
    "Config": "edgeconnect_tf.config",
    "load_config": "edgeconnect_tf.config",
    "build_dataset": "edgeconnect_tf.dataset",
    "EdgeConnect": "edgeconnect_tf.edgeconnect",
    "InpaintError": "edgeconnect_tf.inference",
    "inpaint": "edgeconnect_tf.inference",
    "EdgeInpaintModel": "edgeconnect_tf.models",
    "EdgeModel": "edgeconnect_tf.models",
    "InpaintModel": "edgeconnect_tf.models",
    "Discriminator": "edgeconnect_tf.networks",
    "EdgeGenerator": "edgeconnect_tf.networks",
    "InpaintGenerator": "edgeconnect_tf.networks",
    "SpectralNormalization": "edgeconnect_tf.spectral_norm",
    "train": "edgeconnect_tf.train",
}

__all__ = [
    "Config",
    "Discriminator",
    "EdgeConnect",
    "EdgeGenerator",
    "EdgeInpaintModel",
    "EdgeModel",
    "InpaintError",
    "InpaintGenerator",
    "InpaintModel",
    "SpectralNormalization",
    "build_dataset",
    "canny",
    "inpaint",
    "load_config",
    "train",
]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edgeconnect_tf' has no attribute {name!r}")


class _Package(types.ModuleType):
    def __setattr__(self, name, value):
        # Importing a submodule binds it to its name (edgeconnect_tf.canny, .train): the public
        # function of that name keeps it, as it did when these names were imported eagerly.
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
