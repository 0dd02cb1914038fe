"""The CLI helpers' exit codes, run as a user runs a command (a fresh ``python -m`` process)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

_COMMAND = textwrap.dedent(
    """
    import click
    from masknet_edge.cli.tools import guarded

    @click.command()
    @guarded
    def main() -> None:
        # what a library does when Ctrl-C lands inside code it runs from a string
        exec("raise KeyboardInterrupt", {})

    if __name__ == "__main__":
        main()
    """
)


def test_an_interrupt_inside_string_exec_still_exits_130_under_python_m(tmp_path: Path) -> None:
    (tmp_path / "interrupted_command.py").write_text(_COMMAND)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "interrupted_command"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(root), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Interrupted" in proc.stderr, proc.stderr
    assert proc.returncode == 130, (proc.returncode, proc.stderr)  # not -2 (death by SIGINT)


_SLOW_IMPORT = textwrap.dedent(
    """
    import click
    from masknet_edge.cli.tools import guarded, import_tensorflow

    @click.command()
    @guarded
    def main() -> None:
        import_tensorflow()

    if __name__ == "__main__":
        main()
    """
)


def test_ctrl_c_while_tensorflow_is_imported_exits_130_at_once(tmp_path: Path) -> None:
    """A Ctrl-C during the seconds TensorFlow takes to import ends the command cleanly: no traceback
    from a native module whose initialisation the interrupt broke. A stand-in ``tensorflow`` module
    that takes 60 s to import, and turns an interrupt into an ``ImportError`` as a native module does,
    stands for the real one."""
    (tmp_path / "slow_import_command.py").write_text(_SLOW_IMPORT)
    (tmp_path / "tensorflow.py").write_text(
        textwrap.dedent(
            """
            import time
            print("importing", flush=True)
            try:
                time.sleep(60)
            except BaseException as exc:  # what a pybind11 module's failed initialisation raises
                raise ImportError("initialization failed") from exc
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "slow_import_command"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout.readline().strip() == "importing"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert time.monotonic() - sent < 10, "the interrupt waited for the import"
    assert proc.returncode == 130 and "Interrupted" in err and "Traceback" not in err, err


_CONVERTED_INTERRUPT = textwrap.dedent(
    """
    import time
    import click
    from masknet_edge.cli.main import main
    from masknet_edge.cli.tools import guarded

    @main.command("stand-in")
    @click.option("--fail", is_flag=True)
    @guarded
    def stand_in(fail: bool) -> None:
        print("working", flush=True)
        if fail:
            raise TypeError("a bug, not an interrupt")
        try:
            time.sleep(60)
        except KeyboardInterrupt:  # what TensorFlow's tracing raised when a Ctrl-C landed in it
            raise TypeError("Failed to convert elements of (None, 140) to Tensor") from None

    if __name__ == "__main__":
        main()
    """
)


def _stand_in(tmp_path: Path, *args: str) -> subprocess.Popen:
    (tmp_path / "stand_in_command.py").write_text(_CONVERTED_INTERRUPT)
    return subprocess.Popen(
        [sys.executable, "-m", "stand_in_command", "stand-in", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_an_interrupt_that_a_library_turns_into_another_error_is_still_the_interrupt(tmp_path: Path) -> None:
    """Ctrl-C inside native code can come out as another exception (TensorFlow's tracing gave a
    ``TypeError`` and a ``SystemError``): the command reports the interrupt, exit code 130, not that
    exception's traceback; the same error without an interrupt is still shown as the bug it is."""
    proc = _stand_in(tmp_path)
    try:
        assert proc.stdout.readline().strip() == "working"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Interrupted" in err and "Traceback" not in err, err
    failing = _stand_in(tmp_path, "--fail")
    _, err = failing.communicate(timeout=30)
    assert failing.returncode == 1 and "TypeError: a bug, not an interrupt" in err, err


def test_json_output_is_strict_json(capsys):
    """JSON has no NaN or Infinity: a candidate's infinite price prints as null, not 'Infinity'."""
    import json

    import numpy as np

    from masknet_edge.cli.tools import emit_json

    emit_json({"a": float("inf"), "b": [float("-inf"), np.float32("nan"), 1.5], "c": np.float64(2.0)})
    text = capsys.readouterr().out
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text) == {"a": None, "b": [None, None, 1.5], "c": 2.0}
