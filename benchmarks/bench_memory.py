"""Training memory does not grow with the data: 4M vs 20M generated rows in Parquet shards, streamed.

``masknet data shop --shards N --format parquet`` draws each world one shard at a time (1.25M
impressions per shard; 80 % of them are training rows). Each size trains one epoch of a small
SerMaskNet (2 blocks of 32, batch 4,096), streamed (``--in-memory-rows 0``, the default
``--chunk-rows``) through the encoded cache, in a fresh process; then the 20M-row world once more
with two workers (``--distribute multiworker``, two processes on this machine, each reading half the
shards). All runs validate on the smallest world's validation file. Peak RSS is each process's own high-water mark (``ru_maxrss``); examples/s counts the
training epoch only, and the wall time everything (fitting the spec, building the cache, training).

Run: .venv/bin/python -m benchmarks.bench_memory
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, table

#: Its section in ``make bench`` (``run_all --only memory``) and the place of its table in BENCHMARKS.md.
SECTION, ORDER = "memory", 50

SIZES = (5_000_000, 25_000_000)  # impressions; 80 % are training rows
SHARD_IMPRESSIONS = 1_250_000
MODEL = ["--blocks", "2", "--block-units", "32", "--batch-size", "4096", "--epochs", "1"]

# The CLI in a process that reports its own peak RSS (MB) on stderr when it exits.
_WORKER = (
    "import atexit, json, resource, sys\n"
    "atexit.register(lambda: print(json.dumps({'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF)"
    ".ru_maxrss / 1024}), file=sys.stderr))\n"
    "from masknet_edge.cli.main import main\n"
    "main(sys.argv[1:])\n"
)


def _world(folder: Path, impressions: int) -> float:
    """Write the world; returns the seconds it took."""
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "masknet_edge", "data", "shop", "--users", "20000", "--items", "2000",
         "--interactions", str(impressions), "--shards", str(max(2, impressions // SHARD_IMPRESSIONS)),
         "--format", "parquet", "--seed", "7", "--out", str(folder)],
        check=True, cwd=ROOT, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - t


def _train(world: Path, valid: Path, out: Path, workers: int, log: Path) -> dict[str, Any]:
    """One streamed epoch with ``workers`` processes; the chief's metrics and each one's peak RSS."""
    from masknet_edge.train.multiworker import local_cluster

    args = ["train", "--train", str(world / "train"), "--valid", str(valid),
            "--spec", str(world / "spec.json"), "--in-memory-rows", "0", *MODEL, "--out", str(out), "--json"]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}  # errors reach the logs
    configs = local_cluster(workers)
    procs, logs = [], []
    t = time.perf_counter()
    for i in range(workers):
        e = dict(env)
        if workers > 1:
            args_i = [*args, "--distribute", "multiworker"]
            e["TF_CONFIG"] = configs[i]
        else:
            args_i = args
        logs.append(log.with_suffix(f".{i}.log"))
        with logs[-1].open("w") as err:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", _WORKER, *args_i],
                    cwd=ROOT,
                    env=e,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    text=True,
                )  # fmt: skip
            )
    peak_threads = [0] * workers  # TensorFlow's threads grow with the collectives in flight
    try:
        deadline = time.monotonic() + 3600
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            for i, p in enumerate(procs):
                peak_threads[i] = max(peak_threads[i], _threads(p.pid))
            time.sleep(2)
        outs = [p.communicate(timeout=60)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    wall = time.perf_counter() - t
    for p, lg in zip(procs, logs, strict=True):
        if p.returncode:
            raise RuntimeError(f"a worker failed ({p.returncode}): {lg.read_text()[-2000:]}")
    rss = [json.loads(lg.read_text().strip().splitlines()[-1])["peak_rss_mb"] for lg in logs]
    m = json.loads(outs[0][outs[0].index("{") :])
    return {
        "train_rows": m["train_rows"],
        "workers": workers,
        "examples_per_s": m["train_examples_per_s"],
        "wall_s": wall,
        "peak_rss_mb": rss,
        "encoded_cache_mib": m.get("encoded_cache_mib"),
        "valid_auc": m["valid"]["auc"],
        "peak_threads": peak_threads,
    }


def _threads(pid: int) -> int:
    """The process's thread count now (0 once it has ended, or off Linux)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("Threads:")), 0)


