"""Shared test setup: quiet TensorFlow, deterministic seeds, small thread pools."""

import contextlib
import gc
import os
import shutil
import socket
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if "PYTEST_XDIST_WORKER" in os.environ:
    # `make test` runs one pytest worker per core: one op thread each, not every worker's
    # pool on every core (subprocesses the tests start inherit it). The same for PyTorch's
    # OpenMP pool (the reference tests), whose threads spin while the other worker computes.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(0)
    np.random.seed(0)
    yield


def pytest_configure(config):
    # `--dist loadfile` hands out whole modules. xdist's own order (most tests first) leaves a
    # module whose one test runs a minute (the full-size Repaint, the demo) for last, alone
    # on one worker while the other idles; `pytest_collection_modifyitems` orders instead.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


@pytest.hookimpl(trylast=True)  # after `-m` deselects
def pytest_collection_modifyitems(config, items):
    """Modules with the most `long` tests first, then the most tests first (xdist's rule)."""
    modules = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)

    def weight(tests):
        return (-sum(t.get_closest_marker("long") is not None for t in tests), -len(tests))

    items[:] = [t for tests in sorted(modules.values(), key=weight) for t in tests]


@pytest.fixture(autouse=True, scope="module")
def _collect_then_freeze():
    """After each module: collect its garbage, then freeze what is left alive.

    A worker keeps over a million objects alive (traced graphs, Keras layers, session
    fixtures), and each of Python's full collections would scan them all again; frozen, a
    collection walks only the running module's objects (the times: bench/RESULTS.md, "Test
    suite time"). Reference counting still frees frozen objects; only a cycle of them dropped
    later stays (session fixtures and caches live to the end anyway)."""
    yield
    gc.collect()
    gc.freeze()


def _bf16_kernels_capped():
    """ONEDNN_MAX_CPU_ISA below AVX512_CORE_BF16 on a CPU that has it: TensorFlow still
    picks oneDNN's bf16 kernels, which then fail to build ("could not create a primitive
    descriptor"). A real AVX2 CPU takes TensorFlow's Eigen bf16 kernels instead, so this is
    an artifact of emulating AVX2, not something users meet."""
    capped = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if not capped or "BF16" in capped or "AMX" in capped or capped == "ALL":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            return "avx512_bf16" in f.read()
    except OSError:
        return False


# For bfloat16 tests: skipped only under the emulation that cannot run them.
needs_bf16_kernels = pytest.mark.skipif(
    _bf16_kernels_capped(),
    reason="ONEDNN_MAX_CPU_ISA caps oneDNN below its bf16 kernels on a bf16 CPU: "
    "TensorFlow's bf16 convolutions fail (a real AVX2 CPU uses Eigen's)",
)


def _has_bf16_units():
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


# For bounds measured with bfloat16 hardware (oneDNN's AVX512-BF16 / AMX kernels): a CPU
# without it runs TensorFlow's generic bf16 kernels, whose rounding these bounds don't cover.
needs_bf16_units = pytest.mark.skipif(
    _bf16_kernels_capped() or not _has_bf16_units(),
    reason="bounds measured with AVX512-BF16/AMX kernels; this CPU (or ONEDNN_MAX_CPU_ISA) "
    "runs other bfloat16 kernels",
)


def free_port():
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def app_in_thread(app):
    """Runs an ASGI app with uvicorn on a free loopback port in a thread; yields its URL."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "the test server did not start within 30 s"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """A folder of the user's exports: two models, and what must not be served."""
    root = tmp_path_factory.mktemp("exports")
    folder = root / "tflite"
    (folder / "sub").mkdir(parents=True)
    (folder / "edgeconnect_256x256_float32.tflite").write_bytes(b"TFL3" + bytes(range(256)) * 4)
    (folder / "edgeconnect_512x512_float16.tflite").write_bytes(b"TFL3 half")
    (folder / "notes.txt").write_text("not a model")
    (folder / ".hidden.tflite").write_bytes(b"hidden")
    (folder / "sub" / "nested.tflite").write_bytes(b"nested")
    (root / "outside.tflite").write_bytes(b"secret")
    os.symlink(root / "outside.tflite", folder / "link_out.tflite")
    os.symlink(folder / "sub", folder / "dir.tflite")
    return str(folder)


# ------------------------------------------------------------ shared tiny model and exports
# Built once per run: a 1-block, 8-filter G1 and G2 (seeded), one SavedModel and the wheel,
# for every module that needs a model but not a particular one. The serving signatures are
# traced once per worker (traced functions do not cross processes).


def _built_once(tmp_path_factory, name, build):
    """The folder `name`, built by `build(path)` once per pytest run: under xdist the first
    worker that asks builds it into a folder all the run's workers share (the parent of
    their temporary folders) while the others wait on a lock; their files are read-only."""
    import fcntl

    root = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        root = root.parent
    path, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)
            build(str(path))
            done.touch()
    return str(path)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """A weights directory: 1-block, 8-filter G1 and G2 (seed 0), sigma 2. Read-only."""

    def build(path):
        import keras

        from edgeconnect_tf.weights import build_networks, save_networks

        keras.utils.set_random_seed(0)
        nets = build_networks(1, 8, names=("edge_generator", "inpaint_generator"))
        save_networks(path, nets, sigma=2.0)

    return _built_once(tmp_path_factory, "tiny_weights", build)


@pytest.fixture(scope="session")
def tiny_signatures(tiny_weights):
    """The server's serving signatures of `tiny_weights`, traced once per worker."""
    from edgeconnect_tf.serving.predictor import load_signatures

    return load_signatures(weights_dir=tiny_weights)


@pytest.fixture(scope="session")
def tiny_saved_model(tiny_weights, tmp_path_factory):
    """`edgeconnect export` of `tiny_weights`: BASE/edgeconnect/1, 32-px warm-up records."""

    def build(path):
        from edgeconnect_tf.cli import main

        version = os.path.join(path, "edgeconnect", "1")
        argv = ["export", "--weights", tiny_weights, "--output", version, "--warmup-size", "32"]
        assert main(argv) == 0

    return os.path.join(_built_once(tmp_path_factory, "serving", build), "edgeconnect", "1")


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory):
    """`pip wheel` of the repository, built once: (path of the .whl, pip's output)."""
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def build(path):
        argv = ["-m", "pip", "wheel", repo, "--no-deps", "--no-build-isolation", "-w", path]
        command = [sys.executable, *argv]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
        with open(os.path.join(path, "pip-output.txt"), "w", encoding="utf-8") as f:
            f.write(result.stdout + result.stderr)

    out = _built_once(tmp_path_factory, "wheel", build)
    (wheel,) = [p for p in os.listdir(out) if p.endswith(".whl")]
    with open(os.path.join(out, "pip-output.txt"), encoding="utf-8") as f:
        return os.path.join(out, wheel), f.read()


@pytest.fixture(scope="module")
def server(tiny_signatures, models_dir):
    """`create_app` of the tiny model on a real uvicorn server (loopback, in a thread), with
    `models_dir` as its `.tflite` folder: the URL."""
    from edgeconnect_tf.serving.app import create_app

    app = create_app(tiny_signatures, max_request_bytes=2_000_000, models_dir=models_dir)
    with app_in_thread(app) as url:
        yield url
