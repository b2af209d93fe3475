"""Batch inpainting on Apache Beam: `edgeconnect inpaint`'s job over many workers.

    pipeline = build_pipeline(todo, Settings(weights="w/"), options)

The launcher plans the jobs with `jobs` (the listing, pairing, output names
and skip-existing rules of `edgeconnect inpaint`) and the pipeline runs:

    jobs -> check headers (size, pixel limit; nothing decoded)
         -> group by image size, chunks of `batch_size` -> reshuffle over workers
         -> decode, plan the model calls -> RunInference (same-size calls stacked
            into one [B, H, W, C] tensor) -> composite, encode, atomic write
    any failure -> dead-letter: DEAD_LETTER/NAME.txt with the file and the reason

Every image goes through `inpaint.inpaint` exactly as in `edgeconnect inpaint`,
so the files are byte for byte the same (`jobs.encoded_outputs`). To batch it,
`inpaint` runs twice per image: first with `_Recorder` standing in for the
model (it records each call's inputs; which calls `inpaint` makes depends on
the image and mask only, never on the model's answers), then, after the
batched model run, with `_Replayer` handing back those calls' outputs in order.
A failing image or batch never stops the pipeline: it is logged and written to
the dead-letter folder. Outputs are written atomically (`io.atomic_write`), and
a retried bundle skips what a previous attempt finished. The model loads once
per worker process (`EdgeConnectModelHandler.load_model`, logged with its time).

Input, mask, output and dead-letter folders are local paths or URLs of any
`tf.io.gfile` filesystem (gs://bucket/in): every read, existence check and
write goes through `io`. Needs the `beam` extra: pip install "edgeconnect-tf[beam]".
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import time
import warnings

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference

from edgeconnect_tf.files.io import atomic_write, exists, read_image, relative_path, remove
from edgeconnect_tf.inpaint import inpaint
from edgeconnect_tf.jobs import check_job, encoded_outputs

log = logging.getLogger("edgeconnect.beam")
FAILED = "failed"  # the dead-letter output's tag
NAMESPACE = "edgeconnect"  # Beam metrics: images_written, images_skipped, images_failed


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every worker needs: the model and `inpaint`'s options (picklable)."""

    weights: str | None = None  # a weights directory (`EdgeConnect.from_pretrained`)
    saved_model: str | None = None  # or an exported SavedModel (`deploy.saved_model`)
    conv_mode: str = "graph"  # the CLI's --conv-mode value, passed to `EdgeConnect.from_pretrained`
    tiling: str = "auto"
    resize_mask: bool = False
    reference: bool = False
    max_pixels: int | None = None  # per image, from its header, before decoding
    batch_size: int = 8
    overwrite: bool = False
    output: str = ""  # the output directory (dead-letter names are relative to it)
    dead_letter: str = ""  # the dead-letter directory


@dataclasses.dataclass
class Prepared:
    """One decoded job and the model calls `inpaint` makes for it (see the module doc)."""

    job: object  # jobs.InpaintJob
    image: np.ndarray | None = None
    mask: np.ndarray | None = None
    edges: np.ndarray | None = None
    calls: list = dataclasses.field(default_factory=list)  # [(inputs dict, reference)]
    error: str | None = None


# --------------------------------------------------------------------------- record / replay


class _Recorder:
    """Stands in for the model: records each call's inputs, answers zeros of the right shape."""

    def __init__(self):
        self.calls = []

    def __call__(self, inputs, training=False, reference=False):
        self.calls.append((inputs, reference))
        batch, height, width, _ = inputs["image"].shape
        return {
            "inpainted": np.zeros((batch, height, width, 3), np.float32),
            "edges": np.zeros((batch, height, width, 1), np.float32),
        }


class _Replayer:
    """Stands in for the model: hands back recorded outputs in call order."""

    def __init__(self, outputs):
        self._outputs = iter(outputs)

    def __call__(self, inputs, training=False, reference=False):
        return next(self._outputs)


