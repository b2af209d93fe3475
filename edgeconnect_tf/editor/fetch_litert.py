"""Fetch, check or update the LiteRT.js files the editor's in-browser mode loads (stdlib + npm).

The files live in `editor/static/third_party/litert/` beside their `LICENSE` and
`manifest.json` (each package by name@version and the sha512 integrity of its
tarball; each file by its member in the tarball and its SHA-256). They are
committed and shipped as package data, so an installed package serves them with
no network. Tarballs come from `npm pack NAME@VERSION`, i.e. through the user's
own npm configuration (registry, mirror, proxy, cache); no host is written here.

    python -m edgeconnect_tf.editor.fetch_litert                 # re-fetch the pinned files
    python -m edgeconnect_tf.editor.fetch_litert --check         # verify them (no network)
    python -m edgeconnect_tf.editor.fetch_litert --update 2.6.0  # pin another version
"""

import argparse
import base64
import copy
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

from edgeconnect_tf.files.io import atomic_write

HERE = os.path.dirname(os.path.abspath(__file__))
STATIC_DIR = os.path.join(HERE, "static")
LITERT_DIR = os.path.join(STATIC_DIR, "third_party", "litert")
MANIFEST = os.path.join(LITERT_DIR, "manifest.json")


def load_manifest(path=MANIFEST):
    """The manifest: `packages` {name: {version, license, integrity}}, `files` [{path, package,
    member, sha256}] with paths relative to the manifest's folder."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def check_files(manifest, root=LITERT_DIR):
    """Problems with the files under `root`, one line each; an empty list when all match.

    Besides each SHA-256, a package's own `package.json` must declare the version and
    licence the manifest pins.
    """
    problems = []
    for entry in manifest["files"]:
        path = os.path.join(root, entry["path"])
        if not os.path.isfile(path):
            problems.append(f"{entry['path']}: missing")
            continue
        with open(path, "rb") as f:
            content = f.read()
        digest = hashlib.sha256(content).hexdigest()
        if digest != entry["sha256"]:
            problems.append(f"{entry['path']}: SHA-256 {digest}, manifest pins {entry['sha256']}")
        elif entry["member"] == "package/package.json":
            declared = json.loads(content)
            pinned = manifest["packages"][entry["package"]]
            for key in ("version", "license"):
                if declared.get(key) != pinned[key]:
                    problems.append(
                        f"{entry['path']}: {key} {declared.get(key)!r}, manifest pins "
                        f"{pinned[key]!r}"
                    )
    return problems


def integrity_of(data, algorithm="sha512"):
    """npm's integrity string (Subresource Integrity form) of `data`: 'sha512-<base64>'."""
    return f"{algorithm}-" + base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


def npm_pack(name, version):
    """The bytes of NAME@VERSION's tarball, from `npm pack` (the user's npm configuration).

    Raises:
        ValueError: npm is not installed or could not fetch the package.
    """
    with tempfile.TemporaryDirectory(prefix="fetch_litert_") as folder:
        command = ["npm", "pack", f"{name}@{version}", "--json", "--pack-destination", folder]
        try:
            done = subprocess.run(command, capture_output=True, text=True, cwd=folder)
        except FileNotFoundError:
            raise ValueError(
                "npm is not on PATH: install Node.js's npm, which fetches the pinned "
                "packages through your npm configuration"
            ) from None
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
            raise ValueError(f"`npm pack {name}@{version}` failed: {lines[-1]}")
        filename = json.loads(done.stdout)[0]["filename"]
        with open(os.path.join(folder, filename), "rb") as f:
            return f.read()


def _members(data, label, entries):
    """{member: bytes} of `entries`' members in the gzipped tarball `data`."""
    found = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for entry in entries:
            try:
                member = tar.extractfile(entry["member"])
            except KeyError:
                member = None
            if member is None:
                raise ValueError(f"{label} has no file {entry['member']}")
            found[entry["member"]] = member.read()
    return found


def fetch(manifest, root=LITERT_DIR, pack=npm_pack):
    """Packs each pinned package, verifies it and writes the listed files under `root`.

    `pack(name, version)` returns the tarball's bytes (default: `npm_pack`).
    Returns [(path, bytes written)].

    Raises:
        ValueError: a tarball or a file does not match its pinned checksum, or a listed
            member is not in the tarball. Nothing is written for a package that fails.
    """
    written = []
    for name, package in manifest["packages"].items():
        label = f"{name}@{package['version']}"
        data = pack(name, package["version"])
        algorithm = package["integrity"].partition("-")[0]
        if integrity_of(data, algorithm) != package["integrity"]:
            raise ValueError(
                f"{label}: tarball integrity {integrity_of(data, algorithm)}, the manifest pins "
                f"{package['integrity']}"
            )
        entries = [e for e in manifest["files"] if e["package"] == name]
        members = _members(data, label, entries)
        for entry in entries:
            digest = hashlib.sha256(members[entry["member"]]).hexdigest()
            if digest != entry["sha256"]:
                raise ValueError(
                    f"{entry['member']} in {label}: SHA-256 {digest}, the manifest pins "
                    f"{entry['sha256']}"
                )
        for entry in entries:
            atomic_write(os.path.join(root, entry["path"]), members[entry["member"]])
            written.append((entry["path"], len(members[entry["member"]])))
    return written


def updated(manifest, version, pack=npm_pack):
    """A copy of `manifest` pinning every package at `version`: integrities and SHA-256s
    from the packed tarballs (which must hold every listed member)."""
    new = copy.deepcopy(manifest)
    for name, package in new["packages"].items():
        data = pack(name, version)
        package["version"] = version
        package["integrity"] = integrity_of(data)
        entries = [e for e in new["files"] if e["package"] == name]
        members = _members(data, f"{name}@{version}", entries)
        for entry in entries:
            entry["sha256"] = hashlib.sha256(members[entry["member"]]).hexdigest()
    return new


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="only verify the files present (no network)"
    )
    mode.add_argument(
        "--update",
        metavar="VERSION",
        help="pin every package at VERSION (rewrites manifest.json), then fetch",
    )
    parser.add_argument(
        "--root", default=LITERT_DIR, help="the LiteRT.js folder (default: the editor's)"
    )
    args = parser.parse_args(argv)
    manifest_path = os.path.join(args.root, "manifest.json")
    manifest = load_manifest(manifest_path if os.path.isfile(manifest_path) else MANIFEST)
    if not args.check:
        try:
            if args.update:
                manifest = updated(manifest, args.update)
            for path, size in fetch(manifest, args.root):
                print(f"wrote {path} ({size / 1e6:.2f} MB)")
            if args.update:
                atomic_write(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
                print(f"pinned {', '.join(manifest['packages'])} at {args.update}")
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
