"""The editor's server: TF Serving's REST contract, errors, limits, concurrency, the page,
the folder of `.tflite` files, the same answer as the SavedModel's signature."""

import base64
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from conftest import app_in_thread

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from edgeconnect_tf.serving.app import create_app, create_static_app  # noqa: E402


def _png(array):
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return base64.b64encode(buf.tobytes()).decode("ascii")


def _photo(h=40, w=52, seed=0):
    """A real photo (BGR for cv2): the astronaut for seed 0, other crops of it otherwise."""
    from skimage import data, transform

    rgb = data.astronaut()[seed * 37 : 256 + seed * 37, seed * 29 : 320 + seed * 29]
    rgb = transform.resize(rgb, (h, w), anti_aliasing=True)
    return (rgb * 255).round().astype(np.uint8)[..., ::-1]


def _mask(h=40, w=52, box=(10, 25, 12, 30)):
    mask = np.zeros((h, w), np.uint8)
    mask[box[0] : box[1], box[2] : box[3]] = 255
    return mask


def _post(url, body, raw=False):
    data = body if raw else json.dumps(body).encode()
    req = urllib.request.Request(
        url + "/v1/models/edgeconnect:predict",
        data=data,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _decode(b64):
    return cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_UNCHANGED)


def _request(image, mask, edges=None):
    instance = {"image_bytes": {"b64": _png(image)}, "mask_bytes": {"b64": _png(mask)}}
    name = "inpaint_bytes"
    if edges is not None:
        instance["edges_bytes"] = {"b64": _png(edges)}
        name = "inpaint_bytes_with_edges"
    return {"signature_name": name, "instances": [instance]}


def test_predict_fills_only_the_hole(server):
    image, mask = _photo(), _mask()
    code, payload = _post(server, _request(image, mask))
    assert code == 200, payload
    out = _decode(payload["predictions"][0]["inpainted_png_bytes"]["b64"])
    assert out.shape == image.shape
    known = mask == 0
    np.testing.assert_array_equal(out[known], image[known])
    edges = _decode(payload["predictions"][0]["edges_png_bytes"]["b64"])
    assert edges.shape[:2] == mask.shape


def test_drawn_edges_change_the_fill(server):
    image, mask = _photo(), _mask()
    edges = np.zeros_like(mask)
    edges[17, 12:30] = 255
    _, plain = _post(server, _request(image, mask))
    code, guided = _post(server, _request(image, mask, edges))
    assert code == 200, guided
    a = _decode(plain["predictions"][0]["inpainted_png_bytes"]["b64"])
    b = _decode(guided["predictions"][0]["inpainted_png_bytes"]["b64"])
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a[mask == 0], b[mask == 0])


def test_columnar_inputs_format(server):
    image, mask = _photo(), _mask()
    body = {
        "signature_name": "inpaint_bytes",
        "inputs": {"image_bytes": [{"b64": _png(image)}], "mask_bytes": [{"b64": _png(mask)}]},
    }
    code, payload = _post(server, body)
    assert code == 200, payload
    out = _decode(payload["outputs"]["inpainted_png_bytes"][0]["b64"])
    assert out.shape == image.shape


def test_eight_concurrent_requests_of_eight_photos_equal_sequential(server):
    photos = [_photo(seed=i) for i in range(8)]
    masks = [_mask(box=(5 + i, 20 + i, 8, 30)) for i in range(8)]
    assert len({p.tobytes() for p in photos}) == 8
    bodies = [_request(p, m) for p, m in zip(photos, masks, strict=True)]
    sequential = [_post(server, b) for b in bodies]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(lambda b: _post(server, b), bodies))
    for photo, mask, (c1, p1), (c2, p2) in zip(photos, masks, sequential, concurrent, strict=True):
        assert c1 == c2 == 200
        a = _decode(p1["predictions"][0]["inpainted_png_bytes"]["b64"])
        b = _decode(p2["predictions"][0]["inpainted_png_bytes"]["b64"])
        np.testing.assert_array_equal(a, b)
        known = mask == 0  # each answer is its own photo outside its own hole
        np.testing.assert_array_equal(b[known], photo[known])


@pytest.mark.parametrize(
    "body,fragment",
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"instances": []}', "non-empty list"),
        (b'{"instances": [{"image_bytes": {"b64": "%%%"}}]}', "not valid base64"),
        (b'{"signature_name": "nope", "instances": [{"a": 1}]}', "unknown signature_name"),
    ],
)
def test_malformed_bodies_get_one_clear_400(server, body, fragment):
    code, payload = _post(server, body, raw=True)
    assert code == 400
    assert fragment in payload["error"]
    assert "Traceback" not in payload["error"]


