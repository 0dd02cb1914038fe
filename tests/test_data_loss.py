"""Every command refuses to destroy what the user has: outputs that are inputs, lie inside an input
run, or exist without ``--overwrite`` are refused (exit 2) before any work, with nothing touched."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from masknet_edge.cli.main import main
from tests.conftest import needs_tf


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones included) with its SHA-256."""
    if root.is_file():
        return {root.name: hashlib.sha256(root.read_bytes()).hexdigest()}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def refused(args: list[str], message: str) -> None:
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 2, res.output
    assert message in res.output, res.output
    assert res.output.startswith("Error:") and "Traceback" not in res.output


@needs_tf
def test_spec_infer_never_writes_over_its_data(shop_data, tmp_path):
    data = tmp_path / "train.csv"
    shutil.copy(shop_data / "train.csv", data)
    before = snapshot(tmp_path)
    refused(["spec", "infer", data, "--label", "click", "--out", data], "is also the input")
    refused(["spec", "infer", data, "--label", "click", "--out", data, "--overwrite"], "is also the input")
    refused(["spec", "infer", data, "--label", "click", "--out", tmp_path], "contains the input")
    assert snapshot(tmp_path) == before


@needs_tf
def test_convert_never_writes_into_its_run(shop_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(shop_run, run)
    before = snapshot(run)
    for target in (run / "model.keras", run / "spec.json", run / "new.mnb"):
        refused(["convert", run, "--out", target, "--overwrite"], "lies inside the input")
    refused(["convert", run, "--out", run], "it is a folder")
    assert snapshot(run) == before


@needs_tf
def test_convert_keeps_an_existing_bundle_without_overwrite(shop_run, bundles, tmp_path):
    target = tmp_path / "b.mnb"
    shutil.copy(bundles["dynamic"], target)
    before = snapshot(target)
    refused(["convert", shop_run, "--quantize", "dynamic", "--out", target], "already exists")
    assert snapshot(target) == before


@needs_tf
def test_check_plot_never_replaces_an_input(shop_run, bundles, shop_data, tmp_path):
    bundle = tmp_path / "b.mnb"
    shutil.copy(bundles["int8"], bundle)
    data = shop_data / "test.csv"
    before = snapshot(bundle), snapshot(data)
    for plot in (bundle, data, shop_run / "check.png"):
        refused(
            ["check", bundle, "--reference", shop_run, "--data", data, "--plot", plot, "--overwrite"],
            "--plot",
        )
    assert (snapshot(bundle), snapshot(data)) == before
    assert not (shop_run / "check.png").exists()


@needs_tf
def test_data_shop_refuses_an_existing_folder_and_replaces_it_whole(tmp_path):
    out = tmp_path / "shop"
    out.mkdir()
    (out / "mine.txt").write_text("the user's file")
    refused(["data", "shop", "--out", out, "--interactions", "200"], "already exists: pass --overwrite")
    assert os.listdir(out) == ["mine.txt"]
    res = CliRunner().invoke(
        main, ["data", "shop", "--out", str(out), "--interactions", "200", "--overwrite", "--json"]
    )
    assert res.exit_code == 0, res.output
    assert sorted(os.listdir(out)) == [
        "items.csv",
        "spec.json",
        "test.csv",
        "train.csv",
        "users.csv",
        "valid.csv",
    ]
    assert os.listdir(tmp_path) == ["shop"]  # nothing staged is left beside it


@needs_tf
def test_data_prepare_never_writes_over_its_source(tmp_path):
    src = tmp_path / "avazu"
    src.mkdir()
    rows = ["id,click,hour,C1,banner_pos,site_id"]
    rows += [f"{i},{i % 2},141021{i % 24:02d},1005,0,s{i % 7}" for i in range(50)]
    (src / "train.csv").write_text("\n".join(rows) + "\n")
    before = snapshot(src)
    refused(["data", "prepare", "avazu", src, "--out", src, "--overwrite"], "is also the input")
    refused(["data", "prepare", "avazu", src, "--out", src / "prepared"], "lies inside the input")
    refused(["data", "prepare", "avazu", src / "train.csv", "--out", tmp_path], "contains the input")
    assert snapshot(src) == before
    res = CliRunner().invoke(main, ["data", "prepare", "avazu", str(src), "--out", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    refused(["data", "prepare", "avazu", src, "--out", tmp_path / "p"], "already exists")


@needs_tf
def test_train_overwrite_replaces_only_run_directories(shop_data, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    args = ["train", "--train", shop_data / "train.csv", "--valid", shop_data / "valid.csv"]
    args += ["--spec", shop_data / "spec.json", "--epochs", "1"]
    refused([*args, "--out", home, "--overwrite"], "is not a run directory")
    refused([*args, "--out", home / "thesis.tex", "--overwrite"], "is not a run directory")
    refused([*args, "--out", shop_data, "--overwrite"], "contains the input")
    refused([*args, "--out", shop_data / "spec.json", "--overwrite"], "is also the input")
    assert (home / "thesis.tex").read_text() == "years of work"


@needs_tf
def test_demo_replaces_only_its_own_folder(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    refused(["demo", "--size", "quick", "--out", mine], "the demo did not write")
    assert os.listdir(mine) == ["notes.txt"]


def _wait_for(predicate, seconds: float = 120) -> None:
    import time

    deadline = time.time() + seconds
    while time.time() < deadline and not predicate():
        time.sleep(0.05)
    assert predicate(), "timed out"


@needs_tf
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGINT", "SIGTERM"])
def test_interrupted_train_overwrite_keeps_the_old_run(shop_run, shop_data, tmp_path, sig):
    """SIGTERM (a service manager stopping the process) gets the care of Ctrl-C: the staged run and
    the encoded cache of a streamed file (rows x inputs x 4 bytes) are removed."""
    import json
    import signal
    import subprocess
    import sys

    run = tmp_path / "run"
    shutil.copytree(shop_run, run)
    before = snapshot(run)
    base = ["train", "--train", str(shop_data / "train.csv"), "--valid", str(shop_data / "valid.csv")]
    base += ["--spec", str(shop_data / "spec.json"), "--out", str(run), "--overwrite", "--json"]
    base += ["--embedding-dim", "4", "--blocks", "1", "--block-units", "8", "--batch-size", "64"]
    # Far more epochs than the test waits for: the signal must land mid-training, never after the
    # run has finished and been swapped in (on a loaded machine 30 tiny epochs could end first).
    args = [sys.executable, "-m", "masknet_edge", *base, "--epochs", "1000", "--patience", "1000"]
    args += ["--in-memory-rows", "100", "--chunk-rows", "500"]  # streamed: an encoded cache on disk
    scratch = Path(tempfile.mkdtemp(prefix="masknet-scratch-"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TMPDIR": str(scratch)}
    # Ctrl-C must reach the child even when the suite itself was started with SIGINT ignored (a
    # background job): Python installs its handler only where SIGINT is not ignored at start-up.
    proc = subprocess.Popen(
        args,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )

    def one_epoch_staged() -> bool:
        states = list(tmp_path.glob(".run.*.partial/checkpoints/state.json"))
        try:
            return bool(states) and json.loads(states[0].read_text())["epoch"] >= 1
        except (OSError, ValueError):
            return False

    try:
        _wait_for(one_epoch_staged)
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()  # a failed run must not leave its pipe to warn in the next test
    assert snapshot(run) == before  # the old run is whole
    if sig in ("SIGINT", "SIGTERM"):
        assert proc.returncode == 130, err.decode()
        assert b"Traceback" not in err
        assert sorted(os.listdir(tmp_path)) == ["run"]  # the staged run was removed
        assert [p.name for p in scratch.iterdir()] == []  # and the encoded cache
    shutil.rmtree(scratch, ignore_errors=True)
    # the next run works and clears what a killed one left
    res = CliRunner().invoke(main, [*base, "--epochs", "1"])
    assert res.exit_code == 0, res.output
    assert sorted(os.listdir(tmp_path)) == ["run"]
    assert snapshot(run) != before


@needs_tf
def test_a_second_train_into_one_out_is_refused_while_the_first_writes(shop_data, tmp_path):
    """Two runs into one --out could leave one's config beside the other's metrics, and convert ships it."""
    import fcntl

    out = tmp_path / "run"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # what the first run holds while it trains
    try:
        args = ["train", "--train", str(shop_data / "train.csv"), "--valid", str(shop_data / "valid.csv")]
        args += ["--spec", str(shop_data / "spec.json"), "--out", str(out), "--epochs", "1"]
        res = CliRunner().invoke(main, [*args, "--embedding-dim", "4", "--blocks", "1", "--block-units", "8"])
    finally:
        os.close(fd)
    assert res.exit_code == 2 and "another masknet train is writing this run" in res.output, res.output
    assert out.is_dir() and list(out.iterdir()) == []  # nothing written, nothing of the first run removed
