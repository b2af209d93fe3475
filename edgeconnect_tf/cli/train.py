"""`edgeconnect train`: one EdgeConnect stage from a config, any key overridable.

    edgeconnect train --config places2 --model edge --train_flist data/train --batch_size 4

--config is a YAML file or a shipped configuration (places2, celeba, psv,
quickstart). Every configuration key is an option (`--KEY VALUE`, typed and
checked by `Config`). A restarted run resumes from its last checkpoint. The
paper's order: edge and inpaint (independently), then edge_inpaint with
--pretrained EDGE_RUN/weights,INPAINT_RUN/weights, then joint.

Exit codes: 0 trained; 1 diverged (NaN); 2 a usage or configuration error (one
line on stderr); 130 interrupted (run the same command again to resume).
"""

import argparse
import dataclasses
import json
import sys

from edgeconnect_tf.cli import error
from edgeconnect_tf.training.config import Config, ConfigError, load_config


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--config", "-c", help="YAML file or shipped name (default: defaults)")
    for field in dataclasses.fields(Config):
        default = field.default_factory() if callable(field.default_factory) else field.default
        choices = field.metadata.get("choices")
        names = [f"--{field.name}"]
        if "_" in field.name:
            names.append(f"--{field.name.replace('_', '-')}")
        if field.name == "model":
            names.append("-m")
        parser.add_argument(
            *names,
            dest=field.name,
            default=argparse.SUPPRESS,  # only the keys given override the config file
            nargs="?" if field.type is bool else None,
            const="true" if field.type is bool else None,
            metavar="{" + ",".join(map(str, choices)) + "}" if choices else field.name.upper(),
            help=f"{field.metadata['help']} (default: {default!r})",
        )


def config_from_args(args):
    """The `Config` of parsed arguments: --config's file, then the keys given."""
    overrides = {k: v for k, v in vars(args).items() if k in Config.__dataclass_fields__}
    return load_config(args.config, overrides)


def main(args):
    from edgeconnect_tf import weights
    from edgeconnect_tf.training import callbacks
    from edgeconnect_tf.training.train import TrainError, train

    try:
        result = train(config_from_args(args))
    except (ConfigError, TrainError, weights.WeightsError) as e:
        return error("train", e, code=2)
    except callbacks.TrainingDivergedError as e:
        print(f"edgeconnect train: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "\nInterrupted. Run the same command again to resume from the last checkpoint.",
            file=sys.stderr,
        )
        return 130
    print(json.dumps({"step": result.step, "weights": result.weights_dir}))
    return 0
