"""`python -m bench`: every benchmark, one table, appended to bench/HISTORY.md (the log;
bench/RESULTS.md holds the current answer to each question, curated from it).

    python -m bench                         # everything at full size (about 1 h on 2 cores)
    python -m bench --only inference,train  # some parts
    python -m bench --quick                 # smoke run at tiny sizes (a few minutes)
    python -m bench --wait-load 2.5         # wait for a quiet machine before each case

Parts: forms (every form a user runs, round-robin against the authors' PyTorch
in one process per ISA class: native and AVX2 via bench.forms.AVX2_ENV; TFLite
peak RSS in a TensorFlow-free process), matmul (the TF 2048² fp32 matmul rate
every share is taken of), flops
(the MAC count check), inference (256², 512²: tf.function, XLA, the Winograd
residual blocks, bf16, the whole pipeline, SavedModel; PyTorch reference),
profile (G2 layer by layer), tflite
(fp32, float16, dynamic-range, int8; quality on the hole), browser (the
fp32 `.tflite` in the editor page with LiteRT.js, WebAssembly, 2 threads, in
headless Chromium; the Python interpreter on 2 threads and PyTorch in the
same run; bench/browser.py), train (edge,
inpaint, joint steps at batch 2, 256²), memory (2048² inference peak RSS),
data (bench/data_pipeline.py), export (bench/export.py's latency table; off
by default: it repeats the tflite part's conversions), soak (bench/soak.py: serving
RSS over many random-size requests; off by default, long), forms_process
(bench/forms_process.py: each form in its own fresh process against the authors'
whole test path, native and AVX2-capped; off by default, ~15 min per size), gpu
(bench/gpu.py; skipped without a GPU).

Each case runs in its own process (bench.common.run_case). Shares of the
matmul rate are 2·MACs / seconds / (TF's 2048² matmul GFLOP/s); MACs are
counted from the layer shapes (bench.common).
"""

import argparse
import os
import subprocess
import sys
import time

from bench import common

DEFAULT_PARTS = (
    "forms",
    "matmul",
    "flops",
    "inference",
    "profile",
    "tflite",
    "browser",
    "train",
    "train_isa",
    "memory",
    "data",
    "gpu",
)
ALL_PARTS = (*DEFAULT_PARTS, "export", "soak", "forms_process")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "HISTORY.md")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only", default=",".join(DEFAULT_PARTS), help=f"comma-separated parts of {ALL_PARTS}"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repeats (smoke run)")
    parser.add_argument("--sizes", default=None, help="inference sizes (default 256,512)")
    parser.add_argument("--memory-size", type=int, default=None, help="default 2048")
    parser.add_argument("--repeat", type=int, default=None, help="timed calls per case")
    parser.add_argument(
        "--wait-load",
        type=float,
        default=0.0,
        help="before each case, wait until the 1-minute load average is below this",
    )
    parser.add_argument("--wait-max", type=float, default=1800.0, help="longest wait (s)")
    parser.add_argument("--no-append", action="store_true", help="don't append to bench/HISTORY.md")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(ALL_PARTS))
    if unknown:
        parser.error(f"--only: unknown parts {unknown}; choose from {list(ALL_PARTS)}")
    args.parts = parts
    return args


class Runner:
    """Runs cases, logs progress to stderr, waits for a quiet machine if asked."""

    def __init__(self, args):
        self.args = args
        self.loads = []

    def wait(self):
        limit = self.args.wait_load
        if not limit:
            return
        start = time.time()
        while common.load_average() > limit and time.time() - start < self.args.wait_max:
            time.sleep(15)

    def __call__(self, module, func, label, **kwargs):
        self.wait()
        load = common.load_average()
        t0 = time.perf_counter()
        result = common.run_case(module, func, **kwargs)
        result["load_before"] = load
        self.loads.append(load)
        took = time.perf_counter() - t0
        if "error" in result:
            summary = "ERROR " + result["error"][-300:]
        elif "skipped" in result:
            summary = "skipped: " + result["skipped"]
        else:
            summary = f"{result.get('seconds', float('nan')):.3f} s"
        print(f"[bench] {label}: {summary}  (load {load:.1f}, {took:.0f} s)", file=sys.stderr)
        return result


def fmt_s(result):
    if not result or "seconds" not in result:
        return "error" if result and "error" in result else "–"
    return f"{result['seconds']:.3f}"


