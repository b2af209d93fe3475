"""Benchmark plumbing: timing, peak memory, the machine's matmul rate, FLOP counts, subprocesses.

Every measurement ("case") runs in a fresh Python process (`run_case`), so that
TensorFlow's and PyTorch's thread pools never compete with each other, each
case's peak RSS (the kernel's VmHWM of that process) is its own, and a crash or
an out-of-memory kill costs one table row, not the run.

A case is a function `f(**kwargs) -> dict` in a `bench.*` module; the child
process prints its result as one JSON line prefixed with `RESULT_TAG`, plus
`peak_rss_mib`.
"""

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

RESULT_TAG = "BENCH_RESULT "
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --------------------------------------------------------------------------- timing


def measure(fn, warmup=1, repeat=5, max_seconds=None):
    """Calls `fn()` `warmup` times, then up to `repeat` timed times; seconds per call.

    Stops early once `max_seconds` of timed calls have run (at least 2 calls
    where `repeat` allows). Returns {"median", "min", "max", "times"} in seconds.
    """
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        spent = time.perf_counter() - start
        if max_seconds is not None and spent > max_seconds and len(times) >= min(2, repeat):
            break
    return {
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "times": times,
    }


# --------------------------------------------------------------------------- memory


def _status_kib(field):
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def peak_rss_mib():
    """Peak resident set size of this process so far (VmHWM), MiB."""
    return _status_kib("VmHWM") / 1024.0


def rss_mib():
    """Current resident set size (VmRSS), MiB."""
    return _status_kib("VmRSS") / 1024.0


