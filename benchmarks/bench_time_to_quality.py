"""Time to a good model: ``masknet train`` against the reference's recipe, wall-clock and test AUC.

    MASKNET_FUXICTR_PYTHON=.venv-fuxictr/bin/python python -m benchmarks.bench_time_to_quality \\
        [--seeds 0,1,2] [--models sermasknet,paramasknet] [--recipe batch_size=1024,warmup_epochs=1] [--write]

For each fixed split and model, in one run on one machine: ours is the newcomer path (``spec infer``
with its defaults, then ``train_run`` with its defaults, or with the ``--recipe`` settings changed),
timed from the start of training to the final model on disk (spec fitting, encoding, every epoch,
validation, test evaluation, writing the run); the reference is PEER.md's recipe
(``benchmarks/fuxictr_reference.py``, FuxiCTR 2.3.10), timed as its feature processing once (building
the vocabularies and the encoded files) plus each run's fit and evaluation. Ratios are ours over the
reference's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_peer import reference_runs
from benchmarks.bench_quality import train_seeds
from benchmarks.common import ROOT, fixed_splits, machine, newcomer_spec, table, write_marked_section

BEGIN, END = "<!-- time-to-quality:begin -->", "<!-- time-to-quality:end -->"
DATASETS = ("movielens", "criteo", "avazu")
GOAL = 0.5


def _recipe(text: str) -> dict[str, Any]:
    """``batch_size=1024,warmup_epochs=1,mixed_precision=true`` as TrainConfig settings."""
    out: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        key, value = item.split("=")
        if value.lower() in ("true", "false"):
            out[key] = value.lower() == "true"
        else:
            out[key] = int(value) if value.isdigit() else float(value) if value[0].isdigit() else value
    return out


def run(
    seeds: tuple[int, ...],
    models: tuple[str, ...],
    recipe: dict[str, Any],
    datasets: tuple[str, ...] = DATASETS,
) -> dict[str, Any]:
    """Both sides per data set and model: per-run seconds and AUCs."""
    python = os.environ.get("MASKNET_FUXICTR_PYTHON")
    if not python:
        return {"skipped": "MASKNET_FUXICTR_PYTHON is not set (a Python with fuxictr==2.3.10)"}
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from masknet_edge.edge_runtime.spec import FeatureSpec

    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="masknet-ttq-") as tmp:
        splits = fixed_splits(Path(tmp) / "splits")
        if isinstance(splits, str):
            return {"skipped": splits}
        for name in datasets:
            folder = splits[name]
            started = time.perf_counter()
            theirs = reference_runs(python, folder, Path(tmp) / f"reference-{name}", models, seeds)
            preparation = time.perf_counter() - started - sum(r["seconds"] for r in theirs)
            spec = FeatureSpec.load(newcomer_spec(folder / "train.csv", Path(tmp) / f"{name}-spec.json"))
            for model in models:
                ours = train_seeds(folder, spec, model, seeds, Path(tmp) / "run", **recipe)
                ref = [r for r in theirs if r["model"] == model]
                result[f"{name}/{model}"] = {
                    "ours_seconds": ours["seconds"],
                    "ours_test_auc": ours["auc"],
                    "ours_valid_auc": ours["valid_auc"],
                    "ours_epochs": ours["epochs"],
                    "reference_seconds": [r["seconds"] + preparation for r in ref],
                    "reference_test_auc": [r["test_auc"] for r in ref],
                    "reference_preparation": preparation,
                }
                print(name, model, result[f"{name}/{model}"], flush=True)
    return result


def _mean(values: list[float], digits: int = 4) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"


def section(result: dict[str, Any], command: str, seconds: float) -> str:
    """The Markdown section."""
    lines = [BEGIN, "### Time to a good model (`benchmarks/bench_time_to_quality.py`)", ""]
    lines += [f"`{command}`, {seconds:.0f} s; {machine()}.", ""]
    lines += [" ".join(__doc__.split("\n\n")[2].split()), ""]
    if "skipped" in result:
        return "\n".join([*lines, f"Skipped: {result['skipped']}", "", END])
    rows = []
    for key, v in result.items():
        ratio = statistics.mean(v["ours_seconds"]) / statistics.mean(v["reference_seconds"])
        rows.append(
            [
                key,
                _mean(v["ours_seconds"], 1),
                _mean(v["reference_seconds"], 1),
                f"{ratio:.2f}",
                "met" if ratio <= GOAL else "**not met**",
                _mean(v["ours_test_auc"]),
                _mean(v["reference_test_auc"]),
                str(v["ours_epochs"]),
            ]
        )
    headers = [
        "data / model",
        "ours (s)",
        "reference (s)",
        "ours / reference",
        f"goal <= {GOAL}",
        "test AUC ours",
        "test AUC reference",
        "our best epochs",
    ]
    return "\n".join([*lines, table(headers, rows), "", END])


def main() -> None:
    """Measure; print the section, or write it into BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--models", default="sermasknet,paramasknet")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument(
        "--recipe", default="", help="TrainConfig settings, e.g. batch_size=1024,warmup_epochs=1"
    )
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    result = run(
        tuple(int(s) for s in args.seeds.split(",")),
        tuple(args.models.split(",")),
        _recipe(args.recipe),
        tuple(args.datasets.split(",")),
    )
    command = "python -m benchmarks.bench_time_to_quality " + " ".join(
        f"--{k} {v}" for k, v in vars(args).items() if k != "write" and v
    )
    text = section(result, command, time.perf_counter() - t0)
    print(text)
    if args.write:
        write_marked_section(ROOT / "BENCHMARKS.md", BEGIN, END, text, before="<!-- suite:begin -->")


if __name__ == "__main__":
    main()
