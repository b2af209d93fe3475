"""EdgeConnect image inpainting (Nazeri et al. 2019) in TensorFlow 2 / Keras 3.

from edgeconnect_tf import EdgeConnect
model = EdgeConnect.from_pretrained("weights/places2")
result, edges = model.inpaint(image, mask)

The package, by role (a module imports only from its own level or below):

- `nn/`: building blocks (layers, `TorchSpectralNorm`, instance norm, conv modes);
- `data/`: Canny edges, masks, image operations, the tf.data pipeline;
- `files/`: listing and reading images, headers, atomic writes;
- `networks`, `weights`, `convert`, `edgeconnect`, `inpaint`, `jobs`: the model,
  its files and running it;
- `training/`: config, stages, losses, optimizers, callbacks, `train`;
- `evaluation/`: the paper's metrics and `eval`;
- `deploy/`, `serving/`, `editor/`, `beam`, `demo`: applications; `cli/`: the command.

The names below are imported on first use, so that importing the package (the
command line's `--help`, `edgeconnect serve --static-only`, the numpy-only
modules) does not start TensorFlow.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Config": "training.config",
    "ConfigError": "training.config",
    "ConvertError": "convert",
    "Discriminator": "networks",
    "EdgeConnect": "edgeconnect",
    "EdgeGenerator": "networks",
    "EdgeInpaintModel": "training.stages",
    "EdgeModel": "training.stages",
    "ImageFileError": "files.io",
    "InpaintError": "inpaint",
    "InpaintGenerator": "networks",
    "InpaintModel": "training.stages",
    "TFLiteModel": "deploy.tflite_runner",
    "TorchAdam": "training.optimizers",
    "TorchSpectralNorm": "nn.spectral_norm",
    "TrainError": "training.train",
    "WeightsError": "weights",
    "build_dataset": "data.dataset",
    "load_config": "training.config",
    "train": "training.train",
}
_RENAMED = {"SpectralNormalization": "TorchSpectralNorm"}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _RENAMED:
        raise AttributeError(
            f"edgeconnect_tf.{name} is now edgeconnect_tf.{_RENAMED[name]} "
            f"(keras.layers.{name} is Keras' own layer, which behaves differently)"
        )
    if name not in _EXPORTS:
        raise AttributeError(f"module 'edgeconnect_tf' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"edgeconnect_tf.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *__all__])
