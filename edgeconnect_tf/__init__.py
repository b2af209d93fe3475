"""EdgeConnect image inpainting (Nazeri et al. 2019) in TensorFlow 2 / Keras 3.

from edgeconnect_tf import EdgeConnect
model = EdgeConnect.from_pretrained("weights/places2")
result, edges = model.inpaint(image, mask)
"""

__version__ = "0.1.0"

from edgeconnect_tf.canny import canny
from edgeconnect_tf.config import Config, load_config
from edgeconnect_tf.dataset import build_dataset
from edgeconnect_tf.edgeconnect import EdgeConnect
from edgeconnect_tf.inference import InpaintError, inpaint
from edgeconnect_tf.models import EdgeInpaintModel, EdgeModel, InpaintModel
from edgeconnect_tf.networks import Discriminator, EdgeGenerator, InpaintGenerator
from edgeconnect_tf.spectral_norm import SpectralNormalization
from edgeconnect_tf.train import train

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
