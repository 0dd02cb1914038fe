"""Every quantization mode side by side: size, single-thread latency (100 candidates), accuracy.

Two models: SerMaskNet trained on MovieLens-100K (seeded 8:1:1 split; ranking = per user over 100
random catalog items, 300 test users) and the Criteo-shaped reference model (criteo-8k; ranking over
slates of 50 consecutive test rows). Accuracy compares each bundle with the float Keras model on the
same encoded rows.

Run: .venv/bin/python -m benchmarks.bench_quant
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import SHARED, met, table

#: Its section in ``make bench`` (``run_all --only quant``) and the place of its table in BENCHMARKS.md.
SECTION, ORDER = "quant", 40

MODES: list[tuple[str, str, dict[str, Any]]] = [
    ("float32", "none", {}),
    ("float16", "float16", {}),
    ("dynamic", "dynamic", {}),
    ("dynamic per-tensor", "dynamic", {"per_tensor": True}),
    ("int8 (LayerNorm float)", "int8", {"keep_float": "layernorm"}),
    ("int8 (full integer)", "int8", {"keep_float": "none"}),
    ("int16x8", "int16x8", {}),
]


def _movielens_run(tmp: Path) -> tuple[Path, Path, list[dict], list[list[dict]]]:
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.config import ModelConfig, TrainConfig
    from masknet_edge.train.datasets import prepare
    from masknet_edge.train.io import read_table
    from masknet_edge.train.pipeline import TrainInputs, train_run

    paths = prepare("movielens", SHARED / "movielens-100k", tmp / "ml", seed=0)
    spec = FeatureSpec.load(paths["spec"])
    run = tmp / "ml-run"
    train_run(
        TrainInputs(paths["train"], paths["valid"], paths["test"]),
        spec,
        run,
        ModelConfig(),
        TrainConfig(epochs=10, seed=0),
        overwrite=True,
        progress=False,
    )
    test = read_table(paths["test"], text_columns=list(spec.text_columns))
    ctx_cols = [spec.column_of(n) for n in spec.columns_of_side("context")]
    item_cols = [spec.column_of(n) for n in spec.columns_of_side("item")]
    items = test.drop_duplicates("item_id")[item_cols].to_dict("records")
    rng = np.random.default_rng(0)
    users = test.drop_duplicates("user_id").sample(300, random_state=0)[ctx_cols].to_dict("records")
    slates = [[{**u, **items[i]} for i in rng.choice(len(items), 100, replace=False)] for u in users]
    return run, paths["test"], users, slates


def _criteo_run(tmp: Path) -> tuple[Path, Path, list[dict], list[list[dict]]]:
    from benchmarks.bench_runtime import build_reference
    from masknet_edge.train.io import read_table

    _, run, data = build_reference(tmp / "criteo", mode="none")
    from masknet_edge.edge_runtime.spec import FeatureSpec

    spec = FeatureSpec.load(run / "spec.json")
    df = read_table(data, text_columns=list(spec.text_columns))
    recs = df[list(spec.input_columns)].to_dict("records")
    slates = [recs[s : s + 50] for s in range(0, len(recs) - 49, 50)]
    return run, data, [{}] * len(slates), slates


def _measure(name: str, run: Path, data: Path, slates: list[list[dict]], tmp: Path) -> list[dict[str, Any]]:
    import keras

    from masknet_edge.cli.conversion import keep_float_ops
    from masknet_edge.convert.check import check_bundle
    from masknet_edge.convert.conversion import convert_run
    from masknet_edge.edge_runtime.ranker import Ranker
    from masknet_edge.train import metrics

    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    from masknet_edge.edge_runtime.encoder import FeatureEncoder
    from masknet_edge.edge_runtime.spec import FeatureSpec

    encoder = FeatureEncoder(FeatureSpec.load(run / "spec.json"))
    encoded = [encoder.encode(slate) for slate in slates]
    floats = [np.asarray(model(x, training=False)).ravel() for x in encoded]
    rows = []
    rankers = {}
    for label, mode, opts in MODES:
        out = tmp / f"{name}-{label.replace(' ', '_').replace('(', '').replace(')', '')}.mnb"
        kf = keep_float_ops(opts.get("keep_float", "none")) if mode == "int8" else ()
        try:
            convert_run(
                run, mode, out, keep_float=kf, progress=False, per_tensor=opts.get("per_tensor", False)
            )
        except Exception as exc:  # report what the converter says, e.g. for int16x8
            rows.append({"mode": label, "error": str(exc).splitlines()[0][:140]})
            continue
        rankers[label] = Ranker.load(out, num_threads=1)
        rep = check_bundle(out, run, data, slate_size=50).report
        overlaps, ndcgs = [], []
        for x, f in zip(encoded, floats, strict=True):
            q = rankers[label].score_inputs(x)
            overlaps.append(metrics.topk_overlap(f, q, 10))
            ndcgs.append(metrics.ndcg_at_k(f, q, 10))
        rows.append(
            {
                "mode": label,
                "bundle_bytes": out.stat().st_size,
                "model_bytes": rankers[label].bundle.manifest.parts["model.tflite"]["size"],
                "auc": rep["bundle_model"]["auc"],
                "auc_drop": rep["auc_drop"],
                "logloss_increase": rep["logloss_increase"],
                "max_abs_diff": rep["scores"]["max_abs_diff"],
                "spearman": rep["scores"]["spearman"],
                "topk_overlap": float(np.mean(overlaps)),
                "ndcg": float(np.mean(ndcgs)),
            }
        )
    # latency side by side: interleave the bundles, 100 candidates, one thread
    x100 = rankers[MODES[0][0]].encoder.encode([r for s in slates for r in s][:100])
    times: dict[str, list[float]] = {k: [] for k in rankers}
    for _ in range(300):
        for k, r in rankers.items():
            t = time.perf_counter()
            r.score_inputs(x100)
            times[k].append(time.perf_counter() - t)
    base = rows[0]["bundle_bytes"]
    for row in rows:
        if "error" in row:
            continue
        row["invoke_p50_ms"] = float(np.percentile(times[row["mode"]], 50) * 1e3)
        row["bundle_ratio"] = row["bundle_bytes"] / base
    return rows


def run() -> dict[str, Any]:
    """Both models, every mode."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="masknet-quant-") as t:
        tmp = Path(t)
        if (SHARED / "movielens-100k").is_dir():
            run_dir, data, _, slates = _movielens_run(tmp)
            out["movielens"] = _measure("ml", run_dir, data, slates, tmp)
        else:
            out["movielens"] = "skipped: ../shared/data/movielens-100k not found"
        run_dir, data, _, slates = _criteo_run(tmp)
        out["criteo"] = _measure("criteo", run_dir, data, slates, tmp)
    return out


