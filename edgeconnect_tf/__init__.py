"""EdgeConnect image inpainting (Nazeri et al. 2019) in TensorFlow 2 / Keras 3.

from edgeconnect_tf import EdgeConnect
model = EdgeConnect.from_pretrained("weights/places2")
result, edges = model.inpaint(image, mask)

`edgeconnect_tf.inpaint` is the numpy API's module (`inpaint.inpaint(model,
image, mask)`, what `EdgeConnect.inpaint` calls). The names below are imported
on first use, so that importing the package (the command line's `--help`,
`edgeconnect serve --static-only`, the numpy-only modules) does not start
TensorFlow.
"""

import importlib
import sys
import types

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
    "canny": "canny",
    "load_config": "config",
    "train": "train",
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


class _Package(types.ModuleType):
    def __setattr__(self, name, value):
        # Importing a submodule binds it to its name (edgeconnect_tf.canny, .train): the
        # public function of that name keeps it, as when these names were imported eagerly.
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
