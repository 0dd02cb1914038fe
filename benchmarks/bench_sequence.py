"""The user's recent sequence on real data: MovieLens-100K split by time and by user (issue #28).

    python -m benchmarks.bench_sequence [--seeds 0,1,2,3,4] [--write]   (~20 minutes; needs ../shared/data)

1. Quality. MovieLens-100K (all ratings of the fixed splits joined; rating >= 4 is the label) is
   split with ``masknet data split``: ``--by time`` (the last 10 % of the timeline is test, the 10 %
   before it valid) and ``--by user`` (valid and test users never appear in training). Each is
   replayed with ``masknet data replay`` (every rating an ``expose``, a liked one also a ``click``),
   so a row's history is what the device had logged before it. Both specs come from ``masknet spec
   infer`` (``--sequence item_id`` for the second), SerMaskNet with its defaults: without behaviour, and with
   the sequences (the last 50 liked and the last 50 rated item ids, attended by the candidate through
   the item's own embedding rows, plus the two counts), with the attention's hidden width 16 and 64.
   Valid and test AUC per seed; the width is chosen on the mean validation AUC (``ModelConfig``'s
   default), never on test.
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
        infer = ["spec", "infer", str(log), "--label", "label"]
        _masknet(
            *infer,
            "--ignore",
            "split,timestamp",
            "--context",
            "user_id",
            "--out",
            str(work / f"static-{by}.json"),
        )
        sequence = ["--sequence", "item_id", "--user", "user_id", "--time", "timestamp", "--ignore", "split"]
        _masknet(*infer, *sequence, "--out", str(work / f"sequence-{by}.json"))
        rep = work / f"replayed-{by}"
        replay = ["--user", "user_id", "--time", "timestamp", "--split", "split", "--out", str(rep)]
        _masknet("data", "replay", str(log), "--spec", str(work / f"sequence-{by}.json"), *replay)
        made[by] = {
            "rows": rep,
            "static": work / f"static-{by}.json",
            "sequence": work / f"sequence-{by}.json",
        }
    return made


#: The variants: the spec without behaviour, and the proposed sequences with two attention widths.
VARIANTS = {"static": ("static", ()), "att16": ("sequence", ("16",)), "att64": ("sequence", ("64",))}


def quality(work: Path, made: dict[str, dict[str, Path]], seeds: list[int]) -> dict[str, Any]:
    """Valid and test AUC of every variant per split and seed; lifts over the static variant."""
    out: dict[str, Any] = {}
    for by, m in made.items():
        rows = []
        for seed in seeds:
            row: dict[str, Any] = {"seed": seed}
            for variant, (spec, units) in VARIANTS.items():
                files = [f"--{s}={m['rows'] / (s + '.csv')}" for s in ("train", "valid", "test")]
                run = ["--seed", str(seed), "--out", str(work / f"run-{by}-{variant}-{seed}")]
                width = ["--attention-units", units[0]] if units else []
                got = _masknet("train", "--spec", str(m[spec]), *files, *width, *run)
                row[variant] = {"valid": got["valid"]["auc"], "test": got["test"]["auc"]}
            rows.append(row)
        summary = {}
        for variant in VARIANTS:
            summary[variant] = {
                split: statistics.mean(r[variant][split] for r in rows) for split in ("valid", "test")
            }
            if variant != "static":
                lifts = [r[variant]["test"] - r["static"]["test"] for r in rows]
                summary[variant]["lift"] = statistics.mean(lifts)
                summary[variant]["lift_sd"] = statistics.stdev(lifts) if len(lifts) > 1 else 0.0
        out[by] = {"rows": rows, "summary": summary}
    return out


def device_cost(work: Path, seed: int, rounds: int = 300) -> dict[str, Any]:
    """Request time of each sequence bundle (log of 50 + 50 events) over the static bundle's."""
    import pandas as pd

    from edge_runtime.behaviour_log import BehaviourLog
    from edge_runtime.ranker import Ranker

    rankers = {}
    for variant in VARIANTS:
        bundle = work / f"{variant}-float.mnb"
        _masknet(
            "convert", str(work / f"run-time-{variant}-{seed}"), "--quantize", "none", "--out", str(bundle)
        )
        rankers[variant] = Ranker.load(bundle, num_threads=1)
    test = pd.read_csv(work / "replayed-time" / "test.csv", dtype=str, keep_default_na=False)
    user = test.iloc[0]
    context = {c: user[c] for c in ("user_id", "age", "gender", "occupation", "zip_code")}
    items = test.drop_duplicates("item_id").head(100)
    candidates = [{c: r[c] for c in ("item_id", "release_year", "genres")} for _, r in items.iterrows()]
    log = BehaviourLog(None, rankers["att16"].spec)
    for i, item in enumerate(test["item_id"].head(50)):
        log.record("expose", {"item_id": item}, ts=float(i))
        log.record("click", {"item_id": item}, ts=float(i))

    def call(variant: str) -> Any:
        if variant == "static":
            return rankers[variant].rank(context, candidates, k=10)
        return rankers[variant].rank(context, candidates, k=10, behaviour=log, now=100.0)

    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(20):
        for v in VARIANTS:
            call(v)
    for _ in range(rounds):
        for v in VARIANTS:
            t0 = time.perf_counter()
            call(v)
            times[v].append(time.perf_counter() - t0)
    med = {v: float(np.median(t)) * 1000 for v, t in times.items()}
    return {"ms": med, "ratio": {v: med[v] / med["static"] for v in VARIANTS}}


