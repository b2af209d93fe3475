"""Repaint (G2 alone on an edited edge map) against a full run (Canny, G1, G2), on the server.

    .venv/bin/python -m bench.repaint                   # full-size random networks, 5 rounds
    .venv/bin/python -m bench.repaint --rounds 3 --blocks 1 --filters 8   # a quick check

What the editor's buttons cost on `edgeconnect serve --weights`: the server's `Predictor`
in process (no HTTP: the same checks, decoding, tiling and frozen-graph sessions a request
gets), fed the PNG request bodies the page sends:
- full:    `inpaint_bytes` (Inpaint);
- edges:   `edges_bytes` (Redraw edges: Canny and G1);
- repaint: `repaint_bytes` on the edge map the full run returned (Repaint: G2 alone).
Sizes: 256² (scikit-image's astronaut, a free-form hole: `bench.export.photo_inputs`) and a
512×600 photo (H×W; the coffee photo, resized) with a lamp-post hole, which the server's auto
tiling runs as a crop window around the hole. The three run alternately in one process
(round robin, after one warm-up call each), so drifts of a shared machine hit all alike;
the table gives the medians, Repaint's ratio to a full run, and how far Repaint's pixels are
from the full run's (levels; the map goes through a 16-bit PNG as in the page).
Weights are random (seeded; speed does not depend on them) or `--weights DIR`.
"""

import argparse
import base64
import json
import os
import statistics
import tempfile
import time

import numpy as np


def photos():
    """{name: (RGB uint8 [H, W, 3], hole bool [H, W])}: the two bench cases."""
    import cv2
    from skimage import data

    from bench.export import photo_inputs

    image, mask = photo_inputs(256)
    cases = {"256²": (np.round(image[0] * 255).astype(np.uint8), mask[0, ..., 0] > 0.5)}
    coffee = cv2.resize(data.coffee(), (600, 512), interpolation=cv2.INTER_AREA)  # W×H
    post = np.zeros((512, 600), bool)
    post[60:470, 280:318] = True  # a lamp post
    post[60:90, 250:350] = True  # and its lamp
    cases["512×600 photo"] = (coffee, post)
    return cases


def _png_b64(array):
    import cv2

    ok, buf = cv2.imencode(".png", array)
    assert ok
    return base64.b64encode(buf.tobytes()).decode("ascii")


def _decode(b64):
    import cv2

    raw = np.frombuffer(base64.b64decode(b64), np.uint8)
    return cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)


def _call(predictor, body):
    status, payload = predictor.prepare(json.dumps(body).encode())(None)
    if status != 200:
        raise RuntimeError(f"{body['signature_name']}: {status} {payload}")
    return payload["predictions"]


def bench(rounds=5, blocks=8, filters=64, weights=None):
    import keras

    from bench.common import machine_info
    from edgeconnect_tf.serving.predictor import Predictor, load_signatures
    from edgeconnect_tf.weights import build_networks, save_networks

    networks = f"{blocks} blocks, {filters} filters, random"
    if weights is None:
        keras.utils.set_random_seed(0)
        weights = tempfile.mkdtemp(prefix="bench_repaint_")
        nets = build_networks(blocks, filters, names=("edge_generator", "inpaint_generator"))
        save_networks(weights, nets, sigma=2.0)
    else:
        networks = f"trained, {weights}"
    predictor = Predictor(load_signatures(weights_dir=weights))
    rows = []
    for name, (rgb, hole) in photos().items():
        files = {
            "image_bytes": {"b64": _png_b64(rgb[..., ::-1])},
            "mask_bytes": {"b64": _png_b64(hole.astype(np.uint8) * 255)},
        }
        bodies = {
            "full": {"signature_name": "inpaint_bytes", "instances": [files]},
            "edges": {"signature_name": "edges_bytes", "instances": [files]},
        }
        first = _call(predictor, bodies["full"])[0]  # warm-up of the full run
        edge_png = first["edges_png_bytes"]
        bodies["repaint"] = {
            "signature_name": "repaint_bytes",
            "instances": [{**files, "edges_bytes": edge_png}],
        }
        for key in ("edges", "repaint"):
            _call(predictor, bodies[key])  # warm-up
        times = {key: [] for key in bodies}
        for _ in range(rounds):
            for key, body in bodies.items():
                t0 = time.perf_counter()
                out = _call(predictor, body)
                times[key].append(time.perf_counter() - t0)
        repainted = _decode(out[0]["inpainted_png_bytes"]["b64"]).astype(int)
        full = _decode(first["inpainted_png_bytes"]["b64"]).astype(int)
        medians = {key: statistics.median(t) for key, t in times.items()}
        rows.append(
            {
                "case": name,
                **medians,
                "ratio": medians["repaint"] / medians["full"],
                "levels": int(np.abs(repainted - full).max()),
                "rounds": rounds,
            }
        )
    return {"rows": rows, "machine": machine_info(), "networks": networks}


def table(result):
    lines = [
        "| case | full run (s) | Redraw edges (s) | Repaint (s) | Repaint / full | "
        "Repaint vs full run (levels) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['case']} | {r['full']:.3f} | {r['edges']:.3f} | {r['repaint']:.3f} | "
            f"{r['ratio']:.2f}× | {r['levels']} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--blocks", type=int, default=8, help="residual blocks (default 8)")
    parser.add_argument("--filters", type=int, default=64, help="filters (default 64)")
    parser.add_argument("--weights", help="a weights directory (default: random networks)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = bench(args.rounds, args.blocks, args.filters, args.weights)
    print(f"networks: {result['networks']}; machine: {result['machine']}")
    print(table(result))


if __name__ == "__main__":
    main()
