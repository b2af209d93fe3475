"""`edgeconnect inpaint-beam` (edgeconnect_tf/beam.py) on Beam's local runner with 2 workers,
and in-process on ram:// folders (TensorFlow's in-memory filesystem, standing in for gs://).

The pipelines run on the FnApiRunner, the engine behind Beam's DirectRunner, named
explicitly: the DirectRunner of Beam >= 2.6x first tries to download its Go "Prism"
runner, which a test must not do.
"""

import os
import shutil

import cv2
import numpy as np
import pytest

beam = pytest.importorskip("apache_beam")

from edgeconnect_tf import beam as pipeline  # noqa: E402
from edgeconnect_tf.cli import main as cli_main  # noqa: E402
from edgeconnect_tf.files.io import atomic_path, atomic_write, read_image  # noqa: E402
from edgeconnect_tf.jobs import pending, plan_inpaint  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TWO_WORKERS = [
    "--runner", "FnApiRunner", "--direct_num_workers", "2",
    "--direct_running_mode", "multi_processing",
]  # fmt: skip
ONE_WORKER = [*TWO_WORKERS[:3], "1", *TWO_WORKERS[4:]]  # one worker process
KILL_MARKER = "EDGECONNECT_TEST_KILL_MARKER"


@pytest.fixture(autouse=True)
def _workers_import_this_checkout(monkeypatch):
    """Worker processes find this checkout's package and this test module (die_halfway)."""
    paths = [REPO, os.path.join(REPO, "tests"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))