def test_bad_image_and_wrong_mask_size_get_400(server):
    mask = _mask()
    bad = {
        "signature_name": "inpaint_bytes",
        "instances": [
            {
                "image_bytes": {"b64": base64.b64encode(b"not an image").decode()},
                "mask_bytes": {"b64": _png(mask)},
            }
        ],
    }
    code, payload = _post(server, bad)
    assert code == 400 and payload["error"]
    code, payload = _post(server, _request(_photo(), _mask(h=20, w=20, box=(1, 5, 1, 5))))
    assert code == 400
    assert "mask" in payload["error"].lower()
    assert "Traceback" not in json.dumps(payload)


def _read_response(sock):
    """Headers and body of one HTTP response (they may come in separate packets)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data.decode()
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode()


def test_request_size_limit(server):
    # Announce a body over the limit and send none: the server must answer 413 at once
    # instead of reading it.
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/models/edgeconnect:predict HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
        )
        response = _read_response(sock)
    assert response.startswith("HTTP/1.1 413")
    assert "larger than 2000000 bytes" in response


def test_page_and_status_are_served(server):
    with urllib.request.urlopen(server + "/") as r:
        html = r.read().decode()
    assert "EdgeConnect editor" in html and "/static/editor.js" in html
    with urllib.request.urlopen(server + "/static/editor.js") as r:
        script = r.read()
    assert b'MODEL_URL = "/v1/models/edgeconnect"' in script and b"${MODEL_URL}:predict" in script
    with urllib.request.urlopen(server + "/v1/models/edgeconnect") as r:
        assert json.loads(r.read())["model_version_status"][0]["state"] == "AVAILABLE"


def test_binds_to_loopback_by_default():
    import argparse

    parser = argparse.ArgumentParser()
    from edgeconnect_tf.cli.serve import add_arguments

    add_arguments(parser)
    args = parser.parse_args(["--weights", "w"])
    assert args.host == "127.0.0.1"


# ------------------------------------------------------------ the folder of .tflite files


def _get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def _raw_get(url, path):
    """Status of GET `path` sent as is (no client-side normalisation of `..`)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path)
        return int(_read_response(sock).split(" ", 2)[1])


def _check_model_folder(url, models_dir):
    code, _, body = _get(url + "/api/models")
    assert code == 200
    expected = [
        ("edgeconnect_256x256_float32.tflite", 4 + 1024),
        ("edgeconnect_512x512_float16.tflite", 9),
    ]
    assert json.loads(body) == {
        "models": [{"name": n, "url": f"/models/{n}", "bytes": b} for n, b in expected]
    }
    name = expected[0][0]
    code, headers, data = _get(f"{url}/models/{name}")
    assert code == 200
    with open(os.path.join(models_dir, name), "rb") as f:
        assert data == f.read()
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Cache-Control"] == "no-cache" and headers["ETag"]
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
    # The page's second fetch of a file it holds: 304, no body.
    code, headers, data = _get(f"{url}/models/{name}", {"If-None-Match": headers["ETag"]})
    assert code == 304 and data == b""
    refused = [
        b"/models/notes.txt",
        b"/models/.hidden.tflite",
        b"/models/link_out.tflite",  # a link out of the folder
        b"/models/dir.tflite",  # a folder
        b"/models/sub/nested.tflite",
        b"/models/missing.tflite",
        b"/models/../outside.tflite",
        b"/models/..%2Foutside.tflite",
        b"/models/%2e%2e%2foutside.tflite",
        b"/models/sub%2F..%2F..%2Foutside.tflite",
        b"/models/..%5Coutside.tflite",
    ]
    for path in refused:
        assert _raw_get(url, path) == 404, path
    code, _, body = _get(f"{url}/models/missing.tflite")
    assert code == 404 and "missing.tflite" in json.loads(body)["error"]


def test_model_folder_listed_and_served_beside_a_model(server, models_dir):
    _check_model_folder(server, models_dir)


