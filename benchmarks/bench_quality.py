"""Quality on real data against the reference: the newcomer path on the fixed splits, 3 seeds, every model.

The newcomer path: ``masknet spec infer train.csv --label label`` with its defaults, then ``masknet
train`` with its defaults and ``--model``, on the fixed splits of ``../shared/eval/make_splits.py``
(MovieLens-100K, Criteo-8k, Avazu-8k), seeds 0, 1, 2 (initialisation and shuffling; the splits are
fixed). Reported: test AUC mean ± sd next to the reference figures of ``../shared/eval/PEER.md``
(FuxiCTR 2.3.10 on the same files), training examples/s and best epochs.

Run: .venv/bin/python -m benchmarks.bench_quality
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ROOT, fixed_splits, met, newcomer_spec, table
from masknet_edge.train.config import MODELS

#: Its section in ``make bench`` (``run_all --only quality``), the place of its table in BENCHMARKS.md,
#: and that it takes ``--data`` / ``--models`` (a rerun of some keeps the others' rows).
SECTION, ORDER, PARTIAL = "quality", 60, True

SEEDS = (0, 1, 2)
DATASETS = ("movielens", "criteo", "avazu")
PEER = ROOT.parent / "shared" / "eval" / "PEER.md"
_PEER_DATA = {"MovieLens-100K": "movielens", "Criteo-8k": "criteo", "Avazu-8k": "avazu"}
_PEER_MODEL = {"SerMaskNet": "sermasknet", "ParaMaskNet": "paramasknet", "DNN": "dnn", "LR": "lr"}
#: The goal per model: MaskNet must beat the reference's same model by this margin, baselines match it.
MARGIN = {"sermasknet": 0.002, "paramasknet": 0.002, "dnn": 0.0, "lr": 0.0}


def peer_figures(path: Path = PEER) -> dict[str, dict[str, float]]:
    """The reference's test AUC mean and sd per ``data/model``, read from PEER.md's table."""
    if not path.is_file():
        return {}
    out = {}
    row = re.compile(r"^\|\s*([\w-]+)\s*\|\s*(\w+)\s*\|\s*([0-9.]+)\s*±\s*([0-9.]+)\s*\|")
    for line in path.read_text().splitlines():
        m = row.match(line)
        if m and m.group(1) in _PEER_DATA and m.group(2) in _PEER_MODEL:
            key = f"{_PEER_DATA[m.group(1)]}/{_PEER_MODEL[m.group(2)]}"
            out[key] = {"auc_mean": float(m.group(3)), "auc_sd": float(m.group(4))}
    return out


def auc_summary(test: list[float], valid: list[float]) -> dict[str, float]:
    """Test AUC mean and sample sd (0 for one seed) and validation AUC mean over the seeds."""
    return {
        "auc_mean": float(np.mean(test)),
        "auc_sd": float(np.std(test, ddof=1)) if len(test) > 1 else 0.0,
        "valid_auc_mean": float(np.mean(valid)),
    }


def train_seeds(
    folder: Path, spec: Any, model: str, seeds: tuple[int, ...], work: Path, **train_kw: Any
) -> dict[str, list[Any]]:
    """Train ``model`` with its defaults (``TrainConfig`` settings ``train_kw`` changed) once per seed
    on the split in ``folder``; per-seed figures, ``seconds`` from the start to the final model on disk."""
    from masknet_edge.train.config import ModelConfig, TrainConfig
    from masknet_edge.train.pipeline import TrainInputs, train_run

    r: dict[str, list[Any]] = {
        "auc": [],
        "valid_auc": [],
        "logloss": [],
        "eps": [],
        "epochs": [],
        "batch": [],
        "seconds": [],
    }
    for seed in seeds:
        started = time.perf_counter()
        m = train_run(
            TrainInputs(folder / "train.csv", folder / "valid.csv", folder / "test.csv"),
            spec,
            work,
            ModelConfig(model=model),
            TrainConfig(seed=seed, **train_kw),
            overwrite=True,
            progress=False,
        )
        r["seconds"].append(time.perf_counter() - started)  # start to the final model on disk
        r["auc"].append(m["test"]["auc"])
        r["valid_auc"].append(m["valid"]["auc"])
        r["logloss"].append(m["test"]["logloss"])
        r["eps"].append(m["train_examples_per_s"])
        r["epochs"].append(m["best_epoch"])
        r["batch"].append(m.get("batch_size"))
        print(f"{folder.name} {model} seed {seed}: test AUC {m['test']['auc']:.4f}", flush=True)
    return r


def run(
    datasets: tuple[str, ...] = DATASETS, seeds: tuple[int, ...] = SEEDS, models: tuple[str, ...] = MODELS
) -> dict[str, Any]:
    """Train every model on every data set for every seed; returns per ``data/model`` summaries."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from masknet_edge.edge_runtime.spec import FeatureSpec

    peer = peer_figures()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="masknet-quality-") as tmp:
        splits = fixed_splits(Path(tmp) / "splits")
        if isinstance(splits, str):
            return {"skipped": splits}
        for name in datasets:
            folder = splits[name]
            spec = FeatureSpec.load(newcomer_spec(folder / "train.csv", Path(tmp) / f"{name}-spec.json"))
            for model in models:
                r = train_seeds(folder, spec, model, seeds, Path(tmp) / "run")
                key = f"{name}/{model}"
                ref = peer.get(key)
                aucs = auc_summary(r["auc"], r["valid_auc"])
                mean = aucs["auc_mean"]
                results[key] = {
                    **aucs,
                    "logloss_mean": float(np.mean(r["logloss"])),
                    "examples_per_s": float(np.mean(r["eps"])),
                    "best_epochs": r["epochs"],
                    "batch_size": r["batch"][0] if r["batch"] else None,
                    "seeds": len(seeds),
                    "peer_auc_mean": ref["auc_mean"] if ref else None,
                    "peer_auc_sd": ref["auc_sd"] if ref else None,
                    "goal": (ref["auc_mean"] + MARGIN[model]) if ref else None,
                    "met": (mean >= ref["auc_mean"] + MARGIN[model]) if ref else None,
                }
    return results


