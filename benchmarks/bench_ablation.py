"""Why MaskNet trails the DNN on MovieLens-100K: ablations on the seed-0 split.

Every run uses the defaults of bench_quality except the change named; reported: valid / test AUC,
the best epoch, and the gap between the training loss and the validation logloss two epochs after the
best one (a large gap = memorising the training set).

Run: .venv/bin/python -m benchmarks.bench_ablation
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import SHARED

VARIANTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("SerMaskNet (paper defaults)", {}, {}),
    ("SerMaskNet without LN-EMB", {"ln_emb": False}, {}),
    ("SerMaskNet, blocks of 64", {"block_units": 64}, {}),
    ("SerMaskNet, 1 block", {"num_blocks": 1}, {}),
    ("SerMaskNet, learning rate 3e-4", {}, {"learning_rate": 3e-4}),
    ("SerMaskNet, embedding L2 1e-4", {"embeddings_l2": 1e-4}, {}),
    ("SerMaskNet, dropout 0.5", {"dropout": 0.5}, {"epochs": 20, "patience": 3}),
    ("ParaMaskNet, dropout 0.5", {"model": "paramasknet", "dropout": 0.5}, {"epochs": 20, "patience": 3}),
    ("DNN (defaults)", {"model": "dnn"}, {}),
    ("DNN, up to 30 epochs", {"model": "dnn"}, {"epochs": 30, "patience": 3}),
]


def run() -> list[dict[str, Any]] | str:
    """Train every variant once on the same split."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not (SHARED / "movielens-100k").is_dir():
        return "skipped: ../shared/data/movielens-100k not found"
    from edge_runtime.spec import FeatureSpec
    from train.config import ModelConfig, TrainConfig
    from train.datasets import prepare
    from train.pipeline import TrainInputs, train_run

    out = []
    with tempfile.TemporaryDirectory(prefix="masknet-ablation-") as t:
        paths = prepare("movielens", SHARED / "movielens-100k", Path(t) / "ml", seed=0)
        spec = FeatureSpec.load(paths["spec"])
        for label, model_kw, train_kw in VARIANTS:
            run_dir = Path(t) / "run"
            tc = {"epochs": 10, "patience": 2, "seed": 0, **train_kw}
            m = train_run(
                TrainInputs(paths["train"], paths["valid"], paths["test"]),
                spec,
                run_dir,
                ModelConfig(**model_kw),
                TrainConfig(**tc),
                overwrite=True,
                progress=False,
            )
            hist = json.loads((run_dir / "history.json").read_text())
            later = hist[min(m["best_epoch"] + 1, len(hist) - 1)]
            out.append(
                {
                    "variant": label,
                    "valid_auc": m["valid"]["auc"],
                    "test_auc": m["test"]["auc"],
                    "best_epoch": m["best_epoch"],
                    "epochs_run": len(hist),
                    "overfit_gap": later["val_logloss"] - later["loss"],
                }
            )
            print(out[-1], flush=True)
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
