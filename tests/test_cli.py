"""The `edgeconnect` command line: instant help without TensorFlow, quiet start-up, one style."""

import os
import subprocess
import sys

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
