"""The user's recent behaviour on real data: MovieLens-100K split by time and by user (issue #28).

    python -m benchmarks.bench_sequence [--seeds 0,1,2,3,4] [--write]   (~25 minutes; needs ../shared/data)

1. Quality. MovieLens-100K (all ratings of the fixed splits joined; rating >= 4 is the label) is
   split with ``masknet data split``: ``--by time`` (the last 10 % of the timeline is test, the 10 %
   before it valid) and ``--by user`` (valid and test users never appear in training). Each is
   replayed with ``masknet data replay`` (every rating an ``expose``, a liked one also a ``click``),
   so a row's history is what the device had logged before it. The specs come from ``masknet spec
   infer``: without behaviour (``static``), and with ``--sequence item_id`` (``proposed``: the last 25
   liked and the last 25 rated item ids attended by the candidate through the item's own embedding
   rows, the two counts, and the click rates over the last 10 and 50 exposures). Two ablations of
   the proposed spec tell the parts apart: ``histories`` (without the rates) and ``rates`` (the static
   spec plus the rates); the static and proposed specs are also trained with ``--unknown-rate 0.1``.
   SerMaskNet with its defaults; valid and test AUC per seed. With ``MASKNET_FUXICTR_PYTHON`` set,
   FuxiCTR's DIN runs on the same replayed files beside ours.
2. Device cost. The time split's float bundles, static and proposed, ranking 100 candidates for
   one user whose log holds 50 + 50 events (read from a ``BehaviourLog``), alternated in one
   process: the request time ratio.
3. int8. The proposed model converted to int8 and to float: per-user top-10 overlap of the test
   users' candidates (their test items) between the two.

``--write`` replaces the section of BENCHMARKS.md between its markers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
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
        _masknet(*infer, *sequence, "--out", str(work / f"proposed-{by}.json"))
        _ablations(work, by)
        rep = work / f"replayed-{by}"
        replay = ["--user", "user_id", "--time", "timestamp", "--split", "split", "--out", str(rep)]
        _masknet("data", "replay", str(log), "--spec", str(work / f"proposed-{by}.json"), *replay)
        made[by] = {"rows": rep, **{v: work / f"{v}-{by}.json" for v in SPECS}}
    return made


#: The variants: name -> (spec file per split, extra ``masknet train`` options).
VARIANTS = {
    "static": ("static", ()),
    "static_unknown": ("static", ("--unknown-rate", "0.1")),
    "histories": ("histories", ()),
    "rates": ("rates", ()),
    "proposed": ("proposed", ()),
    "proposed_unknown": ("proposed", ("--unknown-rate", "0.1")),
    "no_ages_unknown": ("no_ages", ("--unknown-rate", "0.1")),
}
SPECS = ("static", "histories", "rates", "proposed", "no_ages")
#: The model that ships: the proposed spec, trained with unknown ids hidden at 10 %.
SHIPPED = "proposed_unknown"


def _without(spec: dict[str, Any], feature_type: str) -> tuple[dict[str, Any], set[str]]:
    """``spec`` without its behaviour features of ``feature_type`` (and their fields); their names."""
    names = {f["name"] for f in spec["behaviour"]["features"] if f["type"] == feature_type}
    out = dict(spec)
    out["behaviour"] = {
        **spec["behaviour"],
        "features": [f for f in spec["behaviour"]["features"] if f["name"] not in names],
    }
    out["fields"] = [f for f in spec["fields"] if f["name"] not in names]
    return out, names


def _ablations(work: Path, by: str) -> None:
    """``histories``: the proposed spec without its rate fields; ``rates``: the static spec plus them;
    ``no_ages``: the proposed spec without its events' ages."""
    proposed = json.loads((work / f"proposed-{by}.json").read_text())
    static = json.loads((work / f"static-{by}.json").read_text())
    histories, rates = _without(proposed, "rate")
    with_rates = dict(static)
    with_rates["fields"] = static["fields"] + [f for f in proposed["fields"] if f["name"] in rates]
    no_ages, _ = _without(proposed, "last_ages")
    (work / f"no_ages-{by}.json").write_text(json.dumps(no_ages, indent=2))
    (work / f"histories-{by}.json").write_text(json.dumps(histories, indent=2))
    (work / f"rates-{by}.json").write_text(json.dumps(with_rates, indent=2))


def quality(
    work: Path, made: dict[str, dict[str, Path]], seeds: list[int], variants: list[str]
) -> dict[str, Any]:
    """Valid and test AUC of ``variants`` per split and seed; lifts over the static variant."""
    out: dict[str, Any] = {}
    for by, m in made.items():
        rows = []
        for seed in seeds:
            row: dict[str, Any] = {"seed": seed}
            for variant in variants:
                spec, options = VARIANTS[variant]
                files = [f"--{s}={m['rows'] / (s + '.csv')}" for s in ("train", "valid", "test")]
                run = ["--seed", str(seed), "--out", str(work / f"run-{by}-{variant}-{seed}"), *options]
                got = _masknet("train", "--spec", str(m[spec]), *files, *run)
                row[variant] = {"valid": got["valid"]["auc"], "test": got["test"]["auc"]}
            rows.append(row)
        summary = {}
        for variant in variants:
            summary[variant] = {
                split: statistics.mean(r[variant][split] for r in rows) for split in ("valid", "test")
            }
            if variant != "static":
                lifts = [r[variant]["test"] - r["static"]["test"] for r in rows]
                summary[variant]["lift"] = statistics.mean(lifts)
                summary[variant]["lift_sd"] = statistics.stdev(lifts) if len(lifts) > 1 else 0.0
        out[by] = {"rows": rows, "summary": summary}
    return out


