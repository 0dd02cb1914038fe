"""Large batches: what the learning-rate recipe keeps of the quality, and what it buys in speed.

    python -m benchmarks.bench_large_batch [--seeds 0,1,2] [--write]

MovieLens-100K's fixed split, the newcomer spec, SerMaskNet. For each seed, ``train_run`` with
today's defaults (batch 256) and with larger batches under the recipe (the default learning rate
scaled by the square root of the batch, ``lr_scaling="sqrt"``, and a one-epoch linear warm-up),
alternated so that machine load hits all alike. Per run: validation and test AUC, the best epoch,
examples/s (training rows / median seconds of its epochs after the first, which also traces the
graph) and the wall-clock from the start of training to the final model on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, fixed_splits, machine, newcomer_spec, table, write_marked_section

BEGIN, END = "<!-- large-batch:begin -->", "<!-- large-batch:end -->"
CONFIGS: dict[str, dict[str, Any]] = {
    "defaults (batch 256)": {},
    "batch 1024, recipe": {"batch_size": 1024, "warmup_epochs": 1.0},
    "batch 4096, recipe": {"batch_size": 4096, "warmup_epochs": 1.0},
}
BASE = "defaults (batch 256)"


def _one(folder: Path, spec: Any, work: Path, seed: int, settings: dict[str, Any]) -> dict[str, Any]:
    from masknet_edge.train.config import TrainConfig
    from masknet_edge.train.pipeline import TrainInputs, train_run

    started = time.perf_counter()
    m = train_run(
        TrainInputs(folder / "train.csv", folder / "valid.csv", folder / "test.csv"),
        spec,
        work,
        None,
        TrainConfig(seed=seed, **settings),
        overwrite=True,
        progress=False,
    )
    wall = time.perf_counter() - started
    history = json.loads((work / "history.json").read_text())
    later = [h["seconds"] for h in history[1:]] or [history[0]["seconds"]]
    return {
        "valid_auc": m["valid"]["auc"],
        "test_auc": m["test"]["auc"],
        "best_epoch": m["best_epoch"],
        "epochs": len(history),
        "examples_per_s": m["train_rows"] / statistics.median(later),
        "seconds": wall,
    }


def run(seeds: tuple[int, ...]) -> dict[str, Any]:
    """Every configuration for every seed, alternated."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from masknet_edge.edge_runtime.spec import FeatureSpec

    result: dict[str, list[dict[str, Any]]] = {name: [] for name in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="masknet-large-batch-") as tmp:
        splits = fixed_splits(Path(tmp) / "splits")
        if isinstance(splits, str):
            return {"skipped": splits}
        folder = splits["movielens"]
        spec = FeatureSpec.load(newcomer_spec(folder / "train.csv", Path(tmp) / "spec.json"))
        for seed in seeds:
            for name, settings in CONFIGS.items():
                result[name].append(_one(folder, spec, Path(tmp) / "run", seed, settings))
                print(seed, name, result[name][-1], flush=True)
    return result


def _mean(values: list[float], digits: int = 4) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"


def section(result: dict[str, Any], seconds: float, seeds: str) -> str:
    """The Markdown section."""
    lines = [BEGIN, "### Large batches (`benchmarks/bench_large_batch.py`)", ""]
    lines += [
        f"`python -m benchmarks.bench_large_batch --seeds {seeds} --write`, {seconds:.0f} s; {machine()}.",
        "",
    ]
    lines += [" ".join(__doc__.split("\n\n")[2].split()), ""]
    if "skipped" in result:
        return "\n".join([*lines, f"Skipped: {result['skipped']}", "", END])
    base = result[BASE]
    rows = []
    for name, runs in result.items():
        valid_diff = [r["valid_auc"] - b["valid_auc"] for r, b in zip(runs, base, strict=True)]
        speed = [r["examples_per_s"] / b["examples_per_s"] for r, b in zip(runs, base, strict=True)]
        rows.append(
            [
                name,
                _mean([r["valid_auc"] for r in runs]),
                _mean(valid_diff) if name != BASE else "",
                _mean([r["test_auc"] for r in runs]),
                f"{statistics.mean(r['examples_per_s'] for r in runs):,.0f}",
                f"{statistics.mean(speed):.2f}x" if name != BASE else "",
                _mean([r["seconds"] for r in runs], 1),
                str([r["best_epoch"] for r in runs]),
            ]
        )
    headers = [
        "configuration",
        "valid AUC",
        "valid − defaults, per seed",
        "test AUC",
        "examples/s",
        "/ defaults",
        "wall to final model (s)",
        "best epochs",
    ]
    return "\n".join([*lines, table(headers, rows), "", END])


def main() -> None:
    """Measure; print the section, or write it into BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    result = run(tuple(int(s) for s in args.seeds.split(",")))
    text = section(result, time.perf_counter() - t0, args.seeds)
    print(text)
    if args.write:
        write_marked_section(ROOT / "BENCHMARKS.md", BEGIN, END, text, before="<!-- suite:begin -->")


if __name__ == "__main__":
    main()
