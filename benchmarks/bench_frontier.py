"""The device-budget frontier on MovieLens-100K: ``masknet frontier`` end to end, timed.

The teacher is SerMaskNet trained with its defaults (seed 0) on the fixed split; the frontier
distils the default student grid, converts teacher and students (float and dynamic), and measures
every bundle side by side at 1,000 candidates, one thread. Goals (issue #16): a student within
0.001 test AUC of the teacher that is >= 3x faster per 1,000 candidates (whole request); 1,000
candidates <= 5 ms; the whole frontier <= 15 minutes on 2 cores.

Run: .venv/bin/python -m benchmarks.run_all --only frontier

Its work (teacher, students, bundles) stays in ``build/bench-frontier``: a later run resumes it and
measures every bundle again, side by side, without training anything (delete the folder to start
over). The frontier's wall time is that of the run that finished the work (an interrupted run's part
is not counted).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, fixed_splits, met, newcomer_spec, table

#: Its section in ``make bench`` (``run_all --only frontier``) and the place of its table in BENCHMARKS.md.
SECTION, ORDER = "frontier", 75

WORK = ROOT / "build" / "bench-frontier"
#: MovieLens' user columns: the context side of the spec (``masknet spec infer --context``).
USER_COLUMNS = ("user_id", "age", "gender", "occupation", "zip_code")
CANDIDATES = 1000
BUDGET_MS = 5.0
BUDGET_KIB = 2048.0


def run() -> dict[str, Any] | str:
    """Train the teacher, run the frontier, return its points, the wall time and the goals' figures."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from masknet_edge.frontier import frontier_run

    got = teacher_run()
    if isinstance(got, str):
        return got
    teacher, timing = got
    timing_file = WORK / "seconds.json"
    fresh = not (WORK / "frontier" / "frontier.json").is_file()
    t0 = time.perf_counter()
    result = frontier_run(
        teacher,
        WORK / "frontier",
        budget_ms=BUDGET_MS,
        budget_kib=BUDGET_KIB,
        candidates=CANDIDATES,
        resume=True,
    )
    if fresh or "frontier_seconds" not in timing:
        timing["frontier_seconds"] = time.perf_counter() - t0
    timing_file.write_text(json.dumps(timing))
    d = result.to_dict()
    d.update(timing)
    return d


def teacher_run() -> tuple[Path, dict[str, float]] | str:
    """The MovieLens teacher's run directory (trained once, kept in ``WORK``) and the recorded
    timings; a string saying why when the data is absent."""
    from masknet_edge.train.config import ModelConfig

    WORK.mkdir(parents=True, exist_ok=True)
    splits = fixed_splits(WORK / "splits")
    if isinstance(splits, str):
        return splits
    folder = splits["movielens"]
    teacher = WORK / "teacher"
    timing_file = WORK / "seconds.json"
    timing = json.loads(timing_file.read_text()) if timing_file.is_file() else {}
    if not (teacher / "metrics.json").is_file():
        # as an app ranks: one user (the request's context, encoded once) and N candidate items
        spec = newcomer_spec(folder / "train.csv", WORK / "spec.json", context=list(USER_COLUMNS))
        t0 = time.perf_counter()
        train_movielens(folder, teacher, spec, ModelConfig())
        timing = {"teacher_train_seconds": time.perf_counter() - t0}
        timing_file.write_text(json.dumps(timing))
    return teacher, timing


def train_movielens(folder: Path, out: Path, spec_path: Path, model_config: Any) -> None:
    """Train ``model_config`` on the MovieLens split in ``folder`` (defaults, seed 0) into ``out``."""
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.config import TrainConfig
    from masknet_edge.train.pipeline import TrainInputs, train_run

    train_run(
        TrainInputs(folder / "train.csv", folder / "valid.csv", folder / "test.csv"),
        FeatureSpec.load(spec_path),
        out,
        model_config,
        TrainConfig(seed=0),
        overwrite=True,
        progress=False,
    )


def render(result: Any) -> list[str]:
    """This benchmark's section of BENCHMARKS.md (none when it was not measured)."""
    if not isinstance(result, dict):
        return []
    points = sorted(result["points"], key=lambda p: -p["test_auc"])
    teacher = next(p for p in points if p["name"] == "teacher" and p["mode"] == "none")
    close = [p for p in points if p["name"] != "teacher" and p["test_auc"] >= teacher["test_auc"] - 0.001]
    fastest = min(close, key=lambda p: p["request_ms"]) if close else None
    speedup = teacher["request_ms"] / fastest["request_ms"] if fastest else float("nan")
    quickest = min(points, key=lambda p: p["request_ms"])
    rows = [
        [
            p["name"],
            p["mode"],
            p["params"],
            p["bundle_kib"],
            p["test_auc"],
            p["topk_overlap"],
            p["invoke_ms"],
            p["request_ms"],
            "yes" if p["pareto"] else "",
        ]
        for p in points
    ]
    return [
        "## The device-budget frontier (`benchmarks/bench_frontier.py`)",
        "",
        f"`masknet frontier` on a MovieLens-100K SerMaskNet teacher (defaults, seed 0; trained in "
        f"{result['teacher_train_seconds']:.0f} s): the default student grid distilled, teacher and students "
        f"converted (float, dynamic), all measured side by side at {result['candidates']:,} candidates, one "
        "thread, in a fresh process that holds only the runtime, as on a device (`convert/latency.py`) "
        "(whole request = one user's dict and the candidates' dicts in, top 10 out; the spec puts the "
        f"user's columns ({', '.join(USER_COLUMNS)}) on the context side, encoded once per request, as "
        "`masknet spec infer --context` does). Top-10 overlap: with the teacher's float bundle, "
        f"per slate of {result['candidates']:,} test rows.",
        "",
        table(
            [
                "bundle",
                "mode",
                "params",
                "KiB",
                "test AUC",
                "top-10 overlap",
                "invoke ms",
                "request ms",
                "Pareto",
            ],
            rows,
        ),
        "",
        table(
            ["goal", "measured", ""],
            [
                [
                    "fastest student within 0.001 test AUC of the teacher: request speed-up >= 3x",
                    f"{speedup:.2f}x ({fastest['name']} {fastest['mode']})" if fastest else "no such student",
                    met(speedup >= 3),
                ],
                [
                    f"{result['candidates']:,} candidates <= {BUDGET_MS:g} ms (fastest bundle)",
                    f"{quickest['request_ms']:.2f} ms ({quickest['name']} {quickest['mode']})",
                    met(quickest["request_ms"] <= BUDGET_MS),
                ],
                [
                    "the frontier command <= 15 minutes on 2 cores",
                    f"{result['frontier_seconds'] / 60:.1f} min",
                    met(result["frontier_seconds"] <= 900),
                ],
            ],
        ),
        "",
        f"Best within {BUDGET_MS:g} ms and {BUDGET_KIB:g} KiB: {Path(result['best']).name if result['best'] else 'none'}.",
        "",
    ]
