"""``masknet check``: what quantization cost, in numbers that matter for ranking.

Runs the bundle's model (through the device runtime) and the float Keras model of the run on the same
held-out rows, and reports AUC/logloss of both, score differences, rank correlations and, per context
(e.g. per user), top-k overlap and NDCG@k of the bundle's ranking against the float ranking.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.atomic import atomic_path
from masknet_edge.edge_runtime.ranker import Ranker
from masknet_edge.train import metrics
from masknet_edge.train.io import DataError, file_columns, read_table

__all__ = ["CheckResult", "Thresholds", "check_bundle", "format_report", "plot_report"]


@dataclass(frozen=True)
class Thresholds:
    """Limits that make ``check`` fail (exit code 1). None disables a limit.

    Args:
        max_auc_drop: float AUC minus bundle AUC. Defaults to 0.002.
        min_topk_overlap: mean per-group top-k overlap. Defaults to 0.95.
        min_ndcg: mean per-group NDCG@k. Defaults to 0.98.
        min_spearman: rank correlation of all scores. Defaults to 0.98.
        max_mean_abs_diff: mean |score difference|. Defaults to None.
    """

    max_auc_drop: float | None = 0.002
    min_topk_overlap: float | None = 0.95
    min_ndcg: float | None = 0.98
    min_spearman: float | None = 0.98
    max_mean_abs_diff: float | None = None


def _groups(df: Any, group_by: list[str] | None, slate: int) -> tuple[list[np.ndarray], str]:
    if group_by:
        import pandas as pd

        keys = (
            df[group_by].astype(str).agg("\x1f".join, axis=1)
            if len(group_by) > 1
            else df[group_by[0]].astype(str)
        )
        codes, _ = pd.factorize(keys)
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        return [g for g in np.split(order, bounds) if len(g) >= 2], "by " + ",".join(group_by)
    n = len(df)
    return [np.arange(s, min(s + slate, n)) for s in range(0, n, slate) if min(s + slate, n) - s >= 2], (
        f"slates of {slate} consecutive rows"
    )


@dataclass(frozen=True)
class CheckResult:
    """What :func:`check_bundle` measured: the JSON-ready ``report`` and the scores behind it."""

    report: dict[str, Any]
    float_scores: np.ndarray
    bundle_scores: np.ndarray

    @property
    def passed(self) -> bool:
        """Whether every threshold held."""
        return bool(self.report["passed"])


def _group_columns(data: str | Path, spec: Any, group_by: list[str] | None) -> list[str] | None:
    """The columns that make a ranking group: ``group_by`` as given, else the spec's context columns
    when the file has them; the file must hold every input column of the spec."""
    columns = file_columns(data)
    missing = [c for c in spec.input_columns if c not in columns]
    if missing:
        raise DataError(f"{data}: missing columns {missing} that the spec needs")
    if group_by:
        absent = [c for c in group_by if c not in columns]
        if absent:
            raise DataError(f"{data}: --group-by names columns that are not in the file: {absent}")
        return group_by
    context = list(dict.fromkeys(spec.column_of(n) for n in spec.columns_of_side("context")))
    return context if context and all(c in columns for c in context) else None


def _ranking(
    df: Any, group_by: list[str] | None, slate_size: int, f: np.ndarray, q: np.ndarray, k: int
) -> dict[str, Any]:
    """Per-group top-k overlap and NDCG of the bundle's ranking against the float model's."""
    groups, how = _groups(df, group_by, slate_size)
    overlaps = [metrics.topk_overlap(f[g], q[g], k) for g in groups]
    ndcgs = [metrics.ndcg_at_k(f[g], q[g], k) for g in groups]
    return {
        "groups": how,
        "num_groups": len(groups),
        "mean_group_size": float(np.mean([len(g) for g in groups])) if groups else 0.0,
        "k": k,
        "mean_topk_overlap": float(np.mean(overlaps)) if overlaps else float("nan"),
        "min_topk_overlap": float(np.min(overlaps)) if overlaps else float("nan"),
        "mean_ndcg": float(np.mean(ndcgs)) if ndcgs else float("nan"),
    }


def check_bundle(
    bundle: str | Path,
    run_dir: str | Path,
    data: str | Path,
    *,
    group_by: list[str] | None = None,
    k: int = 10,
    slate_size: int = 50,
    max_rows: int | None = None,
    thresholds: Thresholds | None = None,
) -> CheckResult:
    """Compare a bundle against its float reference model on ``data``."""
    from masknet_edge.convert.run import load_run

    thresholds = thresholds or Thresholds()
    ranker = Ranker.load(bundle)
    run = load_run(run_dir)
    if run.spec.fingerprint() != ranker.spec.fingerprint():
        raise DataError(
            f"{bundle}: its spec differs from {run_dir}/spec.json; was it converted from this run?"
        )
    spec = ranker.spec
    label = run.label
    group_by = _group_columns(data, spec, group_by)
    df = read_table(data, text_columns=list(spec.text_columns))
    if max_rows:
        df = df.iloc[:max_rows]
    if not len(df):
        raise DataError(f"{data}: the file has no rows")
    inputs = ranker.encoder.encode(df)
    q = ranker.score_inputs(inputs)
    f = run.model.predict(inputs, batch_size=4096, verbose=0).ravel().astype(np.float32)
    diff = q - f
    report: dict[str, Any] = {
        "bundle": str(bundle),
        "quantization": ranker.bundle.quantization,
        "rows": int(len(df)),
        "scores": {
            "max_abs_diff": float(np.abs(diff).max()),
            "mean_abs_diff": float(np.abs(diff).mean()),
            "spearman": metrics.spearman(f, q),
            "kendall": metrics.kendall_tau(f, q),
        },
    }
    report["label"] = label
    # stable keys: null where the data cannot say (no label column)
    report.update({"float": None, "bundle_model": None, "auc_drop": None, "logloss_increase": None})
    if label and label in df.columns:
        y = _labels(df[label], data, label)
        report["float"] = {"auc": metrics.auc(y, f), "logloss": metrics.logloss(y, f)}
        report["bundle_model"] = {"auc": metrics.auc(y, q), "logloss": metrics.logloss(y, q)}
        report["auc_drop"] = report["float"]["auc"] - report["bundle_model"]["auc"]
        report["logloss_increase"] = report["bundle_model"]["logloss"] - report["float"]["logloss"]
    report["ranking"] = _ranking(df, group_by, slate_size, f, q, k)
    report["layer_errors"] = list(ranker.bundle.manifest.quantization.layer_errors)
    report["float_ops"] = list(ranker.bundle.manifest.quantization.float_ops)
    report["thresholds"] = asdict(thresholds)
    report["violations"] = _violations(report, thresholds)
    report["passed"] = not report["violations"]
    return CheckResult(report=report, float_scores=f, bundle_scores=q)


def _labels(column: Any, data: str | Path, label: str) -> np.ndarray:
    """The label column as 0.0/1.0; any other value is a DataError naming the row."""
    import pandas as pd

    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isin(values, (0.0, 1.0)))
    if len(bad):
        raise DataError(
            f"{data}: data row {bad[0] + 1}: label {label!r} is {column.iloc[bad[0]]!r}; expected 0 or 1"
        )
    return values


def _gate(limit: float | None) -> bool:
    """Whether a threshold is on (None or an infinite limit turns it off)."""
    return limit is not None and bool(np.isfinite(limit))


def _violations(r: dict[str, Any], t: Thresholds) -> list[str]:
    """What fails: a limit that is exceeded, or one that cannot be evaluated on this data (a gate
    that cannot be checked does not pass)."""
    out = []
    k = r["ranking"]["k"]
    if _gate(t.max_auc_drop):
        drop = r["auc_drop"] if r["auc_drop"] is not None else float("nan")
        if drop != drop:
            why = (
                f"the data has no label column {r['label']!r}"
                if r["auc_drop"] is None
                else "the labels are all one class"
            )
            out.append(f"AUC drop cannot be measured: {why} (--max-auc-drop inf turns this gate off)")
        elif drop > t.max_auc_drop:
            out.append(f"AUC drop {drop:.5f} > {t.max_auc_drop}")
    for name, value, limit, option in (
        (
            f"mean top-{k} overlap",
            r["ranking"]["mean_topk_overlap"],
            t.min_topk_overlap,
            "--min-topk-overlap",
        ),
        (f"mean NDCG@{k}", r["ranking"]["mean_ndcg"], t.min_ndcg, "--min-ndcg"),
        ("Spearman", r["scores"]["spearman"], t.min_spearman, "--min-spearman"),
    ):
        if not _gate(limit):
            continue
        if value != value:
            out.append(
                f"{name} cannot be measured on {r['rows']} rows in {r['ranking']['num_groups']} groups "
                f"({option} -inf turns this gate off)"
            )
        elif value < limit:
            out.append(f"{name} {value:.4f} < {limit}")
    if t.max_mean_abs_diff is not None and r["scores"]["mean_abs_diff"] > t.max_mean_abs_diff:
        out.append(f"mean |score diff| {r['scores']['mean_abs_diff']:.5f} > {t.max_mean_abs_diff}")
    return out


def format_report(r: dict[str, Any]) -> str:
    """A human-readable table."""
    lines = [f"bundle {r['bundle']}  ({r['quantization']}, {r['rows']} rows)", ""]
    if r["float"] is not None:
        lines += [
            f"{'':18s}{'float':>10s}{'bundle':>10s}{'diff':>10s}",
            f"{'AUC':18s}{r['float']['auc']:10.5f}{r['bundle_model']['auc']:10.5f}{-r['auc_drop']:+10.5f}",
            f"{'logloss':18s}{r['float']['logloss']:10.5f}{r['bundle_model']['logloss']:10.5f}"
            f"{r['logloss_increase']:+10.5f}",
            "",
        ]
    s, g = r["scores"], r["ranking"]
    lines += [
        f"score |diff|      max {s['max_abs_diff']:.5f}   mean {s['mean_abs_diff']:.5f}",
        f"rank correlation  Spearman {s['spearman']:.5f}   Kendall {s['kendall']:.5f}",
        f"per group ({g['groups']}: {g['num_groups']} groups, mean size {g['mean_group_size']:.1f})",
        f"  top-{g['k']} overlap mean {g['mean_topk_overlap']:.4f}  min {g['min_topk_overlap']:.4f}   "
        f"NDCG@{g['k']} mean {g['mean_ndcg']:.4f}",
    ]
    if r["layer_errors"]:
        lines += [
            "",
            "layers that lose the most (int8; keep these in float with --keep-float OP,...):",
            f"  {'op':24s}{'rmse':>10s}{'rmse/scale':>12s}  tensor",
        ]
        for e in r["layer_errors"][:10]:
            lines.append(f"  {e['op']:24s}{e['rmse']:10.4f}{e['rmse_per_scale']:12.3f}  {e['tensor'][:60]}")
    if r["float_ops"]:
        lines.append(f"kept in float: {', '.join(r['float_ops'])}")
    lines.append("")
    lines.append("PASSED" if r["passed"] else "FAILED: " + "; ".join(r["violations"]))
    return "\n".join(lines)


def plot_report(result: CheckResult, path: str | Path) -> None:
    """Scatter of float vs bundle scores and a histogram of the differences, as a PNG (atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r, f, q = result.report, result.float_scores, result.bundle_scores
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 4))
    a.scatter(f, q, s=2, alpha=0.3)
    a.plot([0, 1], [0, 1], color="grey", lw=0.8)
    a.set_xlabel("float score")
    a.set_ylabel(f"{r['quantization']} score")
    b.hist(q - f, bins=80)
    b.set_xlabel("bundle - float")
    fig.suptitle(f"{Path(r['bundle']).name}: max |diff| {r['scores']['max_abs_diff']:.4f}")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
