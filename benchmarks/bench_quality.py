"""Quality on real data: SerMaskNet, ParaMaskNet, DNN and LR on MovieLens-100K, Criteo and Avazu samples.

Each data set goes through `masknet data prepare` (MovieLens: seeded 8:1:1 random split, label
rating >= 4, genres multi-valued; Criteo/Avazu: their train/dev/test files), then every model trains
with the same defaults (paper: k=10, 3 blocks of 400, reduction ratio 2, Adam 1e-3, batch 1024,
early stopping on validation AUC with patience 2, at most 10 epochs) for 3 seeds. Reported: test AUC
and logloss, mean ± std over seeds, and training examples per second on this CPU.

Run: .venv/bin/python -m benchmarks.bench_quality
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import SHARED

MODELS = ("sermasknet", "paramasknet", "dnn", "lr")
SEEDS = (0, 1, 2)
DATASETS = {"movielens": "movielens-100k", "criteo": "criteo-8k", "avazu": "avazu-8k"}


def run(datasets: tuple[str, ...] = tuple(DATASETS), seeds: tuple[int, ...] = SEEDS) -> dict[str, Any]:
    """Train every model on every data set for every seed; returns per (data set, model) summaries."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from edge_runtime.spec import FeatureSpec
    from train.config import ModelConfig, TrainConfig
    from train.datasets import prepare
    from train.pipeline import TrainInputs, train_run

    if not SHARED.is_dir():
        return {"skipped": f"{SHARED} not found"}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="masknet-quality-") as tmp:
        for name in datasets:
            for seed in seeds:
                paths = prepare(name, SHARED / DATASETS[name], Path(tmp) / f"{name}-{seed}", seed=seed)
                spec = FeatureSpec.load(paths["spec"])
                for model in MODELS:
                    m = train_run(
                        TrainInputs(paths["train"], paths["valid"], paths["test"]),
                        spec,
                        Path(tmp) / f"run-{name}-{model}-{seed}",
                        ModelConfig(model=model),
                        TrainConfig(epochs=10, patience=2, seed=seed),
                        overwrite=True,
                        progress=False,
                    )
                    r = results.setdefault(
                        f"{name}/{model}", {"auc": [], "logloss": [], "eps": [], "epochs": []}
                    )
                    r["auc"].append(m["test"]["auc"])
                    r["logloss"].append(m["test"]["logloss"])
                    r["eps"].append(m["train_examples_per_s"])
                    r["epochs"].append(m["best_epoch"])
                    print(f"{name} {model} seed {seed}: test AUC {m['test']['auc']:.4f}", flush=True)
    summary = {}
    for key, r in results.items():
        summary[key] = {
            "auc_mean": float(np.mean(r["auc"])),
            "auc_std": float(np.std(r["auc"])),
            "logloss_mean": float(np.mean(r["logloss"])),
            "logloss_std": float(np.std(r["logloss"])),
            "examples_per_s": float(np.mean(r["eps"])),
            "best_epochs": r["epochs"],
            "seeds": len(r["auc"]),
        }
    return summary


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
