"""`make bench`: run every benchmark side by side in one run and rewrite BENCHMARKS.md / RELIABILITY.md.

Run: .venv/bin/python -m benchmarks.run_all [--only encoder,runtime,quant,memory,quality,reliability]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import time
import traceback
from typing import Any

from benchmarks.common import ROOT, machine, table

SECTIONS = (
    "encoder",
    "jvm",
    "runtime",
    "quant",
    "memory",
    "quality",
    "train_speed",
    "ablation",
    "reliability",
    "hostile",
)
RESULTS = ROOT / "benchmarks" / "results.json"


def _run(name: str) -> Any:
    if name == "encoder":
        from benchmarks import bench_encoder as m
    elif name == "jvm":
        from benchmarks import bench_jvm as m
    elif name == "runtime":
        from benchmarks import bench_runtime as m
    elif name == "quant":
        from benchmarks import bench_quant as m
    elif name == "memory":
        from benchmarks import bench_memory as m
    elif name == "quality":
        from benchmarks import bench_quality as m
    elif name == "train_speed":
        from benchmarks import bench_train_speed as m
    elif name == "ablation":
        from benchmarks import bench_ablation as m
    elif name == "reliability":
        from benchmarks import bench_reliability as m
    elif name == "hostile":
        from benchmarks import bench_hostile as m
    else:
        raise ValueError(f"Expected a section in {SECTIONS}. Received: {name!r}")
    return m.run()


def _runs(meta: dict[str, Any]) -> str:
    """Which sections were measured in which run (a partial run keeps the other sections' figures)."""
    runs = meta.get("runs") or [
        {"date": meta["date"], "sections": meta.get("sections", []), "seconds": meta.get("seconds", 0)}
    ]
    parts = [f"{', '.join(r['sections'])} ({r['date']}, one run of {r['seconds']:.0f} s)" for r in runs]
    return "Sections by run: " + "; ".join(parts) + "."


def _ok(flag: bool) -> str:
    return "met" if flag else "**not met**"


def render(results: dict[str, Any], meta: dict[str, Any]) -> str:
    """BENCHMARKS.md from the results."""
    out = [
        "# Benchmarks",
        "",
        f"Measured {meta['date']} on {meta['machine']}, with `make bench` "
        f"(`.venv/bin/python -m benchmarks.run_all`; one section: `--only NAME`). {_runs(meta)} "
        "Absolute times on this shared 2-core machine are noisy; comparisons are ratios measured side by "
        "side in the same process. Raw numbers: `benchmarks/results.json`.",
        "",
    ]
    e = results.get("encoder")
    if isinstance(e, dict):
        out += [
            "## Encoder throughput (`benchmarks/bench_encoder.py`)",
            "",
            "Columnar batches of Criteo-shaped rows (13 log1p-standardized numerics + 26 hashed categoricals), "
            "one core, best of 5.",
            "",
            table(
                ["workload", "field values / s", "goal", ""],
                [
                    [
                        "all-distinct values (cold cache, 20,000 rows)",
                        e["distinct_values_per_s"],
                        ">= 2,000,000",
                        _ok(e["distinct_values_per_s"] >= 2e6),
                    ],
                    [
                        "criteo-8k rows (values repeat; warm cache)",
                        e.get("real_values_per_s") or float("nan"),
                        ">= 10,000,000",
                        _ok((e.get("real_values_per_s") or 0) >= 1e7),
                    ],
                ],
            ),
            "",
            "How: categorical values are looked up per field in a dict from text to the final id (C-level "
            "`map(dict.get)` and one `np.fromiter`); only unseen values are canonicalised and hashed with "
            "FarmHash. Numerics of all fields are transformed as one 2-D block.",
            "",
        ]
    r = results.get("runtime")
    if isinstance(r, dict):
        out += [
            "## Device runtime (`benchmarks/bench_runtime.py`)",
            "",
            "Reference model: SerMaskNet in the paper's Criteo shape (13 numeric + 26 categorical fields, k = 10, "
            "3 serial blocks of 400, reduction ratio 2), one epoch on criteo-8k, `--quantize dynamic`, single "
            "thread, 100 candidates as raw dicts.",
            "",
            table(
                ["figure", "measured", "goal", ""],
                [
                    [
                        "whole request p50 / invoke p50",
                        r["request_over_invoke"],
                        "<= 1.3",
                        _ok(r["request_over_invoke"] <= 1.3),
                    ],
                    ["invoke p50 (ms)", r["invoke_ms"], "", ""],
                    ["whole request p50 (ms)", r["request_ms"], "", ""],
                    ["Keras float, tf.function, 1 thread (ms)", r["keras_tf_function_ms"], "", ""],
                    [
                        "speed-up of invoke vs Keras tf.function",
                        r["speedup_vs_keras_tf_function"],
                        ">= 3",
                        _ok(r["speedup_vs_keras_tf_function"] >= 3),
                    ],
                    ["speed-up of invoke vs Keras `model.predict`", r["speedup_vs_keras_predict"], "", ""],
                    ["import + load (s)", r["import_load_s"], "<= 0.3", _ok(r["import_load_s"] <= 0.3)],
                    [
                        "peak RSS after import + load (MB)",
                        r["load_rss_mb"],
                        f"<= {r['rss_budget_mb']:.1f} (100 + model)",
                        _ok(r["load_rss_mb"] <= r["rss_budget_mb"]),
                    ],
                    [
                        "TensorFlow imported by the runtime",
                        str(r["tensorflow_imported"]),
                        "False",
                        _ok(not r["tensorflow_imported"]),
                    ],
                    [
                        "for comparison: `import tensorflow` (s / MB)",
                        f"{r['tf_import_s']:.2f} / {r['tf_import_rss_mb']:.0f}",
                        "",
                        "",
                    ],
                    ["catalog of 10,000 items, one user (ms)", r["catalog_10k_ms"], "", ""],
                    ["invoke of 10,000 pre-encoded rows (ms)", r["invoke_10k_ms"], "", ""],
                    [
                        "catalog / invoke",
                        r["catalog_over_invoke"],
                        "<= 1.1",
                        _ok(r["catalog_over_invoke"] <= 1.1),
                    ],
                    ["10,000 raw dicts without the catalog (ms)", r["raw_dicts_10k_ms"], "", ""],
                ],
            ),
            "",
        ]
    q = results.get("quant")
    if isinstance(q, dict):
        out += ["## Quantization modes (`benchmarks/bench_quant.py`)", ""]
        for name, rows in q.items():
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
                goals.append(["dynamic: AUC drop <= 0.0005", d["auc_drop"], _ok(d["auc_drop"] <= 0.0005)])
                goals.append(
                    ["dynamic: top-10 overlap >= 0.98", d["topk_overlap"], _ok(d["topk_overlap"] >= 0.98)]
                )
                goals.append(
                    ["dynamic: size <= 0.27 x float", d["bundle_ratio"], _ok(d["bundle_ratio"] <= 0.27)]
                )
            i8 = by.get("int8 (LayerNorm float)")
            if i8:
                goals.append(["int8: AUC drop <= 0.002", i8["auc_drop"], _ok(i8["auc_drop"] <= 0.002)])
                goals.append(
                    ["int8: top-10 overlap >= 0.95", i8["topk_overlap"], _ok(i8["topk_overlap"] >= 0.95)]
                )
                goals.append(
                    ["int8: size <= 0.27 x float", i8["bundle_ratio"], _ok(i8["bundle_ratio"] <= 0.27)]
                )
            out += [table(["goal", "measured", ""], goals), ""]
    m = results.get("memory")
    if isinstance(m, list):
        out += [
            "## Training memory when streaming (`benchmarks/bench_memory.py`)",
            "",
            "Generated shop rows, one epoch, `in_memory_rows=0`, `chunk_rows=100,000`, batch 4096, small SerMaskNet, "
            "each size in a fresh process.",
            "",
            table(
                ["rows", "CSV MB", "peak RSS MB", "examples / s"],
                [[x["rows"], x["file_mb"], x["peak_rss_mb"], x["examples_per_s"]] for x in m],
            ),
            "",
        ]
        if len(m) >= 2:
            out += [
                f"Peak RSS ratio {m[-1]['rows'] // m[0]['rows']}x rows: "
                f"{m[-1]['peak_rss_mb'] / m[0]['peak_rss_mb']:.2f}x.",
                "",
            ]
    qual = results.get("quality")
    if isinstance(qual, dict):
        out += ["## Quality on real data against the reference (`benchmarks/bench_quality.py`)", ""]
        if "skipped" in qual:
            out += [f"Skipped: {qual['skipped']}", ""]
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
                            _ok(v["met"]) if v["met"] is not None else "",
                            v["valid_auc_mean"],
                            v["examples_per_s"],
                            v.get("batch_size") or "1024",
                            str(v["best_epochs"]),
                        ]
                        for k, v in qual.items()
                    ],
                ),
                "",
            ]
    jv = results.get("jvm")
    if isinstance(jv, dict):
        out += [
            "## The reference JVM encoder (`benchmarks/bench_jvm.py`)",
            "",
            "A shop-world bundle's golden records (training rows and the edge cases of every field) repeated to "
            f"{jv['rows']} rows of {jv['fields']} raw fields, caches warm, one thread; {jv['conformance']}.",
            "",
            table(
                ["encoder", "field values / s", "goal", ""],
                [
                    [
                        "JVM (ports/jvm, Java 17 + Guava)",
                        float(jv["jvm_field_values_per_s"]),
                        ">= 1,000,000",
                        _ok(jv["jvm_field_values_per_s"] >= 1e6),
                    ],
                    ["Python (edge_runtime)", jv["python_field_values_per_s"], "", ""],
                ],
            ),
            "",
        ]
    elif isinstance(jv, str):
        out += ["## The reference JVM encoder (`benchmarks/bench_jvm.py`)", "", jv, ""]
    sp = results.get("train_speed")
    if isinstance(sp, dict):
        e = sp["examples_per_s"]
        out += [
            "## Training throughput, before and after (`benchmarks/bench_train_speed.py`)",
            "",
            "MovieLens-100K fixed split, SerMaskNet, 3 epochs per run, configurations alternated in one process; "
            "a run's figure is rows / median seconds of epochs 2-3, the table the median over runs. `before`: "
            "hashed ids with 2x buckets, batch 1024, no dropout (the previous "
            f"newcomer path); `after`: today's defaults (batch {sp['batch_size_after']}, dropout "
            f"{sp['dropout_after']}).",
            "",
            table(
                ["configuration", "examples/s", "/ before"],
                [[k, v, v / e["before"]] for k, v in e.items()],
            ),
            "",
        ]
    ab = results.get("ablation")
    if isinstance(ab, list):
        out += [
            "## How the defaults were chosen (`benchmarks/bench_ablation.py`)",
            "",
            "Each variant changes one thing of the newcomer path (SerMaskNet; the LR rows train the LR model) on "
            "the fixed splits. Choices are made on **validation** AUC (mean over the seeds listed); test AUC is "
            "shown only to say how far the choice carries.",
            "",
            table(
                ["data", "variant", "valid AUC", "test AUC", "seeds", "best epochs"],
                [
                    [
                        x["data"],
                        x["variant"],
                        x["valid_auc"],
                        x["test_auc"],
                        x["seeds"],
                        str(x["best_epochs"]),
                    ]
                    for x in ab
                ],
            ),
            "",
            *_ablation_summary(ab),
        ]
    out += ["## Reliability", "", "See [RELIABILITY.md](RELIABILITY.md).", ""]
    for k, v in results.items():
        if isinstance(v, str) and v.startswith("error"):
            out += [f"Section {k} failed: {v}", ""]
    return "\n".join(out)


