"""Fetch or check the LiteRT.js files the editor's in-browser mode loads (stdlib only).

The files (`litert_manifest.json`: package, version, registry tarball and its
sha512 integrity, then each file's path under `editor/static/` and SHA-256)
are committed and shipped as package data, so an installed package serves
them with no network. This script re-downloads the pinned npm tarballs,
checks them against the registry's integrity, extracts only the listed files
and checks each one's SHA-256 before writing it:

    python -m edgeconnect_tf.editor.fetch_litert           # fetch (network)
    python -m edgeconnect_tf.editor.fetch_litert --check   # verify what is there
"""

import argparse
import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.request

from edgeconnect_tf.io import atomic_write

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "litert_manifest.json")
STATIC_DIR = os.path.join(HERE, "static")


def load_manifest(path=MANIFEST):
    """The manifest as a dict: `packages` {name: {version, tarball, integrity}}, `files` [...]."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def check_files(manifest, root=STATIC_DIR):
    """Problems with the files under `root`, one line each; an empty list when all match."""
    problems = []
    for entry in manifest["files"]:
        path = os.path.join(root, entry["path"])
        if not os.path.isfile(path):
            problems.append(f"{entry['path']}: missing")
            continue
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != entry["sha256"]:
            problems.append(f"{entry['path']}: SHA-256 {digest}, manifest pins {entry['sha256']}")
    return problems


def _check_integrity(data, integrity, name):
    algorithm, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode("ascii")
    if actual != expected:
        raise ValueError(f"{name}: tarball {algorithm} is {actual}, the manifest pins {expected}")


def fetch(manifest, root=STATIC_DIR, opener=urllib.request.urlopen):
    """Downloads each pinned tarball, verifies it and writes the listed files under `root`.

    Raises:
        ValueError: a tarball or a file does not match its pinned checksum, or a
            listed member is not in the tarball. Nothing is written for a
            package whose tarball fails its check.
    """
    written = []
    for name, package in manifest["packages"].items():
        with opener(package["tarball"]) as response:
            data = response.read()
        _check_integrity(data, package["integrity"], f"{name}@{package['version']}")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for entry in (e for e in manifest["files"] if e["package"] == name):
                try:
                    member = tar.extractfile(entry["member"])
                except KeyError:
                    member = None
                if member is None:
                    raise ValueError(f"{name}@{package['version']} has no file {entry['member']}")
                content = member.read()
                digest = hashlib.sha256(content).hexdigest()
                if digest != entry["sha256"]:
                    raise ValueError(
                        f"{entry['member']} in {name}@{package['version']}: SHA-256 {digest}, "
                        f"the manifest pins {entry['sha256']}"
                    )
                atomic_write(os.path.join(root, entry["path"]), content)
                written.append((entry["path"], len(content)))
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="only verify the files present (no network)"
    )
    parser.add_argument(
        "--root", default=STATIC_DIR, help="static directory (default: the editor's)"
    )
    args = parser.parse_args(argv)
    manifest = load_manifest()
    if not args.check:
        try:
            for path, size in fetch(manifest, args.root):
                print(f"wrote {path} ({size / 1e6:.2f} MB)")
        except (OSError, ValueError) as e:
            print(f"fetch_litert: {e}", file=sys.stderr)
            return 1
    problems = check_files(manifest, args.root)
    for line in problems:
        print(f"fetch_litert: {line}", file=sys.stderr)
    if not problems:
        total = sum(os.path.getsize(os.path.join(args.root, e["path"])) for e in manifest["files"])
        print(f"{len(manifest['files'])} LiteRT.js files match the manifest ({total / 1e6:.1f} MB)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
