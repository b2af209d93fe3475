"""The editor's static side: `serve --static-only` (no TensorFlow, cross-origin isolated)
and the pinned LiteRT.js files (manifest, fetch/verify script, wheel contents)."""

import base64
import hashlib
import io
import json
import os
import shutil
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
    # The worker loads exactly these: the ES modules and the three WebAssembly builds it picks
    # from, under the folder that says they are third-party.
    assert fetch_litert.LITERT_DIR.endswith(os.path.join("static", "third_party", "litert"))
    worker = open(os.path.join(fetch_litert.STATIC_DIR, "inference_worker.js")).read()
    assert '"third_party/litert/"' in worker
    assert {"core/index.js", "wasm-utils/index.js"} <= paths
    for name in ("core/index.js", "wasm-utils/index.js"):
        assert f'"{name}"' in worker
    for variant in ("threaded", "compat", "jspi"):
        assert f"litert_wasm_{variant}_internal" in worker
        assert {f"wasm/litert_wasm_{variant}_internal.{ext}" for ext in ("js", "wasm")} <= paths
    # The worker resolves the core module's one bare import itself (workers have no import maps).
    core = open(os.path.join(fetch_litert.LITERT_DIR, "core", "index.js")).read()
    assert core.count('from "@litertjs/wasm-utils"') == 1
    assert 'from "@litertjs/wasm-utils"' in worker


def test_litert_ships_with_its_licence_and_the_project_has_one():
    manifest = fetch_litert.load_manifest()
    licence = open(os.path.join(fetch_litert.LITERT_DIR, "LICENSE")).read()
    assert licence.lstrip().startswith("Apache License\n                           Version 2.0")
    assert "END OF TERMS AND CONDITIONS" in licence
    assert {p["license"] for p in manifest["packages"].values()} == {"Apache-2.0"}
    # Each package's own package.json is shipped and declares that licence (check_files reads it).
    declared = {e["package"] for e in manifest["files"] if e["member"] == "package/package.json"}
    assert declared == set(manifest["packages"])
    project = open(os.path.join(ROOT, "LICENSE")).read()
    assert licence in project and "CC BY-NC 4.0" in project.split(licence)[0]


def _tracked_text():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    for path in listed.stdout.decode().split("\0"):
        if path and not path.endswith((".wasm", ".png", ".jpg", ".npz", ".tflite")):
            full = os.path.join(ROOT, path)
            if os.path.isfile(full):
                yield path, open(full, "rb").read().decode("utf-8", "replace")


def test_no_registry_host_in_the_manifest_or_the_repository():
    manifest = fetch_litert.load_manifest()
    assert "://" not in json.dumps(manifest)
    for name, package in manifest["packages"].items():
        assert set(package) == {"version", "license", "integrity"}, name
        assert package["integrity"].startswith("sha512-")
        assert len(base64.b64decode(package["integrity"][7:])) == 64
    if not os.path.isdir(os.path.join(ROOT, ".git")) and not os.path.isfile(
        os.path.join(ROOT, ".git")
    ):
        pytest.skip("not a git checkout")
    hosts = ["registry." + "npmjs.org", "registry." + "yarnpkg.com", "files." + "pythonhosted.org"]
    found = [(path, h) for path, text in _tracked_text() for h in hosts if h in text]
    assert found == []


