"""Serving memory under many image sizes: RSS over N requests of random sizes, against a
fixed-size control (issue #33; bench/RESULTS.md, "Serving memory under many image sizes").

    python -m bench.soak                                # 400 requests, tiny networks, all targets
    python -m bench.soak --requests 10000 --nets full   # the long soak
    python -m bench.soak --targets server --traffic random,fixed --plot soak.png

Targets, each in its own process (RSS is the process's VmRSS from /proc/PID/status):
    server     `edgeconnect serve --weights DIR` over HTTP (`inpaint_bytes`, PNG image and
               mask, every answer decoded and its size checked); RSS of the server process.
    predictor  the same `serving.predictor.Predictor` in process, no HTTP (weights).
    savedmodel an exported SavedModel loaded in process, run through the same Predictor.
    signature  the SavedModel's own `inpaint_bytes` signature called directly (what TF
               Serving runs: the whole image in one graph); the package cannot bound this.
    tflite     `TFLiteModel` (one static window size: no per-shape state expected).

`--max-shapes N|none` sets `Limits.max_shapes` of the in-process Predictor targets (none:
one session for good, the behaviour before the fix). Traffic: `random` (sides uniform in
[--min-side, --max-side], seeded) or `fixed` (300×400); a hole over a quarter of the image.
Prints a Markdown table; `--plot FILE.png` draws RSS against requests (OpenCV).
"""

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

from bench import common

TARGETS = ("server", "predictor", "savedmodel", "signature", "tflite")
FIXED = (300, 400)
SAMPLE_TAG = "SOAK_SAMPLE "


# --------------------------------------------------------------------------- requests


def request_sizes(n, traffic, seed=0, min_side=40, max_side=700):
    """[(h, w)] of n requests: uniform random sides, or FIXED."""
    if traffic == "fixed":
        return [FIXED] * n
    rng = np.random.default_rng(seed)
    return [tuple(int(v) for v in rng.integers(min_side, max_side + 1, 2)) for _ in range(n)]


def photo_and_hole(h, w, seed):
    """A smooth photo-like uint8 RGB [h, w, 3] and a bool hole over a quarter of it."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, h // 16), max(2, w // 16), 3), np.uint8)
    image = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    image = np.clip(image.astype(np.int16) + rng.integers(-8, 9, image.shape), 0, 255)
    hole = np.zeros((h, w), bool)
    hole[h // 4 : h // 4 + h // 2, w // 4 : w // 4 + w // 2] = True
    return image.astype(np.uint8), hole


def _png(array):
    import cv2

    ok, buf = cv2.imencode(".png", array)
    assert ok
    return buf.tobytes()


def predict_body(image, hole):
    """TF Serving's REST body for `inpaint_bytes` (PNG image and mask)."""
    instance = {
        "image_bytes": {"b64": base64.b64encode(_png(image[..., ::-1])).decode("ascii")},
        "mask_bytes": {"b64": base64.b64encode(_png(hole.astype(np.uint8) * 255)).decode()},
    }
    return json.dumps({"signature_name": "inpaint_bytes", "instances": [instance]}).encode()


def check_answer(payload, h, w):
    import cv2

    out = payload["predictions"][0]["inpainted_png_bytes"]["b64"]
    png = cv2.imdecode(np.frombuffer(base64.b64decode(out), np.uint8), cv2.IMREAD_UNCHANGED)
    if png is None or png.shape[:2] != (h, w):
        raise RuntimeError(f"answer of the wrong size: {None if png is None else png.shape}")


# --------------------------------------------------------------------------- models


def make_weights(directory, nets):
    from edgeconnect_tf.weights import build_networks, save_networks

    blocks, filters = (1, 8) if nets == "tiny" else (8, 64)
    networks = build_networks(blocks, filters, names=("edge_generator", "inpaint_generator"))
    save_networks(directory, networks, sigma=2.0)


