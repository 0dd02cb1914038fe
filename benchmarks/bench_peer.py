"""Ours against the reference's recipe rerun side by side, 10 seeds each: is a gap a gap or a draw?

``../shared/eval/PEER.md`` gives the reference (FuxiCTR 2.3.10) as the mean of 3 seeds. On the 8k
sets one seed's test AUC has a spread (sd) of 0.003–0.016 between seeds (measured here, 2026-11-30),
so a 3-seed mean has a standard error of 0.002–0.009: a goal of "reference + 0.002" compares two
such draws. Here both sides train on the same fixed splits with the same seeds, in one run: ours on
the newcomer path (``bench_quality.train_seeds``), the reference's
recipe with FuxiCTR's own feature processing and trainer (``fuxictr_reference.py``, run by the Python
named in ``MASKNET_FUXICTR_PYTHON``; without it the section says so and measures nothing). Reported
per data set and model: test AUC mean ± sd of each side, their difference with its standard error
(``sqrt(sd1²/n1 + sd2²/n2)``), the goal's margin, and PEER.md's 3-seed figure.

Run: make bench-peer [PEER_ARGS="--data criteo,avazu --models dnn"] (it makes the reference's venv), or
MASKNET_FUXICTR_PYTHON=PYTHON .venv/bin/python -m benchmarks.run_all --only peer [--data ...] [--models ...]
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_quality import DATASETS, MARGIN, auc_summary, peer_figures, train_seeds
from benchmarks.common import ROOT, fixed_splits, met, newcomer_spec, table
from masknet_edge.train.config import MODELS

#: Its section in ``make bench`` (``run_all --only peer``); it accepts ``--data`` / ``--models``.
SECTION, ORDER, PARTIAL = "peer", 61, True

SEEDS = tuple(range(10))
REFERENCE_SCRIPT = ROOT / "benchmarks" / "fuxictr_reference.py"


def reference_runs(
    python: str, folder: Path, work: Path, models: tuple[str, ...], seeds: tuple[int, ...]
) -> list[Any]:
    """The reference's recipe on one split: a dict per run (model, seed, valid_auc, test_auc, seconds)."""
    args = [python, str(REFERENCE_SCRIPT), str(folder), str(work), "--models", ",".join(models)]
    done = subprocess.run(
        [*args, "--seeds", ",".join(map(str, seeds))], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{REFERENCE_SCRIPT.name} failed on {folder}:\n{done.stderr[-3000:]}")
    runs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    missing = {(m, s) for m in models for s in seeds} - {(r["model"], r["seed"]) for r in runs}
    if missing:
        raise RuntimeError(f"{REFERENCE_SCRIPT.name} on {folder} reported no result for {sorted(missing)}")
    return runs


def _side(test: list[float], valid: list[float]) -> dict[str, Any]:
    return {
        **auc_summary(test, valid),
        "runs": len(test),
        "auc": [float(x) for x in test],
    }


def compare(
    ours: dict[str, Any], reference: dict[str, Any], model: str, peer: dict[str, float] | None
) -> dict[str, Any]:
    """One row: both sides, the difference with its standard error, and whether the goal's margin is met."""
    diff = ours["auc_mean"] - reference["auc_mean"]
    se = float(np.sqrt(ours["auc_sd"] ** 2 / ours["runs"] + reference["auc_sd"] ** 2 / reference["runs"]))
    return {
        "ours": ours,
        "reference": reference,
        "difference": diff,
        "difference_se": se,
        "margin": MARGIN[model],
        "met": bool(diff >= MARGIN[model]),
        "peer_auc_mean": peer["auc_mean"] if peer else None,
    }


def run(
    datasets: tuple[str, ...] = DATASETS, seeds: tuple[int, ...] = SEEDS, models: tuple[str, ...] = MODELS
) -> dict[str, Any] | None:
    """Both sides on every data set, model and seed; per ``data/model`` rows, or None (and why, printed)
    where the reference's Python or the data is missing: the earlier figures then stay."""
    python = os.environ.get("MASKNET_FUXICTR_PYTHON")
    if not python:
        print("peer: MASKNET_FUXICTR_PYTHON is not set (a Python with fuxictr==2.3.10: `make bench-peer`)")
        return None
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from masknet_edge.edge_runtime.spec import FeatureSpec

    peer = peer_figures()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="masknet-peer-") as tmp:
        splits = fixed_splits(Path(tmp) / "splits")
        if isinstance(splits, str):
            print(f"peer: {splits}")
            return None
        for name in datasets:
            folder = splits[name]
            theirs = reference_runs(python, folder, Path(tmp) / f"reference-{name}", models, seeds)
            spec = FeatureSpec.load(newcomer_spec(folder / "train.csv", Path(tmp) / f"{name}-spec.json"))
            for model in models:
                r = train_seeds(folder, spec, model, seeds, Path(tmp) / "run")
                ref = [x for x in theirs if x["model"] == model]
                key = f"{name}/{model}"
                results[key] = compare(
                    _side(r["auc"], r["valid_auc"]),
                    _side([x["test_auc"] for x in ref], [x["valid_auc"] for x in ref]),
                    model,
                    peer.get(key),
                )
                print(
                    key, {k: v for k, v in results[key].items() if k not in ("ours", "reference")}, flush=True
                )
    return results


def render(result: Any) -> list[str]:
    """This benchmark's section of BENCHMARKS.md (none when it was not measured)."""
    if not isinstance(result, dict):
        return []
    out = ["## Ours against the reference's recipe rerun, 10 seeds each (`benchmarks/bench_peer.py`)", ""]
    rows = []
    for key, v in result.items():
        ours, ref = v["ours"], v["reference"]
        rows.append(
            [
                key,
                f"{ours['auc_mean']:.4f} ± {ours['auc_sd']:.4f} ({ours['runs']})",
                f"{ref['auc_mean']:.4f} ± {ref['auc_sd']:.4f} ({ref['runs']})",
                f"{v['difference']:+.4f} ± {v['difference_se']:.4f}",
                f">= {v['margin']:+.3f}",
                met(v["met"]),
                f"{v['peer_auc_mean']:.4f}" if v["peer_auc_mean"] is not None else "",
                f"{ours['valid_auc_mean']:.4f} / {ref['valid_auc_mean']:.4f}",
            ]
        )
    return [
        *out,
        "Both sides on the fixed splits with seeds 0–9, in one run. Ours: the newcomer path (`spec infer` "
        "and `train` with their defaults). The reference: PEER.md's recipe with FuxiCTR 2.3.10's feature "
        "processing and trainer (`benchmarks/fuxictr_reference.py`; its MaskNet modules are written from "
        "the paper, batches come from memory). Test AUC mean ± sd (runs); the difference ± its standard "
        "error; the goal's margin over the reference; PEER.md's published 3-seed mean for comparison.",
        "",
        table(
            [
                "data / model",
                "ours",
                "reference rerun",
                "difference ± se",
                "goal",
                "",
                "PEER.md (3 seeds)",
                "valid AUC ours / reference",
            ],
            rows,
        ),
        "",
    ]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