def start_din(work: Path, made: dict[str, dict[str, Path]], seeds: list[int]) -> dict[str, Any]:
    """Start FuxiCTR's DIN on each split's replayed files (``benchmarks/fuxictr_reference.py``, the
    Python in ``MASKNET_FUXICTR_PYTHON``, one thread) beside our runs; {} when that is not set."""
    python = os.environ.get("MASKNET_FUXICTR_PYTHON")
    if not python:
        print("sequence: MASKNET_FUXICTR_PYTHON is not set (`make bench-peer` builds one); no DIN")
        return {}
    script = ROOT / "benchmarks" / "fuxictr_reference.py"
    started = {}
    for by, m in made.items():
        (work / f"din-{by}").mkdir()
        command = [python, str(script), str(m["rows"]), str(work / f"din-{by}"), "--models", "din"]
        command += ["--seeds", ",".join(map(str, seeds))]
        started[by] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return started


def finish_din(started: dict[str, Any]) -> dict[str, Any]:
    """Each split's DIN runs: per seed valid and test AUC, and their means."""
    out = {}
    for by, proc in started.items():
        stdout, stderr = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"DIN on {by} failed:\n{stderr[-3000:]}")
        runs = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        out[by] = {
            "rows": {r["seed"]: {"valid": r["valid_auc"], "test": r["test_auc"]} for r in runs},
            "valid": statistics.mean(r["valid_auc"] for r in runs),
            "test": statistics.mean(r["test_auc"] for r in runs),
        }
    return out


#: The bundles whose request time is compared.
COSTED = ("static", SHIPPED)


def device_cost(work: Path, seed: int, rounds: int = 300) -> dict[str, Any]:
    """Request time of the proposed bundle (log of 50 + 50 events) over the static bundle's."""
    import pandas as pd

    from masknet_edge.edge_runtime.behaviour_log import BehaviourLog
    from masknet_edge.edge_runtime.ranker import Ranker

    rankers = {}
    for variant in COSTED:
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
    log = BehaviourLog(None, rankers[SHIPPED].spec)
    for i, item in enumerate(test["item_id"].head(50)):
        log.record("expose", {"item_id": item}, ts=float(i))
        log.record("click", {"item_id": item}, ts=float(i))

    def call(variant: str) -> Any:
        if variant == "static":
            return rankers[variant].rank(context, candidates, k=10)
        return rankers[variant].rank(context, candidates, k=10, behaviour=log, now=100.0)

    times: dict[str, list[float]] = {v: [] for v in COSTED}
    for _ in range(20):
        for v in COSTED:
            call(v)
    for _ in range(rounds):
        for v in COSTED:
            t0 = time.perf_counter()
            call(v)
            times[v].append(time.perf_counter() - t0)
    med = {v: float(np.median(t)) * 1000 for v, t in times.items()}
    return {"ms": med, "ratio": {v: med[v] / med["static"] for v in COSTED}}


def int8_overlap(work: Path, seed: int) -> dict[str, Any]:
    """Per-user top-10 overlap between the proposed model's int8 and float bundles on the time split's test."""
    import pandas as pd

    from masknet_edge.edge_runtime.encoder import FeatureEncoder
    from masknet_edge.edge_runtime.ranker import Ranker

    test = pd.read_csv(work / "replayed-time" / "test.csv", dtype=str, keep_default_na=False)
    out = {}
    for variant in (SHIPPED,):
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


#: How the section names each variant.
LABELS = {
    "static": "static (no behaviour)",
    "static_unknown": "static, `--unknown-rate 0.1`",
    "histories": "histories only",
    "rates": "static + rates",
    "proposed": "proposed",
    "proposed_unknown": "**proposed, `--unknown-rate 0.1`**",
    "no_ages_unknown": "proposed without the events' ages, `--unknown-rate 0.1`",
}


def _variants_option(q: dict[str, Any]) -> str:
    """`` --variants ...`` when the run measured fewer than every variant."""
    ran = list(next(iter(q.values()))["summary"])
    return "" if ran == list(VARIANTS) else f" --variants {','.join(ran)}"