def render(result: Any) -> list[str]:
    """This benchmark's section of BENCHMARKS.md (none when it was not measured)."""
    out: list[str] = []
    if isinstance(result, dict):
        out += ["## Quantization modes (`benchmarks/bench_quant.py`)", ""]
        for name, rows in result.items():
            if not isinstance(rows, list):
                out += [f"{name}: {rows}", ""]
                continue
            title = (
                "MovieLens-100K SerMaskNet (seed 0 split; top-10 overlap and NDCG@10 per user over 100 random "
                "items, 300 users)"
                if name == "movielens"
                else "Criteo-shaped reference model (criteo-8k; slates of 50 consecutive test rows)"
            )
            out += [f"### {title}", ""]
            body = []
            for x in rows:
                if "error" in x:
                    body.append([x["mode"], "", "", "", "", "", "", "", "", x["error"]])
                    continue
                body.append(
                    [
                        x["mode"],
                        f"{x['bundle_bytes'] / 1024:.0f}",
                        f"{x['model_bytes'] / 1024:.0f}" if "model_bytes" in x else "",
                        x["bundle_ratio"],
                        x["invoke_p50_ms"],
                        x["auc"],
                        x["auc_drop"],
                        x["topk_overlap"],
                        x["ndcg"],
                        f"Spearman {x['spearman']:.4f}",
                    ]
                )
            out += [
                table(
                    [
                        "mode",
                        "bundle KiB",
                        "model.tflite KiB",
                        "size / float",
                        "invoke p50 ms (100)",
                        "AUC",
                        "AUC drop",
                        "top-10 overlap",
                        "NDCG@10",
                        "",
                    ],
                    body,
                ),
                "",
            ]
            by = {x["mode"]: x for x in rows if "error" not in x}
            goals = []
            if "dynamic" in by:
                d = by["dynamic"]
                goals.append(["dynamic: AUC drop <= 0.0005", d["auc_drop"], met(d["auc_drop"] <= 0.0005)])
                goals.append(
                    ["dynamic: top-10 overlap >= 0.98", d["topk_overlap"], met(d["topk_overlap"] >= 0.98)]
                )
                goals.append(
                    ["dynamic: size <= 0.27 x float", d["bundle_ratio"], met(d["bundle_ratio"] <= 0.27)]
                )
            i8 = by.get("int8 (LayerNorm float)")
            if i8:
                goals.append(["int8: AUC drop <= 0.002", i8["auc_drop"], met(i8["auc_drop"] <= 0.002)])
                goals.append(
                    ["int8: top-10 overlap >= 0.95", i8["topk_overlap"], met(i8["topk_overlap"] >= 0.95)]
                )
                goals.append(
                    ["int8: size <= 0.27 x float", i8["bundle_ratio"], met(i8["bundle_ratio"] <= 0.27)]
                )
            out += [table(["goal", "measured", ""], goals), ""]
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