def reset_peak_rss():
    """Resets VmHWM to the current RSS (Linux `clear_refs` 5); False where not permitted."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------- machine


def machine_info():
    """CPU model, cores, RAM, library versions, date and load: the header of a results table."""
    model = platform.processor() or "unknown"
    flags = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                model = value.strip()
            if key.strip() == "Flags":
                wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "fma")
                flags = " ".join(f for f in value.split() if f in wanted)
    except OSError:
        pass
    mem_gib = 0.0
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 1024**2
    versions = {}
    for name in ("tensorflow", "keras", "torch", "ai_edge_litert", "numpy"):
        versions[name] = _version(name)
    return {
        "cpu": model,
        "cpu_flags": flags,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_gib, 1),
        "versions": versions,
        "python": platform.python_version(),
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "loadavg": os.getloadavg(),
    }


def _version(name):
    from importlib import metadata

    dist = {"ai_edge_litert": "ai-edge-litert"}.get(name, name)
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def load_average():
    """1-minute load average."""
    return os.getloadavg()[0]


# --------------------------------------------------------------------------- matmul rate


def tf_matmul_rate(n=2048, repeat=10):
    """GFLOP/s of an n×n float32 matmul in TensorFlow (2·n³ FLOPs per product), median."""
    import tensorflow as tf

    a = tf.random.normal((n, n), seed=1)
    b = tf.random.normal((n, n), seed=2)
    product = tf.function(lambda: tf.matmul(a, b))
    result = measure(lambda: product().numpy(), warmup=2, repeat=repeat)
    return {
        "gflops": 2 * n**3 / result["median"] / 1e9,
        "gflops_best": 2 * n**3 / result["min"] / 1e9,
        "seconds": result["median"],
        "n": n,
    }


def torch_matmul_rate(n=2048, repeat=10):
    """The same product in PyTorch (for reference: both use the same cores)."""
    import torch

    a = torch.randn(n, n)
    b = torch.randn(n, n)
    with torch.inference_mode():
        result = measure(lambda: torch.mm(a, b), warmup=2, repeat=repeat)
    return {"gflops": 2 * n**3 / result["median"] / 1e9, "seconds": result["median"], "n": n}


# --------------------------------------------------------------------------- FLOP counting


def count_conv_macs(fn, *input_specs):
    """Multiply-adds of the convolutions and matmuls `fn` runs, from its graph's shapes.

    Traces `fn` (a Keras model or any TF-callable) with `tf.TensorSpec`s of
    fully static shape and sums, over the graph's ops:
    - Conv2D: output elements × kh × kw × C_in (dilation changes nothing);
    - Conv2DBackpropInput (a transposed conv): input elements × kh × kw × C_out
      of the transposed conv, i.e. the transposed conv's own work;
    - DepthwiseConv2dNative: output elements × kh × kw;
    - MatMul / BatchMatMulV2 (spectral norm's u·W·v, a Winograd product): m·n·k per batch.

    Returns {"total": MACs, "by_op": {op type: MACs}}.
    """
    import tensorflow as tf

    concrete = tf.function(fn).get_concrete_function(*input_specs)
    by_op = {}
    for graph in [concrete.graph, *_function_graphs(concrete.graph)]:
        for op in graph.get_operations():
            macs = _op_macs(op)
            if macs:
                by_op[op.type] = by_op.get(op.type, 0) + macs
    return {"total": sum(by_op.values()), "by_op": by_op}


def count_generator_macs(size=256, residual_blocks=8, filters=64):
    """Case: `count_conv_macs` of a fresh EdgeGenerator at size×size, batch 1."""
    import tensorflow as tf

    from edgeconnect_tf.networks import EdgeGenerator

    g1 = EdgeGenerator(residual_blocks, filters)
    g1(tf.zeros((1, 32, 32, 3)))
    counted = count_conv_macs(lambda x: g1(x), tf.TensorSpec((1, size, size, 3)))
    by_op = counted["by_op"]
    matmul = sum(v for k, v in by_op.items() if "MatMul" in k)
    return {"total": counted["total"] - matmul, "conv": counted["total"] - matmul, "matmul": matmul}


def _function_graphs(graph):
    """Graphs of functions called from `graph` (Keras layers may be traced as sub-functions)."""
    out = []
    for fdef in getattr(graph, "_functions", {}).values():
        sub = getattr(fdef, "graph", None)
        if sub is not None:
            out.append(sub)
            out.extend(_function_graphs(sub))
    return out


def _shape(tensor):
    dims = tensor.shape.as_list() if tensor.shape.rank is not None else None
    if dims is None or any(d is None for d in dims):
        return None
    return dims


def _prod(xs):
    p = 1
    for x in xs:
        p *= x
    return p


def _op_macs(op):
    t = op.type
    if t == "Conv2D":
        out, kernel = _shape(op.outputs[0]), _shape(op.inputs[1])
        if out and kernel:
            kh, kw, cin, _ = kernel
            return _prod(out) * kh * kw * cin
    elif t == "Conv2DBackpropInput":
        kernel, grad = _shape(op.inputs[1]), _shape(op.inputs[2])
        if kernel and grad:
            kh, kw, cout, _ = kernel  # (kh, kw, transposed-conv outputs, its inputs)
            return _prod(grad) * kh * kw * cout
    elif t == "DepthwiseConv2dNative":
        out, kernel = _shape(op.outputs[0]), _shape(op.inputs[1])
        if out and kernel:
            return _prod(out) * kernel[0] * kernel[1]
    elif t in ("MatMul", "BatchMatMulV2", "BatchMatMulV3"):
        a, out = _shape(op.inputs[0]), _shape(op.outputs[0])
        if a and out:
            adj = op.get_attr("transpose_a" if t == "MatMul" else "adj_x")
            k = a[-2] if adj else a[-1]
            return _prod(out) * k
    return 0


def generator_macs(size, residual_blocks=8, filters=64, in_channels=3, out_channels=1):
    """Multiply-adds of one EdgeConnect generator at size×size, from the layer shapes.

    Closed form of what `count_conv_macs` finds in the traced graph (a check on
    each other): 7×7 conv, two 4×4 stride-2 convs, 2·blocks 3×3 convs at 1/4
    resolution, two 4×4 stride-2 transposed convs, 7×7 conv.
    """
    s, f = size, filters
    q = s // 4
    return (
        s * s * f * 49 * in_channels
        + (s // 2) ** 2 * 2 * f * 16 * f
        + q * q * 4 * f * 16 * 2 * f
        + 2 * residual_blocks * q * q * 4 * f * 9 * 4 * f
        + q * q * 4 * f * 16 * 2 * f  # transposed: input elements × 16 × outputs
        + (s // 2) ** 2 * 2 * f * 16 * f
        + s * s * out_channels * 49 * f
    )


def edgeconnect_macs(size, residual_blocks=8, filters=64):
    """G1 (3 -> 1 channels) + G2 (4 -> 3 channels) at size×size."""
    return generator_macs(size, residual_blocks, filters, 3, 1) + generator_macs(
        size, residual_blocks, filters, 4, 3
    )


def discriminator_macs(size, in_channels, filters=64):
    """PatchGAN multiply-adds: 4×4 convs, strides 2, 2, 2, 1, 1, zero padding 1."""
    f = filters
    macs, s, c = 0, size, in_channels
    for out, stride in ((f, 2), (2 * f, 2), (4 * f, 2), (8 * f, 1), (1, 1)):
        s = (s + 2 - 4) // stride + 1
        macs += s * s * out * 16 * c
        c = out
    return macs


VGG19_TO_RELU5_2 = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M")
VGG19_TO_RELU5_2 += (512, 512)


def vgg_macs(size):
    """VGG19 features up to relu5_2 (3×3 'same' convs) for one size×size RGB image."""
    macs, s, c = 0, size, 3
    for v in VGG19_TO_RELU5_2:
        if v == "M":
            s //= 2
        else:
            macs += s * s * v * 9 * c
            c = v
    return macs


# --------------------------------------------------------------------------- subprocesses


def child_env(threads=None):
    """Environment of a case process: quiet TF, the repository and tests/ on the path."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    paths = [REPO, os.path.join(REPO, "tests")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def add_weights_arguments(parser):
    """--weights, or --blocks and --filters of seeded random networks (default: full size)."""
    parser.add_argument("--weights", help="a weights directory (default: random, seeded)")
    parser.add_argument("--blocks", type=int, default=8, help="residual blocks (random weights)")
    parser.add_argument("--filters", type=int, default=64, help="filters (random weights)")


def weights_dir(args, workdir):
    """`args.weights`, or G1 and G2 with seeded random weights (`args.blocks`, `args.filters`,
    sigma 2) saved into `workdir`/weights: the directory."""
    if args.weights is not None:
        return args.weights
    import keras

    from edgeconnect_tf.weights import build_networks, save_networks

    keras.utils.set_random_seed(0)
    path = os.path.join(workdir, "weights")
    names = ("edge_generator", "inpaint_generator")
    save_networks(path, build_networks(args.blocks, args.filters, names=names), sigma=2.0)
    return path


def run_case(module, func, timeout=1800, env=None, **kwargs):
    """Runs `bench.<module>.<func>(**kwargs)` in a fresh process; its result dict.

    `env`: extra environment variables of the child (e.g. `bench.forms.AVX2_ENV`).
    On failure, returns {"error": "..."} with the tail of the child's stderr.
    """
    cmd = [sys.executable, "-m", "bench.common", module, func, json.dumps(kwargs)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**child_env(), **(env or {})},
            cwd=REPO,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    wall = time.perf_counter() - t0
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            result = json.loads(line[len(RESULT_TAG) :])
            result.setdefault("process_seconds", wall)
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
    how = f"exit code {proc.returncode}" + (
        " (killed: out of memory?)" if proc.returncode == -9 else ""
    )
    return {"error": f"{how}: " + " | ".join(tail)}


def _child_main(argv):
    import importlib

    module, func, kwargs = argv[0], argv[1], json.loads(argv[2])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    mod = importlib.import_module(f"bench.{module}")
    result = getattr(mod, func)(**kwargs)
    result["peak_rss_mib"] = round(peak_rss_mib(), 1)
    print(RESULT_TAG + json.dumps(result, default=float), flush=True)


# --------------------------------------------------------------------------- quality


def psnr(a, b, mask=None, data_range=1.0):
    """PSNR (dB) of a against b, over the pixels where mask > 0 when given (numpy)."""
    import numpy as np

    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    diff = (a - b) ** 2
    if mask is not None:
        m = np.broadcast_to(np.asarray(mask) > 0, diff.shape)
        diff = diff[m]
    mse = float(diff.mean())
    return float("inf") if mse == 0 else 10 * np.log10(data_range**2 / mse)


def snr(test, ref, mask=None):
    """Signal-to-noise ratio (dB) of test against ref: var(ref) / mean((test − ref)²).

    Unlike PSNR with a fixed range it does not flatter a network whose output
    barely varies (random weights give nearly flat images).
    """
    import numpy as np

    test, ref = np.asarray(test, "float64"), np.asarray(ref, "float64")
    if mask is not None:
        m = np.broadcast_to(np.asarray(mask) > 0, ref.shape)
        test, ref = test[m], ref[m]
    noise = float(((test - ref) ** 2).mean())
    return float("inf") if noise == 0 else 10 * np.log10(float(ref.var()) / noise)


if __name__ == "__main__":
    _child_main(sys.argv[1:])
