"""Freezing the served network: `edgeconnect serve`'s start-up and first request.

    .venv/bin/python -m bench.serve_start                     # full-size random networks
    .venv/bin/python -m bench.serve_start --blocks 1 --filters 8   # the tests' model

`serve` freezes the network behind `inpaint_bytes` (`Predictor.freeze`: trace, variables
folded into constants, a session opened) before it opens its port; the session's first run
then optimizes the frozen graph. Two sides, each in its own fresh process (`run_case`),
alternating for `--rounds` rounds: `ours` folds the variables with `memory.frozen_graph_def`
(TensorFlow's conversion steps without wrapping the result back into a concrete function),
`tf` runs TensorFlow's whole `convert_variables_to_constants_v2` (what the server did
before; `frozen_graph_def`'s own fallback, reached here by hiding the private steps). The
table: seconds for `Predictor.freeze()`, for the first 256² `inpaint_bytes` request, RSS
after each (medians) and the process's peak RSS; the two sides' answers are compared byte for byte.
"""

import argparse
import base64
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import (  # noqa: E402
    add_weights_arguments,
    machine_info,
    run_case,
    weights_dir,
)

SIDES = ("tf", "ours")


def _request(size):
    """A `predict` body for `inpaint_bytes`: the astronaut at size², a free-form hole."""
    import cv2
    import numpy as np
    from skimage import data

    from edgeconnect_tf.deploy.tflite import calibration_pairs

    image, mask = calibration_pairs([data.astronaut()], size, count=1, seed=3)[0]
    rgb = np.round(image * 255).astype(np.uint8)
    hole = (mask[..., 0] > 0.5).astype(np.uint8) * 255
    files = {
        "image_bytes": cv2.imencode(".png", rgb[..., ::-1])[1].tobytes(),
        "mask_bytes": cv2.imencode(".png", hole)[1].tobytes(),
    }
    instance = {k: {"b64": base64.b64encode(v).decode()} for k, v in files.items()}
    return json.dumps({"signature_name": "inpaint_bytes", "instances": [instance]}).encode()


def start(side, weights, size):
    """`serve`'s freeze and first request, with `side`'s way of folding the variables."""
    if side == "tf":
        import types

        from tensorflow.python import framework
        from tensorflow.python.framework import convert_to_constants

        public = convert_to_constants.convert_variables_to_constants_v2
        framework.convert_to_constants = types.SimpleNamespace(
            convert_variables_to_constants_v2=public
        )
    from edgeconnect_tf.memory import rss_bytes
    from edgeconnect_tf.serving.predictor import Predictor, load_signatures

    predictor = Predictor(load_signatures(weights_dir=weights))
    body = _request(size)
    begin = time.perf_counter()
    predictor.freeze()
    frozen = time.perf_counter()
    rss_frozen = rss_bytes()
    status, payload = predictor.prepare(body)(None)
    first = time.perf_counter()
    assert status == 200, payload
    answer = json.dumps(payload, sort_keys=True).encode()
    return {
        "freeze_seconds": frozen - begin,
        "first_request_seconds": first - frozen,
        "rss_frozen_mib": rss_frozen / 2**20,
        "rss_after_mib": rss_bytes() / 2**20,
        "answer_sha256": hashlib.sha256(answer).hexdigest(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_weights_arguments(parser)
    parser.add_argument("--size", type=int, default=256, help="side of the first request")
    parser.add_argument("--rounds", type=int, default=3, help="processes per side, alternating")
    args = parser.parse_args(argv)

    workdir = tempfile.mkdtemp(prefix="serve_start_")
    try:
        weights = weights_dir(args, workdir)
        results = {side: [] for side in SIDES}
        for r in range(args.rounds):
            for side in SIDES if r % 2 == 0 else SIDES[::-1]:
                result = run_case(
                    "serve_start", "start", side=side, weights=weights, size=args.size
                )
                if "error" in result:
                    raise SystemExit(f"{side}: {result['error']}")
                results[side].append(result)
                print(
                    f"round {r + 1} {side}: freeze {result['freeze_seconds']:.1f} s, "
                    f"first request {result['first_request_seconds']:.1f} s",
                    flush=True,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    info = machine_info()
    print(f"\n{info['cpu']} ({info['cores']} cores; {info['cpu_flags']}), {info['date']}")
    print(f"{args.blocks} blocks, {args.filters} filters; first request {args.size}²")
    print(
        "| folding | freeze median s | min s | first request median s "
        "| RSS frozen MiB | RSS after the request | peak RSS MiB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for side in SIDES:
        runs = results[side]
        freeze = [run["freeze_seconds"] for run in runs]
        first = [run["first_request_seconds"] for run in runs]
        print(
            f"| {side} | {statistics.median(freeze):.1f} | {min(freeze):.1f} "
            f"| {statistics.median(first):.1f} "
            f"| {statistics.median(run['rss_frozen_mib'] for run in runs):.0f} "
            f"| {statistics.median(run['rss_after_mib'] for run in runs):.0f} "
            f"| {max(run['peak_rss_mib'] for run in runs):.0f} |"
        )
    ratio = statistics.median(r["freeze_seconds"] for r in results["ours"]) / statistics.median(
        r["freeze_seconds"] for r in results["tf"]
    )
    answers = {run["answer_sha256"] for runs in results.values() for run in runs}
    same = "the same bytes" if len(answers) == 1 else f"{len(answers)} different answers"
    print(f"freeze ours / tf (medians): {ratio:.2f}; answers: {same}")


if __name__ == "__main__":
    main()
