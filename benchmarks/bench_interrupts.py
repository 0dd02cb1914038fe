"""Ctrl-C at evenly spaced moments of every command that loads TensorFlow or writes a model.

Each command first runs once whole, to know how long it takes; then it is started again and again,
each time interrupted (SIGINT, as Ctrl-C sends) at the next of ``points`` moments spread over that
duration. A run passes when it exits 130 having said so (stopped), 0 (it finished first) or by the
signal itself (-2: the signal landed while Python was exiting, after the command had finished), with
no traceback on stderr and nothing half-written beside its output.

Run: .venv/bin/python -m benchmarks.bench_interrupts [--points 12] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Its section in ``make bench`` (``run_all --only interrupts``); its figures go into RELIABILITY.md.
SECTION, ORDER, DOCUMENT = "interrupts", 94, "RELIABILITY.md"

ROOT = Path(__file__).resolve().parents[1]
MODEL = ["--blocks", "1", "--block-units", "16", "--epochs", "2"]


def _masknet(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "masknet_edge", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal
    )


def _commands(work: Path) -> dict[str, Callable[[Path], list[str]]]:
    """Each command's arguments for an output path (fresh for every run)."""
    data, run = work / "data", work / "run"
    train = ["--train", str(data / "train.csv"), "--valid", str(data / "valid.csv")]
    test = str(data / "test.csv")
    return {
        "train": lambda o: [
            "train",
            *train,
            "--test",
            test,
            "--spec",
            str(data / "spec.json"),
            *MODEL,
            "--out",
            str(o),
        ],  # fmt: skip
        "distill": lambda o: ["distill", str(run), "--epochs", "1", "--out", str(o)],
        "convert int8": lambda o: [
            "convert",
            str(run),
            "--quantize",
            "int8",
            "--calibration-rows",
            "64",
            "--out",
            str(o),
        ],  # fmt: skip
        "check": lambda o: [
            "check",
            str(work / "run.mnb"),
            "--reference",
            str(run),
            "--data",
            test,
            "--plot",
            str(o),
        ],  # fmt: skip
        "spec infer": lambda o: [
            "spec",
            "infer",
            str(data / "train.csv"),
            "--label",
            "click",
            "--out",
            str(o),
        ],
    }


def _prepare(work: Path, env: dict[str, str]) -> None:
    """A small shop world, a run trained on it and its bundle: what the commands read."""
    steps = [
        ["data", "shop", "--users", "200", "--items", "50", "--interactions", "6000", "--out", str(work / "data")],
        ["train", "--train", str(work / "data" / "train.csv"), "--valid", str(work / "data" / "valid.csv"),
         "--spec", str(work / "data" / "spec.json"), *MODEL, "--out", str(work / "run")],
        ["convert", str(work / "run"), "--quantize", "dynamic", "--out", str(work / "run.mnb")],
    ]  # fmt: skip
    for args in steps:
        proc = _masknet(args, env)
        _, err = proc.communicate(timeout=600)
        if proc.returncode:
            raise RuntimeError(f"masknet {args[0]} failed: {err[-2000:]}")


def _interrupted(args: list[str], env: dict[str, str], after: float) -> tuple[int, str, float]:
    """Run, send SIGINT ``after`` seconds in; exit code, stderr and seconds from signal to exit."""
    proc = _masknet(args, env)
    time.sleep(after)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return proc.returncode, err, time.monotonic() - sent


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name or p.name.endswith(".old"))


def scan(name: str, command: Callable[[Path], list[str]], work: Path, env: dict, points: int) -> dict:
    """One command: its uninterrupted duration, then ``points`` interrupted runs spread over it."""
    out_dir = work / f"out-{name.replace(' ', '-')}"
    out_dir.mkdir()
    t = time.monotonic()
    whole = _masknet(command(out_dir / "whole"), env)
    _, err = whole.communicate(timeout=600)
    seconds = time.monotonic() - t
    if whole.returncode:
        raise RuntimeError(f"masknet {name} failed uninterrupted: {err[-2000:]}")
    runs = []
    for i in range(points):
        after = 0.3 + (seconds * 1.1 - 0.3) * i / max(points - 1, 1)
        target = out_dir / f"at-{i}"
        code, err, stop_s = _interrupted(command(target), env, after)
        clean = code in (0, -signal.SIGINT) or (code == 130 and "Interrupted" in err)
        bad = not clean or "Traceback" in err or bool(_leftovers(out_dir))
        runs.append(
            {
                "after_s": round(after, 2),
                "exit": code,
                "stop_s": round(stop_s, 2),
                "bad": bad,
                "stderr": err[-300:] if bad else "",
            }  # fmt: skip
        )
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    return {"command": name, "seconds": round(seconds, 1), "runs": runs}


def run(points: int = 12) -> dict[str, Any]:
    """Every command scanned; figures for RELIABILITY.md."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with tempfile.TemporaryDirectory(prefix="masknet-interrupts-") as tmp:
        work = Path(tmp)
        _prepare(work, env)
        scans = [scan(name, cmd, work, env, points) for name, cmd in _commands(work).items()]
    return {"points": points, "scans": scans}


def render(figures: dict[str, Any] | None) -> list[str]:
    """The section for RELIABILITY.md."""
    if not isinstance(figures, dict):
        return []
    lines = [
        "## Ctrl-C at any moment (`benchmarks/bench_interrupts.py`)",
        "",
        f"Each command run once whole, then {figures['points']} times interrupted with SIGINT at moments "
        "spread from 0.3 s to 1.1x its whole duration (TensorFlow's import, data reading, tracing, "
        "training, conversion, writing). Pass: exit 130 having said so, 0 (finished first) or -2 (the "
        "signal landed while Python exited after the command had finished); no traceback; nothing "
        "half-written beside the output.",
        "",
        "| command | whole run s | stopped (130) | finished (0 / -2) | slowest stop s | failed |",
        "|---|---|---|---|---|---|",
    ]
    for s in figures["scans"]:
        runs = s["runs"]
        stopped = [r for r in runs if r["exit"] == 130]
        finished = [r for r in runs if r["exit"] in (0, -signal.SIGINT)]
        bad = [r for r in runs if r["bad"]]
        slowest = max((r["stop_s"] for r in stopped), default=0.0)
        lines.append(
            f"| `masknet {s['command']}` | {s['seconds']} | {len(stopped)} | {len(finished)} | {slowest} | "
            f"{'**' + str(len(bad)) + '**' if bad else 0} |"
        )
    bad_runs = [(s["command"], r) for s in figures["scans"] for r in s["runs"] if r["bad"]]
    for name, r in bad_runs:
        lines.append(f"\nFailed: `{name}` at {r['after_s']} s, exit {r['exit']}: `{r['stderr'][-200:]}`")
    return [*lines, ""]


def main() -> None:
    """Command line: scan and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=12)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.points)
    print(json.dumps(figures, indent=2) if args.json else "\n".join(render(figures)))


if __name__ == "__main__":
    main()
