"""The behaviour log under crashes: processes killed at random points, and files cut short.

Kills: a child process records events into one log file and prints each event's number once
``record`` has returned; the parent kills it with SIGKILL after a random number of acknowledged
events (a random point inside a write), reopens the log, and checks that it opens, that it holds
every acknowledged event (and at most the one being written besides), and that its behaviour
features equal those of a ``BehaviourState`` replayed from the acknowledged events. The next round
appends to the same file, so damage would accumulate.

Cuts: copies of a checkpointed log truncated at random lengths (a crash or a full disk mid-copy);
each must open, keep only events that were written, and move the damaged original aside.

Run: .venv/bin/python -m benchmarks.bench_log_crash [--kills 200 --cuts 100] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

#: Its section in ``make bench`` (``run_all --only log-crash``); its figures go into RELIABILITY.md.
SECTION, ORDER, DOCUMENT = "log-crash", 92, "RELIABILITY.md"

ROOT = Path(__file__).resolve().parents[1]

SPEC = {
    "fields": [
        {"name": "item_id", "kind": "categorical", "side": "item", "num_buckets": 1000},
        {"name": "category", "kind": "categorical", "side": "item", "num_buckets": 20},
        {
            "name": "recent",
            "kind": "multi_categorical",
            "side": "context",
            "max_length": 5,
            "num_buckets": 20,
        },
        {"name": "same_cat", "kind": "numeric", "side": "item", "transform": "none"},
        {"name": "since_item", "kind": "numeric", "side": "item", "transform": "none"},
    ],
    "behaviour": {
        "events": {"expose": {"keep_last": 100_000}, "click": {"keep_last": 100_000}},
        "features": [
            {"name": "recent", "type": "last_values", "event": "click", "of": "category", "k": 5},
            {"name": "same_cat", "type": "match_count", "event": "expose", "of": "category"},
            {"name": "since_item", "type": "seconds_since", "event": "click", "of": "item_id"},
        ],
    },
}

_CHILD = textwrap.dedent(
    """
    import json, sys
    from masknet_edge.edge_runtime.behaviour_log import BehaviourLog
    from masknet_edge.edge_runtime.spec import FeatureSpec
    log = BehaviourLog(sys.argv[1], FeatureSpec.from_dict(json.loads(sys.argv[2])))
    i = int(sys.argv[3])
    print("open", flush=True)
    while True:
        log.record("click" if i % 3 == 0 else "expose", {"item_id": str(i), "category": f"c{i % 7}"}, ts=float(i))
        print(i, flush=True)
        i += 1
    """
)


def _event(i: int) -> tuple[str, dict[str, str], float]:
    return ("click" if i % 3 == 0 else "expose"), {"item_id": str(i), "category": f"c{i % 7}"}, float(i)


def _features(source: Any, now: float) -> str:
    ctx = source.context_values(now=now)
    columns = {"category": [f"c{j}" for j in range(8)], "item_id": [str(j * 3) for j in range(8)]}
    items = source.item_values(columns, 8, now=now)
    return json.dumps([ctx, {k: v.tolist() for k, v in items.items()}], sort_keys=True)


def _check(path: Path, acked: list[int], spec: Any) -> tuple[bool, str, list[int]]:
    """Open the log after a kill: (ok, why not, the event numbers it holds)."""
    from masknet_edge.edge_runtime.behaviour import BehaviourState
    from masknet_edge.edge_runtime.behaviour_log import BehaviourLog

    try:
        log = BehaviourLog(path, spec)
    except Exception as exc:  # noqa: BLE001 - every failure to open is a finding
        return False, f"does not open: {exc}", []
    with log:
        j = log._state.columns.index("item_id")
        held = sorted(int(e.values[j]) for _, e in log._state.all_events())
        replayed = BehaviourState(spec)
        for i in held:
            replayed.add(*_event(i))
        now = float(held[-1] + 1) if held else 0.0
        if not set(acked) <= set(held):
            return False, f"lost acknowledged events {sorted(set(acked) - set(held))[:5]}", held
        extra = set(held) - set(acked)
        if len(extra) > 1:
            return False, f"holds events never acknowledged {sorted(extra)[:5]}", held
        if _features(log, now) != _features(replayed, now):
            return False, "features differ from the replayed events", held
    return True, "", held


def kill_rounds(kills: int, seed: int = 0) -> dict[str, Any]:
    """``kills`` rounds of record-then-SIGKILL on one file; counts of logs that failed to open or lost data."""
    from masknet_edge.edge_runtime.spec import FeatureSpec

    spec = FeatureSpec.from_dict(SPEC)
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="log-crash-"))
    path = work / "log.db"
    failures: list[str] = []
    acked: list[int] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        for r in range(kills):
            target = rng.randint(0, 60)
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _CHILD,
                    str(path),
                    json.dumps(SPEC),
                    str(len(acked) and acked[-1] + 1),
                ],
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                env=env,
            )
            assert proc.stdout is not None
            first = proc.stdout.readline().strip()
            got = 0
            while first == "open" and got < target:
                line = proc.stdout.readline()
                if not line:
                    break
                acked.append(int(line))
                got += 1
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            # What the child acknowledged before the kill landed also counts.
            acked.extend(int(x) for x in proc.stdout.read().split())
            proc.stdout.close()
            if first != "open":
                failures.append(f"round {r}: the recording process did not open the log")
                break
            ok, why, held = _check(path, acked, spec)
            if not ok:
                failures.append(f"round {r}: {why}")
                break
            acked = held  # an event written but not yet acknowledged is kept from now on
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"kills": kills, "events": len(acked), "failures": failures}


def cut_files(cuts: int, seed: int = 0) -> dict[str, Any]:
    """``cuts`` copies of a log truncated at random lengths; each must open with a subset of its events."""
    from masknet_edge.edge_runtime.behaviour_log import BehaviourLog
    from masknet_edge.edge_runtime.spec import FeatureSpec

    spec = FeatureSpec.from_dict(SPEC)
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="log-cut-"))
    failures: list[str] = []
    kept: list[float] = []
    try:
        whole = work / "whole.db"
        with BehaviourLog(whole, spec) as log:
            for i in range(3000):
                log.record(*_event(i))
            log._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = whole.stat().st_size
        for c in range(cuts):
            cut = work / f"cut{c}.db"
            length = rng.randint(size // 4, size - 1)
            with whole.open("rb") as src, cut.open("wb") as dst:
                dst.write(src.read(length))
            try:
                with BehaviourLog(cut, spec) as log:
                    j = log._state.columns.index("item_id")
                    held = {int(e.values[j]) for _, e in log._state.all_events()}
                    if not held <= set(range(3000)):
                        failures.append(f"cut at {length} bytes: events that were never written")
                    if log.damaged_copy is None or not log.damaged_copy.exists():
                        failures.append(f"cut at {length} bytes: the damaged file was not kept")
                    kept.append(len(held) / 3000)
            except Exception as exc:  # noqa: BLE001 - every failure to open is a finding
                failures.append(f"cut at {length} of {size} bytes: {exc}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mean = sum(kept) / len(kept) if kept else 0.0
    return {"cuts": cuts, "failures": failures, "mean_share_kept": mean}


def run(kills: int = 200, cuts: int = 100) -> dict[str, Any]:
    """Both checks, JSON-ready."""
    return {"kill": kill_rounds(kills), "cut": cut_files(cuts)}


def render(figures: dict[str, Any] | None) -> list[str]:
    """The section for RELIABILITY.md."""
    if not isinstance(figures, dict):
        return []
    k, c = figures["kill"], figures["cut"]
    return [
        "## The behaviour log under crashes (`benchmarks/bench_log_crash.py`)",
        "",
        f"- {k['kills']} processes killed with SIGKILL at random points while recording into one log file "
        f"({k['events']:,} events acknowledged in all): {len(k['failures'])} failures (a log that did not open, "
        "lost an acknowledged event, held more than the one event in flight, or whose features differed from "
        "the acknowledged events replayed). " + "; ".join(k["failures"][:3]),
        f"- {c['cuts']} copies of a 3,000-event log cut short at random lengths (25-100 %): "
        f"{len(c['failures'])} failed to open or kept events never written; on average "
        f"{c['mean_share_kept']:.0%} of the events were still readable, and each damaged original was kept "
        "beside the repaired log. " + "; ".join(c["failures"][:3]),
        "",
    ]


def main() -> None:
    """Command line: run the checks, print the section or the JSON figures; exit 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--cuts", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.kills, args.cuts)
    print(json.dumps(figures) if args.json else "\n".join(render(figures)))
    sys.exit(1 if figures["kill"]["failures"] or figures["cut"]["failures"] else 0)


if __name__ == "__main__":
    main()
