"""`edgeconnect convert`: the authors' PyTorch checkpoints -> a Keras weights directory.

edgeconnect convert --checkpoints checkpoints/places2 --output weights/places2
"""

from edgeconnect_tf.cli import error


def add_arguments(parser):
    parser.add_argument(
        "--checkpoints",
        required=True,
        help="directory with EdgeModel_gen.pth and InpaintingModel_gen.pth (and *_dis.pth)",
    )
    parser.add_argument("--output", required=True, help="weights directory to write")
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow a full unpickle of checkpoints holding non-tensor objects (runs their code)",
    )


def main(args):
    """Converts; prints one line; returns 0, or 1 for a file that is not what was expected."""
    from edgeconnect_tf.convert import ConvertError, convert_checkpoints, one_line

    try:
        info = convert_checkpoints(args.checkpoints, args.output, trust_pickle=args.trust_pickle)
    except (ConvertError, OSError) as e:
        return error("convert", one_line(e, 1000))
    print(
        f"wrote {args.output}: {', '.join(info['networks'])} "
        f"(residual_blocks={info['residual_blocks']}, filters={info['filters']}, "
        f"iteration={info['iteration']})"
    )
    return 0
