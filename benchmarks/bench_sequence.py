"""The user's recent sequence on real data: MovieLens-100K split by time and by user (issue #28).

    python -m benchmarks.bench_sequence [--seeds 0,1,2,3,4] [--write]   (~20 minutes; needs ../shared/data)

1. Quality. MovieLens-100K (all ratings of the fixed splits joined; rating >= 4 is the label) is
   split with ``masknet data split``: ``--by time`` (the last 10 % of the timeline is test, the 10 %
   before it valid) and ``--by user`` (valid and test users never appear in training). Each is
   replayed with ``masknet data replay`` (every rating an ``expose``, a liked one also a ``click``),
   so a row's history is what the device had logged before it. Both specs come from ``masknet spec
   infer`` (``--behaviour`` for the second), SerMaskNet with its defaults: without behaviour, and with
   the sequences (the last 50 liked and the last 50 rated item ids, attended by the candidate through
   the item's own embedding rows, plus the two counts). Test AUC per seed; decided on nothing: both
   variants are fixed in advance.
2. Device cost. The time split's float bundles, static and sequence, ranking 100 candidates for
   one user whose log holds 50 + 50 events (the sequence bundle reads it from a ``BehaviourLog``),
   alternated in one process: the request time ratio.
3. int8. The sequence model converted to int8 and to float: per-user top-10 overlap of the test
   users' candidates (their test items) between the two.

``--write`` replaces the section of BENCHMARKS.md between its markers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_behaviour import _masknet
from benchmarks.common import ROOT, fixed_splits, machine, table, write_marked_section

BEGIN, END = "<!-- sequence:begin -->", "<!-- sequence:end -->"
BEHAVIOUR = {
    "events": {"click": {"keep_last": 50}, "expose": {"keep_last": 50}},
    "features": [
        {"name": "recent_liked", "type": "last_values", "event": "click", "of": "item_id", "k": 50},
        {"name": "recent_rated", "type": "last_values", "event": "expose", "of": "item_id", "k": 50},
        {"name": "likes_of_last_50", "type": "count", "event": "click"},
        {"name": "ratings_of_last_50", "type": "count", "event": "expose"},
    ],
}
SPLITS = ("time", "user")


def prepare(work: Path) -> dict[str, dict[str, Path]]:
    """Per split: the replayed folder and the two specs."""
    splits = fixed_splits(work / "splits")
    if isinstance(splits, str):
        raise SystemExit(splits)
    folder = splits["movielens"]
    ratings = work / "ratings.csv"
    with ratings.open("w") as out:
        for i, part in enumerate(("train", "valid", "test")):
            lines = (folder / f"{part}.csv").read_text().splitlines(keepends=True)
            out.writelines(lines if i == 0 else lines[1:])
    (work / "behaviour.json").write_text(json.dumps(BEHAVIOUR))
    made = {}
    for by in SPLITS:
        log = work / f"ratings-{by}.csv"
        _masknet(
            "data",
            "split",
            str(ratings),
            "--by",
            by,
            "--time",
            "timestamp",
            "--user",
            "user_id",
            "--out",
            str(log),
        )
        infer = ["spec", "infer", str(log), "--label", "label", "--ignore", "split,timestamp"]
        _masknet(*infer, "--out", str(work / f"static-{by}.json"))
        _masknet(
            *infer, "--behaviour", str(work / "behaviour.json"), "--out", str(work / f"sequence-{by}.json")
        )
        rep = work / f"replayed-{by}"
        replay = ["--user", "user_id", "--time", "timestamp", "--split", "split", "--out", str(rep)]
        _masknet("data", "replay", str(log), "--spec", str(work / f"sequence-{by}.json"), *replay)
        made[by] = {
            "rows": rep,
            "static": work / f"static-{by}.json",
            "sequence": work / f"sequence-{by}.json",
        }
    return made


def quality(work: Path, made: dict[str, dict[str, Path]], seeds: list[int]) -> dict[str, Any]:
    """Test AUC of both variants per split and seed; the run folders of seed ``seeds[0]``."""
    out: dict[str, Any] = {}
    for by, m in made.items():
        rows = []
        for seed in seeds:
            aucs = {}
            for variant in ("static", "sequence"):
                files = [f"--{s}={m['rows'] / (s + '.csv')}" for s in ("train", "valid", "test")]
                run = work / f"run-{by}-{variant}-{seed}"
                got = _masknet(
                    "train", "--spec", str(m[variant]), *files, "--seed", str(seed), "--out", str(run)
                )
                aucs[variant] = got["test"]["auc"]
            rows.append({"seed": seed, **aucs, "lift": aucs["sequence"] - aucs["static"]})
        lifts = [r["lift"] for r in rows]
        out[by] = {
            "rows": rows,
            "lift_mean": statistics.mean(lifts),
            "lift_sd": statistics.stdev(lifts) if len(lifts) > 1 else 0.0,
        }
    return out


def device_cost(work: Path, seed: int, rounds: int = 300) -> dict[str, Any]:
    """Request time of the sequence bundle (log of 50 + 50 events) over the static bundle's."""
    import pandas as pd

    from edge_runtime.behaviour_log import BehaviourLog
    from edge_runtime.ranker import Ranker

    bundles = {}
    for variant in ("static", "sequence"):
        bundles[variant] = work / f"{variant}-float.mnb"
        run = work / f"run-time-{variant}-{seed}"
        _masknet("convert", str(run), "--quantize", "none", "--out", str(bundles[variant]))
    rankers = {v: Ranker.load(p, num_threads=1) for v, p in bundles.items()}
    test = pd.read_csv(work / "replayed-time" / "test.csv", dtype=str, keep_default_na=False)
    user = test.iloc[0]
    context = {c: user[c] for c in ("user_id", "age", "gender", "occupation", "zip_code")}
    items = test.drop_duplicates("item_id").head(100)
    candidates = [{c: r[c] for c in ("item_id", "release_year", "genres")} for _, r in items.iterrows()]
    log = BehaviourLog(None, rankers["sequence"].spec)
    for i, (_, r) in enumerate(test.head(50).iterrows()):
        log.record("expose", {"item_id": r["item_id"]}, ts=float(i))
        log.record("click", {"item_id": r["item_id"]}, ts=float(i))
    calls = {
        "static": lambda: rankers["static"].rank(context, candidates, k=10),
        "sequence": lambda: rankers["sequence"].rank(context, candidates, k=10, behaviour=log, now=100.0),
    }
    times: dict[str, list[float]] = {v: [] for v in calls}
    for _ in range(20):
        for call in calls.values():
            call()
    for _ in range(rounds):
        for v, call in calls.items():
            t0 = time.perf_counter()
            call()
            times[v].append(time.perf_counter() - t0)
    med = {v: float(np.median(t)) * 1000 for v, t in times.items()}
    return {
        "static_ms": med["static"],
        "sequence_ms": med["sequence"],
        "ratio": med["sequence"] / med["static"],
    }


