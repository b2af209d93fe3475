"""The editor's static side: `serve --static-only` (no TensorFlow, cross-origin isolated)
and the pinned LiteRT.js files (manifest, fetch/verify script, wheel contents)."""

import base64
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile

import pytest

from edgeconnect_tf.editor import fetch_litert

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_shipped_litert_files_match_the_manifest():
    manifest = fetch_litert.load_manifest()
    assert fetch_litert.check_files(manifest) == []
    paths = {entry["path"] for entry in manifest["files"]}
    # The page loads exactly these: the ES modules and the three WebAssembly builds it picks from.
    page = open(os.path.join(fetch_litert.STATIC_DIR, "ondevice.js"), encoding="utf-8").read()
    html = open(os.path.join(fetch_litert.STATIC_DIR, "index.html"), encoding="utf-8").read()
    assert "litert/core/index.js" in paths and "./litert/core/index.js" in page
    assert "/static/litert/wasm-utils/index.js" in html
    for variant in ("threaded", "compat", "jspi"):
        assert f"litert_wasm_{variant}_internal.js" in page
        assert {
            f"litert/wasm/litert_wasm_{variant}_internal.{ext}" for ext in ("js", "wasm")
        } <= paths


def _tarball(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _manifest(tarball, content, sha256=None):
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    return {
        "packages": {
            "pkg": {"version": "1.0.0", "tarball": "https://x/pkg.tgz", "integrity": integrity}
        },
        "files": [
            {
                "path": "lib/a.wasm",
                "package": "pkg",
                "member": "package/a.wasm",
                "sha256": sha256 or hashlib.sha256(content).hexdigest(),
            }
        ],
    }


class _Opener:
    def __init__(self, data):
        self.data = data
        self.urls = []

    def __call__(self, url):
        self.urls.append(url)
        return io.BytesIO(self.data)


def test_fetch_verifies_the_tarball_and_each_file(tmp_path):
    content = b"\0asm fake module"
    tarball = _tarball({"package/a.wasm": content, "package/other.wasm": b"not listed"})
    opener = _Opener(tarball)
    manifest = _manifest(tarball, content)
    assert fetch_litert.fetch(manifest, str(tmp_path), opener) == [("lib/a.wasm", len(content))]
    assert opener.urls == ["https://x/pkg.tgz"]
    assert (tmp_path / "lib" / "a.wasm").read_bytes() == content
    assert sorted(os.listdir(tmp_path / "lib")) == ["a.wasm"]  # only listed files, no temp files
    assert fetch_litert.check_files(manifest, str(tmp_path)) == []

    (tmp_path / "lib" / "a.wasm").write_bytes(b"changed")
    assert fetch_litert.check_files(manifest, str(tmp_path))[0].startswith("lib/a.wasm: SHA-256")


def test_fetch_refuses_a_tampered_tarball_or_file(tmp_path):
    content = b"\0asm fake module"
    tarball = _tarball({"package/a.wasm": content})
    manifest = _manifest(tarball, content)
    with pytest.raises(ValueError, match="pkg@1.0.0: tarball sha512"):
        fetch_litert.fetch(manifest, str(tmp_path), _Opener(tarball + b"x"))
    with pytest.raises(ValueError, match="package/a.wasm in pkg@1.0.0: SHA-256"):
        fetch_litert.fetch(
            _manifest(tarball, content, sha256="0" * 64), str(tmp_path), _Opener(tarball)
        )
    assert not (tmp_path / "lib").exists()
    manifest["files"][0]["member"] = "package/missing.wasm"
    with pytest.raises(ValueError, match="has no file package/missing.wasm"):
        fetch_litert.fetch(manifest, str(tmp_path), _Opener(tarball))


def test_check_mode_reports_missing_files(tmp_path, capsys):
    assert fetch_litert.main(["--check", "--root", str(tmp_path)]) == 1
    assert "litert/core/index.js: missing" in capsys.readouterr().err


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_static_only_serves_the_page_isolated_without_tensorflow():
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    port = _free_port()
    # Importing TensorFlow anywhere in this process would raise: sys.modules["tensorflow"] = None.
    code = (
        "import sys; sys.modules['tensorflow'] = None; from edgeconnect_tf.cli import main; "
        f"main(['serve', '--static-only', '--port', '{port}'])"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/", timeout=5) as page:
                    html, headers = page.read(), page.headers
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.time() < deadline, "server did not start"
                time.sleep(0.2)
        assert b'src="/static/ondevice.js"' in html
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        url = base + "/static/litert/wasm/litert_wasm_threaded_internal.wasm"
        with urllib.request.urlopen(url, timeout=30) as wasm:
            assert wasm.headers["Content-Type"] == "application/wasm"
            assert wasm.headers["Cross-Origin-Resource-Policy"] == "same-origin"
            assert wasm.read()[:4] == b"\0asm"
        with pytest.raises(urllib.error.HTTPError, match="404|405"):
            urllib.request.urlopen(
                urllib.request.Request(base + "/v1/models/edgeconnect:predict", data=b"{}")
            )
    finally:
        proc.kill()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_built_wheel_ships_the_page_and_litert_files(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            ROOT,
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "is absent from the `packages` configuration" not in result.stdout + result.stderr
    (wheel,) = [p for p in os.listdir(tmp_path) if p.endswith(".whl")]
    names = set(zipfile.ZipFile(tmp_path / wheel).namelist())
    manifest = json.load(open(fetch_litert.MANIFEST, encoding="utf-8"))
    expected = {f"edgeconnect_tf/editor/static/{e['path']}" for e in manifest["files"]}
    expected |= {
        f"edgeconnect_tf/editor/static/{n}" for n in ("index.html", "editor.js", "ondevice.js")
    }
    expected.add("edgeconnect_tf/editor/litert_manifest.json")
    assert expected <= names