def rss_of(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _checkpoints(n, every):
    return {1, n, *range(every, n + 1, every)}


def child(args):
    """One in-process target: prints `SAMPLE_TAG {json}` at each checkpoint."""
    from edgeconnect_tf.startup import quiet_tensorflow

    quiet_tensorflow()
    work = args.workdir
    weights = os.path.join(work, "weights")
    max_shapes = None if args.max_shapes == "none" else int(args.max_shapes)
    target = args.child
    if target in ("predictor", "savedmodel", "signature"):
        from edgeconnect_tf.serving.limits import Limits
        from edgeconnect_tf.serving.predictor import Predictor, load_signatures

        if target == "predictor":
            signatures = load_signatures(weights_dir=weights)
        else:
            model_dir = os.path.join(work, "serving", "edgeconnect", "1")
            signatures = load_signatures(model_dir=model_dir)
        predictor = Predictor(signatures, Limits(max_shapes=max_shapes))

        def run(image, hole):
            if target == "signature":
                import tensorflow as tf

                fn = signatures["inpaint_bytes"]
                fn(
                    image_bytes=tf.constant([_png(image[..., ::-1])]),
                    mask_bytes=tf.constant([_png(hole.astype(np.uint8) * 255)]),
                )
                return
            code, payload = predictor.prepare(predict_body(image, hole))(None)
            if code != 200:
                raise RuntimeError(f"{code}: {payload}")
            check_answer(payload, *image.shape[:2])

        sessions = lambda: predictor.sessions  # noqa: E731
    elif target == "tflite":
        from edgeconnect_tf.deploy.tflite_runner import TFLiteModel

        model = TFLiteModel(os.path.join(work, "model.tflite"))

        def run(image, hole):
            result, _ = model.inpaint(image, hole)
            assert result.shape == image.shape

        sessions = lambda: 0  # noqa: E731
    else:
        raise SystemExit(f"unknown child target {target}")
    sizes = request_sizes(args.requests, args.traffic, args.seed, args.min_side, args.max_side)
    marks = _checkpoints(args.requests, args.sample_every)
    start = time.perf_counter()
    for i, (h, w) in enumerate(sizes, 1):
        run(*photo_and_hole(h, w, args.seed + i))
        if i in marks:
            sample = {"i": i, "rss_mib": rss_of("self"), "s": time.perf_counter() - start}
            sample["sessions"] = sessions()
            print(SAMPLE_TAG + json.dumps(sample), flush=True)
    return 0


def prepare_models(work, nets, targets):
    """Weights (and a SavedModel / .tflite where asked) under `work`, in a child process."""
    code = ["from bench.soak import make_weights", f"make_weights({work + '/weights'!r}, {nets!r})"]
    if {"savedmodel", "signature"} & set(targets):
        code += [
            "from edgeconnect_tf.cli import main",
            f"assert main(['export', '--weights', {work + '/weights'!r}, '--output', "
            f"{work + '/serving/edgeconnect/1'!r}, '--warmup-size', '32']) == 0",
        ]
    if "tflite" in targets:
        code += [
            "from edgeconnect_tf.edgeconnect import EdgeConnect",
            "from edgeconnect_tf.deploy.tflite import export_tflite",
            f"export_tflite(EdgeConnect.from_pretrained({work + '/weights'!r}), "
            f"{work + '/model.tflite'!r}, size=256)",
        ]
    subprocess.run([sys.executable, "-c", "\n".join(code)], check=True, env=common.child_env(),
                   cwd=common.REPO, capture_output=True)  # fmt: skip


def run_inprocess(target, traffic, args, work):
    cmd = [sys.executable, "-m", "bench.soak", "--child", target, "--traffic", traffic,
           "--workdir", work, "--requests", str(args.requests), "--seed", str(args.seed),
           "--min-side", str(args.min_side), "--max-side", str(args.max_side),
           "--sample-every", str(args.sample_every), "--max-shapes", args.max_shapes]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=common.child_env(),
                          cwd=common.REPO, check=False)  # fmt: skip
    samples = [json.loads(line[len(SAMPLE_TAG) :]) for line in proc.stdout.splitlines()
               if line.startswith(SAMPLE_TAG)]  # fmt: skip
    if proc.returncode != 0:
        return {"samples": samples, "error": proc.stderr.strip()[-600:]}
    return {"samples": samples}


