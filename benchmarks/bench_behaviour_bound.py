"""How much of the shop world's static-to-oracle gap behaviour can close at all (issue #28's 0.70 goal).

    python -m benchmarks.bench_behaviour_bound [--seeds 0,1,2] [--write]   (~5 minutes on 2 cores)

The shop world with sessions plants its behaviour term in the click logit: ``logit(true_ctr) =
logit(static_ctr) + BOOST * sum exp(-age / TAU)`` (train/shopsessions.py). ``bench_behaviour``
measures the share of the gap between the static model's test AUC and the oracle's that the
behaviour fields close. Its ceiling, for a given static model, is that model's logit plus the exact
planted term: what a model would reach that learned the behaviour perfectly and the static part no
better. Per seed: the static model trained as ``bench_behaviour`` trains it, then the test AUC of
``logit(static prediction) + (logit(true_ctr) - logit(static_ctr))``, and of ``static_ctr`` itself
(a static model without error).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_behaviour import _masknet, replayed_world
from benchmarks.common import ROOT, machine, table, write_marked_section

BEGIN, END = "<!-- behaviour-bound:begin -->", "<!-- behaviour-bound:end -->"


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def bound(work: Path, seeds: list[int]) -> list[dict[str, Any]]:
    """Per seed: static model, static model + exact planted term, ideal static and oracle test AUC."""
    import keras
    import pandas as pd

    import masknet_edge.train.layers  # noqa: F401  (registers the layers for loading)
    from masknet_edge.edge_runtime.encoder import FeatureEncoder
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.metrics import auc
    from masknet_edge.train.shopsessions import session_spec_dict

    rep = replayed_world(work)
    FeatureSpec.from_dict(session_spec_dict(behaviour=False)).save(work / "static.json")
    test = pd.read_csv(rep / "test.csv", dtype=str, keep_default_na=False)
    y = test["click"].astype(int).to_numpy()
    static_ctr, true_ctr = (test[c].astype(float).to_numpy() for c in ("static_ctr", "true_ctr"))
    planted = _logit(true_ctr) - _logit(static_ctr)
    rows = []
    for seed in seeds:
        run = work / f"run-{seed}"
        files = [f"--{s}={rep / (s + '.csv')}" for s in ("train", "valid", "test")]
        got = _masknet(
            "train", "--spec", str(work / "static.json"), *files, "--seed", str(seed), "--out", str(run)
        )
        model = keras.saving.load_model(run / "model.keras", safe_mode=True)
        inputs = FeatureEncoder(FeatureSpec.load(run / "spec.json")).encode(test.to_dict("records"))
        pred = np.asarray(model.predict(inputs, batch_size=4096, verbose=0)).ravel()
        static, oracle = auc(y, pred), auc(y, true_ctr)
        ceiling = auc(y, _logit(pred) + planted)
        rows.append(
            {
                "seed": seed,
                "static": static,
                "reported": got["test"]["auc"],
                "ceiling": ceiling,
                "ideal_static": auc(y, static_ctr),
                "oracle": oracle,
                "share": (ceiling - static) / (oracle - static),
            }
        )
    return rows


def section(seconds: float, seeds: list[int], rows: list[dict[str, Any]]) -> str:
    """The Markdown section."""
    shares = [r["share"] for r in rows]
    sd = statistics.stdev(shares) if len(shares) > 1 else 0.0
    body = [
        [
            r["seed"],
            f"{r['static']:.4f}",
            f"{r['ceiling']:.4f}",
            f"{r['ideal_static']:.4f}",
            f"{r['oracle']:.4f}",
            f"{r['share']:.3f}",
        ]
        for r in rows
    ]
    return "\n".join(
        [
            BEGIN,
            "### How much of the gap behaviour can close on the shop world",
            "",
            f"`python -m benchmarks.bench_behaviour_bound --seeds {','.join(map(str, seeds))} --write`, "
            f"{seconds:.0f} s; {machine()}.",
            "",
            "The static model of each seed (as above), its test predictions' logit plus the exact planted "
            "behaviour term (`logit(true_ctr) - logit(static_ctr)`): what a model reaches that learned the "
            "behaviour perfectly and the static part no better. The share of the gap it closes is the ceiling "
            "of the share above; the rest of the gap is the static part's own error (the ideal static column: "
            "`static_ctr` itself).",
            "",
            table(
                [
                    "seed",
                    "static model",
                    "static model + exact behaviour",
                    "ideal static",
                    "oracle",
                    "share closable",
                ],
                body,
            ),
            "",
            f"Share closable by behaviour alone: mean **{statistics.mean(shares):.3f} ± {sd:.3f}**.",
            "",
            END,
        ]
    )


def main() -> None:
    """Measure the ceiling; print the section, or write it into BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = bound(Path(tmp), seeds)
    text = section(time.perf_counter() - t0, seeds, rows)
    print(text)
    if args.write:
        write_marked_section(
            ROOT / "BENCHMARKS.md", BEGIN, END, text, before="<!-- behaviour-features:begin -->"
        )


if __name__ == "__main__":
    main()
