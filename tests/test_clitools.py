"""The CLI helpers' exit codes, run as a user runs a command (a fresh ``python -m`` process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
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


def test_json_output_is_strict_json(capsys):
    """JSON has no NaN or Infinity: a candidate's infinite price prints as null, not 'Infinity'."""
    import json

    import numpy as np

    from masknet_edge.cli.tools import emit_json

    emit_json({"a": float("inf"), "b": [float("-inf"), np.float32("nan"), 1.5], "c": np.float64(2.0)})
    text = capsys.readouterr().out
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text) == {"a": None, "b": [None, None, 1.5], "c": 2.0}