def _inpaint(model, prepared, settings):
    """`inpaint.inpaint` on a prepared job; returns (result, edge map, warning messages)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        result, edge_map = inpaint(
            model,
            prepared.image,
            prepared.mask,
            prepared.edges,
            tiling=settings.tiling,
            resize_mask=settings.resize_mask,
            reference=settings.reference,
        )
    return result, edge_map, [str(w.message) for w in caught]


# --------------------------------------------------------------------------- model


class _SavedModelCaller:
    """An exported SavedModel called like `EdgeConnect` (its serving_default /
    inpaint_with_edges signatures take and return the same tensors)."""

    def __init__(self, directory):
        import tensorflow as tf

        self._tf = tf
        self._loaded = tf.saved_model.load(directory)

    def __call__(self, inputs, training=False, reference=False):
        if reference:
            raise ValueError("--reference runs the weights' test() path: use --weights")
        name = "inpaint_with_edges" if "edges" in inputs else "serving_default"
        tensors = {k: self._tf.constant(v) for k, v in inputs.items()}
        out = self._loaded.signatures[name](**tensors)
        return {"inpainted": out["inpainted"].numpy(), "edges": out["edges"].numpy()}


def _bounded(model):
    """`model` run as frozen graphs in sessions replaced every `memory.DEFAULT_MAX_SHAPES`
    new input shapes: a worker sees many image sizes, and TensorFlow's oneDNN kernels keep
    state per shape that only a new session frees (`edgeconnect_tf.memory`)."""
    from edgeconnect_tf.memory import BoundedModel

    if isinstance(model, _SavedModelCaller):
        signatures = model._loaded.signatures
        return BoundedModel(
            model,
            lambda with_edges: signatures[
                "inpaint_with_edges" if with_edges else "serving_default"
            ],
        )
    return BoundedModel.of_edgeconnect(model)


class EdgeConnectModelHandler(ModelHandler):
    """RunInference's handler: examples are `Prepared` jobs of one image size (pre-batched
    by the pipeline); each model call shape is stacked into one tensor and run once.

    Returns one PredictionResult per job whose inference is the list of its calls'
    outputs, or an error message (a failing batch fails its jobs, not the pipeline).
    """

    def __init__(self, settings):
        super().__init__()
        self.settings = settings

    def load_model(self):
        from edgeconnect_tf.startup import quiet_tensorflow

        quiet_tensorflow()
        start = time.perf_counter()
        if self.settings.saved_model:
            model = _SavedModelCaller(self.settings.saved_model)
        else:
            from edgeconnect_tf.edgeconnect import EdgeConnect

            model = EdgeConnect.from_pretrained(
                self.settings.weights, conv_mode=self.settings.conv_mode
            )
        source = self.settings.saved_model or self.settings.weights
        log.info("loaded %s in %.2f s (pid %d)", source, time.perf_counter() - start, os.getpid())
        return _bounded(model)

    def run_inference(self, batch, model, inference_args=None):
        outputs = [[None] * len(p.calls) for p in batch]
        errors = [p.error for p in batch]
        groups = collections.defaultdict(list)  # one tensor per (shape, edges, reference)
        for i, prepared in enumerate(batch):
            for j, (inputs, reference) in enumerate(prepared.calls):
                key = (inputs["image"].shape[1:], "edges" in inputs, reference)
                groups[key].append((i, j))
        for (_, _, reference), members in groups.items():
            first = batch[members[0][0]].calls[members[0][1]][0]
            stacked = {
                name: np.concatenate([batch[i].calls[j][0][name] for i, j in members])
                for name in first
            }
            try:
                out = model(stacked, training=False, **({"reference": True} if reference else {}))
                out = {name: np.asarray(out[name]) for name in ("inpainted", "edges")}
            except Exception as e:  # noqa: BLE001  any failure of a batch: its jobs fail, logged
                for i, _ in members:
                    errors[i] = errors[i] or f"model failed on a batch of {len(members)}: {e}"
                continue
            for k, (i, j) in enumerate(members):
                outputs[i][j] = {name: value[k : k + 1] for name, value in out.items()}
        return [
            PredictionResult(p, e if e is not None else o)
            for p, o, e in zip(batch, outputs, errors, strict=True)
        ]

    def get_num_bytes(self, batch):
        return sum(
            v.nbytes for p in batch for inputs, _ in p.calls for v in inputs.values()
        ) or len(batch)

    def get_metrics_namespace(self):
        return NAMESPACE


# --------------------------------------------------------------------------- steps


def _failed(job, reason):
    log.warning("%s: %s", job.image, reason)
    Metrics.counter(NAMESPACE, "images_failed").inc()
    return beam.pvalue.TaggedOutput(FAILED, (job, reason))


class CheckHeaders(beam.DoFn):
    """job -> ((height, width, has edges), job): sizes and limits from the headers only."""

    def __init__(self, settings):
        self.settings = settings

    def process(self, job):
        try:
            height, width = check_job(job, self.settings.resize_mask, self.settings.max_pixels)
        except (ValueError, OSError) as e:
            yield _failed(job, str(e))
            return
        yield (height, width, job.edges is not None), job


def _chunks(keyed, size):
    """(key, jobs) -> lists of at most `size` jobs (sorted by path: deterministic batches)."""
    _, jobs = keyed
    jobs = sorted(jobs, key=lambda j: j.image)
    for start in range(0, len(jobs), size):
        yield jobs[start : start + size]


def prepare_batch(jobs, settings):
    return [prepare(job, settings) for job in jobs]


def prepare(job, settings):
    """Decodes a job's files and records the model calls `inpaint` makes (a `Prepared`)."""
    prepared = Prepared(job)
    try:
        prepared.image = read_image(job.image)
        prepared.mask = read_image(job.mask, "mask")
        prepared.edges = None if job.edges is None else read_image(job.edges, "edges")
        recorder = _Recorder()
        _inpaint(recorder, prepared, settings)
        prepared.calls = recorder.calls
    except (ValueError, OSError) as e:  # a file broken past its header, an unusable mask
        prepared.error = f"{e}"
    return prepared