def _mean(values: dict[str, float]) -> float:
    return sum(values.values()) / len(values)


def _ablation_summary(ab: list[dict[str, Any]]) -> list[str]:
    """The decision rule: mean validation AUC over the data sets, per variant measured on all of them."""
    data = sorted({x["data"] for x in ab})
    by: dict[str, dict[str, float]] = {}
    for x in ab:
        by.setdefault(x["variant"], {})[x["data"]] = x["valid_auc"]
    rows = [(v, sum(d.values()) / len(d)) for v, d in by.items() if len(d) == len(data)]
    if not rows or len(data) < 2:
        return []
    ser = [r for r in rows if not r[0].startswith("LR")]
    best = max(ser, key=lambda r: r[1])[0] if ser else None
    lines = [
        f"Mean validation AUC over {', '.join(data)} (the decision rule):",
        "",
        table(["variant", "mean valid AUC", ""], [[v, m, "best" if v == best else ""] for v, m in rows]),
        "",
    ]
    if "movielens" in by.get("batch 256", {}) and "movielens" in by.get("defaults", {}):
        lines += [
            "The defaults use the batch size rule (1024, halved down to 256 until an epoch has at least 25 "
            "steps: 256 on the 8k samples, 1024 on MovieLens-100K), so the row `batch 256` differs from "
            "`defaults` on MovieLens only: "
            f"{by['batch 256']['movielens'] - by['defaults']['movielens']:+.4f} validation AUC there, for 4x "
            "the optimizer steps per epoch.",
            "",
        ]
    same = by.get("defaults") == by.get("constant learning rate, at most 10 epochs (the first recipe)")
    if same:
        lines += [
            "The learning-rate decay changed no result here: with patience 2 a run stops one epoch after the "
            "first decay, and on these sets that epoch never beat the best one. It stays, as in the reference's "
            "recipe, for longer runs with larger patience.",
            "",
        ]
    return lines


