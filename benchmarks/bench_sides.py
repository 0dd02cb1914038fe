"""The request's sides as ``spec infer`` proposes them: what a newcomer's MovieLens request costs.

MovieLens-100K's fixed split, the newcomer path (``spec infer`` with its defaults, ``masknet train``
for one epoch, ``masknet convert`` with its default ``dynamic`` mode). Two bundles of the same
fields: the proposed sides (the user and its four columns on the context side) and every field on
the item side (what ``spec infer`` proposed without a user column). Timed in a fresh process that
holds the rankers and nothing of training, one thread: 100 candidates (distinct test items) for one
test user, values typed as an app sends them (texts for text columns, numbers for numeric ones),
invoke alone and the whole request (encoding included), alternated, p50s of three rounds.

Run: .venv/bin/python -m benchmarks.run_all --only sides
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import fixed_splits, met, newcomer_spec, run_subprocess_json, table

#: Its section in ``make bench`` (``run_all --only sides``) and the place of its table in BENCHMARKS.md.
SECTION, ORDER = "sides", 31
GOAL = 1.15
REQUESTS, ROUNDS = 300, 3


def _bundle(folder: Path, spec_path: Path, work: Path) -> Path:
    from masknet_edge.convert.conversion import convert_run
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.config import TrainConfig
    from masknet_edge.train.pipeline import TrainInputs, train_run

    run = work / f"run-{spec_path.stem}"
    inputs = TrainInputs(folder / "train.csv", folder / "valid.csv")
    train_run(
        inputs, FeatureSpec.load(spec_path), run, None, TrainConfig(epochs=1), overwrite=True, progress=False
    )
    bundle = work / f"{spec_path.stem}.mnb"
    convert_run(run, "dynamic", bundle, progress=False)
    return bundle


def measure(bundles: dict[str, str], test_csv: str) -> dict[str, Any]:
    """Per bundle: p50 ms of invoke and of the whole request, per round (run in a fresh process)."""
    import pandas as pd

    from masknet_edge.edge_runtime.ranker import Ranker

    rankers = {name: Ranker.load(Path(path), num_threads=1) for name, path in bundles.items()}
    spec = next(iter(rankers.values())).spec
    # typed as an app sends them: texts for the text columns, numbers for the rest
    frame = pd.read_csv(test_csv, dtype={c: str for c in spec.text_columns}, keep_default_na=False)
    records = frame.drop_duplicates("item_id").head(100).to_dict("records")
    user = frame.iloc[:1].to_dict("records")[0]
    requests = {}
    for name, ranker in rankers.items():
        context = {c: user[c] for c in ranker.spec.columns_of_side("context")}
        items = ranker.spec.columns_of_side("item")
        candidates = [{c: r[c] for c in items} for r in records]
        if not context:  # every field per candidate: the user's columns ride on each candidate
            candidates = [
                {**c, **{k: user[k] for k in ranker.spec.raw_columns if k not in c}} for c in candidates
            ]
        encoder = ranker.encoder
        inputs = encoder.assemble(encoder.encode_context(context), encoder.encode_items(candidates))
        requests[name] = (context, candidates, inputs)
        for _ in range(20):
            ranker.score(context, candidates)
    rounds: dict[str, list[list[float]]] = {name: [] for name in rankers}
    for _ in range(ROUNDS):
        times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in rankers}
        for _ in range(REQUESTS):
            for name, ranker in rankers.items():
                context, candidates, inputs = requests[name]
                t = time.perf_counter()
                ranker.score_inputs(inputs)
                times[name][0].append(time.perf_counter() - t)
                t = time.perf_counter()
                ranker.score(context, candidates)
                times[name][1].append(time.perf_counter() - t)
        for name, (inv, req) in times.items():
            rounds[name].append([1e3 * float(np.percentile(inv, 50)), 1e3 * float(np.percentile(req, 50))])
    return {
        name: {
            "context_fields": len(rankers[name].spec.columns_of_side("context")),
            "fields": len(rankers[name].spec.fields),
            "rounds": r,
        }
        for name, r in rounds.items()
    }


def run() -> dict[str, Any]:
    """Build both bundles in a temp folder and time them in a fresh process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from masknet_edge.edge_runtime.spec import FeatureSpec

    with tempfile.TemporaryDirectory(prefix="masknet-sides-") as tmp:
        work = Path(tmp)
        splits = fixed_splits(work / "splits")
        if isinstance(splits, str):
            return {"skipped": splits}
        folder = splits["movielens"]
        proposed = newcomer_spec(folder / "train.csv", work / "proposed.json")
        data = json.loads(FeatureSpec.load(proposed).to_json())
        for f in data["fields"]:
            f["side"] = "item"
        (work / "all-item.json").write_text(json.dumps(data))
        bundles = {p.stem: str(_bundle(folder, p, work)) for p in (proposed, work / "all-item.json")}
        return run_subprocess_json(
            "import json\nfrom benchmarks.bench_sides import measure\n"
            f"print(json.dumps(measure({bundles!r}, {str(folder / 'test.csv')!r})))"
        )


def render(result: Any) -> list[str]:
    """This benchmark's section of BENCHMARKS.md (none when it was not measured)."""
    if not isinstance(result, dict):
        return []
    out = ["## The request's sides, proposed (`benchmarks/bench_sides.py`)", ""]
    if "skipped" in result:
        return [*out, f"Skipped: {result['skipped']}", ""]
    out += [__doc__.split("\n\n")[1].replace("\n", " "), ""]
    rows = []
    for name, r in result.items():
        ratios = [req / inv for inv, req in r["rounds"]]
        invoke, request = (float(np.median(col)) for col in zip(*r["rounds"], strict=True))
        goal = name == "proposed"
        rows.append(
            [
                "proposed sides" if goal else "every field on the item side",
                f"{r['context_fields']} of {r['fields']}",
                f"{invoke:.3f}",
                f"{request:.3f}",
                " / ".join(f"{x:.3f}" for x in ratios),
                f"<= {GOAL} each" if goal else "",
                met(max(ratios) <= GOAL) if goal else "",
            ]
        )
    headers = [
        "bundle",
        "context fields",
        "invoke p50 (ms)",
        "request p50 (ms)",
        "request / invoke, 3 rounds",
    ]
    return [*out, table([*headers, "goal", ""], rows), ""]