def test_static_only_serves_the_folder_and_no_model(models_dir):
    with app_in_thread(create_static_app(models_dir)) as url:
        _check_model_folder(url, models_dir)
        # How the page learns that no server can inpaint.
        assert _get(url + "/v1/models/edgeconnect")[0] == 404
        code, _, body = _get(url + "/")
        assert code == 200 and b"EdgeConnect editor" in body
    with app_in_thread(create_static_app()) as url:
        assert json.loads(_get(url + "/api/models")[2]) == {"models": []}
        assert _get(url + "/models/edgeconnect_256x256_float32.tflite")[0] == 404


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_models_flag_names_a_missing_folder_in_one_line(kind, tmp_path):
    path = tmp_path / "exports"
    if kind == "file":
        path.write_text("x")
    run = subprocess.run(
        [sys.executable, "-m", "edgeconnect_tf.cli", "serve", "--static-only"]
        + ["--models", str(path), "--port", "9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    message = "no such folder" if kind == "missing" else "not a folder"
    assert run.stderr.strip() == f"edgeconnect serve: error: --models {path}: {message}"


def test_the_app_stops_its_inference_thread_when_the_server_stops(tiny_signatures):
    app = create_app(tiny_signatures)
    with app_in_thread(app) as url:
        assert _post(url, _request(_photo(), _mask()))[0] == 200
        assert app.state.worker.alive
    assert app.state.worker.stopping.is_set()
    assert not app.state.worker.alive


# --------------------------------------------------- the same answer as the SavedModel


def test_files_get_the_saved_models_pixels_up_to_512_px_a_side(server, tiny_signatures):
    """Up to MAX_SIDE px a side the server's auto tiling runs the whole image, as the
    SavedModel's `inpaint_bytes` (the same function `edgeconnect export` writes) does: the
    same pixels but for float32 rounding between two graphs. Measured (full-size networks,
    astronaut, AVX-512 and AVX2): at most 1 level, on at most 0.4 % of the hole's values."""
    import tensorflow as tf

    from edgeconnect_tf.inpaint import MAX_SIDE

    signature = tiny_signatures["inpaint_bytes"]
    for h, w in [(40, 52), (MAX_SIDE, 300)]:
        image, mask = _photo(h, w), _mask(h, w, (h // 4, h // 2, w // 3, w // 2))
        code, payload = _post(server, _request(image, mask))
        assert code == 200, payload
        ours = payload["predictions"][0]
        files = [tf.constant([base64.b64decode(_png(a))]) for a in (image, mask)]
        theirs = signature(image_bytes=files[0], mask_bytes=files[1])
        hole = mask > 0
        for key in ("inpainted_png_bytes", "edges_png_bytes"):
            a = _decode(ours[key]["b64"])
            b = cv2.imdecode(np.frombuffer(theirs[key].numpy()[0], np.uint8), -1)
            assert a.dtype == b.dtype == (np.uint16 if key == "edges_png_bytes" else np.uint8)
            if key == "edges_png_bytes":  # 16-bit edge maps, compared in levels of 255
                a, b = np.round(a / 257.0), np.round(b / 257.0)
            diff = np.abs(a.astype(int) - b.astype(int))
            assert diff.max() <= 1, key
            assert np.count_nonzero(diff) <= 0.01 * hole.sum() * (3 if a.ndim == 3 else 1), key
        np.testing.assert_array_equal(
            _decode(ours["inpainted_png_bytes"]["b64"])[~hole], image[~hole]
        )


def test_redraw_edges_and_repaint_signatures_tile_as_inpaint_bytes(server):
    """The editor's Redraw edges (`edges_bytes`) and Repaint (`repaint_bytes`) through the
    server on a photo the auto tiling crops (560 px wide): the edge map is the full run's,
    Repaint along it gives the full run's pixels (within 1 level: the map is a 16-bit PNG),
    and erasing the hole's edges changes the fill inside the hole only."""

    def call(name, **files):
        instance = {k: {"b64": _png(v)} for k, v in files.items()}
        status, payload = _post(server, {"signature_name": name, "instances": [instance]})
        assert status == 200, payload
        return payload["predictions"][0]

    image, mask = _photo(200, 560), _mask(200, 560, box=(80, 120, 300, 340))
    hole = mask > 0
    full = call("inpaint_bytes", image_bytes=image, mask_bytes=mask)
    edges = call("edges_bytes", image_bytes=image, mask_bytes=mask)  # one output: unnamed
    edge_map = _decode(edges["b64"])
    assert edge_map.dtype == np.uint16
    np.testing.assert_array_equal(edge_map, _decode(full["edges_png_bytes"]["b64"]))
    assert edge_map[:, :100].max() == 0  # cropped: not computed outside the window
    want = _decode(full["inpainted_png_bytes"]["b64"]).astype(int)
    again = call("repaint_bytes", image_bytes=image, mask_bytes=mask, edges_bytes=edge_map)
    got = _decode(again["inpainted_png_bytes"]["b64"]).astype(int)
    assert np.abs(got - want).max() <= 1
    erased = edge_map.copy()
    erased[hole] = 0
    moved = call("repaint_bytes", image_bytes=image, mask_bytes=mask, edges_bytes=erased)
    moved = _decode(moved["inpainted_png_bytes"]["b64"]).astype(int)
    np.testing.assert_array_equal(moved[~hole], want[~hole])
    assert np.abs(moved[hole] - want[hole]).mean() > 1


def test_the_page_learns_that_this_server_inpaints(server):
    with urllib.request.urlopen(server + "/api/server", timeout=30) as answer:
        assert json.load(answer) == {"model": True}


@pytest.mark.slow
@pytest.mark.long
def test_full_size_repaint_of_the_unedited_map_is_the_full_run(tmp_path):
    """Full-size networks (8 residual blocks, 64 filters, seeded random weights), the
    astronaut at 256² with a free-form hole: Repaint of the unedited edge map the full run
    answered (a 16-bit PNG) gives the full run's pixels within 1 level, through the bytes
    signatures (what `edgeconnect export` writes) and through the server's `Predictor`.
    Measured (AMD EPYC Zen 4): 1 level apart at 16 bits on both paths; the same map rounded
    to 8 bits, as the editor carried it before, 2 levels on both (3 on the 512×600 photo of
    bench/repaint.py)."""
    import keras
    import tensorflow as tf
    from skimage import data

    from edgeconnect_tf.deploy.saved_model import PNG_SIGNATURE
    from edgeconnect_tf.deploy.tflite import calibration_pairs
    from edgeconnect_tf.serving.predictor import Predictor, load_signatures
    from edgeconnect_tf.weights import build_networks, save_networks

    keras.utils.set_random_seed(0)
    nets = build_networks(8, 64, names=("edge_generator", "inpaint_generator"))
    save_networks(str(tmp_path), nets, sigma=2.0)
    # What `edgeconnect serve --weights` runs: each signature traced when first called
    # (the four this test calls, not all eight at full size).
    signatures = load_signatures(weights_dir=str(tmp_path))
    image, mask = calibration_pairs([data.astronaut()], 256, count=1, seed=3)[0]
    rgb = np.round(image * 255).astype(np.uint8)
    hole = mask[..., 0] > 0.5
    files = {"image_bytes": _png(rgb[..., ::-1]), "mask_bytes": _png(hole.astype(np.uint8) * 255)}
    predictor = Predictor(signatures)

    def through_signatures(name, **b64):
        tensors = {k: tf.constant([base64.b64decode(v)]) for k, v in b64.items()}
        out = signatures[name](**tensors)
        return {k: base64.b64encode(v.numpy()[0]).decode() for k, v in out.items()}

    def through_predictor(name, **b64):
        instance = {k: {"b64": v} for k, v in b64.items()}
        body = json.dumps({"signature_name": name, "instances": [instance]}).encode()
        status, payload = predictor.prepare(body)(None)
        assert status == 200, payload
        return {k: v["b64"] for k, v in payload["predictions"][0].items()}

    apart = {}
    for path, call in [("signatures", through_signatures), ("predictor", through_predictor)]:
        full = call("inpaint_bytes", **files)
        edge_png = base64.b64decode(full["edges_png_bytes"])
        assert edge_png[:8] == PNG_SIGNATURE and edge_png[24] == 16  # a 16-bit map
        want = _decode(full["inpainted_png_bytes"]).astype(int)
        eight = np.round(_decode(full["edges_png_bytes"]) / 257.0).astype(np.uint8)
        for bits, edges in [(16, full["edges_png_bytes"]), (8, _png(eight))]:
            again = call("repaint_bytes", **files, edges_bytes=edges)
            got = _decode(again["inpainted_png_bytes"]).astype(int)
            np.testing.assert_array_equal(got[~hole], want[~hole])
            apart[path, bits] = int(np.abs(got - want).max())
    print("Repaint vs full run, max levels apart:", apart)
    assert apart["signatures", 16] <= 1 and apart["predictor", 16] <= 1, apart
