"""Instance norm speed and accuracy: `normalization.instance_norm` against one reduce_mean over H·W.

    python -m bench.instance_norm
    ONEDNN_MAX_CPU_ISA=AVX2 python -m bench.instance_norm

Forward and forward + gradient (tf.function, float32) at the shapes of a
generator at 256², batch 2: the first layer [2, 256, 256, 64] and a residual
block's [2, 64, 64, 256]; then a full-size G2 forward and G2 forward + backward
at 256², batch 2, with each instance norm in turn. The two forms alternate
inside one process (same load); the table gives medians and the new/old ratio,
and each form's largest error against float64 numpy relative to the largest value.
"""

import os
import time

import numpy as np


def one_pass_instance_norm(x, epsilon=1e-5):
    """`normalization.instance_norm` before issue 21: each mean one reduce_mean over H and W."""
    import tensorflow as tf

    def statistics(x):
        centered = x - tf.reduce_mean(x, axis=(1, 2), keepdims=True)
        variance = tf.reduce_mean(tf.square(centered), axis=(1, 2), keepdims=True)
        return centered, tf.math.rsqrt(variance + epsilon)

    @tf.custom_gradient
    def normalize(x):
        centered, inv_std = statistics(x)

        def grad(dy):
            centered, inv_std = statistics(x)
            y = centered * inv_std
            mean_dy = tf.reduce_mean(dy, axis=(1, 2), keepdims=True)
            mean_dy_y = tf.reduce_mean(dy * y, axis=(1, 2), keepdims=True)
            return inv_std * (dy - mean_dy - y * mean_dy_y)

        return centered * inv_std, grad

    return normalize(x)


def interleaved(fns, rounds=7, calls=3):
    """{name: median seconds per call}, the functions taking turns round by round."""
    times = {k: [] for k in fns}
    for f in fns.values():
        f()
    for _ in range(rounds):
        for k, f in fns.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                f()
            times[k].append((time.perf_counter() - t0) / calls)
    return {k: float(np.median(v)) for k, v in times.items()}


def _caller(fn, *args):
    return lambda: fn(*args).numpy()


def _gradient(norm):
    """tf.function (x, dy) -> dL/dx of L = Σ dy · norm(x)."""
    import tensorflow as tf

    @tf.function
    def gradient(x, dy):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = norm(x)
        return tape.gradient(y, x, dy)

    return gradient


def main():
    import tensorflow as tf

    from edgeconnect_tf.networks import InpaintGenerator
    from edgeconnect_tf.nn import layers

    forms = {"old": one_pass_instance_norm, "new": layers.instance_norm}
    rng = np.random.default_rng(0)
    print(f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '(native)')}, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| case | old ms | new ms | new/old | old error | new error |")
    print("|---|---:|---:|---:|---:|---:|")
    for shape in ((2, 256, 256, 64), (2, 64, 64, 256)):
        x = rng.normal(0.5, 1.0, shape) * rng.uniform(0.1, 3, shape[-1])
        x = (x + rng.uniform(-2, 2, shape[-1])).astype(np.float32)
        x64 = x.astype(np.float64)
        exact = (x64 - x64.mean((1, 2), keepdims=True)) / np.sqrt(
            x64.var((1, 2), keepdims=True) + 1e-5
        )
        x, dy = tf.constant(x), tf.constant(rng.normal(size=shape).astype(np.float32))
        err = {
            k: np.abs(f(x).numpy() - exact).max() / np.abs(exact).max() for k, f in forms.items()
        }
        cases = {
            "forward": {k: _caller(tf.function(f), x) for k, f in forms.items()},
            "forward + gradient": {k: _caller(_gradient(f), x, dy) for k, f in forms.items()},
        }
        for case, fns in cases.items():
            t = interleaved(fns)
            row = f"| {case} {list(shape)} | {t['old'] * 1e3:.2f} | {t['new'] * 1e3:.2f} "
            print(row + f"| {t['new'] / t['old']:.2f} | {err['old']:.1e} | {err['new']:.1e} |")
    net = InpaintGenerator()
    x = tf.constant(rng.random((2, 256, 256, 4)).astype(np.float32))
    net(x)

    @tf.function
    def forward(x):
        return net(x)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(net(x, training=True))
        return tape.gradient(loss, net.trainable_variables)

    real = layers.instance_norm
    fns = {}
    for form, fn in forms.items():

        def run(f, fn=fn):
            layers.instance_norm = fn  # what InstanceNormalization calls, traced per form
            try:
                return f()
            finally:
                layers.instance_norm = real

        fwd_fn = tf.function(forward.python_function)
        step_fn = tf.function(step.python_function)
        run(lambda f=fwd_fn: f(x))
        run(lambda f=step_fn: f(x))
        fns[form] = (lambda f=fwd_fn: f(x)[0, 0, 0, 0].numpy(), lambda f=step_fn: f(x)[0].numpy())
    for i, case in enumerate(("G2 forward", "G2 forward + backward")):
        t = interleaved({k: v[i] for k, v in fns.items()}, rounds=5, calls=1)
        print(f"| {case} [2, 256, 256, 4] | {t['old'] * 1e3:.0f} | {t['new'] * 1e3:.0f} "
              f"| {t['new'] / t['old']:.2f} | | |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