def int8_overlap(work: Path, seed: int) -> dict[str, Any]:
    """Per-user top-10 overlap between each sequence model's int8 and float bundles on the time split's test."""
    import pandas as pd

    from edge_runtime.encoder import FeatureEncoder
    from edge_runtime.ranker import Ranker

    test = pd.read_csv(work / "replayed-time" / "test.csv", dtype=str, keep_default_na=False)
    out = {}
    for variant in ("att16", "att64"):
        int8 = work / f"{variant}-int8.mnb"
        _masknet(
            "convert", str(work / f"run-time-{variant}-{seed}"), "--quantize", "int8", "--out", str(int8)
        )
        rankers = {"float": Ranker.load(work / f"{variant}-float.mnb"), "int8": Ranker.load(int8)}
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
        out[variant] = {
            "users": len(overlaps),
            "mean": float(np.mean(overlaps)),
            "min": float(np.min(overlaps)),
        }
    return out


def section(
    seconds: float, seeds: list[int], q: dict[str, Any], cost: dict[str, Any], i8: dict[str, Any]
) -> str:
    """The Markdown section."""
    lines = [
        BEGIN,
        "### The user's recent sequence on MovieLens-100K, split by time and by user",
        "",
        f"`python -m benchmarks.bench_sequence --seeds {','.join(map(str, seeds))} --write`, {seconds:.0f} s; {machine()}.",
        "",
        "All ratings of the fixed splits, split again with `masknet data split --by time` (the last 10 % of the "
        "timeline is test, the 10 % before it valid) and `--by user` (10 % of the users each for valid and test, "
        "never seen in training), replayed with `masknet data replay` (every rating an `expose`, a liked one also a "
        "`click`). Specs from `masknet spec infer`, no hand-written JSON: `--ignore split,timestamp --context user_id` "
        "without behaviour; `--sequence item_id --user user_id --time timestamp --ignore split` with it (the last 50 "
        "liked and the last 50 rated item ids, `shares: item_id`, `pooling: attention`, and the two counts). "
        "SerMaskNet with its defaults; the attention's hidden width 16 (`att16`) or 64 (`att64`, DIN's usual).",
        "",
    ]
    for by in SPLITS:
        rows = [
            [r["seed"]]
            + [f"{r[v]['valid']:.4f} / {r[v]['test']:.4f}" for v in VARIANTS]
            + [f"{r[v]['test'] - r['static']['test']:+.4f}" for v in ("att16", "att64")]
            for r in q[by]["rows"]
        ]
        s = q[by]["summary"]
        rows.append(
            ["mean"]
            + [f"{s[v]['valid']:.4f} / {s[v]['test']:.4f}" for v in VARIANTS]
            + [f"{s[v]['lift']:+.4f} ± {s[v]['lift_sd']:.4f}" for v in ("att16", "att64")]
        )
        headers = [
            "seed",
            "static valid / test",
            "att16 valid / test",
            "att64 valid / test",
            "att16 lift",
            "att64 lift",
        ]
        lines += [
            f"Split by {by} (AUC; lift = test AUC over static, mean ± sd over seeds):",
            "",
            table(headers, rows),
            "",
        ]
    ms, ratio = cost["ms"], cost["ratio"]
    lines += [
        f"Request of 100 candidates for one user (float bundles of the time split, seed {seeds[0]}, one thread, "
        f"medians of alternated calls), the sequence bundles reading a log of 50 + 50 events: static "
        f"{ms['static']:.2f} ms, att16 {ms['att16']:.2f} ms (**{ratio['att16']:.2f}×**), att64 {ms['att64']:.2f} ms "
        f"(**{ratio['att64']:.2f}×**).",
        "",
        "int8 against float, per-user top-10 overlap over the time split's test users with at least 20 test ratings: "
        + ", ".join(
            f"{v} mean {i8[v]['mean']:.3f} (lowest {i8[v]['min']:.2f}, {i8[v]['users']} users)" for v in i8
        )
        + ".",
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
        write_marked_section(
            ROOT / "BENCHMARKS.md", BEGIN, END, text, before="<!-- behaviour-movielens:begin -->"
        )


if __name__ == "__main__":
    main()
