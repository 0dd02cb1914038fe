"""Multi-worker training with real processes: two workers on localhost, each with its own TF_CONFIG.

Each test starts its processes with free ports, bounds them with a timeout, and ends every process
it started. The workers train a small model on a sharded shop world.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from masknet_edge.cli.main import main
from masknet_edge.train.multiworker import (
    ClusterRole,
    cluster_role,
    local_cluster,
    shard_batches,
    steps_per_epoch,
)

pytest.importorskip("tensorflow")

ROOT = Path(__file__).resolve().parents[2]
MODEL = ["--blocks", "1", "--block-units", "16", "--batch-size", "256"]


def _start(args: list[str], tf_config: str | None, log: Path) -> subprocess.Popen:
    scratch = log.parent / "scratch"  # the workers' temporary folder, to see what they leave there
    scratch.mkdir(exist_ok=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TMPDIR": str(scratch)}
    if tf_config:
        env["TF_CONFIG"] = tf_config
    with log.open("w") as err:  # the child holds its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "masknet_edge", "train", *args, "--json"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )


def _workers(args: list[str], tmp: Path, tag: str) -> list[subprocess.Popen]:
    configs = local_cluster(2)
    return [_start(args, configs[i], tmp / f"{tag}-{i}.log") for i in (1, 0)][::-1]


def _finish(procs: list[subprocess.Popen], timeout: float = 150) -> list[tuple[int, str]]:
    out = []
    try:
        for p in procs:
            stdout, _ = p.communicate(timeout=timeout)
            out.append((p.returncode, stdout))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return out


@pytest.fixture(scope="module")
def sharded(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("mw") / "data"
    res = CliRunner().invoke(
        main,
        ["data", "shop", "--users", "200", "--items", "50", "--interactions", "6000", "--shards", "2",
         "--format", "parquet", "--out", str(d)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return d


def _args(d: Path, out: Path, *more: str) -> list[str]:
    return [
        "--train", str(d / "train"), "--valid", str(d / "valid.parquet"), "--test", str(d / "test.parquet"),
        "--spec", str(d / "spec.json"), *MODEL, "--out", str(out), *more,
    ]  # fmt: skip


def test_two_workers_train_as_one_a_killed_one_stops_the_other_and_resume_finishes(sharded, tmp_path):
    """One cluster start for the whole story (each start costs two TensorFlow start-ups): a worker
    killed mid-training stops the other with a clear error; both resume, finish as one model, and
    the chief alone writes the run."""
    out = tmp_path / "run"
    args = _args(sharded, out, "--epochs", "40", "--patience", "40", "--distribute", "multiworker")
    procs = _workers(args, tmp_path, "kill")  # no --worker-timeout: TensorFlow's health check notices
    try:
        state = out / "checkpoints" / "state.json"
        deadline = time.monotonic() + 120
        while not state.is_file() and time.monotonic() < deadline and procs[0].poll() is None:
            time.sleep(0.2)
        assert state.is_file(), (tmp_path / "kill-0.log").read_text()[-2000:]
        procs[1].send_signal(signal.SIGKILL)  # worker 1 dies mid-training
        (rc0, _), _ = _finish(procs, timeout=120)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    log = (tmp_path / "kill-0.log").read_text()
    assert rc0 == 2 and "a worker stopped answering" in log and "--resume" in log
    assert "Traceback" not in log
    done = json.loads(state.read_text())["epoch"]
    assert 1 <= done < 40
    # both resume and finish one more epoch, now with a collective timeout (the option's clean path)
    t0 = time.monotonic()
    resume = ["--distribute", "multiworker", "--resume", "--epochs", str(done + 1), "--out", str(out)]
    (rc0, out0), (rc1, out1) = _finish(_workers([*resume, "--worker-timeout", "30"], tmp_path, "resume"))
    seconds = time.monotonic() - t0
    assert rc0 == 0 and rc1 == 0, (tmp_path / "resume-0.log").read_text()[-2000:]
    chief, helper = json.loads(out0), json.loads(out1)
    assert chief["replicas"] == 2 and chief["train_mode"].startswith("multi-worker (2 workers")
    assert chief["epochs_trained"] == done + 1
    # every step all-reduced: both hold the same weights, so both score validation identically
    assert chief["valid"]["auc"] == helper["valid"]["auc"]
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(
        ["checkpoints", "config.json", "history.json", "metrics.json", "model.keras", "spec.json",
         "training_curve.png"]
    )  # fmt: skip
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(1, done + 2))  # one writer, nothing repeated
    # the killed worker's scratch folder was removed by its successor
    assert not list((tmp_path / "scratch").glob("masknet-worker*")), os.listdir(tmp_path / "scratch")
    # the same global batch on one worker: the same model trained on the same rows in another order
    # (in this process, which has TensorFlow loaded already)
    single = CliRunner().invoke(
        main, ["train", *_args(sharded, tmp_path / "single", "--epochs", str(done + 1)), "--json"]
    )
    assert single.exit_code == 0, single.output
    assert abs(json.loads(single.stdout)["valid"]["auc"] - chief["valid"]["auc"]) < 0.03  # stated tolerance
    print(f"two-worker resume of one epoch: {seconds:.1f} s")


def test_the_cluster_description_is_read_and_checked():
    two = {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}
    assert cluster_role({"TF_CONFIG": json.dumps(two)}) == ClusterRole(index=1, count=2, chief=False)
    with_chief = {"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}
    assert cluster_role({"TF_CONFIG": json.dumps(with_chief)}) == ClusterRole(index=0, count=2, chief=True)
    from masknet_edge.edge_runtime.errors import MasknetError

    for bad, words in (
        ({}, "needs TF_CONFIG"),
        ({"TF_CONFIG": "{not json"}, "not a cluster description"),
        ({"TF_CONFIG": json.dumps({**two, "task": {"type": "ps", "index": 0}})}, "only 'chief' and 'worker'"),
        ({"TF_CONFIG": json.dumps({**two, "task": {"type": "worker", "index": 5}})}, "not in the cluster"),
        ({"TF_CONFIG": json.dumps({"cluster": [], "task": {}})}, "'cluster' and 'task' must be objects"),
        ({"TF_CONFIG": json.dumps({**two, "cluster": {"worker": "a:1"}})}, "list of 'host:port' texts"),
        ({"TF_CONFIG": json.dumps({**two, "task": {"type": "worker", "index": True}})}, "must be an integer"),
    ):
        with pytest.raises(MasknetError, match=words):
            cluster_role(bad)


def test_steps_and_batches_per_worker():
    # worker 0: shards of 1,000 and 300 rows; worker 1: one of 900; chunks of 500, batches of 128
    assert steps_per_epoch([[1000, 300], [900]], 500, 128) == min(3 + 3 + 2, 3 + 3)
    x = {"a": np.arange(10)}
    batches = shard_batches(lambda: iter([(x, np.arange(10.0))]), 4, seed=0)
    seen = [next(batches) for _ in range(4)]  # 2 batches per pass (2 rows dropped), passes repeat
    assert all(len(b[1]) == 4 for b in seen)
    assert all(np.array_equal(b[0]["a"], b[1].astype(int)) for b in seen)  # rows stay whole


_LEAVE = """
import sys, time
from masknet_edge.train.multiworker import leave_together, make_strategy
strategy = make_strategy(60)
time.sleep(float(sys.argv[1]))  # the chief still writes its run directory
leave_together(strategy)
print(time.time())
"""


def test_no_worker_leaves_while_another_still_works(tmp_path):
    """A worker that has ended makes TensorFlow's coordination service abort the others, so the
    workers leave together: the one that is done first waits for the other."""
    configs = local_cluster(2)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _LEAVE, str(delay)],
            cwd=ROOT,
            env={**env, "TF_CONFIG": configs[i]},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for i, delay in ((0, 6.0), (1, 0.0))
    ]
    (rc0, late), (rc1, early) = _finish(procs, timeout=120)
    assert rc0 == 0 and rc1 == 0
    assert float(early) >= float(late) - 1.0  # the early worker left when the late one did, not 6 s before
