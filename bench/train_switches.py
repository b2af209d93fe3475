"""First-step (compile) time and step time of every training-switch combination (issue 21).

    nice python -m bench.train_switches                                   # everything
    nice python -m bench.train_switches --stages edge --batches 2 --policies none

Combinations of the config's `jit_compile` (t / f) and `conv_mode` (d = direct, g =
graph, x = xla: the XLA-compiled Winograd residual blocks), e.g. "tx" = jit_compile with
conv_mode xla, and `mixed_precision`, at full size (8 blocks, 64 filters, 256²), each
case in its own process (`bench.common.run_case`, the step of
`bench.train_step.tf_train`), one at a time, with a timeout. Prints a markdown table:
first step (trace + compile + run) and the median step after it. `train` refuses some
of them without a GPU (`edgeconnect_tf.training.train.check_cpu_switches`); the bench times them
all.
"""

import argparse
import itertools
import os

from bench.common import run_case

POLICIES = ("none", "mixed_bfloat16", "mixed_float16")
CONV_LETTERS = {"d": "direct", "g": "graph", "x": "xla"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", default="edge,inpaint,joint")
    parser.add_argument("--batches", default="2,8")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument(
        "--switches", default="fd,fg,fx,td,tg,tx", help="jit_compile t/f, conv_mode d/g/x"
    )
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--timeout", type=int, default=900, help="seconds per case")
    parser.add_argument("--repeat", type=int, default=3, help="steps timed after the warm-up")
    args = parser.parse_args(argv)
    print(f"load {os.getloadavg()[0]:.1f}, ONEDNN_MAX_CPU_ISA="
          f"{os.environ.get('ONEDNN_MAX_CPU_ISA', '(native)')}")  # fmt: skip
    columns = "stage | batch | jit_compile | conv_mode | mixed_precision | first step s"
    print(f"| {columns} | step s |")
    print("|---|---:|---|---|---|---:|---:|")
    cases = itertools.product(
        args.stages.split(","),
        [int(b) for b in args.batches.split(",")],
        args.policies.split(","),
        args.switches.split(","),
    )
    for stage, batch, policy, (jit, mode) in cases:
        jit, conv_mode = jit == "t", CONV_LETTERS[mode]
        r = run_case(
            "train_step", "tf_train", timeout=args.timeout, stage=stage, size=args.size,
            batch=batch, jit=jit, conv_mode=conv_mode,
            policy=None if policy == "none" else policy, repeat=args.repeat, max_seconds=120.0,
        )  # fmt: skip
        cells = (
            [f"{r['setup_seconds']:.1f}", f"{r['seconds']:.2f}"]
            if "error" not in r
            else [r["error"][:120], ""]
        )
        row = [stage, batch, jit, conv_mode, policy, *cells]
        print("| " + " | ".join(str(c) for c in row) + " |", flush=True)


if __name__ == "__main__":
    main()
