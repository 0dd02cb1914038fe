"""Real-time behaviour (#15): what it buys on the shop world with sessions, and what it costs on the device.

    python -m benchmarks.bench_behaviour [--write]              (~15 minutes on 2 cores)
    python -m benchmarks.bench_behaviour --movielens [--write]  (~20 minutes; needs ../shared/data)

1. Quality: the shop world with sessions (train/shopsessions.py; time split), replayed by
   ``masknet data replay``; SerMaskNet trained with its defaults on the static spec and on the spec
   with behaviour fields, seeds 0-2. Share of the gap (static model -> oracle) the behaviour fields close.
2. Replay == device: the test set's users replayed event by event through BehaviourLog (SQLite files)
   and through the batch replay; differences in the encoded arrays.
3. Device cost, side by side in one process: ``BehaviourLog.record`` p50; a ranked request of 100
   candidates with the behaviour bundle and a full log, against the static bundle without one; the
   log's file size after 1,000 and after 100,000 events.

4. ``--features``: which behaviour features pay for their cost. Each variant (the full set, each
   feature left out, small sets) is trained on the same replayed world (seeds 0-1); its share of the
   gap closed next to the cost of its request (100 candidates, from the log) over the static one's,
   side by side in one process. How the shop's behaviour section was chosen.

5. ``--movielens``: MovieLens-100K's fixed splits (``../shared/eval/make_splits.py``) joined and
   replayed per user in time order (every earlier rating is an ``expose``, rating >= 4 a ``click``);
   SerMaskNet with and without behaviour fields, seeds 0-2, test AUC.

``--write`` replaces the section of BENCHMARKS.md between its markers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT, machine, table, write_marked_section

BEGIN, END = "<!-- behaviour:begin -->", "<!-- behaviour:end -->"
SEEDS = (0, 1, 2)


def _masknet(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "masknet_edge", *args, "--json"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout)


def replayed_world(work: Path, spec: Path | None = None) -> Path:
    """The shop world with sessions in ``work/world``, replayed by ``masknet data replay`` with
    ``spec`` (the world's own when None) into ``work/replayed``; returns that folder."""
    _masknet("data", "shop", "--sessions", "--out", str(work / "world"))
    rep = work / "replayed"
    _masknet(
        "data", "replay", str(work / "world" / "events.csv"), "--spec", str(spec or work / "world" / "spec.json"),
        "--user", "user_id", "--time", "ts", "--split", "split", "--out", str(rep),
    )  # fmt: skip
    return rep


def quality(work: Path) -> tuple[list[list], dict[str, Path], Path]:
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.shopsessions import session_spec_dict

    rep = replayed_world(work)
    FeatureSpec.from_dict(session_spec_dict(behaviour=False)).save(work / "static.json")
    rows, runs = [], {}
    for seed in SEEDS:
        result = {}
        for name, spec in (("static", work / "static.json"), ("behaviour", work / "world" / "spec.json")):
            run = work / f"run-{name}-{seed}"
            files = [f"--{split}={rep / (split + '.csv')}" for split in ("train", "valid", "test")]
            options = ["--oracle-column", "true_ctr", "--seed", str(seed), "--out", str(run)]
            result[name] = _masknet("train", "--spec", str(spec), *files, *options)
            runs[f"{name}-{seed}"] = run
        s, b = result["static"]["test"]["auc"], result["behaviour"]["test"]["auc"]
        oracle = result["static"]["test"]["oracle_auc"]
        rows.append([seed, s, b, oracle, (b - s) / (oracle - s)])
    return rows, runs, rep


def equality(world: Path, fitted_spec_path: Path) -> tuple[int, int, int]:
    """300 users' impressions through the device's log and through the batch replay:
    (events recorded, rows, differing encoded values)."""
    import pandas as pd

    from masknet_edge.edge_runtime.behaviour_log import BehaviourLog
    from masknet_edge.edge_runtime.encoder import FeatureEncoder
    from masknet_edge.edge_runtime.replay import replay_rows
    from masknet_edge.edge_runtime.spec import FeatureSpec

    spec = FeatureSpec.load(fitted_spec_path)  # the trained run's spec: vocabularies and statistics
    events = pd.read_csv(world / "events.csv", dtype={"user_id": str, "item_id": str})
    events = events[events["user_id"].isin(events["user_id"].unique()[:300])].drop(columns=["split"])
    rows = events.to_dict("records")
    encoder = FeatureEncoder(spec)
    batch = encoder.encode(list(replay_rows(rows, spec, user="user_id", time="ts")))
    n_events, parts, logs = 0, [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in rows:
            log = logs.get(r["user_id"])
            if log is None:
                log = logs[r["user_id"]] = BehaviourLog(Path(tmp) / f"{r['user_id']}.db", spec)
            ctx = {k: r[k] for k in spec.columns_of_side("context") if k in r}
            ctx.update(log.context_values(r["ts"]))
            item = {k: r[k] for k in spec.columns_of_side("item") if k in r}
            extra = log.item_values({c: [r[c]] for c in ("item_id", "category")}, 1, r["ts"])
            parts.append(encoder.assemble(encoder.encode_context(ctx), encoder.encode_items([item], extra)))
            log.record("expose", r, ts=r["ts"])
            n_events += 1
            if r["click"]:
                log.record("click", r, ts=r["ts"])
                n_events += 1
        for log in logs.values():
            log.close()
    device = {k: np.concatenate([p[k] for p in parts]) for k in batch}
    diffs = sum(int((batch[k] != device[k]).sum()) for k in batch)
    return n_events, len(rows), diffs


def device_cost(work: Path, runs: dict[str, Path]) -> list[list]:
    import csv

    from masknet_edge.convert.conversion import convert_run
    from masknet_edge.edge_runtime.behaviour_log import BehaviourLog
    from masknet_edge.edge_runtime.ranker import Ranker

    bundles = {}
    for name in ("static", "behaviour"):
        bundles[name] = work / f"{name}.mnb"
        convert_run(runs[f"{name}-0"], "none", bundles[name], seed=0)
    rankers = {name: Ranker.load(p) for name, p in bundles.items()}
    items = list(csv.DictReader((work / "replayed" / "test.csv").open()))[:100]
    candidates = [{k: it[k] for k in ("item_id", "category", "brand", "price")} for it in items]
    context = {k: items[0][k] for k in ("user_id", "age", "gender", "occupation", "city", "device")}
    log = BehaviourLog(work / "device.db", rankers["behaviour"].spec)
    rng = np.random.default_rng(0)
    record_times = []
    for i in range(2000):
        it = candidates[int(rng.integers(100))]
        t0 = time.perf_counter()
        log.record("expose" if i % 4 else "click", it, ts=1e6 + i)
        record_times.append(time.perf_counter() - t0)
    size_1k = sum(p.stat().st_size for p in work.glob("device.db*"))
    now = 1e6 + 2000
    # the behaviour bundle fed the behaviour columns directly: the model's share of the difference
    with_columns = {**context, **log.context_values(now)}
    extra = log.item_values({c: [it[c] for it in candidates] for c in ("item_id", "category")}, 100, now)
    precomputed = [{**it, **{k: float(v[i]) for k, v in extra.items()}} for i, it in enumerate(candidates)]
    requests = {
        "static": lambda: rankers["static"].rank(context, candidates, k=10),
        "columns": lambda: rankers["behaviour"].rank(with_columns, precomputed, k=10),
        "behaviour": lambda: rankers["behaviour"].rank(context, candidates, k=10, behaviour=log, now=now),
    }
    timings: dict[str, list[float]] = {name: [] for name in requests}
    for _ in range(300):  # alternated, so all see the same machine state
        for name, request in requests.items():
            t0 = time.perf_counter()
            request()
            timings[name].append(time.perf_counter() - t0)
    for i in range(98_000):
        log.record("expose" if i % 4 else "click", candidates[i % 100], ts=1e6 + 2000 + i)
    size_100k = sum(p.stat().st_size for p in work.glob("device.db*"))
    log.close()
    s, c, b = (float(np.median(timings[n])) * 1e3 for n in ("static", "columns", "behaviour"))
    return [
        ["BehaviourLog.record, p50 (ms)", float(np.median(record_times)) * 1e3, "<= 0.1"],
        [
            "BehaviourLog.record, p99 (ms; a checkpoint of the write-ahead log)",
            float(np.percentile(record_times, 99)) * 1e3,
            "",
        ],
        ["rank 100 candidates: static bundle (ms, p50)", s, ""],
        ["rank 100 candidates: behaviour bundle, its columns given (ms, p50)", c, ""],
        ["rank 100 candidates: behaviour bundle, computed from the full log (ms, p50)", b, ""],
        ["ratio behaviour (from the log) / static", b / s, "<= 1.2"],
        ["ratio behaviour (from the log) / behaviour (columns given): the log's share", b / c, ""],
        ["log files after 2,000 events (KiB)", size_1k / 1024, ""],
        ["log files after 100,000 events (KiB)", size_100k / 1024, "bounded"],
    ]


ML_BEHAVIOUR = {
    "events": {"click": {"keep_last": 50}, "expose": {"keep_last": 100}},
    "features": [
        {"name": "recent_liked", "type": "last_values", "event": "click", "of": "item_id", "k": 10},
        {"name": "recent_rated", "type": "last_values", "event": "expose", "of": "item_id", "k": 10},
        {"name": "likes_of_last_50", "type": "count", "event": "click"},
        {"name": "ratings_1d", "type": "count", "event": "expose", "window_seconds": 86400.0},
        {"name": "since_last_rating", "type": "seconds_since", "event": "expose"},
    ],
}
ML_BEGIN, ML_END = "<!-- behaviour-movielens:begin -->", "<!-- behaviour-movielens:end -->"
FT_BEGIN, FT_END = "<!-- behaviour-features:begin -->", "<!-- behaviour-features:end -->"
ABLATION_SEEDS = (0, 1)


def _variants(names: list[str]) -> dict[str, list[str]]:
    """Feature sets to compare: all, each one left out, and the small sets around the decayed interest."""
    out = {"all six": list(names)}
    out.update({f"without {n}": [m for m in names if m != n] for n in names})
    out["category_interest only"] = ["category_interest"]
    out["category_interest + recent_click_categories"] = ["category_interest", "recent_click_categories"]
    out["category_interest + category_clicks_10m + since_category_click"] = [
        "category_interest",
        "category_clicks_10m",
        "since_category_click",
    ]
    return out


def _spec_with(features: list[str]) -> dict:
    """The shop-sessions spec with only these behaviour features (and their fields)."""
    from masknet_edge.train.shopsessions import session_spec_dict

    return session_spec_dict(features=tuple(features))


def feature_ablation(work: Path) -> list[list]:
    """Rows: variant, number of behaviour fields, share of the gap closed (mean over seeds), request
    cost over the static bundle's (p50 of 100 candidates, all variants alternated in one process)."""
    import csv

    from masknet_edge.convert.conversion import convert_run
    from masknet_edge.edge_runtime.behaviour_log import BehaviourLog
    from masknet_edge.edge_runtime.ranker import Ranker
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.shopsessions import ALL_FEATURES, session_spec_dict

    FeatureSpec.from_dict(session_spec_dict(features=ALL_FEATURES)).save(work / "all.json")  # every column
    rep = replayed_world(work, work / "all.json")
    files = [f"--{split}={rep / (split + '.csv')}" for split in ("train", "valid", "test")]
    names = list(ALL_FEATURES)
    specs = {"static": session_spec_dict(behaviour=False)}
    specs.update({v: _spec_with(fs) for v, fs in _variants(names).items()})
    auc: dict[str, list[float]] = {}
    oracle: list[float] = []
    bundles = {}
    for i, (variant, spec) in enumerate(specs.items()):
        FeatureSpec.from_dict(spec).save(work / f"spec-{i}.json")
        for seed in ABLATION_SEEDS:
            run = work / f"run-{i}-{seed}"
            opts = ["--oracle-column", "true_ctr", "--seed", str(seed), "--out", str(run)]
            m = _masknet("train", "--spec", str(work / f"spec-{i}.json"), *files, *opts)
            auc.setdefault(variant, []).append(m["test"]["auc"])
            if variant == "static":
                oracle.append(m["test"]["oracle_auc"])
        bundles[variant] = work / f"bundle-{i}.mnb"
        convert_run(work / f"run-{i}-0", "none", bundles[variant], seed=0)
        print(variant, auc[variant], flush=True)
    rankers = {v: Ranker.load(p) for v, p in bundles.items()}
    items = list(csv.DictReader((rep / "test.csv").open()))[:100]
    candidates = [{k: it[k] for k in ("item_id", "category", "brand", "price")} for it in items]
    context = {k: items[0][k] for k in ("user_id", "age", "gender", "occupation", "city", "device")}
    logs = {v: BehaviourLog(None, r.spec) for v, r in rankers.items() if v != "static"}
    rng = np.random.default_rng(0)
    for i in range(2000):
        it = candidates[int(rng.integers(100))]
        for log in logs.values():
            log.record("expose" if i % 4 else "click", it, ts=1e6 + i)
    now = 1e6 + 2000
    requests = {"static": lambda: rankers["static"].rank(context, candidates, k=10)}
    for v, log in logs.items():
        requests[v] = lambda v=v, log=log: rankers[v].rank(context, candidates, k=10, behaviour=log, now=now)
    timings: dict[str, list[float]] = {v: [] for v in requests}
    for _ in range(200):
        for v, request in requests.items():
            t0 = time.perf_counter()
            request()
            timings[v].append(time.perf_counter() - t0)
    static_ms = float(np.median(timings["static"]))
    rows = []
    for v in logs:
        closure = [(b - s) / (o - s) for b, s, o in zip(auc[v], auc["static"], oracle, strict=True)]
        n_fields = len(specs[v]["behaviour"]["features"])
        rows.append([v, n_fields, float(np.mean(closure)), float(np.median(timings[v])) / static_ms])
    return rows


def features_section(seconds: float, rows: list[list]) -> str:
    """The feature ablation's part of the behaviour section."""
    return "\n\n".join(
        [
            f"{FT_BEGIN}\n### Which behaviour features pay for their cost",
            f"`python -m benchmarks.bench_behaviour --features --write`, {seconds:.0f} s; {machine()}. "
            f"The same replayed shop world; each variant trained with seeds {list(ABLATION_SEEDS)}; the "
            "request (100 candidates, behaviour from a log of 2,000 events, float bundle) timed against the "
            "static bundle's, all alternated in one process. Goals: share of the gap >= 0.5, request <= 1.2x.",
            table(["behaviour features", "fields", "share of the gap closed", "request / static"], rows),
            FT_END,
        ]
    )


def movielens(work: Path) -> tuple[list[list], dict[str, float]]:
    """Test AUC with and without behaviour fields on MovieLens-100K's fixed splits, seeds 0-2."""
    import pandas as pd

    from benchmarks.common import fixed_splits

    splits = fixed_splits(work / "splits")
    if isinstance(splits, str):
        raise SystemExit(splits)
    parts = []
    for split in ("train", "valid", "test"):
        frame = pd.read_csv(splits["movielens"] / f"{split}.csv", dtype=str, keep_default_na=False)
        frame["split"] = split
        parts.append(frame)
    events = pd.concat(parts, ignore_index=True)
    order = np.lexsort((events["timestamp"].astype(np.int64), events["user_id"].astype(np.int64)))
    events.iloc[order].to_csv(work / "events.csv", index=False)  # lexsort is stable: file order breaks ties
    (work / "behaviour.json").write_text(json.dumps(ML_BEHAVIOUR))
    infer = ["spec", "infer", str(work / "events.csv"), "--label", "label", "--ignore", "split"]
    _masknet(*infer, "--out", str(work / "static.json"))
    _masknet(*infer, "--behaviour", str(work / "behaviour.json"), "--out", str(work / "behaviour-spec.json"))
    rep = work / "replayed"
    _masknet(
        "data",
        "replay",
        str(work / "events.csv"),
        "--spec",
        str(work / "behaviour-spec.json"),
        "--user",
        "user_id",
        "--time",
        "timestamp",
        "--split",
        "split",
        "--out",
        str(rep),
    )
    rows, lifts = [], []
    for seed in SEEDS:
        aucs = {}
        for name, spec in (("static", "static.json"), ("behaviour", "behaviour-spec.json")):
            files = [f"--{split}={rep / (split + '.csv')}" for split in ("train", "valid", "test")]
            run = ["--seed", str(seed), "--out", str(work / f"ml-{name}-{seed}")]
            aucs[name] = _masknet("train", "--spec", str(work / spec), *files, *run)["test"]["auc"]
        lifts.append(aucs["behaviour"] - aucs["static"])
        rows.append([seed, aucs["static"], aucs["behaviour"], lifts[-1]])
    return rows, {"mean": float(np.mean(lifts)), "sd": float(np.std(lifts, ddof=1))}


def movielens_section(seconds: float, rows: list[list], lift: dict[str, float]) -> str:
    return "\n\n".join(
        [
            f"{ML_BEGIN}\n### MovieLens-100K with behaviour fields",
            f"`python -m benchmarks.bench_behaviour --movielens --write`, {seconds:.0f} s; {machine()}.",
            "The fixed splits joined and replayed per user in time order with `masknet data replay`: each "
            "rating is an `expose`, a rating >= 4 also a `click`; behaviour fields: the last 10 liked and "
            "the last 10 rated item ids, likes among the last 50, ratings in the last day, seconds since "
            "the last rating. Both specs from `masknet spec infer` on the joined file (`--ignore split`), "
            "SerMaskNet with its defaults. The splits are random, not by time: a row's behaviour comes only "
            "from earlier ratings, but those may belong to any split (as on a device, which knows every "
            "earlier rating).",
            table(["seed", "test AUC without", "test AUC with behaviour", "lift"], rows),
            f"Lift from behaviour fields: {lift['mean']:+.4f} ± {lift['sd']:.4f} (mean ± sd over {len(rows)} "
            "seeds).",
            ML_END,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="Rewrite the section in BENCHMARKS.md.")
    parser.add_argument("--movielens", action="store_true", help="The MovieLens-100K part only.")
    parser.add_argument("--features", action="store_true", help="The feature ablation only.")
    args = parser.parse_args()
    t0 = time.perf_counter()
    path = ROOT / "BENCHMARKS.md"
    if args.features:
        with tempfile.TemporaryDirectory() as tmp:
            rows = feature_ablation(Path(tmp))
        section = features_section(time.perf_counter() - t0, rows)
        print(section)
        if args.write:
            write_marked_section(path, FT_BEGIN, FT_END, section, "## Reliability")
        return
    if args.movielens:
        with tempfile.TemporaryDirectory() as tmp:
            rows, lift = movielens(Path(tmp))
        section = movielens_section(time.perf_counter() - t0, rows, lift)
        print(section)
        if args.write:
            write_marked_section(path, ML_BEGIN, ML_END, section, "## Reliability")
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows, runs, rep = quality(work)
        events, n_rows, diffs = equality(work / "world", runs["behaviour-0"] / "spec.json")
        costs = device_cost(work, runs)
    closure = np.array([r[-1] for r in rows])
    section = "\n\n".join(
        [
            f"{BEGIN}\n## Real-time behaviour on the device (`benchmarks/bench_behaviour.py`)",
            f"`python -m benchmarks.bench_behaviour --write`, {time.perf_counter() - t0:.0f} s; {machine()}.",
            "Shop world with sessions (`masknet data shop --sessions`: a click raises the click logit of its "
            "category by 1.5 x exp(-age / 90 s)), split by time, replayed with `masknet data replay`; "
            "SerMaskNet with its defaults on the static spec and on the shop's spec with behaviour fields "
            "(`SHOP_FEATURES`: the last 5 clicked categories, and the clicks on the candidate's category "
            "halved every 60 s; chosen by the feature ablation below). "
            "Goal: close at least half of the gap between the static model and the oracle.",
            table(
                ["seed", "test AUC, static", "test AUC, behaviour", "oracle AUC", "share of the gap closed"],
                rows,
            ),
            f"Share of the gap closed: mean {closure.mean():.3f} ± {closure.std(ddof=1):.3f} (goal >= 0.5: "
            f"{'met' if closure.mean() >= 0.5 else '**not met**'}).",
            f"Replay == device: {events:,} events of 300 users replayed through `BehaviourLog` (one SQLite "
            f"file per user) and through the batch replay; {n_rows:,} encoded rows, "
            f"**{diffs} differing values** (goal 0, over >= 10,000 events).",
            table(["device cost (one process, side by side)", "value", "goal"], costs),
            END,
        ]
    )
    print(section)
    if args.write:
        anchor = ML_BEGIN if ML_BEGIN in path.read_text() else "## Reliability"
        write_marked_section(path, BEGIN, END, section, anchor)


if __name__ == "__main__":
    main()