def _tarball(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _manifest(tarball, content, sha256=None):
    return {
        "packages": {
            "pkg": {
                "version": "1.0.0",
                "license": "MIT",
                "integrity": fetch_litert.integrity_of(tarball),
            }
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


class _Packer:
    """`npm pack` stand-in: the tarball for each (name, version) it is asked for."""

    def __init__(self, data):
        self.data = data
        self.asked = []

    def __call__(self, name, version):
        self.asked.append(f"{name}@{version}")
        return self.data


def test_fetch_verifies_the_tarball_and_each_file(tmp_path):
    content = b"\0asm fake module"
    tarball = _tarball({"package/a.wasm": content, "package/other.wasm": b"not listed"})
    pack = _Packer(tarball)
    manifest = _manifest(tarball, content)
    assert fetch_litert.fetch(manifest, str(tmp_path), pack) == [("lib/a.wasm", len(content))]
    assert pack.asked == ["pkg@1.0.0"]
    assert (tmp_path / "lib" / "a.wasm").read_bytes() == content
    assert sorted(os.listdir(tmp_path / "lib")) == ["a.wasm"]  # only listed files, no temp files
    assert fetch_litert.check_files(manifest, str(tmp_path)) == []

    (tmp_path / "lib" / "a.wasm").write_bytes(b"changed")
    assert fetch_litert.check_files(manifest, str(tmp_path))[0].startswith("lib/a.wasm: SHA-256")


def test_fetch_refuses_a_tampered_tarball_or_file(tmp_path):
    content = b"\0asm fake module"
    tarball = _tarball({"package/a.wasm": content})
    manifest = _manifest(tarball, content)
    with pytest.raises(ValueError, match="pkg@1.0.0: tarball integrity sha512"):
        fetch_litert.fetch(manifest, str(tmp_path), _Packer(tarball + b"x"))
    with pytest.raises(ValueError, match="package/a.wasm in pkg@1.0.0: SHA-256"):
        fetch_litert.fetch(
            _manifest(tarball, content, sha256="0" * 64), str(tmp_path), _Packer(tarball)
        )
    assert not (tmp_path / "lib").exists()
    manifest["files"][0]["member"] = "package/missing.wasm"
    with pytest.raises(ValueError, match="has no file package/missing.wasm"):
        fetch_litert.fetch(manifest, str(tmp_path), _Packer(tarball))


def test_check_compares_package_json_with_the_pin(tmp_path):
    declared = json.dumps({"name": "pkg", "version": "1.0.1", "license": "MIT"}).encode()
    tarball = _tarball({"package/package.json": declared})
    manifest = _manifest(tarball, declared)
    manifest["files"][0].update(path="package.json", member="package/package.json")
    fetch_litert.fetch(manifest, str(tmp_path), _Packer(tarball))
    assert fetch_litert.check_files(manifest, str(tmp_path)) == [
        "package.json: version '1.0.1', manifest pins '1.0.0'"
    ]


def test_update_pins_the_new_version_from_its_tarball(tmp_path):
    old, new = b"old module", b"new module"
    manifest = _manifest(_tarball({"package/a.wasm": old}), old)
    tarball = _tarball({"package/a.wasm": new})
    pack = _Packer(tarball)
    pinned = fetch_litert.updated(manifest, "2.0.0", pack)
    assert pack.asked == ["pkg@2.0.0"]
    assert pinned["packages"]["pkg"]["version"] == "2.0.0"
    assert pinned["packages"]["pkg"]["integrity"] == fetch_litert.integrity_of(tarball)
    assert pinned["files"][0]["sha256"] == hashlib.sha256(new).hexdigest()
    assert manifest["packages"]["pkg"]["version"] == "1.0.0"  # the input is left alone
    fetch_litert.fetch(pinned, str(tmp_path), pack)
    assert (tmp_path / "lib" / "a.wasm").read_bytes() == new


def test_without_npm_the_fetch_says_what_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ValueError, match="npm is not on PATH"):
        fetch_litert.npm_pack("@litertjs/core", "2.5.3")
    (tmp_path / "manifest.json").write_text(json.dumps(fetch_litert.load_manifest()))
    assert fetch_litert.main(["--root", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("fetch_litert: npm is not on PATH")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm not installed")
def test_npm_pack_gives_the_pinned_files(tmp_path):
    """The real thing, through this machine's npm configuration."""
    manifest = fetch_litert.load_manifest()
    manifest["packages"] = {"@litertjs/wasm-utils": manifest["packages"]["@litertjs/wasm-utils"]}
    manifest["files"] = [e for e in manifest["files"] if e["package"] == "@litertjs/wasm-utils"]
    try:
        written = fetch_litert.fetch(manifest, str(tmp_path))
    except ValueError as e:
        if any(code in str(e) for code in ("ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNREFUSED")):
            pytest.skip(f"no package registry reachable: {e}")
        raise
    assert sorted(path for path, _ in written) == ["wasm-utils/index.js", "wasm-utils/package.json"]
    assert fetch_litert.check_files(manifest, str(tmp_path)) == []


def test_check_mode_reports_missing_files(tmp_path, capsys):
    assert fetch_litert.main(["--check", "--root", str(tmp_path)]) == 1
    assert "core/index.js: missing" in capsys.readouterr().err


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
        url = base + "/static/third_party/litert/wasm/litert_wasm_threaded_internal.wasm"
        with urllib.request.urlopen(url, timeout=30) as wasm:
            assert wasm.headers["Content-Type"] == "application/wasm"
            assert wasm.headers["Cross-Origin-Resource-Policy"] == "same-origin"
            assert wasm.read()[:4] == b"\0asm"
        with pytest.raises(urllib.error.HTTPError, match="404|405"):
            urllib.request.urlopen(
                urllib.request.Request(base + "/v1/models/edgeconnect:predict", data=b"{}")
            )
        # What the page asks instead: answered 200, so the browser logs no failed request.
        with urllib.request.urlopen(base + "/api/server", timeout=30) as answer:
            assert json.load(answer) == {"model": False}
    finally:
        proc.kill()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_built_wheel_ships_the_page_and_litert_files(built_wheel):
    wheel, output = built_wheel
    assert "is absent from the `packages` configuration" not in output
    names = set(zipfile.ZipFile(wheel).namelist())
    manifest = json.load(open(fetch_litert.MANIFEST, encoding="utf-8"))
    litert = "edgeconnect_tf/editor/static/third_party/litert"
    expected = {f"{litert}/{e['path']}" for e in manifest["files"]}
    expected |= {f"{litert}/{n}" for n in ("LICENSE", "README.md", "manifest.json")}
    page = (
        "index.html",
        "editor.js",
        "graypng.js",
        "ondevice.js",
        "windows.js",
        "inference_worker.js",
    )
    expected |= {f"edgeconnect_tf/editor/static/{n}" for n in page}
    assert expected <= names
    licences = {n for n in names if n.endswith(".dist-info/LICENSE") or "/licenses/" in n}
    assert licences, sorted(n for n in names if "dist-info" in n)


def test_hints_name_real_commands():
    """Every `edgeconnect serve --FLAG` the page shows a user is a flag `serve` has."""
    import re

    from edgeconnect_tf.cli import build_parser

    serve = build_parser().commands["serve"]
    flags = {s for action in serve._actions for s in action.option_strings}
    static = os.path.join(os.path.dirname(fetch_litert.__file__), "static")
    named = set()
    for name in os.listdir(static):
        if name.endswith((".js", ".html")):
            with open(os.path.join(static, name), encoding="utf-8") as f:
                named |= set(re.findall(r"edgeconnect serve (--[a-z-]+)", f.read()))
    assert named and named <= flags, named - flags
