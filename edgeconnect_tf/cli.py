"""The `edgeconnect` command: convert, train, inpaint, eval, export, serve.

An absl app with argparse subcommands (absl's `argparse_flags`, so absl's own
flags such as --verbosity work too). Each subcommand forwards to the module
that does the work and returns its exit code; errors users can fix are one line.
"""

import argparse
import sys

from absl import app
from absl.flags import argparse_flags


def _convert(args):
    from edgeconnect_tf.convert import convert_command

    return convert_command(args.checkpoints, args.output, args.trust_pickle)


def _train(args):
    from edgeconnect_tf.train import train_command

    return train_command(args.train_args)


def _inpaint(args):
    from edgeconnect_tf.cli_inpaint import inpaint_command

    return inpaint_command(args)


def _eval(args):
    from edgeconnect_tf.cli_inpaint import eval_command

    return eval_command(args)


def _export(args):
    from edgeconnect_tf.cli_export import export_command

    return export_command(args)


def _serve(args):
    from edgeconnect_tf.serve import serve_command

    return serve_command(args)


def build_parser():
    parser = argparse_flags.ArgumentParser(
        prog="edgeconnect",
        description="EdgeConnect image inpainting (TensorFlow/Keras).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from edgeconnect_tf import convert

    p = sub.add_parser("convert", help="convert the authors' PyTorch checkpoints to Keras weights")
    convert.add_arguments(p)
    p.set_defaults(func=_convert)

    p = sub.add_parser(
        "train",
        help="train a stage: --config YAML --model edge|inpaint|edge_inpaint|joint [--key value]",
        add_help=False,
    )
    p.add_argument("train_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_train)

    from edgeconnect_tf.cli_export import add_export_arguments
    from edgeconnect_tf.cli_inpaint import add_eval_arguments, add_inpaint_arguments
    from edgeconnect_tf.serve import add_serve_arguments

    for name, add_arguments, func, text in (
        ("inpaint", add_inpaint_arguments, _inpaint, "fill holes in images"),
        ("eval", add_eval_arguments, _eval, "the paper's metrics on a dataset"),
        ("export", add_export_arguments, _export, "SavedModel / TFLite export"),
        ("serve", add_serve_arguments, _serve, "the browser editor and a REST endpoint"),
    ):
        add_arguments(sub.add_parser(name, help=text))
        sub.choices[name].set_defaults(func=func)
    return parser


def main(args):
    return args.func(args)


def run(argv=None):
    """Console-script entry point."""
    argv = list(sys.argv if argv is None else argv)
    if argv[1:2] == ["serve"] and "--static-only" in argv:  # the page alone: no TensorFlow
        from edgeconnect_tf.serve import static_only_main

        sys.exit(static_only_main(argv[2:]))
    app.run(main, argv=argv, flags_parser=lambda a: build_parser().parse_args(a[1:]))


if __name__ == "__main__":
    run()
