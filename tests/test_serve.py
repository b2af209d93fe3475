"""The editor's server: TF Serving's REST contract, errors, limits, concurrency, the page."""

import base64
import json
import socket
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
from edgeconnect_tf.serving.predictor import load_signatures  # noqa: E402
from edgeconnect_tf.weights import build_networks, save_networks  # noqa: E402


def _png(array):
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return base64.b64encode(buf.tobytes()).decode("ascii")


def _photo(h=40, w=52, seed=0):
    from skimage import data, transform

    rgb = transform.resize(data.astronaut(), (h, w), anti_aliasing=True)
    return (rgb * 255).round().astype(np.uint8)[..., ::-1]  # BGR for cv2


def _mask(h=40, w=52, box=(10, 25, 12, 30)):
    mask = np.zeros((h, w), np.uint8)
    mask[box[0] : box[1], box[2] : box[3]] = 255
    return mask


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights")
    nets = build_networks(1, 8, names=("edge_generator", "inpaint_generator"))
    save_networks(str(path), nets)
    return str(path)


@pytest.fixture(scope="module")
def server(weights_dir):
    """A real uvicorn server on a free loopback port, in a thread."""
    signatures = load_signatures(weights_dir=weights_dir)
    app = create_app(signatures, max_request_bytes=2_000_000)
    with app_in_thread(app) as url:
        yield url


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


def test_eight_concurrent_requests_equal_sequential(server):
    bodies = [_request(_photo(seed=i), _mask(box=(5 + i, 20 + i, 8, 30))) for i in range(8)]
    sequential = [_post(server, b) for b in bodies]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(lambda b: _post(server, b), bodies))
    for (c1, p1), (c2, p2) in zip(sequential, concurrent, strict=True):
        assert c1 == c2 == 200
        a = _decode(p1["predictions"][0]["inpainted_png_bytes"]["b64"])
        b = _decode(p2["predictions"][0]["inpainted_png_bytes"]["b64"])
        np.testing.assert_array_equal(a, b)


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
        assert b"v1/models/edgeconnect:predict" in r.read()
    with urllib.request.urlopen(server + "/v1/models/edgeconnect") as r:
        assert json.loads(r.read())["model_version_status"][0]["state"] == "AVAILABLE"


def test_binds_to_loopback_by_default():
    import argparse

    parser = argparse.ArgumentParser()
    from edgeconnect_tf.cli.serve import add_arguments

    add_arguments(parser)
    args = parser.parse_args(["--weights", "w"])
    assert args.host == "127.0.0.1"
