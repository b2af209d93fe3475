"""Writing the SavedModel: `deploy.saved_model.ServingModule` against Keras' `ExportArchive`.

    .venv/bin/python -m bench.export_time                     # full-size random networks
    .venv/bin/python -m bench.export_time --blocks 1 --filters 8 --rounds 2   # the tests' model

Both write the same eight serving signatures (`serving_functions`) of the same model with
the same save options; `keras` is what `edgeconnect export` did before (`ExportArchive`:
`track`, `add_endpoint` per signature, `write_out`), `ours` is what it does now
(`ServingModule.write_out`: `tf.saved_model.save` of the signatures). Each write runs in
its own fresh process (`bench.common.run_case`), the two alternating for `--rounds`
rounds; the table gives each side's median and minimum seconds for the write (model
loaded, warm-up records not written), the process's peak RSS and the SavedModel's size on
disk, and whether the two files answer `serving_default` with the same pixels.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import (  # noqa: E402
    add_weights_arguments,
    machine_info,
    run_case,
    weights_dir,
)

SIDES = ("keras", "ours")


def _size_bytes(directory):
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(directory)
        for name in names
    )


def write(side, weights, output):
    """One SavedModel written by `side` ("keras" or "ours") into `output`: seconds, bytes."""
    import keras

    from edgeconnect_tf.deploy.saved_model import (
        SAVE_OPTIONS,
        ServingModule,
        serving_functions,
    )
    from edgeconnect_tf.edgeconnect import EdgeConnect

    model = EdgeConnect.from_pretrained(weights)
    start = time.perf_counter()
    if side == "keras":
        functions = serving_functions(model)  # builds the model
        archive = keras.export.ExportArchive()
        archive.track(model)
        for name, (fn, signature) in functions.items():
            archive.add_endpoint(name, fn, input_signature=signature)
        archive.write_out(output, options=SAVE_OPTIONS, verbose=False)
    else:
        ServingModule(model).write_out(output, options=SAVE_OPTIONS)
    return {"seconds": time.perf_counter() - start, "bytes": _size_bytes(output)}


def same_pixels(first, second):
    """Largest difference of the two SavedModels' `serving_default` outputs on a 64² input."""
    import numpy as np
    import tensorflow as tf

    from edgeconnect_tf.deploy.saved_model import sample_inputs

    image, mask = (tf.constant(a) for a in sample_inputs(64))
    outs = [
        tf.saved_model.load(d).signatures["serving_default"](image=image, mask=mask)
        for d in (first, second)
    ]
    return {
        "max_difference": max(
            float(np.abs(outs[0][k].numpy() - outs[1][k].numpy()).max()) for k in outs[0]
        )
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_weights_arguments(parser)
    parser.add_argument("--rounds", type=int, default=3, help="writes per side, alternating")
    args = parser.parse_args(argv)

    workdir = tempfile.mkdtemp(prefix="export_time_")
    try:
        weights = weights_dir(args, workdir)
        results = {side: [] for side in SIDES}
        for r in range(args.rounds):
            for side in SIDES if r % 2 == 0 else SIDES[::-1]:
                output = os.path.join(workdir, f"{side}_{r}")
                result = run_case("export_time", "write", side=side, weights=weights, output=output)
                if "error" in result:
                    raise SystemExit(f"{side}: {result['error']}")
                results[side].append(result)
                print(f"round {r + 1} {side}: {result['seconds']:.1f} s", flush=True)
        check = run_case(
            "export_time",
            "same_pixels",
            first=os.path.join(workdir, "keras_0"),
            second=os.path.join(workdir, "ours_0"),
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    info = machine_info()
    print(f"\n{info['cpu']} ({info['cores']} cores; {info['cpu_flags']}), {info['date']}")
    print("| writer | median s | min s | peak RSS MiB | SavedModel MiB |")
    print("|---|---:|---:|---:|---:|")
    for side in SIDES:
        runs = results[side]
        seconds = [run["seconds"] for run in runs]
        print(
            f"| {side} | {statistics.median(seconds):.1f} | {min(seconds):.1f} "
            f"| {max(run['peak_rss_mib'] for run in runs):.0f} "
            f"| {runs[0]['bytes'] / 2**20:.1f} |"
        )
    ratio = statistics.median(r["seconds"] for r in results["ours"]) / statistics.median(
        r["seconds"] for r in results["keras"]
    )
    difference = check.get("max_difference", check.get("error"))
    print(f"ours / keras (medians): {ratio:.2f}; serving_default outputs differ by {difference}")


if __name__ == "__main__":
    main()
