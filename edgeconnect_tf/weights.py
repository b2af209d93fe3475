"""The on-disk weights directory: what `convert` and training write, what loaders read.

Layout of a weights directory:
    config.json                       {"format": 1, "residual_blocks": 8, "filters": 64, ...}
    edge_generator.weights.h5         G1 (required)
    inpaint_generator.weights.h5      G2 (required)
    edge_discriminator.weights.h5     D1 (optional, for fine-tuning)
    inpaint_discriminator.weights.h5  D2 (optional, for fine-tuning)

Files are written to a temporary name and renamed, so a crash never leaves a
half-written file under the final name. Keras loads on first use of a network,
so the command line checks a directory (`read_config`) before TensorFlow starts.
"""

import json
import os

import numpy as np

from edgeconnect_tf.files.io import atomic_path, atomic_write

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
FILES = {
    "edge_generator": "edge_generator.weights.h5",
    "inpaint_generator": "inpaint_generator.weights.h5",
    "edge_discriminator": "edge_discriminator.weights.h5",
    "inpaint_discriminator": "inpaint_discriminator.weights.h5",
}
REQUIRED = ("edge_generator", "inpaint_generator")


class WeightsError(ValueError):
    """A weights directory is missing, incomplete or malformed."""


INPUT_CHANNELS = {
    "edge_generator": 3,
    "inpaint_generator": 4,
    "edge_discriminator": 2,
    "inpaint_discriminator": 3,
}


def build_networks(
    residual_blocks=8,
    filters=64,
    gan_loss="nsgan",
    names=tuple(FILES),
    conv_mode="direct",
    hole_fill="white",
):
    """Fresh networks with their variables created (each called once on zeros).

    Returns a dict from the requested `names` (edge_generator, inpaint_generator,
    edge_discriminator with 2 input channels, inpaint_discriminator with 3);
    the generators compute in `conv_mode` (`edgeconnect_tf.nn.conv_mode`).
    """
    from edgeconnect_tf.networks import Discriminator, EdgeGenerator, InpaintGenerator

    use_sigmoid = gan_loss != "hinge"
    size = {"residual_blocks": residual_blocks, "filters": filters, "conv_mode": conv_mode}
    make = {
        "edge_generator": lambda: EdgeGenerator(**size),
        "inpaint_generator": lambda: InpaintGenerator(**size, hole_fill=hole_fill),
        "edge_discriminator": lambda: Discriminator(filters, use_sigmoid=use_sigmoid),
        "inpaint_discriminator": lambda: Discriminator(filters, use_sigmoid=use_sigmoid),
    }
    nets = {}
    for name in names:
        nets[name] = make[name]()
        nets[name](np.zeros((1, 32, 32, INPUT_CHANNELS[name]), "float32"))
    return nets


def save_networks(directory, networks, **metadata):
    """Writes `networks` (a subset of build_networks' keys) and config.json to `directory`.

    `metadata` (JSON-serializable, e.g. residual_blocks, filters, iteration) goes
    into config.json; `residual_blocks` and `filters` are read from G1/G2 if absent.
    """
    os.makedirs(directory, exist_ok=True)
    unknown = set(networks) - set(FILES)
    if unknown:
        raise ValueError(f"unknown network names {sorted(unknown)}; expected some of {list(FILES)}")
    gen = networks.get("edge_generator") or networks.get("inpaint_generator")
    config = {"format": FORMAT_VERSION}
    if gen is not None:
        config.update(residual_blocks=gen.residual_blocks, filters=gen.filters)
    if "inpaint_generator" in networks:
        config.update(hole_fill=networks["inpaint_generator"].hole_fill)
    config.update(metadata)
    for key, net in networks.items():
        with atomic_path(os.path.join(directory, FILES[key])) as tmp:
            net.save_weights(tmp)
    atomic_write(os.path.join(directory, CONFIG_FILE), json.dumps(config, indent=2))


def read_config(directory):
    """config.json of a weights directory as a dict; WeightsError naming what is wrong."""
    if not os.path.isdir(directory):
        raise WeightsError(f"weights directory {directory!r} does not exist")
    path = os.path.join(directory, CONFIG_FILE)
    if not os.path.isfile(path):
        raise WeightsError(
            f"{path} is missing: not a weights directory (run `edgeconnect convert` on the "
            "official checkpoints, or point at a training run's weights directory)"
        )
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise WeightsError(f"{path} is not valid JSON: {e}") from None
    if config.get("format") != FORMAT_VERSION:
        raise WeightsError(f"{path}: format {config.get('format')!r}, expected {FORMAT_VERSION}")
    return config


def load_networks(directory, names=REQUIRED, gan_loss="nsgan", conv_mode="direct"):
    """Builds the networks named in `names` and loads their weights from `directory`.

    Returns (networks dict, config dict); generators in `conv_mode`. Raises
    WeightsError naming the missing or unreadable file.
    """
    config = read_config(directory)
    nets = build_networks(
        config.get("residual_blocks", 8),
        config.get("filters", 64),
        gan_loss,
        names,
        conv_mode,
        config.get("hole_fill", "white"),
    )
    for name in names:
        path = os.path.join(directory, FILES[name])
        if not os.path.isfile(path):
            raise WeightsError(f"{path} is missing ({name.replace('_', ' ')} weights)")
        try:
            nets[name].load_weights(path)
        except Exception as e:  # h5py/keras raise many types for a bad file
            raise WeightsError(f"{path} could not be loaded: {e}") from None
    return nets, config
