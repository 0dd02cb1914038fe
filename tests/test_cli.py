"""Every command: instant help without TensorFlow, one-line errors and exit codes, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from masknet_edge.cli.main import COMMANDS, main


def test_help_imports_no_tensorflow():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from masknet_edge.cli.main import main\n"
        "r = CliRunner().invoke(main, ['--help'])\n"
        "assert r.exit_code == 0 and 'convert' in r.output, r.output\n"
        "for c in ['rank', 'verify', 'bench', 'train', 'convert', 'check']:\n"
        "    assert CliRunner().invoke(main, [c, '--help']).exit_code == 0\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'tensorflow', 'keras'})\n"
        "assert not bad, bad[:5]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(command):
    res = CliRunner().invoke(main, [command, "--help"])
    assert res.exit_code == 0
    if command not in ("data", "spec"):
        assert "Example:" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["rank", "{nofile}", "--context", "{{}}", "--candidates", "{nofile}"],
            "cannot read candidates file",
        ),
        (["rank", "{nofile}", "--context", "{{", "--candidates", "{cands}"], "--context is not valid JSON"),
        (["rank", "{nofile}", "--context", "[1]", "--candidates", "{cands}"], "must be a JSON object"),
        (["rank", "{nofile}", "--context", "{{}}", "--candidates", "{badjsonl}"], "line 2: not valid JSON"),
        (["rank", "{nofile}", "--context", "{{}}", "--candidates", "{cands}"], "cannot read bundle"),
        (["verify", "{nofile}"], "cannot read bundle"),
        (["verify", "{cands}"], "not a masknet-edge bundle"),
        (["bench", "{cands}", "--candidates", "a,b"], "expected comma-separated integers"),
        (["spec", "infer", "{nofile}", "--label", "y", "--out", "{out}"], "no such data file"),
        (["data", "prepare", "criteo", "{nofile}", "--out", "{out}"], "no such file or folder"),
    ],
)
def test_malformed_input_one_line_exit_2(tmp_path, args, message):
    (tmp_path / "c.jsonl").write_text('{"item_id": 1}\n{oops\n')
    (tmp_path / "ok.jsonl").write_text('{"item_id": 1}\n')
    fill = {
        "nofile": tmp_path / "missing.mnb",
        "cands": tmp_path / "ok.jsonl",
        "badjsonl": tmp_path / "c.jsonl",
        "out": tmp_path / "out",
    }
    res = CliRunner().invoke(main, [a.format(**{k: str(v) for k, v in fill.items()}) for a in args])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1 or res.output.startswith("Usage")


@pytest.mark.parametrize(
    "args",
    [
        ["spec", "infer", "{csv}", "--label", "y", "--out", "{blocked}/spec.json"],
        ["data", "shop", "--out", "{blocked}/shop", "--interactions", "100"],
    ],
)
def test_unwritable_output_one_line_exit_2(tmp_path, args):
    (tmp_path / "d.csv").write_text("x,y\n1,0\n2,1\n")
    (tmp_path / "file").write_text("a regular file where a folder is expected")
    fill = {"csv": tmp_path / "d.csv", "blocked": tmp_path / "file"}
    res = CliRunner().invoke(main, [a.format(**{k: str(v) for k, v in fill.items()}) for a in args])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("Error:") and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_the_command_line_starts_without_numpy_or_tensorflow():
    """``masknet --help`` (and choosing a subcommand) imports neither numpy nor TensorFlow: the
    package's public classes load on first use."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from masknet_edge.cli.main import main\n"
        "assert CliRunner().invoke(main, ['--help']).exit_code == 0\n"
        "print(sorted(m for m in ('numpy', 'tensorflow', 'keras', 'sqlite3') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_listed_summaries_are_the_commands_own_first_lines():
    import importlib

    from masknet_edge.cli.main import COMMANDS, SUMMARIES

    assert set(SUMMARIES) == set(COMMANDS)
    for name, target in COMMANDS.items():
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert SUMMARIES[name] == " ".join(command.help.strip().split("\n\n")[0].split()), name