def share(result, rate):
    if not result or "seconds" not in result or not rate:
        return "–"
    return f"{100 * 2 * result['macs'] / result['seconds'] / 1e9 / rate:.0f} %"


def ratio(ref, ours):
    if not ref or not ours or "seconds" not in ref or "seconds" not in ours:
        return "–"
    return f"{ref['seconds'] / ours['seconds']:.2f}×"


def rss(result):
    return f"{result['peak_rss_mib']:.0f}" if result and "peak_rss_mib" in result else "–"


def quality(result):
    if not result or "psnr_hole_db" not in result:
        return ""
    return f"hole PSNR {result['psnr_hole_db']:.1f} dB, SNR {result['snr_hole_db']:.1f} dB"


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    quick = args.quick
    net = {"residual_blocks": 2, "filters": 16} if quick else {}
    sizes = [int(s) for s in (args.sizes or ("64" if quick else "256,512")).split(",")]
    train_size = 64 if quick else 256
    memory_size = args.memory_size or (256 if quick else 2048)
    repeat = args.repeat or (2 if quick else 5)
    run = Runner(args)
    info = common.machine_info()
    rows, notes, extra = [], [], []
    header = (
        "| part | case | size | ours (s) | PyTorch ref (s) | ref / ours | ours % of matmul "
        "| ref % of matmul | peak RSS MiB ours / ref | notes |"
    )
    rows += [header, "|" + " --- |" * 10]
    rate = None

    if "forms" in args.parts:
        extra.append(forms_part(run, sizes, max(3, repeat), net))

    if "matmul" in args.parts or any(
        p in args.parts for p in ("inference", "train", "tflite", "browser")
    ):
        mm = run("common", "tf_matmul_rate", "matmul TF 2048²", repeat=10)
        tmm = run("common", "torch_matmul_rate", "matmul torch 2048²", repeat=10)
        rate = mm.get("gflops")
        notes.append(
            f"- fp32 2048² matmul: TF {mm.get('gflops', float('nan')):.1f} GFLOP/s (best "
            f"{mm.get('gflops_best', float('nan')):.1f}), PyTorch "
            f"{tmm.get('gflops', float('nan')):.1f} GFLOP/s; shares below are of the TF figure."
        )

    if "flops" in args.parts:
        check = run("common", "count_generator_macs", "MAC count of G1 256²", size=256)
        if "total" in check:
            counted, closed = check["total"], common.generator_macs(256)
            ok = abs(counted - closed) / closed < 0.001
            notes.append(
                f"- MACs of one G1 at 256² traced from the graph: {check['conv'] / 1e9:.2f} G in "
                f"convolutions (+{check['matmul'] / 1e6:.1f} M spectral-norm matmuls); closed "
                f"form from the layer shapes {closed / 1e9:.2f} G ({'agree' if ok else 'DIFFER'}); "
                f"G1+G2 = {common.edgeconnect_macs(256) / 1e9:.1f} G."
            )

    if "inference" in args.parts:
        variants = [
            "generators",
            "generators_xla",
            "generators_winograd",
            "generators_winograd_xla",
            "generators_bf16",
            "generators_winograd_bf16",
            "pipeline",
            "pipeline_xla",
            "pipeline_winograd",
            "pipeline_bf16",
            "savedmodel",
        ]
        for size in sizes:
            ref = run("inference", "torch_inference", f"torch G1+G2 {size}²", size=size,
                      repeat=repeat, **net)  # fmt: skip
            for variant in variants:
                res = run("inference", "tf_inference", f"TF {variant} {size}²", size=size,
                          variant=variant, repeat=repeat, **net)  # fmt: skip
                note = "adds Canny, padding, composite" if not variant.startswith("gen") else ""
                if variant == "savedmodel":
                    note += " and input checks"
                if quality(res):
                    note += ("; " if note else "") + quality(res) + " vs fp32"
                rows.append(
                    f"| inference | {variant} | {size}² | {fmt_s(res)} | {fmt_s(ref)} | "
                    f"{ratio(ref, res)} | {share(res, rate)} | {share(ref, rate)} | "
                    f"{rss(res)} / {rss(ref)} | {note} |"
                )

    if "profile" in args.parts:
        size = sizes[0]
        for winograd, xla in ((False, False), (True, False)):
            label = "Winograd residual blocks, each an XLA cluster" if winograd else "tf.function"
            prof = run("inference", "layer_profile", f"G2 layer profile {size}² {label}",
                       size=size, repeat=repeat, winograd=winograd, xla=xla, **net)  # fmt: skip
            if "layers" in prof:
                from bench.inference import print_profile

                extra.append(
                    f"### Where G2's time goes ({size}², {label}, each layer timed alone)\n\n"
                    + print_profile(prof, rate)
                    + "\n"
                )

    if "tflite" in args.parts:
        for size in sizes:
            ref = run("inference", "torch_inference", f"torch G1+G2 {size}²", size=size,
                      repeat=repeat, **net)  # fmt: skip
            for quantize in ("none", "float16", "dynamic", "int8"):
                res = run("inference", "tflite_inference", f"TFLite {quantize} {size}²",
                          size=size, quantize=quantize, repeat=repeat, **net)  # fmt: skip
                rows.append(
                    f"| tflite | {quantize} | {size}² | {fmt_s(res)} | {fmt_s(ref)} | "
                    f"{ratio(ref, res)} | {share(res, rate)} | {share(ref, rate)} | "
                    f"{rss(res)} / {rss(ref)} | pipeline; {quality(res)} |"
                )

    if "browser" in args.parts:
        for size in sizes:
            ref = run("inference", "torch_inference", f"torch G1+G2 {size}²", size=size,
                      repeat=repeat, **net)  # fmt: skip
            python = run("inference", "tflite_inference", f"TFLite Python 2 threads {size}²",
                         size=size, threads=2, repeat=repeat, **net)  # fmt: skip
            page = run("browser", "browser_inference", f"LiteRT.js in Chromium {size}²",
                       size=size, repeat=repeat, **net)  # fmt: skip
            page.pop("peak_rss_mib", None)  # the driving Python process's, not Chromium's
            for name, res in (("Python interpreter, 2 threads", python), ("LiteRT.js", page)):
                note = "fp32 pipeline"
                if res is page:
                    note = page.get("skipped") or (
                        f"{page.get('variant', '?')}, {page.get('threads', '?')} threads, "
                        f"cross-origin isolated: {page.get('isolated', '?')}; "
                        f"load + compile {page.get('setup_seconds', float('nan')):.1f} s"
                    )
                    note += f"; LiteRT.js time / Python's: {ratio(page, python)}"
                rows.append(
                    f"| browser | {name} | {size}² | {fmt_s(res)} | {fmt_s(ref)} | "
                    f"{ratio(ref, res)} | {share(res, rate)} | {share(ref, rate)} | "
                    f"{rss(res)} / {rss(ref)} | {note} |"
                )

    if "train" in args.parts:
        for stage in ("edge", "inpaint", "joint"):
            kw = {"size": train_size, "batch": 2, "repeat": max(2, repeat - 2), **net}
            ref32 = run("train_step", "torch_train", f"torch train {stage}", stage=stage, **kw)
            for jit, winograd, policy in (
                (False, False, None),
                (True, False, None),
                (False, True, None),
                (True, True, None),
                (False, False, "mixed_bfloat16"),
            ):
                name = ("winograd_" if winograd else "") + ("xla" if jit else "function")
                name += f"_{policy}" if policy else ""
                res = run("train_step", "tf_train", f"TF train {stage} {name}", stage=stage,
                          jit=jit, winograd=winograd, policy=policy, **kw)  # fmt: skip
                ref = ref32
                if policy:  # against the reference under torch.autocast in bfloat16
                    ref = run("train_step", "torch_train", f"torch train {stage} bf16",
                              stage=stage, autocast="bf16", **kw)  # fmt: skip
                    name += " (ref: torch autocast bf16)"
                rows.append(
                    f"| train b2 | {stage} {name} | {train_size}² | {fmt_s(res)} | {fmt_s(ref)} "
                    f"| {ratio(ref, res)} | {share(res, rate)} | {share(ref, rate)} | "
                    f"{rss(res)} / {rss(ref)} | |"
                )

    if "train_isa" in args.parts:
        extra.append(train_isa_part(run, train_size, max(2, repeat - 2), net))

    if "memory" in args.parts:
        ref = run("inference", "torch_inference", f"torch memory {memory_size}²",
                  size=memory_size, repeat=1, max_seconds=1, **net)  # fmt: skip
        for variant in ("pipeline", "pipeline_winograd"):
            res = run("inference", "tf_inference", f"TF memory {variant} {memory_size}²",
                      size=memory_size, variant=variant, repeat=1, max_seconds=1, warmup=0,
                      quality=False, **net)  # fmt: skip
            rows.append(
                f"| memory | {variant} | {memory_size}² | {fmt_s(res)} | {fmt_s(ref)} | "
                f"{ratio(ref, res)} | {share(res, rate)} | {share(ref, rate)} | "
                f"{rss(res)} / {rss(ref)} | peak RSS of the whole process |"
            )

    if "gpu" in args.parts:
        gpu_rows = gpu_part(run, quick, net)
        rows += gpu_rows

    if "data" in args.parts:
        extra.append(script_part(run, ["-m", "bench.data_pipeline"] +
                                 (["--seconds", "2", "--repeats", "1"] if quick else []),
                                 "Data pipeline (bench/data_pipeline.py)"))  # fmt: skip
    if "export" in args.parts:
        cmd = [os.path.join(common.REPO, "bench", "export.py"), "--no-append", "--sizes",
               *map(str, sizes)]  # fmt: skip
        extra.append(script_part(run, cmd, "Export latency (bench/export.py)"))

    if "soak" in args.parts:
        cmd = ["-m", "bench.soak"]
        if quick:
            cmd += ["--requests", "20", "--sample-every", "10", "--targets", "predictor"]
        extra.append(script_part(run, cmd, "Serving memory under many image sizes (bench/soak.py)"))

    if "forms_process" in args.parts:
        cmd = ["-m", "bench.forms_process", "--sizes", *map(str, sizes)]
        if quick:
            cmd += ["--rounds", "1", "--calls", "1", "--net", "2,16"]
        title = "Every form in its own process (bench/forms_process.py)"
        extra.append(script_part(run, cmd, title))

    text = report(info, args, notes, rows, extra, run.loads)
    print(text)
    if not args.no_append:
        with open(RESULTS, "a", encoding="utf-8") as f:
            f.write(text)
        print(f"[bench] appended to {RESULTS}", file=sys.stderr)
    return 0


