"""The `edgeconnect` command line: instant help without TensorFlow, quiet start-up, one style."""

import os
import subprocess
import sys

import pytest

from edgeconnect_tf.cli import COMMANDS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(code_or_args, env=None, module=False):
    argv = ["-m", "edgeconnect_tf.cli", *code_or_args] if module else ["-c", code_or_args]
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**environment, "PYTHONPATH": REPO, **(env or {})},
        timeout=300,
    )


def test_help_of_every_command_imports_no_tensorflow():
    code = (
        "import sys\n"
        "from edgeconnect_tf import cli\n"
        f"for argv in [['--help']] + [[c, '--help'] for c in {list(COMMANDS)!r}]:\n"
        "    try:\n"
        "        cli.main(argv)\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, (argv, e.code)\n"
        "print('TENSORFLOW', 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert "TENSORFLOW False False" in proc.stdout
    for command in COMMANDS:
        assert command in proc.stdout
    assert "--max_iters" in proc.stdout and "--batch_size" in proc.stdout  # train's Config keys


def test_tensorflow_start_up_lines_are_hidden_unless_asked_for(tmp_path):
    args = ["export", "--weights", str(tmp_path / "none"), "--output", str(tmp_path / "m" / "1")]
    quiet = _run(args, module=True)
    assert quiet.returncode == 1
    assert quiet.stderr.strip().splitlines() == [
        f"edgeconnect export: error: weights directory {str(tmp_path / 'none')!r} does not exist"
    ]
    loud = _run(args, env={"TF_CPP_MIN_LOG_LEVEL": "0"}, module=True)
    assert loud.returncode == 1 and len(loud.stderr.strip().splitlines()) > 1  # TF's own lines


def test_inpaint_and_eval_path_errors_come_before_tensorflow(tmp_path):
    """Missing paths and incomplete weights end in one line with TensorFlow unimportable."""
    import cv2
    import numpy as np

    weights, partial = tmp_path / "weights", tmp_path / "partial"  # files checked, not read
    for directory, names in ((weights, ("edge", "inpaint")), (partial, ("edge",))):
        directory.mkdir()
        (directory / "config.json").write_text('{"format": 1}')
        for name in names:
            (directory / f"{name}_generator.weights.h5").write_bytes(b"")
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "a.png"), np.zeros((16, 16), np.uint8))
    common = ["--output", str(tmp_path / "out")]
    cases = [
        (["inpaint", "--weights", str(weights), "--input", str(tmp_path / "in"),
          "--mask", str(tmp_path / "masks"), *common], "mask"),
        (["inpaint", "--weights", str(weights), "--input", str(tmp_path / "none"),
          "--mask", str(tmp_path / "in" / "a.png"), *common], "input"),
        (["inpaint", "--weights", str(partial), "--input", str(tmp_path / "in"),
          "--mask", str(tmp_path / "in" / "a.png"), *common], "inpaint"),
        (["eval", "--weights", str(partial), "--data", str(tmp_path / "in"),
          "--mask-type", "block", *common], "eval"),
        (["eval", "--weights", str(weights), "--data", str(tmp_path / "none"),
          "--mask-type", "block", *common], "eval"),
    ]  # fmt: skip
    expected = [
        f"mask {tmp_path / 'masks'} does not exist",
        f"input {tmp_path / 'none'} does not exist",
        f"{partial / 'inpaint_generator.weights.h5'} is missing",
        f"{partial / 'inpaint_generator.weights.h5'} is missing",
        f"{tmp_path / 'none'} does not exist",
    ]
    code = (
        "import sys; sys.modules['tensorflow'] = sys.modules['keras'] = None\n"
        "from edgeconnect_tf.cli import main\n"
        f"for argv in {[argv for argv, _ in cases]!r}:\n"
        "    print('EXIT', main(argv), flush=True)\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr  # an import of TensorFlow would raise
    assert proc.stdout.split() == ["EXIT", "1"] * len(cases)
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == len(cases), proc.stderr
    for line, (argv, _), needle in zip(errors, cases, expected, strict=True):
        assert line.startswith(f"edgeconnect {argv[0]}: error:") and needle in line, line


@pytest.mark.slow
def test_inpaint_and_eval_progress_in_a_log_is_plain_lines_naming_files(tmp_path):
    import cv2
    import numpy as np

    from edgeconnect_tf.weights import REQUIRED, build_networks, save_networks

    save_networks(str(tmp_path / "w"), build_networks(1, 4, names=REQUIRED))
    (tmp_path / "in").mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / "in" / name), np.full((56, 56, 3), 90, np.uint8))
    mask = np.zeros((56, 56), np.uint8)
    mask[4:9, 4:9] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    args = ["inpaint", "--weights", str(tmp_path / "w"), "--input", str(tmp_path / "in")]
    proc = _run([*args, "--mask", str(tmp_path / "mask.png"), "--output", str(tmp_path / "o")],
                module=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for stream in (proc.stdout, proc.stderr):
        assert not any(c in stream for c in "\r\b\x1b"), repr(stream)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"1/2 {tmp_path / 'in' / 'a.png'} ")
    assert lines[1].startswith(f"2/2 {tmp_path / 'in' / 'b.png'} ")
    assert lines[2] == f"wrote 2 image(s) to {tmp_path / 'o'}"
    args = ["eval", "--weights", str(tmp_path / "w"), "--data", str(tmp_path / "in")]
    args += ["--mask-type", "block", "--no-baselines", "--output", str(tmp_path / "e")]
    proc = _run(args, module=True)
    assert proc.returncode == 0, proc.stderr
    for stream in (proc.stdout, proc.stderr):
        assert not any(c in stream for c in "\r\b\x1b"), repr(stream)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("1/2 a.png ") and lines[1].startswith("2/2 b.png "), lines


