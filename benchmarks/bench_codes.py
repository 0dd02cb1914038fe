"""Codes read as codes: ``spec infer`` on the shared data sets as published and as a one-hot export.

    python -m benchmarks.bench_codes [--seeds 0,1,2] [--json OUT] [--before JSON] [--write]

Many exports (libFM, one-hot pipelines, ETL jobs) replace each text value by an integer numbered in
order of first appearance, so the most frequent values get the smallest numbers and a code column
looks like a long-tailed count. This benchmark writes such an export of each fixed split (every text
column renumbered over train, valid and test in file order, named without its ``id`` token so the
name gives nothing away), runs ``spec infer`` on the published and the exported files, checks each
column's decision against what the column is (a renumbered column is a code; Criteo's I1-I13 are
counts), and trains the newcomer SerMaskNet on each export. ``--before`` renders beside another
checkout's ``--json`` output (the same command run with that checkout on ``PYTHONPATH``).
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

import pandas as pd

from benchmarks.common import ROOT, fixed_splits, machine, newcomer_spec, table, write_marked_section

BEGIN, END = "<!-- codes:begin -->", "<!-- codes:end -->"
DATASETS = ("movielens", "criteo", "avazu")
#: Criteo's integer columns are counts, MovieLens' timestamp a time; every other integer column of the
#: shared sets is a code.
COUNTS = {f"I{i}" for i in range(1, 14)}
TIMES = {"timestamp"}
FEW_VALUES_NOTE = "count with <= 20 values"


def code_name(name: str) -> str:
    """The exported column's name: ``site_id`` -> ``site_no``, ``C1`` -> ``C1_no``."""
    stem = name[: -len("_id")] if name.endswith("_id") else name
    return f"{stem}_no"


def export_codes(folder: Path, out: Path) -> Path:
    """Write ``folder``'s train/valid/test with every text column renumbered by first appearance."""
    parts = {p: pd.read_csv(folder / f"{p}.csv", low_memory=False) for p in ("train", "valid", "test")}
    whole = pd.concat(list(parts.values()), keys=list(parts), names=["part", "row"])
    for name in [c for c in whole.columns if not pd.api.types.is_numeric_dtype(whole[c])]:
        values = whole[name].dropna()
        codes = dict(zip(values.drop_duplicates(), range(values.nunique()), strict=True))
        whole[name] = whole[name].map(codes).astype("Int64")
        whole = whole.rename(columns={name: code_name(name)})
    out.mkdir(parents=True, exist_ok=True)
    for part in parts:
        whole.loc[part].to_csv(out / f"{part}.csv", index=False)
    return out


def truth(name: str, distinct: int) -> str:
    """What a column of the shared sets is: ``code``, ``count`` or ``time``."""
    if name in COUNTS:
        return FEW_VALUES_NOTE if distinct <= 20 else "count"
    return "time" if name in TIMES else "code"


def decisions(train_csv: Path) -> list[dict[str, Any]]:
    """``spec infer``'s decision for each integer column of ``train_csv``, beside what the column is."""
    from masknet_edge.train.infer import infer_spec_report

    frame = pd.read_csv(train_csv, nrows=100_000, low_memory=False)
    spec, reports = infer_spec_report(train_csv, "label")
    kinds = {f.name: f.kind for f in spec.fields}
    rows = []
    for r in reports:
        if frame[r.name].dtype.kind not in "iuf" or r.name not in kinds:
            continue
        original = r.name[: -len("_no")] if r.name.endswith("_no") else r.name
        rows.append(
            {
                "column": r.name,
                "is": truth(original, r.distinct),
                "inferred": "categorical" if kinds[r.name] != "numeric" else "numeric",
                "reason": r.reason,
            }
        )
    return rows


def right(row: dict[str, Any]) -> bool:
    """Whether a decision matches the column: codes categorical, counts numeric (a count of at most 20
    values may be categorical: an embedding per value can express any function of it)."""
    if row["is"] == "code":
        return row["inferred"] == "categorical"
    return row["is"] == FEW_VALUES_NOTE or row["inferred"] == "numeric"