FORM_LABELS = {
    "authors_pytorch": "authors' PyTorch G1 -> G2 (generators only)",
    "python_api_eager_before": "`EdgeConnect.inpaint`, model called eagerly (before)",
    "python_api_default": "`EdgeConnect.inpaint` default (compiled, graph mode; "
    "PSNR vs the row above)",
    "tf_function_direct": "pipeline as a static-shape tf.function, direct convs",
    "serving_fn_in_process": "serving signature traced in-process (not saved), direct",
    "savedmodel": "SavedModel `serving_default`, direct convs",
    "savedmodel_winograd": "SavedModel `serving_default`, graph mode (default)",
    "tflite_fp32": "TFLite fp32, direct convs",
    "tflite_fp32_winograd": "TFLite fp32, Winograd graph blocks (default)",
    "tflite_dynamic_int8": "TFLite dynamic-range int8",
}


def train_isa_part(run, size, repeat, net):
    """Training steps on AVX2 (natively, or via forms.AVX2_ENV on an AVX-512 CPU; the `train`
    part has the native rows), batch 2 and 8, fp32 and `conv_mode: xla`, each against the
    authors' step under the same limits."""
    from bench import forms

    lines = []
    for isa, env in forms.isa_classes()[-1:]:
        lines += [
            "",
            f"### Training step vs the authors' PyTorch step, {isa.upper()}"
            + (f" ({', '.join(f'{k}={v}' for k, v in env.items())})" if env else " (native)"),
            "",
            f"CPU flags: {' '.join(forms.cpu_flags())}. {size}², median s/step, random weights, "
            "Adam, each case in a fresh process.",
            "",
            "| stage | batch | authors' step (s) | ours fp32 (s) | authors / ours | "
            "ours `conv_mode: xla` (s) | authors / ours | load |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for batch in (2, 8):
            for stage in ("edge", "inpaint", "joint"):
                kw = {"size": size, "batch": batch, "repeat": repeat, "env": env, **net}
                label = f"{isa} b{batch} {stage}"
                ref = run("train_step", "torch_train", f"torch train {label}", stage=stage, **kw)
                ours = run("train_step", "tf_train", f"TF train {label}", stage=stage,
                           jit=False, winograd=False, policy=None, **kw)  # fmt: skip
                wino = run("train_step", "tf_train", f"TF train {label} winograd", stage=stage,
                           jit=False, winograd=True, policy=None, **kw)  # fmt: skip
                loads = [r.get("load_before", float("nan")) for r in (ref, ours, wino)]
                lines.append(
                    f"| {stage} | {batch} | {fmt_s(ref)} | {fmt_s(ours)} | {ratio(ref, ours)} | "
                    f"{fmt_s(wino)} | {ratio(ref, wino)} | {min(loads):.1f}–{max(loads):.1f} |"
                )
    return "\n".join(lines)


def forms_part(run, sizes, rounds, net):
    """Exports once per size, `bench.forms.compare` per ISA class and size, TFLite memory."""
    import shutil

    from bench import forms

    workdirs = {size: forms.new_workdir() for size in sizes}
    try:
        for size in sizes:
            prep = run("forms", "prepare", f"forms: exports {size}²", size=size,
                       workdir=workdirs[size], **net)  # fmt: skip
            if "error" in prep:
                return f"### Forms\n\nexports failed: {prep['error']}\n"
        flags = " ".join(forms.cpu_flags())
        sections = []
        for isa, env in forms.isa_classes():
            results = [
                run(
                    "forms",
                    "compare",
                    f"forms {isa} {size}²",
                    env=env,
                    size=size,
                    workdir=workdirs[size],
                    rounds=rounds,
                    isa=isa,
                    **net,
                )  # fmt: skip
                for size in sizes
            ]
            sections.append(forms_table(isa, env, flags, results))
        memory = [
            run(
                "forms", "memory_cases", f"TFLite memory {size}²", size=size, workdir=workdirs[size]
            )  # fmt: skip
            for size in sizes
        ]
        sections.append(memory_table(memory))
        return "\n".join(sections)
    finally:
        for workdir in workdirs.values():
            shutil.rmtree(workdir, ignore_errors=True)


def forms_table(isa, env, flags, results):
    """One Markdown table of `bench.forms.compare` results (one ISA class, all sizes)."""
    how = ", ".join(f"{k}={v}" for k, v in env.items()) or "native"
    lines = [
        f"### Every form vs the authors' PyTorch, {isa.upper()} ({how})",
        "",
        f"CPU flags: {flags}. Round-robin in one process, batch 1, random weights.",
        "",
        "| form | size | median s | min s | authors' median s (same run) | authors / ours "
        "| hole PSNR / SNR vs direct fp32 | load start–end |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for res in results:
        if "forms" not in res:
            lines.append(f"| error | | | | | | {res.get('error', '')[-200:]} | |")
            continue
        ref = res["forms"]["authors_pytorch"]["seconds"]
        load = f"{res['load_start']:.1f}–{res['load_end']:.1f}"
        for name, row in res["forms"].items():
            q = ""
            if "psnr_hole_db" in row:
                q = f"{row['psnr_hole_db']:.1f} / {row['snr_hole_db']:.1f} dB"
            lines.append(
                f"| {FORM_LABELS.get(name, name)} | {res['size']}² | {row['seconds']:.3f} | "
                f"{row['seconds_min']:.3f} | {ref:.3f} | {ref / row['seconds']:.2f}× | {q} | "
                f"{load} |"
            )
    return "\n".join(lines) + "\n"


def memory_table(results):
    """TFLite peak RSS (MiB) in a numpy/OpenCV/LiteRT-only process, per file and variant."""
    lines = [
        "### TFLite memory: interpreter alone (numpy, OpenCV, ai-edge-litert; no TensorFlow)",
        "",
        "| file | size | file MiB | variant | after import | after load | peak (one inpaint) "
        "| inpaint s |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for res in results:
        for name, row in res.get("memory", {}).items():
            for variant in ("default", "no_xnnpack"):
                m = row.get(variant, {})
                if "peak_mib" not in m:
                    lines.append(f"| {name} | {res['size']}² | | {variant} | error | | | |")
                    continue
                lines.append(
                    f"| {name} | {res['size']}² | {row['file_mib']:.1f} | {variant} | "
                    f"{m['import_mib']:.0f} | {m['loaded_mib']:.0f} | {m['peak_mib']:.0f} | "
                    f"{m['seconds']:.2f} |"
                )
    return "\n".join(lines) + "\n"


def gpu_part(run, quick, net):
    """GPU rows (images/s), or one row saying why there are none."""
    probe = run("gpu", "tf_gpu_inference", "GPU probe", size=32, batch=1, repeat=1,
                residual_blocks=1, filters=8)  # fmt: skip
    if "skipped" in probe or "error" in probe:
        return [f"| gpu | – | – | – | – | – | – | – | – | {probe.get('skipped', 'error')} |"]
    size, batch = (64, 2) if quick else (256, 8)
    rows = []
    kw = {"size": size, "batch": batch, **net}
    ref = run("gpu", "torch_gpu_inference", "GPU torch fp32", **kw)
    refs = {a: run("gpu", "torch_gpu_inference", f"GPU torch {a}", autocast=a, **kw)
            for a in ("bf16", "fp16")}  # fmt: skip
    for policy in ("float32", "mixed_bfloat16", "mixed_float16"):
        res = run("gpu", "tf_gpu_inference", f"GPU TF {policy} xla", policy=policy, **kw)
        rows.append(gpu_row("inference", f"{policy} + XLA", size, batch, res, ref, refs))
    for stage in ("edge", "inpaint", "joint"):
        ref = run("gpu", "torch_gpu_train", f"GPU torch train {stage}", stage=stage, **kw)
        refs = {a: run("gpu", "torch_gpu_train", f"GPU torch train {stage} {a}", stage=stage,
                       autocast=a, **kw) for a in ("bf16", "fp16")}  # fmt: skip
        for policy in ("float32", "mixed_bfloat16", "mixed_float16"):
            res = run("gpu", "tf_gpu_train", f"GPU TF train {stage} {policy}", stage=stage,
                      policy=policy, **kw)  # fmt: skip
            rows.append(gpu_row(f"train {stage}", f"{policy} + XLA", size, batch, res, ref, refs))
    return rows


def gpu_row(part, name, size, batch, res, ref, refs):
    def ips(r):
        return f"{r['images_per_second']:.1f} img/s" if r and "images_per_second" in r else "–"

    auto = ", ".join(f"autocast {a} {ips(r)}" for a, r in refs.items())
    return (
        f"| gpu {part} | {name} (batch {batch}) | {size}² | {ips(res)} | {ips(ref)} (fp32) | "
        f"{ratio(ref, res)} | – | – | {rss(res)} / {rss(ref)} | ref {auto}; "
        f"{res.get('device', '')} |"
    )


def script_part(run, cmd, title):
    """Runs another benchmark script and returns its output as a section."""
    run.wait()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *cmd], capture_output=True, text=True, env=common.child_env(),
        cwd=common.REPO, check=False,
    )  # fmt: skip
    out = proc.stdout.strip() or proc.stderr.strip()[-2000:]
    print(f"[bench] {title}: exit {proc.returncode} ({time.perf_counter() - t0:.0f} s)",
          file=sys.stderr)  # fmt: skip
    return f"### {title}\n\n{out}\n"


def report(info, args, notes, rows, extra, loads):
    v = info["versions"]
    machine = (
        f"{info['cpu']} ({info['cpu_flags']}), {info['cores']} cores, {info['ram_gib']} GiB RAM; "
        f"Python {info['python']}, TensorFlow {v['tensorflow']}, Keras {v['keras']}, "
        f"PyTorch {v['torch']}, ai-edge-litert {v['ai_edge_litert']}, NumPy {v['numpy']}"
    )
    load = (
        f"1-min load average before the cases: {min(loads):.1f}–{max(loads):.1f}" if loads else ""
    )
    mode = "quick (tiny sizes, smoke run: timings not meaningful)" if args.quick else "full"
    lines = [
        "",
        f"## Performance run {info['date']} ({mode})",
        "",
        f"Command: `python -m bench {' '.join(sys.argv[1:])}`".replace(" `", "`"),
        "",
        f"Machine: {machine}. {load}.",
        "",
        "Batch 1 for inference (median seconds per image), batch 2 for training steps "
        "(median seconds per step); random weights; every case in a fresh process. "
        "Shares of the matmul rate: 2·MACs (from the layer shapes) / time / matmul rate. "
        "`ref / ours` > 1 means ours is faster.",
        "",
        *notes,
        "",
        *rows,
        "",
        *extra,
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