def run(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    """Peak RSS and throughput of a streamed epoch per size, and of the largest with two workers."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="masknet-mem-") as t:
        valid = None
        for impressions in sizes:
            world = Path(t) / f"w{impressions}"
            gen_s = _world(world, impressions)
            valid = valid or world / "valid.parquet"  # one validation file for all: memory is the train's
            r = _train(world, valid, Path(t) / f"run{impressions}", 1, Path(t) / f"log{impressions}")
            r["generate_s"] = gen_s
            runs.append(r)
            print(r, flush=True)
        try:
            r = _train(world, valid, Path(t) / "run-mw", 2, Path(t) / "log-mw")
        except (RuntimeError, subprocess.TimeoutExpired) as exc:  # keep the single-worker figures
            r = {"workers": 2, "train_rows": runs[-1]["train_rows"], "failed": str(exc)[-600:]}
        runs.append(r)
        print(r, flush=True)
    return {"runs": runs}


def render(result: Any) -> list[str]:
    """This benchmark's section of BENCHMARKS.md (none when it was not measured)."""
    if not isinstance(result, dict):
        return []
    runs = result["runs"]
    single = [r for r in runs if r["workers"] == 1 and "failed" not in r]
    out = [
        "## Training memory and scale (`benchmarks/bench_memory.py`)",
        "",
        "Generated shop worlds (`masknet data shop --shards N --format parquet`, drawn one shard of 1.25M "
        "impressions at a time; 80 % are training rows), one epoch of a small SerMaskNet (2 blocks of 32, batch "
        "4,096), streamed from the encoded cache (`--in-memory-rows 0`), each run in fresh processes. Peak RSS: "
        "each process's own; examples/s: the training epoch; wall: everything (spec fit, cache, epoch, evaluation). "
        "All runs validate on the smallest world's validation file (the worlds share users, items and planted "
        "model), so that the figures compare what training holds.",
        "",
        table(
            [
                "training rows",
                "workers",
                "examples/s",
                "peak RSS MB (per process)",
                "encoded cache MiB",
                "wall s",
                "world written in s",
                "valid AUC",
                "peak threads (per process)",
            ],
            [
                [
                    r["train_rows"],
                    r["workers"],
                    r["examples_per_s"],
                    " / ".join(f"{x:,.0f}" for x in r["peak_rss_mb"]),
                    r["encoded_cache_mib"] or "none (shards re-read)",
                    r["wall_s"],
                    r.get("generate_s", ""),
                    r["valid_auc"],
                    " / ".join(f"{x:,}" for x in r["peak_threads"]) if "peak_threads" in r else "",
                ]
                for r in runs
                if "failed" not in r
            ],
        ),  # fmt: skip
        "",
    ]
    if any(r.get("peak_threads") for r in runs if r["workers"] > 1):
        out += [
            "Peak threads: TensorFlow's, sampled every 2 s. Multi-worker all-reduces carry no timeout by "
            "default: with one (300 s, the old default) TensorFlow keeps a waiting thread per all-reduce for "
            "the whole timeout, a worker's threads grew by ~70/s, and the 20M-row two-worker run aborted at "
            "the machine's 32,768-thread limit (`std::system_error`, 2026-11-30).",
            "",
        ]
    for r in runs:
        if "failed" in r:
            out += [
                f"The {r['workers']}-worker run on {r['train_rows']:,} rows **failed**: `{r['failed'][-300:].strip()}`",
                "",
            ]
    if len(single) >= 2:
        a, b = single[0], single[-1]
        ratio = b["peak_rss_mb"][0] / a["peak_rss_mb"][0]
        out += [
            f"Peak RSS at {b['train_rows'] / a['train_rows']:.0f}x the rows: {ratio:.2f}x "
            f"(goal <= 1.2x: {'met' if ratio <= 1.2 else '**not met**'}).",
            "",
        ]
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