def _image(height, width, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    smooth = np.stack([x * 4, y * 5, (x + y) * 3], -1) % 256
    return np.clip(smooth + rng.integers(-20, 20, (height, width, 3)), 0, 255).astype(np.uint8)


def _write(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    array = array[..., ::-1] if array.ndim == 3 else array
    assert cv2.imwrite(str(path), array)


@pytest.fixture(scope="module")
def data(tmp_path_factory, tiny_weights):
    """weights/ (`tiny_weights`), in/ (6 good images, 2 sizes, a subfolder, a JPEG), mixed/
    (in/ plus 4 bad inputs), masks/, and expected/: `edgeconnect inpaint --save-edges` on in/."""
    root = tmp_path_factory.mktemp("beam")
    shutil.copytree(tiny_weights, root / "weights")
    names = ["a.png", "b.png", "c.jpg", "sub/d.png", "sub/e.png", "f.png"]
    for k, name in enumerate(names):
        height, width = (40, 48) if k % 2 else (36, 52)
        _write(root / "in" / name, _image(height, width, k))
        hole = np.zeros((height, width), np.uint8)
        hole[8 + k : 20 + k, 10:30] = 255
        _write(root / "masks" / (os.path.splitext(name)[0] + ".png"), hole)
    shutil.copytree(root / "in", root / "mixed")
    (root / "mixed" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")  # header fails
    png = cv2.imencode(".png", _image(40, 48, 9))[1].tobytes()
    (root / "mixed" / "truncated.png").write_bytes(png[:60])  # header fine, decoding fails
    _write(root / "mixed" / "big.png", _image(64, 64, 10))  # above --max-pixels 3000
    _write(root / "mixed" / "sized.png", _image(40, 48, 11))  # its mask is 20×24
    for name, shape in [("broken", (40, 48)), ("truncated", (40, 48)), ("big", (64, 64))]:
        _write(root / "masks" / f"{name}.png", np.full(shape, 255, np.uint8))
    _write(root / "masks" / "sized.png", np.full((20, 24), 255, np.uint8))
    code = cli_main(
        ["inpaint", "--weights", str(root / "weights"), "--input", str(root / "in"),
         "--mask", str(root / "masks"), "--output", str(root / "expected"), "--save-edges"]
    )  # fmt: skip
    assert code == 0
    return root


def _assert_same_results(got, expected):
    """{name: bytes} maps of results computed in another batch or graph than `expected`'s:
    the same files, each a complete image within float32 rounding of the expected one
    (≤ 1 level on ≤ 0.5 % of values: a batch of other size or the SavedModel's graph
    reorders sums; the serving tests measure the same bound)."""
    assert sorted(got) == sorted(expected)
    for name, content in got.items():
        a = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_UNCHANGED)
        b = cv2.imdecode(np.frombuffer(expected[name], np.uint8), cv2.IMREAD_UNCHANGED)
        assert a is not None and a.shape == b.shape, name  # complete, readable
        diff = np.abs(a.astype(int) - b.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() <= 0.005, (name, diff.max())


def _files(directory):
    """{relative path: bytes} of the files under `directory` that are not hidden."""
    found = {}
    for folder, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith("."):
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    found[os.path.relpath(path, directory)] = f.read()
    return found


@pytest.mark.slow
@pytest.mark.long
def test_two_workers_match_inpaint_dead_letter_the_bad_and_rerun_skips(data, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["inpaint-beam", "--weights", str(data / "weights"), "--input", str(data / "mixed"),
            "--mask", str(data / "masks"), "--output", str(out), "--save-edges",
            "--batch-size", "2", "--max-pixels", "3000", *TWO_WORKERS]  # fmt: skip
    assert cli_main(argv) == 1  # some inputs failed
    stdout, stderr = capsys.readouterr()
    assert "wrote 6 image(s)" in stdout
    assert f"4 image(s) failed: see {out / '_failed'}" in stderr
    files = _files(out)
    failed = {k: v.decode() for k, v in files.items() if k.startswith("_failed")}
    assert {k: v for k, v in files.items() if k not in failed} == _files(data / "expected")
    assert set(failed) == {f"_failed/{n}.png.txt" for n in ("broken", "truncated", "big", "sized")}
    reasons = {k.split("/")[1].split(".")[0]: v.splitlines()[-1] for k, v in failed.items()}
    assert "broken.png could not be read as an image" in reasons["broken"]
    assert "truncated.png could not be read as an image" in reasons["truncated"]
    assert "64×64 = 4096 pixels; the limit is 3000" in reasons["big"]
    assert "mask" in reasons["sized"] and "24×20" in reasons["sized"]
    assert failed["_failed/big.png.txt"].splitlines()[0] == f"image: {data / 'mixed' / 'big.png'}"

    stats = {p: os.stat(out / p) for p in _files(data / "expected")}
    assert cli_main(argv) == 1  # a rerun: the four bad inputs fail again, the rest is kept
    stdout, _ = capsys.readouterr()
    assert "wrote 0 image(s)" in stdout and "skipped 6" in stdout
    for path, before in stats.items():
        after = os.stat(out / path)
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), path


def die_halfway(path, data):
    """An atomic write whose process dies (SIGKILL-like `os._exit`) half-way through the
    first file of the run; later calls write normally."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data[: len(data) // 2])
        f.flush()
        try:
            os.close(os.open(os.environ[KILL_MARKER], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            f.write(data[len(data) // 2 :])
            return
        os._exit(9)


@pytest.mark.slow
@pytest.mark.long
def test_worker_killed_mid_write_leaves_no_partial_file(data, tmp_path, monkeypatch):
    """The local runner does not retry: the run fails, and the rerun (what a cluster's
    retry of the bundle does; one worker process) finishes the job; no output is ever
    half-written."""
    monkeypatch.setenv(KILL_MARKER, str(tmp_path / "killed"))
    out = tmp_path / "out"
    jobs = plan_inpaint(str(data / "in"), str(data / "masks"), str(out), save_edges=True)
    settings = pipeline.Settings(
        weights=str(data / "weights"), output=str(out), dead_letter=str(out / "_failed")
    )
    with pytest.raises(Exception, match="Channel closed|closed prematurely|worker"):
        pipeline.run(pending(jobs), settings, TWO_WORKERS, write=die_halfway)
    assert (tmp_path / "killed").exists()  # the worker did die in the middle of a write
    expected = _files(data / "expected")
    written = _files(out)  # whatever has its final name is complete
    _assert_same_results(written, {k: expected[k] for k in written})
    hidden = [n for _, _, files in os.walk(out) for n in files if n.startswith(".")]
    assert all(".tmp." in name for name in hidden)  # the killed attempt's temporary file

    todo = pending(jobs)
    assert 0 < len(todo) <= len(jobs)
    counts = pipeline.run(todo, settings, ONE_WORKER, write=die_halfway)
    assert counts == {"written": len(todo), "skipped": 0, "failed": 0}
    _assert_same_results(_files(out), expected)


def test_batched_record_replay_equals_inpaint_for_every_strategy(data, tmp_path):
    """In-process, no runner: the handler stacks same-size calls (crop: several windows
    per image) and the replayed `inpaint` writes the same bytes as `edgeconnect inpaint`."""
    from edgeconnect_tf.edgeconnect import EdgeConnect
    from edgeconnect_tf.inpaint import inpaint
    from edgeconnect_tf.jobs import encoded_outputs

    big = tmp_path / "big"
    masks = tmp_path / "masks"
    for k, size in enumerate([(300, 600), (300, 600), (120, 90)]):  # crop: 2, 2, 1 windows
        _write(big / f"{k}.png", _image(*size, k))
        hole = np.zeros(size, np.uint8)
        hole[100:130, 20:50] = hole[150:170, size[1] - 50 : size[1] - 20] = 255
        _write(masks / f"{k}.png", hole)
    model = EdgeConnect.from_pretrained(str(data / "weights"))
    for tiling in ("crop", "resize", "full"):
        out = tmp_path / tiling
        settings = pipeline.Settings(
            weights=str(data / "weights"), tiling=tiling, output=str(out),
            dead_letter=str(out / "_failed"), batch_size=4,
        )  # fmt: skip
        todo = plan_inpaint(str(big), str(masks), str(out))
        prepared = pipeline.prepare_batch(todo, settings)
        calls = [len(p.calls) for p in prepared]
        assert calls == ([2, 2, 1] if tiling == "crop" else [1, 1, 1])
        calls_made = []

        def counting(inputs, training=False, calls_made=calls_made, **kwargs):
            calls_made.append(inputs["image"].shape[0])
            return model(inputs, training=training, **kwargs)

        handler = pipeline.EdgeConnectModelHandler(settings)
        results = handler.run_inference(prepared, counting)
        assert sorted(calls_made, reverse=True)[0] >= 2  # same-size calls ran as one batch
        writer = pipeline.WriteResults(settings)
        for result in results:
            assert list(writer.process(result)) == [result.example.job.output]
        for job in todo:
            want, edge_map = inpaint(
                model, read_image(job.image), read_image(job.mask, "mask"), tiling=tiling
            )
            with open(job.output, "rb") as f:
                assert f.read() == encoded_outputs(job, want, edge_map)[job.output]


def test_a_failing_batch_fails_its_jobs_only(data, tmp_path):
    out = tmp_path / "out"
    settings = pipeline.Settings(output=str(out), dead_letter=str(out / "_failed"))
    todo = plan_inpaint(str(data / "in"), str(data / "masks"), str(out))[:3]
    prepared = pipeline.prepare_batch(todo, settings)  # 36×52, 40×48, 36×52

    def model(inputs, training=False):
        if inputs["image"].shape[1] == 40:
            raise MemoryError("out of memory")
        return {"inpainted": inputs["image"], "edges": inputs["mask"]}

    results = pipeline.EdgeConnectModelHandler(settings).run_inference(prepared, model)
    assert isinstance(results[1].inference, str) and "out of memory" in results[1].inference
    assert not isinstance(results[0].inference, str) and not isinstance(results[2].inference, str)
    writer = pipeline.WriteResults(settings)
    tagged = list(writer.process(results[1]))
    assert len(tagged) == 1 and tagged[0].tag == pipeline.FAILED
    atomic_write(pipeline.dead_letter_path(todo[0], settings), "old failure")
    assert list(writer.process(results[0])) == [todo[0].output]
    assert not os.path.exists(pipeline.dead_letter_path(todo[0], settings))  # done now
    path = pipeline.write_dead_letter(tagged[0].value, settings)
    assert path == str(out / "_failed" / "b.png.txt")
    with open(path) as f:
        assert f.read().splitlines()[-1].startswith("reason: model failed on a batch of 1")


def test_pipeline_options_pass_through_and_typos_are_refused(data, tmp_path, capsys):
    base = ["inpaint-beam", "--weights", str(data / "weights"), "--input", str(data / "in"),
            "--mask", str(data / "masks"), "--output", str(tmp_path / "o")]  # fmt: skip
    assert cli_main([*base, "--runnr", "FnApiRunner"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "edgeconnect inpaint-beam: error: unrecognized arguments: --runnr "
        "(not a Beam pipeline option either)"
    )
    with pytest.raises(SystemExit):  # `inpaint` takes no pipeline options
        cli_main(["inpaint", *base[1:], "--runner", "FnApiRunner"])
    assert "unrecognized arguments: --runner FnApiRunner" in capsys.readouterr().err


def _upload(directory, url):
    """Copies the files under a local directory to a URL folder."""
    import tensorflow as tf

    for folder, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(folder, name)
            target = f"{url}/{os.path.relpath(path, directory)}"
            tf.io.gfile.makedirs(os.path.dirname(target))
            tf.io.gfile.copy(path, target)


def _url_files(url):
    """{relative path: bytes} of the objects under a URL folder; asserts none is hidden
    (a temporary object left behind)."""
    import tensorflow as tf

    found = {}
    for folder, _, files in tf.io.gfile.walk(url):
        for name in files:
            path = f"{folder.rstrip('/')}/{name}"
            assert not name.startswith("."), path
            with tf.io.gfile.GFile(path, "rb") as f:
                found[path[len(url) + 1 :]] = f.read()
    return found


@pytest.mark.slow  # a whole Beam pipeline on object-store folders
def test_object_store_folders_end_to_end(data, tmp_path, capsys, monkeypatch):
    """Input, mask, output and dead-letter folders on an object store: TensorFlow's
    in-memory ram:// stands in for gs:// (it lives in one process, hence the in-process
    runner). The same files as `inpaint` writes locally, the bad inputs' reasons in the
    dead-letter folder, and a rerun that skips finished outputs."""
    import tensorflow as tf

    monkeypatch.chdir(tmp_path)  # where a URL taken for a local path would land
    root = f"ram://{tmp_path.name}"
    _upload(data / "mixed", f"{root}/in")
    _upload(data / "masks", f"{root}/masks")
    out, dead = f"{root}/out", f"{root}/dead"
    argv = ["inpaint-beam", "--weights", str(data / "weights"), "--input", f"{root}/in",
            "--mask", f"{root}/masks", "--output", out, "--dead-letter", dead, "--save-edges",
            "--batch-size", "2", "--max-pixels", "3000", "--runner", "FnApiRunner"]  # fmt: skip
    assert cli_main(argv) == 1  # some inputs failed
    stdout, stderr = capsys.readouterr()
    assert "wrote 6 image(s)" in stdout
    assert f"4 image(s) failed: see {dead}" in stderr
    assert _url_files(out) == _files(data / "expected")  # byte for byte
    failed = {k: v.decode() for k, v in _url_files(dead).items()}
    assert set(failed) == {f"{n}.png.txt" for n in ("broken", "truncated", "big", "sized")}
    assert failed["big.png.txt"].splitlines()[0] == f"image: {root}/in/big.png"
    reasons = {k.split(".")[0]: v.splitlines()[-1] for k, v in failed.items()}
    assert f"{root}/in/broken.png could not be read as an image" in reasons["broken"]
    assert f"{root}/in/truncated.png could not be read as an image" in reasons["truncated"]
    assert "64×64 = 4096 pixels; the limit is 3000" in reasons["big"]
    assert "mask" in reasons["sized"] and "24×20" in reasons["sized"]

    # A rerun after a.png's result was lost (its edge map kept) and with a stale dead
    # letter for it: that one result is written, the rest skipped, the stale letter removed.
    tf.io.gfile.remove(f"{out}/a.png")
    tf.io.gfile.copy(f"{dead}/big.png.txt", f"{dead}/a.png.txt")
    assert cli_main(argv) == 1  # the four bad inputs fail again
    stdout, _ = capsys.readouterr()
    assert "wrote 1 image(s)" in stdout and "skipped 5" in stdout
    assert _url_files(out) == _files(data / "expected")
    assert {k: v.decode() for k, v in _url_files(dead).items()} == failed
    assert os.listdir(tmp_path) == []


def test_inpaint_reads_and_writes_object_store_folders(data, tmp_path, monkeypatch):
    """`edgeconnect inpaint` shares the planning and the file access: on ram:// folders it
    writes the files it writes locally, and makes no local folder named after the URL."""
    monkeypatch.chdir(tmp_path)
    root = f"ram://{tmp_path.name}"
    _upload(data / "in", f"{root}/in")
    _upload(data / "masks", f"{root}/masks")
    argv = ["inpaint", "--weights", str(data / "weights"), "--input", f"{root}/in",
            "--mask", f"{root}/masks", "--output", f"{root}/out", "--save-edges"]  # fmt: skip
    assert cli_main(argv) == 0
    assert _url_files(f"{root}/out") == _files(data / "expected")
    assert os.listdir(tmp_path) == []


def test_a_saved_model_url_is_checked_on_its_filesystem(data, tmp_path, capsys):
    """--saved-model gs://...: its saved_model.pb is looked for on that filesystem (the
    workers load it with tf.saved_model.load); --weights must be a local directory."""
    import tensorflow as tf

    exported = f"ram://{tmp_path.name}/edgeconnect/1"
    base = ["inpaint-beam", "--input", str(data / "in"), "--mask", str(data / "masks"),
            "--output", str(data / "expected"), "--runner", "FnApiRunner"]  # fmt: skip
    assert cli_main([*base, "--saved-model", exported]) == 1
    assert f"--saved-model {exported} holds no saved_model.pb" in capsys.readouterr().err
    tf.io.gfile.makedirs(exported)
    with tf.io.gfile.GFile(f"{exported}/saved_model.pb", "wb") as f:
        f.write(b"checked, never loaded: every output exists")
    assert cli_main([*base, "--saved-model", exported]) == 0
    assert "nothing to do: all 6 output(s) exist" in capsys.readouterr().out
    assert cli_main([*base, "--weights", "gs://bucket/weights"]) == 1
    assert "a weights directory must be local" in capsys.readouterr().err


@pytest.mark.slow
def test_saved_model_gives_the_same_files(data, tmp_path, tiny_saved_model):
    """--saved-model: the exported SavedModel's signatures, batched, write `inpaint`'s pixels
    (`tiny_saved_model` is `edgeconnect export` of the weights `data` holds)."""
    out = tmp_path / "out"
    settings = pipeline.Settings(
        saved_model=tiny_saved_model,
        output=str(out),
        dead_letter=str(out / "_failed"),
        batch_size=4,
    )
    todo = plan_inpaint(str(data / "in"), str(data / "masks"), str(out), save_edges=True)
    handler = pipeline.EdgeConnectModelHandler(settings)
    results = handler.run_inference(pipeline.prepare_batch(todo, settings), handler.load_model())
    writer = pipeline.WriteResults(settings)
    assert [path for r in results for path in writer.process(r)] == [j.output for j in todo]
    _assert_same_results(_files(out), _files(data / "expected"))
