"""The test suite's wall time against an earlier commit's, side by side on this machine.

Both commits are cloned into one temporary folder (so neither finds ``../shared/data``: the tests on
real data skip in both) and run with this venv's Python, each with the pytest command its own
Makefile gives ``make test``. The runs alternate (base, head, base, head, ...) so that a slower
stretch of a shared machine falls on both. The default base is the commit at which issue #13 set
the goal "``make test`` (pytest part) faster than today's on the same machine".

Not part of ``make bench`` (about 30 minutes). Run:
    .venv/bin/python -m benchmarks.bench_suite [--base REV] [--rounds N] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import machine, table, write_marked_section

ROOT = Path(__file__).resolve().parents[1]
#: The last commit before the first change made for issue #13 (train/pipeline.py split, 804372f).
ISSUE_13_BASE = "a50eb5a"
#: The last commit before the first change made for issue #29 (the run's plan, 7da77ec).
ISSUE_29_BASE = "6402b30"
BEGIN, END = "<!-- suite:begin -->", "<!-- suite:end -->"
_PYTEST = re.compile(r"^\t\$\(PY\) -m pytest (.*)$", re.MULTILINE)
_WORKERS = re.compile(r"^TEST_WORKERS \?= (\d+)$", re.MULTILINE)
_FAILED = re.compile(r"^FAILED (.+?)(?: - .*)?$", re.MULTILINE)
_SUMMARY = re.compile(r"^=*\s*(\d+ (?:passed|failed).*?) in [\d.]+s", re.MULTILINE)


def pytest_args(makefile: str) -> list[str]:
    """The pytest arguments of a Makefile's ``test`` target, its defaults filled in."""
    found = _PYTEST.search(makefile)
    if found is None:
        raise ValueError("no `$(PY) -m pytest` line in the Makefile")
    workers = _WORKERS.search(makefile)
    line = found.group(1).replace("$(PYTEST_ARGS)", "")
    line = line.replace("$(TEST_WORKERS)", workers.group(1) if workers else "")
    return shlex.split(line)  # as the shell reads it: -m "not emulation" is two arguments


def _checkout(rev: str, folder: Path) -> str:
    """Clone this repository at ``rev`` into ``folder`` and build its compiled parts in place."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
    subprocess.run(["git", "-C", str(folder), "checkout", "-q", rev], check=True)
    if (folder / "setup.py").is_file():  # the encoder's C fast path, as `pip install -e .` builds it
        subprocess.run(
            [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
            cwd=folder,
            check=True,
            capture_output=True,
        )
    # The installed package maps masknet_edge.<stage> to this checkout's folders: a clone whose
    # masknet_edge/ lacks them would import those stages from here. Links inside the clone's package
    # make its own stages found first.
    package = folder / "masknet_edge"
    for stage in ("convert", "edge_runtime", "train"):
        if package.is_dir() and (folder / stage).is_dir() and not (package / stage).exists():
            (package / stage).symlink_to(Path("..") / stage)
    head = subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return head.stdout.strip()


def _time_suite(folder: Path, args: list[str]) -> dict[str, Any]:
    """Run one clone's suite with its code first on the path; wall seconds and pytest's summary."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=folder,
        env={**env, "PYTHONPATH": str(folder)},
        capture_output=True,
        text=True,
        # Ctrl-C tests need SIGINT's default action in their children, also when this benchmark
        # runs as a background job (which starts with SIGINT ignored, and children inherit that).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seconds = time.perf_counter() - start
    summary = _SUMMARY.findall(out.stdout)
    return {
        "seconds": round(seconds, 1),
        "summary": summary[-1] if summary else out.stdout[-300:],
        "failed": sorted(set(_FAILED.findall(out.stdout))),
    }


def run(base: str = ISSUE_13_BASE, rounds: int = 2) -> dict[str, Any]:
    """Alternate the two suites ``rounds`` times; the wall time of each run and their ratio."""
    with tempfile.TemporaryDirectory(prefix="masknet-suite-") as t:
        folders = {"base": Path(t) / "base", "head": Path(t) / "head"}
        revs = {"base": _checkout(base, folders["base"]), "head": _checkout("HEAD", folders["head"])}
        args = {k: pytest_args((f / "Makefile").read_text()) for k, f in folders.items()}
        runs: dict[str, list[dict[str, Any]]] = {"base": [], "head": []}
        for _ in range(rounds):
            for which in ("base", "head"):
                runs[which].append(_time_suite(folders[which], args[which]))
                print(which, runs[which][-1], flush=True)
    return {
        "machine": machine(),
        "revs": revs,
        "pytest_args": {k: " ".join(v) for k, v in args.items()},
        "runs": runs,
        "ratio_head_to_base": [
            round(h["seconds"] / b["seconds"], 3) for b, h in zip(runs["base"], runs["head"], strict=True)
        ],
    }


#: What each base commit stands for.
_BASES = {
    ISSUE_13_BASE: "the commit where issue #13 set its goal",
    ISSUE_29_BASE: "the last commit before issue #29's first change",
}


def _base_option(result: dict[str, Any]) -> str:
    base = result["revs"]["base"]
    return "" if base == ISSUE_13_BASE else f" --base {base}"


def render(result: dict[str, Any]) -> list[str]:
    """The section: each run's wall time and summary, and the ratio per round."""
    rows, failed = [], []
    for i, pair in enumerate(zip(result["runs"]["base"], result["runs"]["head"], strict=True)):
        for which, r in zip(("base", "head"), pair, strict=True):
            rev, args = result["revs"][which], result["pytest_args"][which]
            rows.append([which, f"`{rev}`", f"`pytest {args}`", i + 1, r["seconds"], r["summary"]])
    for which in ("base", "head"):
        names = sorted({n for r in result["runs"][which] for n in r.get("failed", [])})
        if names:
            failed.append(f"Failed in {which}: " + ", ".join(f"`{n}`" for n in names) + ".")
    return [
        BEGIN,
        "## Test suite time against the goal's base (`benchmarks/bench_suite.py`)",
        "",
        f"`.venv/bin/python -m benchmarks.bench_suite{_base_option(result)} --write`: the pytest part of "
        f"`make test` at {_BASES.get(result['revs']['base'], 'the base commit')} (base) and now (head), "
        f"alternated on one machine ({result['machine']}). "
        "Both run from clones without `../shared/data`, so the tests on real data skip in both.",
        "",
        table(["suite", "commit", "command", "round", "wall s", "pytest says"], rows),
        "",
        "Head / base per round: " + ", ".join(f"{x:.2f}" for x in result["ratio_head_to_base"]) + ".",
        *failed,
        END,
    ]


def main() -> None:
    """Measure; print the result as JSON, and with ``--write`` put its section into BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=ISSUE_13_BASE, help="the commit to compare against")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    ns = parser.parse_args()
    result = run(ns.base, ns.rounds)
    print(json.dumps(result))
    if ns.write:
        section = "\n".join(render(result))
        write_marked_section(ROOT / "BENCHMARKS.md", BEGIN, END, section, "## Reliability")


if __name__ == "__main__":
    main()