def render(result: Any) -> list[str]:
    """This benchmark's section of BENCHMARKS.md (none when it was not measured)."""
    out: list[str] = []
    if isinstance(result, dict):
        out += ["## Quality on real data against the reference (`benchmarks/bench_quality.py`)", ""]
        if "skipped" in result:
            out += [f"Skipped: {result['skipped']}", ""]
        else:
            out += [
                "The newcomer path on the fixed splits of `../shared/eval/make_splits.py`: `masknet spec infer "
                "train.csv --label label` with its defaults, then `masknet train` with its defaults and `--model`; "
                "seeds 0, 1, 2 (initialisation and shuffling). Test AUC mean ± sd next to the reference figures "
                "of `../shared/eval/PEER.md` (FuxiCTR 2.3.10 on the same files). Goal: MaskNet >= the "
                "reference's same model + 0.002, DNN and LR >= the reference's.",
                "",
                table(
                    [
                        "data / model",
                        "test AUC",
                        "reference",
                        "difference",
                        "goal",
                        "",
                        "valid AUC",
                        "train examples/s (CPU)",
                        "batch",
                        "best epochs",
                    ],
                    [
                        [
                            k,
                            f"{v['auc_mean']:.4f} ± {v['auc_sd']:.4f}",
                            f"{v['peer_auc_mean']:.4f} ± {v['peer_auc_sd']:.4f}"
                            if v["peer_auc_mean"]
                            else "",
                            f"{v['auc_mean'] - v['peer_auc_mean']:+.4f}" if v["peer_auc_mean"] else "",
                            f">= {v['goal']:.4f}" if v["goal"] else "",
                            met(v["met"]) if v["met"] is not None else "",
                            v["valid_auc_mean"],
                            v["examples_per_s"],
                            v.get("batch_size") or "1024",
                            str(v["best_epochs"]),
                        ]
                        for k, v in result.items()
                    ],
                ),
                "",
            ]
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
