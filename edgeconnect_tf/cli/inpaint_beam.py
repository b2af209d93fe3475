"""`edgeconnect inpaint-beam`: `edgeconnect inpaint` as an Apache Beam pipeline (many images).

    edgeconnect inpaint-beam --weights DIR --input DIR --mask DIR --output DIR \\
        [--runner DirectRunner --direct_num_workers 4 --direct_running_mode multi_processing]

The same listing, pairing, output names and skip-existing rules as `edgeconnect
inpaint` (`jobs`), the same files byte for byte; see `edgeconnect_tf.beam`. Unlike
`inpaint`, which stops at the first bad file, a bad file goes to the dead-letter
folder (one NAME.txt per input, with the reason) and the rest carry on. Options
this command does not know are Beam pipeline options (`--runner DataflowRunner
--project P --region R --temp_location gs://...`) and go to the runner. A separate
command rather than `inpaint --runner`: it takes Beam's options, batches, and
reports failures instead of stopping, and its launcher never loads TensorFlow.
"""

import contextlib
import logging
import os

from edgeconnect_tf.cli import add_conv_mode_argument, error
from edgeconnect_tf.cli.inpaint import add_job_arguments
from edgeconnect_tf.files.io import is_url, isfile
from edgeconnect_tf.inpaint import InpaintError
from edgeconnect_tf.jobs import check_reference, check_weights, is_tflite, pending, plan_inpaint

DEAD_LETTER = "_failed"  # default dead-letter folder inside --output
accepts_pipeline_options = True  # unknown options are Beam's (cli.main)


def add_arguments(parser):
    from edgeconnect_tf.deploy import DEFAULT_MAX_PIXELS

    parser.epilog = (
        "Other options are Beam pipeline options, passed to the runner: --runner "
        "DirectRunner --direct_num_workers N --direct_running_mode multi_processing, or "
        "--runner DataflowRunner --project P --region R --temp_location gs://BUCKET/tmp."
    )
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--weights", help="weights directory (config.json, ...)")
    model.add_argument(
        "--saved-model", help="an `edgeconnect export` SavedModel version directory instead"
    )
    add_job_arguments(parser)
    add_conv_mode_argument(parser)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=8,
        help="images of one size per model call (default 8)",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse images above this many pixels, read from the header before decoding "
        f"(default {DEFAULT_MAX_PIXELS}, the SavedModel's)",
    )
    parser.add_argument(
        "--dead-letter",
        help=f"folder for one NAME.txt per failed input (default OUTPUT/{DEAD_LETTER})",
    )
    return parser


def uses_tensorflow(args):
    return False  # the workers load the model


def check(args):
    """Arguments, the model's files, listing and pairing, before anything starts.

    Returns (all jobs, jobs to run), kept on `args`. Headers are checked by the
    pipeline, so that one bad file among millions goes to the dead-letter folder.
    """
    if getattr(args, "planned", None) is None:
        try:
            with _beam_logs_hidden():  # its import warns about optional GCP libraries
                import apache_beam  # noqa: F401
        except ImportError:
            raise InpaintError(
                "inpaint-beam needs Apache Beam: pip install 'edgeconnect-tf[beam]'"
            ) from None
        for name in ("batch_size", "max_pixels"):
            if getattr(args, name) < 1:
                flag = "--" + name.replace("_", "-")
                raise InpaintError(f"{flag} must be a positive integer, got {getattr(args, name)}")
        check_reference(args.reference, args.tiling, edges=args.edges)
        if args.reference and args.saved_model:
            raise InpaintError("--reference runs the weights' test() path: use --weights")
        if args.weights and is_url(args.weights):
            raise InpaintError(
                f"--weights {args.weights}: a weights directory must be local; for workers "
                "that share no disk, `edgeconnect export` a SavedModel, copy it to the "
                "object store and pass --saved-model URL"
            )
        elif args.weights and is_tflite(args.weights):
            raise InpaintError(
                f"--weights {args.weights}: the pipeline runs a weights directory or a "
                "SavedModel (--saved-model); a .tflite file runs with `edgeconnect inpaint`"
            )
        elif args.weights:
            check_weights(args.weights)
        elif not isfile(os.path.join(args.saved_model, "saved_model.pb")):
            raise InpaintError(f"--saved-model {args.saved_model} holds no saved_model.pb")
        _check_pipeline_options(args.pipeline_args)
        jobs = plan_inpaint(args.input, args.mask, args.output, args.edges, args.save_edges)
        args.planned = jobs, pending(jobs, args.overwrite)
    return args.planned


def _check_pipeline_options(pipeline_args):
    """Refuses options that are neither this command's nor Beam's (a typo would be ignored)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    with _beam_logs_hidden():  # "Discarding unparseable args": said below, in one line
        options = PipelineOptions(list(pipeline_args))
        known = options.get_all_options()
        unknown = set(options.get_all_options(retain_unknown_options=True)) - set(known)
    if unknown:
        shown = ", ".join("--" + name for name in sorted(unknown))
        raise InpaintError(f"unrecognized arguments: {shown} (not a Beam pipeline option either)")


@contextlib.contextmanager
def _beam_logs_hidden():
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def main(args):
    """Runs the pipeline; returns 0 when every job finished, 1 if any failed."""
    from edgeconnect_tf.beam import Settings, run

    args.pipeline_args = getattr(args, "pipeline_args", [])
    try:
        jobs, todo = check(args)
    except (ValueError, OSError) as e:
        return error("inpaint-beam", e)
    if not todo:
        print(f"nothing to do: all {len(jobs)} output(s) exist in {args.output} (--overwrite)")
        return 0
    settings = Settings(
        weights=args.weights,
        saved_model=args.saved_model,
        conv_mode=args.conv_mode,
        tiling=args.tiling,
        resize_mask=args.resize_mask,
        reference=args.reference,
        max_pixels=args.max_pixels,
        batch_size=args.batch_size,
        overwrite=args.overwrite,
        output=args.output,
        dead_letter=args.dead_letter or os.path.join(args.output, DEAD_LETTER),
    )
    counts = run(todo, settings, args.pipeline_args)
    message = f"wrote {counts['written']} image(s) to {args.output}"
    skipped = len(jobs) - len(todo) + counts["skipped"]
    if skipped:
        message += f"; skipped {skipped} with existing output (use --overwrite to redo them)"
    print(message)
    if counts["failed"]:
        return error(
            "inpaint-beam", f"{counts['failed']} image(s) failed: see {settings.dead_letter}"
        )
    return 0