def run(seeds: tuple[int, ...] = (0, 1, 2), datasets: tuple[str, ...] = DATASETS) -> dict[str, Any]:
    """Decisions on the published and exported splits; the newcomer SerMaskNet's AUC on the exports."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from benchmarks.bench_quality import train_seeds
    from masknet_edge.edge_runtime.spec import FeatureSpec

    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="masknet-codes-") as tmp:
        splits = fixed_splits(Path(tmp) / "splits")
        if isinstance(splits, str):
            return {"skipped": splits}
        for name in datasets:
            exported = export_codes(splits[name], Path(tmp) / f"{name}-codes")
            entry: dict[str, Any] = {
                "published": decisions(splits[name] / "train.csv"),
                "exported": decisions(exported / "train.csv"),
            }
            spec = FeatureSpec.load(newcomer_spec(exported / "train.csv", Path(tmp) / f"{name}-spec.json"))
            r = train_seeds(exported, spec, "sermasknet", seeds, Path(tmp) / "run")
            entry.update(test_auc=r["auc"], valid_auc=r["valid_auc"], seeds=list(seeds))
            result[name] = entry
    return result


def _mean(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {sd:.4f}"


def section(result: dict[str, Any], seconds: float, seeds: str, before: dict[str, Any] | None) -> str:
    """The Markdown section."""
    lines = [
        BEGIN,
        "### Codes read as codes (`benchmarks/bench_codes.py`)",
        "",
        f"`python -m benchmarks.bench_codes --seeds {seeds} --write`, {seconds:.0f} s; {machine()}.",
        "",
        "Each fixed split as published and as a one-hot export (every text column renumbered in order of "
        "first appearance over train, valid and test, renamed without its `id` token: `site_id` -> "
        "`site_no`). `spec infer` with its defaults on each train.csv; every integer column's decision "
        "against what it is (a renumbered column is a code, Criteo's I1-I13 are counts, MovieLens' timestamp "
        "a time; a count of at most 20 values may be categorical). Then the newcomer SerMaskNet on each export.",
        "",
    ]
    if "skipped" in result:
        return "\n".join([*lines, f"Skipped: {result['skipped']}", "", END])
    rows = []
    for name, entry in result.items():
        for form in ("published", "exported"):
            cols = entry[form]
            wrong = [c["column"] for c in cols if not right(c)]
            rows.append([name, form, len(cols), len(cols) - len(wrong), ", ".join(wrong) or "none"])
    lines += [table(["data", "file", "integer columns", "decided right", "decided wrong"], rows), ""]
    auc_rows = []
    for name, entry in result.items():
        row = [name, _mean(entry["valid_auc"]), _mean(entry["test_auc"])]
        if before and name in before:
            b = before[name]
            wrong = [c["column"] for c in b["exported"] if not right(c)]
            diffs = [a - x for a, x in zip(entry["test_auc"], b["test_auc"], strict=True)]
            row += [_mean(b["valid_auc"]), _mean(b["test_auc"]), _mean(diffs), ", ".join(wrong) or "none"]
        auc_rows.append(row)
    headers = ["export", "valid AUC", "test AUC"]
    if before:
        headers += ["valid AUC, before", "test AUC, before", "test difference per seed", "wrong before"]
    lines += [table(headers, auc_rows), ""]
    if before:
        lines += [
            "`before`: the same command with the previous rule (commit 7806e74: counts were told from codes "
            "only by the slope of frequency against size) on `PYTHONPATH`, same seeds.",
            "",
        ]
    return "\n".join([*lines, END])


def main() -> None:
    """Measure; print the section, or write it into BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--json", type=Path, help="also write the raw result here")
    parser.add_argument("--before", type=Path, help="another checkout's --json output, shown beside")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    result = run(tuple(int(s) for s in args.seeds.split(",")))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    before = json.loads(args.before.read_text()) if args.before else None
    text = section(result, time.perf_counter() - t0, args.seeds, before)
    print(text)
    if args.write:
        write_marked_section(ROOT / "BENCHMARKS.md", BEGIN, END, text, before="<!-- suite:begin -->")


if __name__ == "__main__":
    main()