def section(
    seconds: float,
    seeds: list[int],
    q: dict[str, Any],
    din: dict[str, Any],
    cost: dict[str, Any],
    i8: dict[str, Any],
) -> str:
    """The Markdown section."""
    lines = [
        BEGIN,
        "### The user's recent behaviour on MovieLens-100K, split by time and by user",
        "",
        f"`MASKNET_FUXICTR_PYTHON=.venv-fuxictr/bin/python python -m benchmarks.bench_sequence --seeds "
        f"{','.join(map(str, seeds))}{_variants_option(q)} --write`, {seconds:.0f} s; {machine()}.",
        "",
        "All ratings of the fixed splits, split again with `masknet data split --by time` (the last 10 % of the "
        "timeline is test, the 10 % before it valid) and `--by user` (10 % of the users each for valid and test, "
        "never seen in training), replayed with `masknet data replay` (every rating an `expose`, a liked one also a "
        "`click`). Specs from `masknet spec infer`, no hand-written JSON: `static` is `--ignore split,timestamp "
        "--context user_id`, without behaviour; `proposed` is `--sequence item_id --user user_id --time timestamp "
        "--ignore split` (the last 25 liked and the last 25 rated item ids, `shares: item_id`, `pooling: attention`, "
        "each event's age bucket `along` its history (`last_ages`), the two counts, and `rate` over the last 10 and "
        "50 exposures). Ablations of `proposed`: `histories only` (without the rates), `static + rates`, and "
        "without the events' ages. `--unknown-rate 0.1` hides 10 % of the vocabulary fields' "
        "values behind their out-of-vocabulary id while training, so the model learns what an unknown user means. "
        "SerMaskNet with its defaults otherwise. FuxiCTR DIN: `benchmarks/fuxictr_reference.py --models din` on "
        "the same replayed files (FuxiCTR 2.3.10's feature processing, layers and trainer; embedding 10, the "
        "histories share `item_id`'s rows, attention units 64 with Dice, MLP 400-400-400, batch 1024), same seeds.",
        "",
    ]
    for by in SPLITS:
        s = q[by]["summary"]
        rows = []
        for v in q[by]["summary"]:
            lift = f"{s[v]['lift']:+.4f} ± {s[v]['lift_sd']:.4f}" if v != "static" else ""
            per_seed = " ".join(f"{r[v]['test']:.4f}" for r in q[by]["rows"])
            rows.append([LABELS[v], f"{s[v]['valid']:.4f}", f"{s[v]['test']:.4f}", lift, per_seed])
        if by in din:
            d = din[by]
            per_seed = " ".join(f"{d['rows'][r['seed']]['test']:.4f}" for r in q[by]["rows"])
            rows.append(["FuxiCTR DIN", f"{d['valid']:.4f}", f"{d['test']:.4f}", "", per_seed])
        headers = ["variant", "valid AUC", "test AUC", "test lift over static", "test AUC per seed"]
        lines += [
            f"Split by {by} (means over seeds {', '.join(map(str, seeds))}):",
            "",
            table(headers, rows),
            "",
        ]
        if by in din:
            gaps = [r[SHIPPED]["test"] - din[by]["rows"][r["seed"]]["test"] for r in q[by]["rows"]]
            sd = statistics.stdev(gaps) if len(gaps) > 1 else 0.0
            lines += [
                f"Ours (proposed, `--unknown-rate 0.1`) − DIN, test AUC per seed: "
                f"**{statistics.mean(gaps):+.4f} ± {sd:.4f}**.",
                "",
            ]
    ms, ratio = cost["ms"], cost["ratio"]
    p = i8[SHIPPED]
    lines += [
        f"Request of 100 candidates for one user (float bundles of the time split, seed {seeds[0]}, one thread, "
        f"medians of alternated calls), the proposed bundle reading a log of 50 + 50 events: static "
        f"{ms['static']:.2f} ms, proposed {ms[SHIPPED]:.2f} ms (**{ratio[SHIPPED]:.2f}×**).",
        "",
        "int8 against float, per-user top-10 overlap over the time split's test users with at least 20 test "
        f"ratings: proposed mean **{p['mean']:.3f}** (lowest {p['min']:.2f}, {p['users']} users).",
        "",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    """Run the three measurements; print the section, or write it into BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="a subset of " + ", ".join(VARIANTS))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    asked = [v for v in args.variants.split(",") if v]
    if set(asked) - set(VARIANTS):
        parser.error(f"unknown variants {sorted(set(asked) - set(VARIANTS))}; known: {', '.join(VARIANTS)}")
    variants = [v for v in VARIANTS if v in {"static", SHIPPED, *asked}]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        made = prepare(work)
        din = start_din(work, made, seeds)
        q = quality(work, made, seeds, variants)
        d = finish_din(din)
        cost = device_cost(work, seeds[0])
        i8 = int8_overlap(work, seeds[0])
    text = section(time.perf_counter() - t0, seeds, q, d, cost, i8)
    print(text)
    print(json.dumps({"quality": q, "din": d, "cost": cost, "int8": i8}))
    if args.write:
        write_marked_section(
            ROOT / "BENCHMARKS.md", BEGIN, END, text, before="<!-- behaviour-movielens:begin -->"
        )


if __name__ == "__main__":
    main()
