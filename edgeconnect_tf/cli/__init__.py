"""The `edgeconnect` command: one argparse parser, one module per subcommand.

Each module in this package defines `add_arguments(parser)` and `main(args) ->
exit code` (and `uses_tensorflow(args)` where it may not), parses nothing by
hand, and imports TensorFlow only inside `main`, so `edgeconnect --help` and
`edgeconnect COMMAND --help` answer at once. A module that sets
`accepts_pipeline_options` gets the options argparse does not know as
`args.pipeline_args` (Beam's `--runner ...`). A module's `check(args)`, where it
has one, runs before TensorFlow is imported, so path and argument errors come at
once. Errors a user can fix end in one line on stderr (`error`) and a non-zero
exit code.

TensorFlow's C++ start-up lines (oneDNN notices, CUDA stubs, "failed call to
cuInit" on CPU machines) are hidden unless the user set TF_CPP_MIN_LOG_LEVEL.
"""

import argparse
import difflib
import importlib
import sys

from edgeconnect_tf.startup import quiet_tensorflow

COMMANDS = {
    "convert": "convert the authors' PyTorch checkpoints to Keras weights",
    "train": "train a stage: --config YAML --model edge|inpaint|edge_inpaint|joint [--KEY VALUE]",
    "inpaint": "fill holes in images",
    "inpaint-beam": "fill holes in many images with Apache Beam (local or Dataflow)",
    "eval": "the paper's metrics on a dataset",
    "export": "SavedModel / TFLite export",
    "serve": "the browser editor and a REST endpoint",
}
MODULES = {"eval": "evaluate", "inpaint-beam": "inpaint_beam"}  # modules of other names


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a "did you mean" for a mistyped option and no abbreviations (a prefix
    of one option must not silently become another: `--model` is not `--models`)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        if message.startswith("unrecognized arguments:"):  # reported by the top parser
            parsers = [self, *getattr(self, "commands", {}).values()]
            known = [s for p in parsers for a in p._actions for s in a.option_strings]
            for word in message.split(":", 1)[1].split():
                close = difflib.get_close_matches(word.split("=")[0], known, n=1)
                if close:
                    message += f" (did you mean {close[0]}?)"
                    break
        super().error(message)


def error(command, message, code=1):
    """Prints `edgeconnect COMMAND: error: MESSAGE` as one line on stderr; returns `code`."""
    print(f"edgeconnect {command}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return code


def command_module(name):
    return importlib.import_module(f"edgeconnect_tf.cli.{MODULES.get(name, name)}")


def build_parser():
    parser = ArgumentParser(
        prog="edgeconnect", description="EdgeConnect image inpainting (TensorFlow/Keras)."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.commands = sub.choices
    for name, text in COMMANDS.items():
        module = command_module(name)
        command = sub.add_parser(name, help=text, description=module.__doc__.split("\n\n")[0])
        module.add_arguments(command)
        uses_tensorflow = getattr(module, "uses_tensorflow", lambda args: True)
        command.set_defaults(
            main=module.main, check=getattr(module, "check", None), uses_tensorflow=uses_tensorflow
        )
    return parser


def add_conv_mode_argument(parser, choices=None, default="graph", default_help=None):
    """`--conv-mode MODE` (`edgeconnect_tf.nn.conv_mode`), the same option in every command;
    `default_help` says what a `default` of None means."""
    from edgeconnect_tf.nn.conv_mode import CONV_MODES, DESCRIPTIONS, HELP

    choices = choices or CONV_MODES
    modes = ", ".join(f"{mode} ({DESCRIPTIONS[mode]})" for mode in choices)
    parser.add_argument(
        "--conv-mode",
        choices=choices,
        default=default,
        help=f"{HELP}: {modes} (default {default_help or default})",
    )


class _Renamed(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is now {self.default}")


def add_renamed_argument(parser, old, new):
    """A hidden option `old` that fails, naming `new` (the option's name now)."""
    parser.add_argument(old, action=_Renamed, default=new, nargs="?", help=argparse.SUPPRESS)


def main(argv=None):
    """Runs `edgeconnect ARGV...`; returns the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(command_module(args.command), "accepts_pipeline_options", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.pipeline_args = extra  # a Beam command's pipeline options (`--runner ...`)
    if args.check is not None:  # before TensorFlow's ~3 s start
        try:
            args.check(args)
        except (ValueError, OSError) as e:
            return error(args.command, e)
    if args.uses_tensorflow(args):
        quiet_tensorflow()
    try:
        return args.main(args)
    except KeyboardInterrupt:
        print("\nedgeconnect: interrupted", file=sys.stderr)
        return 130


def run():
    """Console-script entry point."""
    sys.exit(main())