def _hostile_lines(hostile: Any) -> list[str]:
    """The hostile-input suites' counts (bench_hostile), or nothing when not measured."""
    if not isinstance(hostile, dict):
        return []
    rows = [
        [f"`{f}`", c["what"], c["cases"], c["passed"], c["failed"], c["skipped"]]
        for f, c in hostile["suites"].items()
    ]
    total = {
        k: sum(c[k] for c in hostile["suites"].values()) for k in ("cases", "passed", "failed", "skipped")
    }
    return [
        "## Hostile-input suites (`benchmarks/bench_hostile.py`)",
        "",
        "Every case of the test files that attack the commands and the API, run once: each expects one "
        "`Error:` line with its exit code (2 bad input, 1 failed gate, 130 interrupt), no traceback, no "
        "segfault, and every input and earlier output byte-for-byte as before.",
        "",
        table(["suite", "attacks", "cases", "passed", "failed", "skipped"], rows),
        "",
        f"In all: {total['cases']} cases, {total['passed']} passed, {total['failed']} failed, "
        f"{total['skipped']} skipped; failing cases that printed a traceback: {hostile['failing_with_traceback']}.",
        "",
    ]


def render_reliability(rel: dict[str, Any], meta: dict[str, Any], hostile: Any = None) -> str:
    """RELIABILITY.md from the reliability section (and the hostile-input counts, when measured)."""
    f, d, s = rel["fuzz"], rel["damage"], rel["soak"]
    return "\n".join(
        [
            "# Reliability",
            "",
            f"Measured {meta['date']} with `make bench` (`benchmarks/bench_reliability.py`) on {meta['machine']}. "
            "The same properties are tested in CI with fewer cases (`tests/test_reliability.py`, "
            "`tests/edge_runtime/test_ranker.py`, `tests/test_cli.py`).",
            "",
            "## Hostile input into `Ranker.score`",
            "",
            f"{f['cases']:,} seeded random requests (a context and 0-8 candidates; each field plausible or, with "
            "probability 1/8, hostile: wrong types, None, NaN, ±inf, 1e308, huge ints, 100,000-character strings, "
            "non-UTF-8 bytes, lone surrogates, lists, dicts; extra fields). Outcomes: "
            f"{f['scored']:,} scored ({f['candidates_scored']:,} candidates, every score finite and in [0, 1]), "
            f"{f['encode_error']:,} refused with an `EncodeError` naming the field and record, **0 other exceptions**.",
            "",
            "## Damaged bundles",
            "",
            f"{d['truncated']:,} random truncations: {d['truncated_rejected']:,} rejected with `BundleError`. "
            f"{d['flipped']:,} random single-bit flips: {d['flipped_rejected']:,} rejected with `BundleError`, "
            f"{d['flipped_loaded_and_verified']:,} loaded (the flip hit bytes no check covers, e.g. ZIP timestamps) "
            "and still passed their golden vectors. Structural cases (missing part, `../` member, wrong format "
            "version, foreign file, spec that does not match the model, compressed member / zip bomb) are rejected "
            "in `tests/edge_runtime/test_ranker.py`. The interpreter never sees a rejected file.",
            "",
            "## Concurrency soak",
            "",
            f"One `Ranker` shared by {s['threads']} threads, {s['requests']:,} requests in all: "
            f"{s['mismatches']} results differ from the serial run. RSS before / after 10,000 more requests: "
            f"{s['rss_before_mb']:.1f} MB / {s['rss_after_10k_mb']:.1f} MB (this process also holds TensorFlow, "
            "loaded to train the bundle under test).",
            "",
            "## Crashes",
            "",
            "- A training run killed with SIGKILL after its first finished epoch resumes with `--resume` and ends "
            "with every epoch recorded once (`tests/train/test_pipeline.py::test_killed_run_resumes_from_last_finished_epoch`).",
            "- A conversion killed at several points leaves no file at the output path; only a hidden "
            "`.NAME.PID.*.partial` temp file can remain, and the next write of that path clears it "
            "(`tests/test_reliability.py`, `tests/test_interrupts.py`).",
            "- A second `masknet train` into an existing run directory refuses unless `--overwrite` or `--resume`.",
            "- Every command given malformed input, missing files or a bad bundle answers with one `Error:` line and "
            "exit code 2 (`tests/test_cli.py`, `tests/convert/test_convert.py`).",
            "",
            "## No code execution from artifacts",
            "",
            "No pickle anywhere (a test scans the sources); Keras models load with `safe_mode=True`; bundle JSON "
            "members have size limits; a test patches `pickle`, `marshal`, `eval`, `exec` and `compile` to fail while "
            "a bundle is loaded and verified, and checks that loading imports nothing but the interpreter.",
            "",
            *_hostile_lines(hostile),
        ]
    )


