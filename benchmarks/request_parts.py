"""Where a behaviour bundle's request time goes, next to a static bundle's, alternated in one process.

    python -m benchmarks.request_parts STATIC.mnb BEHAVIOUR.mnb REPLAYED_TEST.csv

For the MovieLens-100K bundles of ``bench_sequence`` (float, one thread): 100 distinct test items
for the first test row's user, whose log holds 50 exposures and 50 clicks. Per bundle, the medians
of 400 alternated requests, split into the behaviour columns from the log, encoding, and invoke.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import Any

import numpy as np

CONTEXT = ("user_id", "age", "gender", "occupation", "zip_code")
ITEM = ("item_id", "release_year", "genres")


def _request(rows: list[dict[str, str]]) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The first row's user and 100 distinct items of the file."""
    seen: set[str] = set()
    items = []
    for r in rows:
        if r["item_id"] not in seen:
            seen.add(r["item_id"])
            items.append({c: r[c] for c in ITEM})
        if len(items) == 100:
            break
    return {c: rows[0][c] for c in CONTEXT}, items


def measure(static: Path, behaviour: Path, test_csv: Path, rounds: int = 400) -> dict[str, list[float]]:
    """Per bundle: median ms of [behaviour columns, encoding, invoke]."""
    from masknet_edge.edge_runtime.behaviour_log import BehaviourLog
    from masknet_edge.edge_runtime.ranker import Ranker

    with test_csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    context, items = _request(rows)
    rankers = {
        "static": Ranker.load(static, num_threads=1),
        "behaviour": Ranker.load(behaviour, num_threads=1),
    }
    log = BehaviourLog(None, rankers["behaviour"].spec)
    for i, r in enumerate(rows[:50]):
        log.record("expose", {"item_id": r["item_id"]}, ts=float(i))
        log.record("click", {"item_id": r["item_id"]}, ts=float(i))

    def parts(name: str) -> tuple[float, float, float]:
        ranker: Any = rankers[name]
        b = log if name == "behaviour" else None
        t0 = time.perf_counter()
        ctx, _ = ranker._behaviour_context(context, items, b, 100.0 if b else None)
        t1 = time.perf_counter()
        x = ranker.encoder.assemble(
            ranker.encoder.encode_context(ctx), ranker.encoder.encode_items(items, None)
        )
        t2 = time.perf_counter()
        ranker.score_inputs(x)
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    for _ in range(30):
        for name in rankers:
            parts(name)
    times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in rankers}
    for _ in range(rounds):
        for name in rankers:
            times[name].append(parts(name))
    return {name: (np.median(np.array(t), axis=0) * 1000).tolist() for name, t in times.items()}


def main() -> None:
    """Print each bundle's parts and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("static", type=Path)
    parser.add_argument("behaviour", type=Path)
    parser.add_argument("test_csv", type=Path)
    args = parser.parse_args()
    got = measure(args.static, args.behaviour, args.test_csv)
    for name, (log_ms, encode_ms, invoke_ms) in got.items():
        print(
            f"{name}: behaviour columns {log_ms:.3f} ms, encode {encode_ms:.3f} ms, invoke {invoke_ms:.3f} ms"
        )
    s, b = got["static"], got["behaviour"]
    print(f"invoke ratio {b[2] / s[2]:.2f}, request ratio {sum(b) / sum(s):.2f}")


if __name__ == "__main__":
    main()