def int8_overlap(work: Path, seed: int) -> dict[str, Any]:
    """Per-user top-10 overlap between the int8 and the float sequence bundle on the time split's test."""
    import pandas as pd

    from edge_runtime.encoder import FeatureEncoder
    from edge_runtime.ranker import Ranker

    int8 = work / "sequence-int8.mnb"
    _masknet("convert", str(work / f"run-time-sequence-{seed}"), "--quantize", "int8", "--out", str(int8))
    rankers = {"float": Ranker.load(work / "sequence-float.mnb"), "int8": Ranker.load(int8)}
    test = pd.read_csv(work / "replayed-time" / "test.csv", dtype=str, keep_default_na=False)
    overlaps = []
    for _, rows in test.groupby("user_id"):
        if len(rows) < 20:
            continue
        records = rows.drop(columns=["label", "timestamp"]).to_dict("records")
        top = {}
        for v, r in rankers.items():
            scores = r.score_inputs(FeatureEncoder(r.spec).encode(records))
            top[v] = set(np.argsort(-scores, kind="stable")[:10].tolist())
        overlaps.append(len(top["float"] & top["int8"]) / 10)
    return {
        "users": len(overlaps),
        "overlap_mean": float(np.mean(overlaps)),
        "overlap_min": float(np.min(overlaps)),
    }


def section(
    seconds: float, seeds: list[int], q: dict[str, Any], cost: dict[str, Any], i8: dict[str, Any]
) -> str:
    lines = [
        BEGIN,
        "### The user's recent sequence on MovieLens-100K, split by time and by user",
        "",
        f"`python -m benchmarks.bench_sequence --seeds {','.join(map(str, seeds))} --write`, {seconds:.0f} s; {machine()}.",
        "",
        "All ratings of the fixed splits, split again with `masknet data split --by time` (the last 10 % of the "
        "timeline is test, the 10 % before it valid) and `--by user` (10 % of the users each for valid and test, "
        "never seen in training), replayed with `masknet data replay` (every rating an `expose`, a liked one also a "
        "`click`). Specs from `masknet spec infer` (`--ignore split,timestamp`); the sequence variant adds, with "
        "`--behaviour`, the last 50 liked and the last 50 rated item ids (it proposes `shares: item_id`, "
        "`pooling: attention`) and the two counts. SerMaskNet with its defaults.",
        "",
    ]
    for by in SPLITS:
        rows = [
            [r["seed"], f"{r['static']:.4f}", f"{r['sequence']:.4f}", f"{r['lift']:+.4f}"]
            for r in q[by]["rows"]
        ]
        lines += [
            f"Split by {by}:",
            "",
            table(["seed", "test AUC without behaviour", "with the sequences", "lift"], rows),
            "",
            f"Lift: {q[by]['lift_mean']:+.4f} ± {q[by]['lift_sd']:.4f} (mean ± sd over {len(rows)} seeds).",
            "",
        ]
    lines += [
        f"Request of 100 candidates for one user (float bundles of the time split, seed {seeds[0]}, one thread, "
        f"medians of alternated calls): static {cost['static_ms']:.2f} ms, with a 50 + 50-event log "
        f"{cost['sequence_ms']:.2f} ms: **{cost['ratio']:.2f}×**.",
        "",
        f"int8 against float, the sequence model: per-user top-10 overlap over {i8['users']} test users with at least "
        f"20 test ratings: mean {i8['overlap_mean']:.3f}, lowest {i8['overlap_min']:.2f}.",
        "",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    """Run the three measurements; print the section, or write it into BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        made = prepare(work)
        q = quality(work, made, seeds)
        cost = device_cost(work, seeds[0])
        i8 = int8_overlap(work, seeds[0])
    text = section(time.perf_counter() - t0, seeds, q, cost, i8)
    print(text)
    print(json.dumps({"quality": q, "cost": cost, "int8": i8}))
    if args.write:
        write_marked_section(ROOT / "BENCHMARKS.md", BEGIN, END, text, before="<!-- behaviour-movielens:begin -->")


if __name__ == "__main__":
    main()