STANDALONE = re.compile(r"<!-- ([a-z-]+):begin -->.*?<!-- \1:end -->", re.DOTALL)


def keep_standalone(old: str, new: str) -> str:
    """Keep the sections that standalone benchmarks wrote between their markers (for example
    ``bench_behaviour --write``) when the runner rewrites the file: they go before the reliability
    section, in their old order."""
    kept = [m.group(0) for m in STANDALONE.finditer(old) if m.group(0) not in new]
    if not kept:
        return new
    return new.replace("## Reliability", "\n\n".join(kept) + "\n\n## Reliability", 1)


def main() -> None:
    """Run the chosen sections and rewrite the documents."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument(
        "--models", default="", help="quality: rerun only these models (comma-separated), keeping the others"
    )
    parser.add_argument(
        "--data", default="", help="quality: rerun only these data sets (comma-separated), keeping the others"
    )
    args = parser.parse_args()
    models = tuple(m for m in args.models.split(",") if m)
    datasets = tuple(d for d in args.data.split(",") if d)
    partial = bool(models or datasets)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    chosen = [s for s in args.only.split(",") if s]
    only = ", ".join([*datasets, *models])
    labels = [f"{s} ({only} only)" if s == "quality" and partial else s for s in chosen]
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous = results.pop("_meta", {})
    t0 = time.perf_counter()
    for name in chosen:
        print(f"== {name}", flush=True)
        try:
            if name == "quality" and partial:
                from benchmarks import bench_quality

                kept = results.get("quality") if isinstance(results.get("quality"), dict) else {}
                chosen_runs = {"models": models} if models else {}
                if datasets:
                    chosen_runs["datasets"] = datasets
                results[name] = {**kept, **bench_quality.run(**chosen_runs)}
            else:
                results[name] = _run(name)
        except Exception:  # one failing section must not lose the others
            results[name] = "error: " + traceback.format_exc(limit=3)
            print(results[name], flush=True)
    seconds = time.perf_counter() - t0
    today = dt.date.today().isoformat()
    # Earlier runs keep the sections this run did not measure (and, after a rerun of some models only,
    # the quality section, whose other models they measured).
    replaced = {x for x in chosen if not (x == "quality" and partial)}
    runs = [
        {**r, "sections": [x for x in r["sections"] if x not in replaced]}
        for r in previous.get("runs")
        or (
            [{"date": previous["date"], "sections": previous["sections"], "seconds": previous["seconds"]}]
            if previous
            else []
        )
    ]
    runs = [r for r in runs if r["sections"]] + [{"date": today, "sections": labels, "seconds": seconds}]
    meta = {"date": today, "machine": machine(), "seconds": seconds, "sections": labels, "runs": runs}
    RESULTS.write_text(json.dumps({**results, "_meta": meta}, indent=2) + "\n")
    path = ROOT / "BENCHMARKS.md"
    path.write_text(keep_standalone(path.read_text() if path.exists() else "", render(results, meta)))
    if isinstance(results.get("reliability"), dict):
        (ROOT / "RELIABILITY.md").write_text(
            render_reliability(results["reliability"], meta, results.get("hostile"))
        )
    print("wrote BENCHMARKS.md", flush=True)


if __name__ == "__main__":
    main()