def run_server(traffic, args, work):
    """`edgeconnect serve --weights` in a subprocess, one client in a loop."""
    port = args.port or _free_port()
    cmd = [sys.executable, "-m", "edgeconnect_tf.cli", "serve", "--weights",
           os.path.join(work, "weights"), "--port", str(port)]  # fmt: skip
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env=common.child_env(), cwd=common.REPO)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    samples = []
    try:
        deadline = time.time() + 180
        while True:
            try:
                with urllib.request.urlopen(url + "/v1/models/edgeconnect", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    return {"samples": [], "error": "server did not start: " + _tail(server)}
                time.sleep(0.5)
        sizes = request_sizes(args.requests, traffic, args.seed, args.min_side, args.max_side)
        marks = _checkpoints(args.requests, args.sample_every)
        start = time.perf_counter()
        for i, (h, w) in enumerate(sizes, 1):
            body = predict_body(*photo_and_hole(h, w, args.seed + i))
            req = urllib.request.Request(url + "/v1/models/edgeconnect:predict", data=body,
                                         headers={"Content-Type": "application/json"})  # fmt: skip
            with urllib.request.urlopen(req, timeout=600) as r:
                check_answer(json.loads(r.read()), h, w)
            if i in marks:
                sample = {"i": i, "rss_mib": rss_of(server.pid), "s": time.perf_counter() - start}
                sample.update(_server_metrics(url))
                samples.append(sample)
                print(f"[soak] server {traffic} {i}: {sample['rss_mib']:.0f} MiB",
                      file=sys.stderr)  # fmt: skip
        return {"samples": samples}
    except Exception as e:  # noqa: BLE001 - one row, not the run
        return {"samples": samples, "error": f"{type(e).__name__}: {e}"}
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def _server_metrics(url):
    """Sessions from `GET /metrics`, where the server has it."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return {}
    for line in text.splitlines():
        if line.startswith("edgeconnect_network_sessions_total "):
            return {"sessions": int(float(line.split()[1]))}
    return {}


def _tail(proc):
    try:
        proc.kill()
        return proc.stderr.read().decode(errors="replace")[-600:]
    except OSError:
        return ""


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- report


def table(results, requests, every):
    marks = sorted(_checkpoints(requests, every))
    shown = [m for m in marks if m == 1 or m == requests or m % max(every, requests // 8) == 0]
    head = "| target | traffic | " + " | ".join(f"{m}" for m in shown)
    head += " | max after warm-up | sessions | s / request |"
    lines = ["RSS (MiB) after N requests:", "", head, "|" + " --- |" * (len(shown) + 5)]
    for (target, traffic), res in results.items():
        by_i = {s["i"]: s for s in res["samples"]}
        cells = [f"{by_i[m]['rss_mib']:.0f}" if m in by_i else "–" for m in shown]
        warm = [s["rss_mib"] for s in res["samples"] if s["i"] >= max(every, requests // 10)]
        last = res["samples"][-1] if res["samples"] else {}
        per = f"{last['s'] / last['i']:.2f}" if last else "–"
        lines.append(
            f"| {target} | {traffic} | " + " | ".join(cells) + f" | "
            f"{max(warm):.0f} | {last.get('sessions', '–')} | {per} |"
            if warm
            else f"| {target} | {traffic} | " + " | ".join(cells) + " | – | – | – |"
        )
        if "error" in res:
            lines.append(f"| {target} | {traffic} | error: {res['error'][-200:]!r} |")
    return "\n".join(lines)


def plot(results, path, width=900, height=500):
    """RSS against requests, one line per (target, traffic), drawn with OpenCV."""
    import cv2

    series = {k: [(s["i"], s["rss_mib"]) for s in r["samples"]] for k, r in results.items()}
    points = [p for s in series.values() for p in s]
    if not points:
        return
    x_max = max(p[0] for p in points)
    y_lo, y_hi = min(p[1] for p in points) * 0.95, max(p[1] for p in points) * 1.02
    img = np.full((height, width, 3), 255, np.uint8)
    left, bottom, top, right = 70, 40, 20, 220
    colors = [(200, 60, 40), (40, 140, 40), (40, 40, 200), (160, 40, 160), (0, 140, 200),
              (100, 100, 100), (0, 0, 0), (200, 160, 0)]  # fmt: skip

    def xy(i, r):
        x = left + (width - left - right) * i / x_max
        y = height - bottom - (height - bottom - top) * (r - y_lo) / (y_hi - y_lo)
        return int(x), int(y)

    cv2.rectangle(img, (left, top), (width - right, height - bottom), (0, 0, 0), 1)
    for k in range(5):
        r = y_lo + (y_hi - y_lo) * k / 4
        cv2.putText(img, f"{r:.0f}", (5, xy(0, r)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 0)
    cv2.putText(img, f"requests (0-{x_max}); RSS MiB", (left, height - 12),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, 0)  # fmt: skip
    for n, ((target, traffic), pts) in enumerate(series.items()):
        color = colors[n % len(colors)]
        poly = np.array([xy(i, r) for i, r in pts], np.int32)
        cv2.polylines(img, [poly], False, color, 2)
        cv2.putText(img, f"{target} {traffic}", (width - right + 8, top + 16 + 18 * n),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, color)  # fmt: skip
    cv2.imwrite(path, img)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--targets", default="server,predictor,savedmodel,tflite")
    parser.add_argument("--traffic", default="random,fixed")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--sample-every", type=int, default=50)
    parser.add_argument("--nets", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--max-shapes", default="32", help="Limits.max_shapes, or none")
    parser.add_argument("--min-side", type=int, default=40)
    parser.add_argument("--max-side", type=int, default=700)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--plot", default=None, help="write RSS against requests to this PNG")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    targets = [t for t in args.targets.split(",") if t]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; choose from {TARGETS}")
    work = tempfile.mkdtemp(prefix="soak-")
    results = {}
    try:
        prepare_models(work, args.nets, targets)
        for target in targets:
            for traffic in args.traffic.split(","):
                t0 = time.perf_counter()
                if target == "server":
                    res = run_server(traffic, args, work)
                else:
                    res = run_inprocess(target, traffic, args, work)
                results[(target, traffic)] = res
                print(f"[soak] {target} {traffic}: {time.perf_counter() - t0:.0f} s"
                      + (f" ERROR {res['error'][-300:]}" if "error" in res else ""),
                      file=sys.stderr)  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info = common.machine_info()
    print(
        f"Soak: {args.requests} requests per row, {args.nets} networks, sides "
        f"{args.min_side}–{args.max_side} px (random, seed {args.seed}) or {FIXED[0]}×{FIXED[1]} "
        f"(fixed), hole a quarter of the image; in-process max_shapes {args.max_shapes}. "
        f"{info['cpu']}, {info['cores']} cores, TensorFlow {info['versions']['tensorflow']}, "
        f"{info['date']}.\n"
    )
    print(table(results, args.requests, args.sample_every))
    if args.plot:
        plot(results, args.plot)
        print(f"\nplot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