@pytest.mark.parametrize("command", ["inpaint", "eval", "inpaint-beam"])
def test_old_spellings_are_refused_naming_the_new_one(command, capsys):
    from edgeconnect_tf import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--strategy", "crop"])
    assert exit_info.value.code == 2
    assert "--strategy is now --tiling" in capsys.readouterr().err


def test_no_option_abbreviations(capsys):
    """`serve --static-only --model DIR` must not silently become `--models DIR`."""
    from edgeconnect_tf import cli

    parser = cli.build_parser()
    assert all(not p.allow_abbrev for p in [parser, *parser.commands.values()])
    with pytest.raises(SystemExit):
        cli.main(["serve", "--static-only", "--model", "x"])
    assert "unrecognized arguments: --model" in capsys.readouterr().err


def test_inpaint_names_the_renamed_keyword():
    import numpy as np

    from edgeconnect_tf.inpaint import inpaint

    with pytest.raises(TypeError, match="it is now tiling="):
        inpaint(None, np.zeros((16, 16, 3)), np.zeros((16, 16)), strategy="full")


def test_the_library_never_imports_the_command_line():
    """Only cli/ (and the package's console entry point) may import edgeconnect_tf.cli."""
    import pathlib

    package = pathlib.Path(REPO) / "edgeconnect_tf"
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.parts[-2] != "cli" and "edgeconnect_tf.cli" in path.read_text()
    ]
    assert offenders == []


def test_quiet_start_leaves_stderr_alone_while_other_threads_run():
    """File descriptor 2 is process-wide: with a second thread alive (a server's, Beam's) the
    quiet import must not point it at /dev/null."""
    code = (
        "import os, threading, sys\n"
        "calls = []\n"
        "real = os.dup2\n"
        "os.dup2 = lambda a, b: calls.append(b) or real(a, b)\n"
        "stop = threading.Event(); t = threading.Thread(target=stop.wait); t.start()\n"
        "from edgeconnect_tf.startup import quiet_tensorflow\n"
        "quiet_tensorflow(); stop.set(); t.join()\n"
        "print('DUP2', calls, 'TF', 'tensorflow' in sys.modules)\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert "DUP2 [] TF True" in proc.stdout
