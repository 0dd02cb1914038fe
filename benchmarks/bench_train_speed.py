"""Training throughput of the new defaults against the previous ones, side by side in one process.

MovieLens-100K fixed split, SerMaskNet, 3 epochs per run (no early stopping), alternating A B A B so
that machine load hits both alike. Examples/s of a run = training rows / median seconds of its epochs
2 and 3 (epoch 1 also traces the graph). ``before``: the previous newcomer path (hashed ids with 2x
buckets, batch 1024, no dropout); ``after, batch 1024``: today's ``spec infer`` and ``ModelConfig``
defaults at the same batch size (the same model trained the same way: what the code costs);
``after``: today's defaults, batch included (smaller batches, more steps: what a newcomer waits).

Run: .venv/bin/python -m benchmarks.bench_train_speed
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import fixed_splits, newcomer_spec, table, train_examples_per_s

#: Its section in ``make bench`` (``run_all --only train_speed``) and the place of its table in BENCHMARKS.md.
SECTION, ORDER = "train_speed", 70


def run(rounds: int = 4) -> dict[str, Any] | str:
    """Examples/s of each configuration (median over rounds) and the ratios to ``before``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from benchmarks.bench_ablation import _respec
    from masknet_edge.train.config import DEFAULT_BATCH_SIZE, ModelConfig, TrainConfig

    with tempfile.TemporaryDirectory(prefix="masknet-speed-") as t:
        splits = fixed_splits(Path(t) / "splits")
        if isinstance(splits, str):
            return splits
        folder = splits["movielens"]
        new_spec = newcomer_spec(folder / "train.csv", Path(t) / "new.json")
        old_spec = Path(t) / "old.json"
        newcomer_spec(folder / "train.csv", old_spec)
        _respec(old_spec, folder / "train.csv", {"hash_factor": 2})
        configs = {
            "before": (old_spec, ModelConfig(dropout=0.0), {"batch_size": 1024}),
            "after, batch 1024": (new_spec, ModelConfig(), {"batch_size": 1024}),
            "after": (new_spec, ModelConfig(), {}),
        }
        eps: dict[str, list[float]] = {k: [] for k in configs}
        for _ in range(rounds):
            for label, (spec_path, mc, tc) in configs.items():
                eps[label].append(train_examples_per_s(folder, spec_path, Path(t) / "run", mc, **tc)[0])
                print(label, round(eps[label][-1]), flush=True)
    med = {k: float(np.median(v)) for k, v in eps.items()}
    return {
        "examples_per_s": med,
        "runs": eps,
        "ratio_after": med["after"] / med["before"],
        "ratio_after_same_batch": med["after, batch 1024"] / med["before"],
        "batch_size_after": TrainConfig().batch_size or DEFAULT_BATCH_SIZE,
        "dropout_after": ModelConfig().dropout,
    }


def render(result: Any) -> list[str]:
    """This benchmark's section of BENCHMARKS.md (none when it was not measured)."""
    out: list[str] = []
    if isinstance(result, dict):
        e = result["examples_per_s"]
        out += [
            "## Training throughput, before and after (`benchmarks/bench_train_speed.py`)",
            "",
            "MovieLens-100K fixed split, SerMaskNet, 3 epochs per run, configurations alternated in one process; "
            "a run's figure is rows / median seconds of epochs 2-3, the table the median over runs. `before`: "
            "hashed ids with 2x buckets, batch 1024, no dropout (the previous newcomer path); "
            "`after, batch 1024`: today's spec and model defaults at the same batch size (what the code costs "
            f"for the same training); `after`: today's defaults (batch {result['batch_size_after']}, dropout "
            f"{result['dropout_after']}; more, smaller steps per epoch: what a newcomer waits).",
            "",
            table(
                ["configuration", "examples/s", "/ before"],
                [[k, v, v / e["before"]] for k, v in e.items()],
            ),
            "",
        ]
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
