"""Interrupts (Ctrl-C = SIGINT, and SIGKILL) at several moments of every command that writes: nothing
that was there is lost, nothing partial is left at the user's path, and the next run works.

A command that finishes before the signal arrives must simply have finished (exit 0)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from masknet_edge.cli.main import main
from masknet_edge.edge_runtime.bundle import read_bundle
from tests.conftest import needs_tf

pytestmark = needs_tf


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _wait_for_sigint_handler(pid: int, timeout: float = 60.0) -> None:
    """Wait until the child has installed its SIGINT handler (Python does so while it starts): a
    Ctrl-C before that kills any program, and on a loaded machine start-up can take seconds."""
    status = Path(f"/proc/{pid}/status")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            caught = next(line for line in status.read_text().splitlines() if line.startswith("SigCgt:"))
        except (OSError, StopIteration):
            return  # not Linux, or the process is gone: nothing to wait for
        if int(caught.split()[1], 16) & (1 << (signal.SIGINT - 1)):
            return
        time.sleep(0.02)


def _interrupt(
    args: list, sig: signal.Signals, after: float | Callable[[], bool], scratch: Path | None = None
) -> tuple[int, str]:
    """Run a command, signal it ``after`` seconds past its start-up (or once ``after()`` holds),
    and return its exit code and stderr. ``scratch`` becomes the child's temporary folder."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if scratch is not None:
        scratch.mkdir(exist_ok=True)
        env["TMPDIR"] = str(scratch)
    proc = subprocess.Popen(
        [sys.executable, "-m", "masknet_edge", *map(str, args)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # Ctrl-C reaches the child even when the suite runs with SIGINT ignored (a background job):
        # Python installs its handler only where SIGINT is not ignored at start-up.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for_sigint_handler(proc.pid)
    if callable(after):
        deadline = time.monotonic() + 180
        while not after() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert after(), "the command ended (or hung) before the moment to interrupt it came"
    else:
        time.sleep(after)
    sent = time.time()
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    if sig == signal.SIGINT and proc.returncode == 130:
        assert time.time() - sent < 10, "Ctrl-C took more than 10 s to stop the command"
    return proc.returncode, err.decode()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name or p.name.endswith(".old"))


def _savedmodel_scratch(scratch: Path) -> list[Path]:
    return list(scratch.glob("masknet-savedmodel.*"))


@pytest.mark.parametrize(
    ("mode", "when", "sig", "existing"),
    [
        ("int8", "starting", signal.SIGINT, True),  # 3 s in: TensorFlow is still being imported
        ("int8", "converting", signal.SIGINT, True),
        ("none", "converting", signal.SIGKILL, False),  # a new bundle: no file appears in its place
        ("int8", "converting", signal.SIGKILL, True),
    ],
)
def test_interrupted_convert_keeps_the_previous_bundle(
    shop_run, bundles, tmp_path, monkeypatch, mode, when, sig, existing
):
    target = tmp_path / "shop.mnb"
    scratch = tmp_path / ".scratch"  # the child's temporary folder: its SavedModel export lands here
    if existing:
        shutil.copy(bundles["dynamic"], target)
    before = _digest(target) if existing else None
    args = ["convert", shop_run, "--quantize", mode, "--calibration-rows", "64", "--out", target]
    args += ["--overwrite"] if existing else []
    converting = lambda: bool(_savedmodel_scratch(scratch))  # noqa: E731
    code, err = _interrupt(args, sig, 3.0 if when == "starting" else converting, scratch)
    assert "Traceback" not in err
    if when == "converting":  # the signal landed in the conversion, not before or after it
        assert code != 0, err
    if code == 0:  # it finished first: the new bundle is whole
        assert _digest(target) != before
    else:
        assert code == (130 if sig == signal.SIGINT else -signal.SIGKILL), err
        if target.exists() and _digest(target) != before:  # stopped after the rename: it is whole
            assert read_bundle(target).quantization == mode
    # nothing else in sight: a killed run's scratch file is hidden (a dot name) until the next run
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] in ([], ["shop.mnb"])
    if sig == signal.SIGINT:  # Ctrl-C cleans up: no half-written bundle, no export left behind
        assert _leftovers(tmp_path) == [] and _savedmodel_scratch(scratch) == []
        return  # nothing left to clear (the data_shop and train tests rerun after Ctrl-C too)
    if not existing and target.exists():  # the killed run had finished its bundle
        args.append("--overwrite")
    # the next run (in this process: the pytest worker has TensorFlow loaded already) clears the
    # killed run's half-written bundle beside the target and its export in the temporary folder
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    rerun = CliRunner().invoke(main, [*map(str, args), "--json"])
    assert rerun.exit_code == 0, rerun.output
    assert _leftovers(tmp_path) == [], "the next run clears what a killed one left"
    assert _savedmodel_scratch(scratch) == []
    assert read_bundle(target).quantization == mode


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_data_shop_leaves_the_old_folder_whole(tmp_path, sig):
    out = tmp_path / "shop"
    out.mkdir()
    (out / "train.csv").write_text("old\n")
    args = ["data", "shop", "--out", out, "--interactions", "400000", "--overwrite"]
    code, err = _interrupt(args, sig, 3.0)
    assert "Traceback" not in err
    replaced = (out / "spec.json").is_file()  # a kill that lands after the rename finds it whole
    assert replaced or code != 0
    if not replaced:
        assert sorted(os.listdir(out)) == ["train.csv"] and (out / "train.csv").read_text() == "old\n"
    if sig == signal.SIGINT:
        assert _leftovers(tmp_path) == []
    rerun = subprocess.run(
        [sys.executable, "-m", "masknet_edge", "data", "shop", "--out", str(out), "--interactions", "500"]
        + ["--overwrite"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert _leftovers(tmp_path) == [] and (out / "spec.json").is_file()


def test_interrupted_check_leaves_no_partial_plot(shop_run, bundles, shop_data, tmp_path):
    plot = tmp_path / "check.png"
    args = [
        "check",
        bundles["int8"],
        "--reference",
        shop_run,
        "--data",
        shop_data / "test.csv",
        "--plot",
        plot,
    ]
    code, err = _interrupt(args, signal.SIGINT, 4.0)
    assert "Traceback" not in err
    # 0/1: it finished (passed or failed its gates) before the signal; -SIGINT: the signal landed
    # after the command returned, while Python was exiting (the plot is then whole)
    assert code in (0, 1, 130, -signal.SIGINT), err
    assert plot.is_file() == (code != 130)
    assert _leftovers(tmp_path) == []


def test_interrupted_data_prepare_leaves_nothing_half_written(tmp_path):
    src = tmp_path / "avazu"
    src.mkdir()
    rows = ["id,click,hour,C1,banner_pos,site_id,app_id,device_ip"]
    rows += [
        f"{i},{i % 2},141021{i % 24:02d},1005,{i % 3},s{i % 97},a{i % 89},d{i % 5003}" for i in range(300_000)
    ]
    (src / "train.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "prepared"
    code, err = _interrupt(["data", "prepare", "avazu", src, "--out", out], signal.SIGINT, 2.0)
    assert "Traceback" not in err
    # -SIGINT: the signal landed after the command returned, while Python was exiting (measured on a
    # loaded machine); the output is then whole, as checked below
    assert code in (0, 130, -signal.SIGINT), err
    if out.exists():  # finished, or a Ctrl-C that landed after the rename: whole either way
        assert sorted(os.listdir(out)) == ["spec.json", "test.csv", "train.csv", "valid.csv"]
    else:
        assert code == 130, err
    assert _leftovers(tmp_path) == []