class WriteResults(beam.DoFn):
    """PredictionResult -> the job's files, written atomically; errors -> dead-letter."""

    def __init__(self, settings, write=atomic_write):
        self.settings, self.write = settings, write

    def process(self, result):
        prepared, outputs = result.example, result.inference
        job = prepared.job
        if isinstance(outputs, str):
            yield _failed(job, outputs)
            return
        try:
            image, edge_map, notes = _inpaint(_Replayer(outputs), prepared, self.settings)
            files = encoded_outputs(job, image, edge_map, self.settings.reference)
            for note in notes:
                log.warning("%s: %s", job.image, note)
            written = 0
            for path, data in files.items():
                if self.settings.overwrite or not exists(path):  # a retried bundle
                    self.write(path, data)
                    written += 1
        except (ValueError, OSError) as e:
            yield _failed(job, str(e))
            return
        stale = dead_letter_path(job, self.settings)
        if exists(stale):  # failed in an earlier run, done now
            remove(stale)
        name = "images_written" if written else "images_skipped"
        Metrics.counter(NAMESPACE, name).inc()
        yield job.output


def dead_letter_path(job, settings):
    """DEAD_LETTER/<the output's path below OUTPUT>.txt"""
    relative = relative_path(job.output, settings.output)
    return os.path.join(settings.dead_letter, relative + ".txt")


def write_dead_letter(failure, settings):
    """(job, reason) -> a text file naming the job's files and why it failed."""
    job, reason = failure
    lines = [f"image: {job.image}", f"mask: {job.mask}"]
    if job.edges is not None:
        lines.append(f"edges: {job.edges}")
    lines += [f"output: {job.output}", f"reason: {' '.join(reason.split())}"]
    path = dead_letter_path(job, settings)
    atomic_write(path, "\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------- pipeline


def build_pipeline(pipeline, todo, settings, write=atomic_write):
    """Adds the inpainting steps for the jobs `todo` to `pipeline` (a `beam.Pipeline`).

    Returns (written output paths, dead-letter file paths): PCollections.
    `write(path, bytes)`: the atomic writer (tests pass one that dies half-way).
    """
    headers = (
        pipeline
        | "Jobs" >> beam.Create(todo)
        | "CheckHeaders" >> beam.ParDo(CheckHeaders(settings)).with_outputs(FAILED, main="ok")
    )
    results = (
        headers.ok
        | "GroupBySize" >> beam.GroupByKey()
        | "Batches" >> beam.FlatMap(_chunks, settings.batch_size)
        | "Spread" >> beam.Reshuffle()
        | "Decode" >> beam.Map(prepare_batch, settings)
        | "RunInference" >> RunInference(EdgeConnectModelHandler(settings).with_no_batching())
        | "Write" >> beam.ParDo(WriteResults(settings, write)).with_outputs(FAILED, main="ok")
    )
    failed = (
        (headers[FAILED], results[FAILED])
        | "Failures" >> beam.Flatten()
        | "DeadLetter" >> beam.Map(write_dead_letter, settings)
    )
    return results.ok, failed


def run(todo, settings, pipeline_args=(), write=atomic_write):
    """Runs the pipeline to the end; returns {"written", "skipped", "failed"} counts."""
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(list(pipeline_args))
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, todo, settings, write)
    result = pipeline.run()
    result.wait_until_finish()
    counts = {}
    for name in ("written", "skipped", "failed"):
        query = result.metrics().query(MetricsFilter().with_name(f"images_{name}"))
        counts[name] = sum(c.committed or 0 for c in query["counters"])
    return counts
