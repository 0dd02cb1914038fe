"""``masknet spec infer``: propose a feature spec from a data file, and say why for every column.

Decisions (each column's ``reason`` says which rule fired):

- **Text** columns are categorical; a separator (``|`` or ``;``) in more than 5 % of values makes
  them multi-valued.
- **Numbers**: a name with an ``id`` token (``user_id``, ``itemId``, ``id``; not ``paid``, ``valid``,
  ``bid``) or at most 20 distinct values makes a categorical. Fractional values are numeric. Integer
  columns are told apart by shape. Codes numbered in order of first appearance (libFM and one-hot
  exports) fill their range and their frequencies jump from one value to the next, as a shuffled
  column's would: they are categorical, though their smallest values are the most frequent. Counts
  (the smallest values are the most frequent, and frequency falls smoothly with size) and
  nearly-unique values (timestamps) are numeric; other integer codes (values repeat, and how often has
  nothing to do with how large: ``user``, ``city``, ``age``...) are categorical.
- **Categorical id spaces**: a vocabulary (values seen at least ``min_count`` times in the training
  file get their own id; the rest share ``oov_buckets`` hash buckets) unless the column has more
  distinct values than ``max_vocab``; then it is hashed, with buckets sized for few collisions, and
  the report prints the expected share of colliding values.
- **Label leaks**: a column that predicts the label almost perfectly on its own (single-column AUC
  >= 0.98, out of fold for categoricals), or a probability-like column (values in [0, 1] whose mean
  is the label's rate and that ranks the label well), is left out of the spec and flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.behaviour_spec import BehaviourSpec
from masknet_edge.edge_runtime.spec import FeatureSpec
from masknet_edge.train.behaviour_fields import behaviour_field
from masknet_edge.train.io import DataError, file_columns, iter_chunks
from masknet_edge.train.numeric_kinds import numeric_kind, numeric_transform
from masknet_edge.train.sides import propose_context, user_column

__all__ = [
    "ColumnReport",
    "collision_share",
    "infer_spec",
    "infer_spec_report",
    "vocabulary_keys",
]

SEPARATORS = ("|", ";")
#: Hashed fields get this many buckets per distinct value (5 % of values collide, 1 - e^(-1/20)).
BUCKETS_PER_VALUE = 20
MAX_BUCKETS = 1_000_000


@dataclass(frozen=True)
class ColumnReport:
    """What ``spec infer`` decided for one column, and why."""

    name: str
    decision: str  # e.g. "categorical, vocabulary (min_count 2, 8 oov buckets)", "left out"
    reason: str
    distinct: int
    collisions: float | None = None  # expected share of colliding values, for hashed fields
    leak: bool = False
    details: dict[str, Any] = field(default_factory=dict)


def collision_share(values: int, buckets: int) -> float:
    """Expected share of ``values`` distinct values that share their hash bucket with another.

    Each value lands alone with probability ``(1 - 1/buckets)^(values - 1)``, about
    ``e^(-(values - 1) / buckets)``: 2x buckets leaves 39 % of the values colliding, 20x about 5 %.
    """
    if values <= 1:
        return 0.0
    return float(1.0 - math.exp((values - 1) * math.log1p(-1.0 / buckets))) if buckets > 1 else 1.0


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    from masknet_edge.train.metrics import auc

    return float(auc(y, score))


def _leak(col: Any, y: np.ndarray, categorical: bool) -> str | None:
    """Why the column looks like a label leak, or None."""
    ok = col.notna().to_numpy()
    if ok.sum() < 20 or len(np.unique(y[ok])) < 2:
        return None
    yy = y[ok]
    if not categorical:
        x = col[ok].to_numpy(dtype=np.float64)
        a = _auc(yy, x)
        strength = max(a, 1 - a)
        if strength >= 0.98:
            return f"on its own it predicts the label with AUC {strength:.3f}"
        fractional = not np.all(x == np.round(x))
        if fractional and x.min() >= 0 and x.max() <= 1 and abs(x.mean() - yy.mean()) <= 0.05 and a >= 0.65:
            return (
                f"values in [0, 1] with mean {x.mean():.3f} (label rate {yy.mean():.3f}) that rank the "
                f"label with AUC {a:.3f}: a click probability, not a feature"
            )
        return None
    text = col[ok].astype(str).to_numpy()
    half = np.arange(len(text)) % 2 == 0
    scores = np.empty(len(text))
    for fit_part, eval_part in ((half, ~half), (~half, half)):  # out of fold: no memorised values
        sums: dict[str, list[float]] = {}
        for t, label in zip(text[fit_part], yy[fit_part], strict=True):
            s = sums.setdefault(t, [0.0, 0.0])
            s[0] += label
            s[1] += 1
        means = {t: s[0] / s[1] for t, s in sums.items()}
        prior = float(yy[fit_part].mean())
        scores[eval_part] = [means.get(t, prior) for t in text[eval_part]]
    a = _auc(yy, scores)
    if a >= 0.98:
        return f"its values predict the label with out-of-fold AUC {a:.3f}"
    return None


def _categorical(
    name: str,
    tokens: Any,
    side: str,
    min_count: int,
    max_vocab: int,
    reason: str,
    kind: str = "categorical",
    extra: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], ColumnReport]:
    """A categorical (or multi-valued) field with a vocabulary, or hashed when it has too many values."""
    counts = tokens.value_counts()
    distinct = int(len(counts))
    kept = int((counts >= min_count).sum())
    rare = distinct - kept
    spec: dict[str, Any] = {"name": name, "kind": kind, "side": side, **(extra or {})}
    if kept <= max_vocab:
        spec.update(vocabulary_keys(counts, min_count))
        decision = (
            f"vocabulary: {kept} values seen >= {min_count}x; {rare} rarer share "
            f"{spec['oov_buckets']} oov buckets"
        )
        return spec, ColumnReport(name, f"{kind}, {decision}", reason, distinct)
    buckets = int(min(MAX_BUCKETS, max(8, BUCKETS_PER_VALUE * distinct)))
    share = collision_share(distinct, buckets)
    spec.update(num_buckets=buckets)
    decision = (
        f"hashed into {buckets} buckets ({kept} values seen >= {min_count}x > max_vocab {max_vocab}); "
        f"expected {share:.1%} of values collide"
    )
    return spec, ColumnReport(name, f"{kind}, {decision}", reason, distinct, collisions=share)


def vocabulary_keys(counts: Any, min_count: int = 2, rare_per_bucket: int | None = None) -> dict[str, int]:
    """Spec keys of a vocabulary field, from the value counts of its training column.

    Values seen fewer than ``min_count`` times, and values unseen in training, share the
    out-of-vocabulary buckets: one by default (the best validation AUC over MovieLens, Criteo and
    Avazu in BENCHMARKS.md's ablation), or one per ``rare_per_bucket`` rare values (1 to 1,000) to
    keep unseen values apart.
    """
    if rare_per_bucket is None:
        return {"min_count": min_count, "oov_buckets": 1}
    rare = int((counts < min_count).sum())
    return {"min_count": min_count, "oov_buckets": int(min(1000, max(1, rare // rare_per_bucket)))}


def _field(
    name: str, col: Any, side: str, rows: int, min_count: int, max_vocab: int
) -> tuple[dict[str, Any] | None, ColumnReport]:
    values = col.dropna()
    n_unique = int(values.nunique())
    if col.dtype.kind == "b":
        return _categorical(
            name,
            values.astype(str).str.lower(),
            side,
            min_count,
            max_vocab,
            "booleans",
            extra={"value_type": "boolean"},
        )
    if col.dtype.kind in "iuf":
        kind, reason = numeric_kind(name, values, rows)
        if kind == "categorical":
            x = values.to_numpy(dtype=np.float64)
            whole = np.all(x == np.round(x))
            if whole:  # integer codes: "2", "2.0" and 2 are one value
                text = values.astype(np.int64).astype(str)
                return _categorical(
                    name, text, side, min_count, max_vocab, reason, extra={"value_type": "integer"}
                )
            return _categorical(name, values.astype(str), side, min_count, max_vocab, reason)
        transform, why = numeric_transform(values.to_numpy(dtype=np.float64), kind, reason)
        return (
            {"name": name, "kind": "numeric", "side": side, "transform": transform},
            ColumnReport(name, f"numeric, {transform}", why, n_unique),
        )
    text = values.astype(str)
    for sep in SEPARATORS:
        has = text.str.contains(sep, regex=False)
        if len(text) and has.mean() > 0.05:
            parts = text.str.split(sep, regex=False)
            lengths = parts.str.len()
            tokens = parts.explode()
            tokens = tokens[tokens != ""]
            extra = {
                "max_length": int(max(1, np.percentile(lengths, 95))),
                "separator": sep,
                "pooling": "mean",
            }
            reason = f"text with {sep!r} in {has.mean():.0%} of values: several values per row"
            return _categorical(name, tokens, side, min_count, max_vocab, reason, "multi_categorical", extra)
    return _categorical(name, text, side, min_count, max_vocab, "text")


def _context_reasons(
    df: Any, features: list[str], context: list[str], item: list[str], user: str | None
) -> dict[str, str]:
    """``{column: why it is on the context side}``: the columns named by ``--context``, then the user
    column and the columns that describe the user (:func:`train.sides.propose_context`), unless
    ``--item`` names them."""
    reasons = {c: "named by --context" for c in context if c in features}
    if user is None:
        user = user_column(features)
    if user is not None and user in features and user not in item:
        free = [c for c in features if c not in context and c not in item]
        proposal = propose_context(df, user, free)
        for column, why in proposal.reasons.items():
            reasons.setdefault(column, f"{why} (--item {column} to keep it on the item side)")
    return reasons


def _check_names(path: str | Path, label: str, options: dict[str, list[str | None] | None]) -> None:
    """Every column named by the label and the options is in the file, and none is both sides."""
    columns = file_columns(path)
    if label not in columns:
        raise DataError(f"{path}: no label column {label!r}; columns: {columns}")
    for option, names in options.items():
        unknown = [c for c in (names or []) if c is not None and c not in columns]
        if unknown:
            raise DataError(f"{path}: {option} names columns that are not in the file: {unknown}")
    both = sorted(set(options["--context"] or []) & set(options["--item"] or []))
    if both:
        raise DataError(f"{path}: {both} named both by --context and by --item; name each column once")


def _with_leak_or_side(report: ColumnReport, leak: str | None, context_reason: str | None) -> ColumnReport:
    """A column's report, left out when it leaks the label, else with why it is on the context side."""
    if leak:
        return ColumnReport(
            report.name,
            "left out (label leak?)",
            f"{leak}; add it to the spec by hand if it is known at serving time",
            report.distinct,
            leak=True,
        )
    if context_reason:
        return replace(report, reason=f"{report.reason}; context side: {context_reason}")
    return report


def infer_spec_report(
    path: str | Path,
    label: str,
    context: list[str] | None = None,
    rows: int = 100_000,
    min_count: int = 2,
    max_vocab: int = 100_000,
    ignore: list[str] | None = None,
    behaviour: BehaviourSpec | None = None,
    item: list[str] | None = None,
    user: str | None = None,
) -> tuple[FeatureSpec, list[ColumnReport]]:
    """Propose a spec from the first ``rows`` rows of a file, with one report per column.

    Args:
        path: a CSV/TSV/Parquet file with a header.
        label: the label column (0/1), left out of the features.
        context: columns of the user/request side, whatever the data say. Defaults to none.
        rows: rows to inspect. Defaults to 100,000.
        min_count: vocabulary fields keep values seen at least this often. Defaults to 2.
        max_vocab: columns with more distinct values are hashed instead. Defaults to 100,000.
        ignore: columns that are not features (times, split markers). Defaults to none.
        behaviour: a behaviour section; each of its features becomes a field (the file need not
            hold those columns: replay computes them). Defaults to None.
        item: columns of the item side, whatever the data say. Defaults to none.
        user: the column of the user a request is for; it and every column constant within each of
            its values go to the context side (:mod:`train.sides`). Defaults to the one column whose
            name says ``user``; with none, every column not in ``context`` is an item column.
    """
    if min_count < 1 or max_vocab < 1:
        raise DataError(f"min_count and max_vocab must be >= 1. Received: {min_count}, {max_vocab}")
    _check_names(path, label, {"--context": context, "--item": item, "--ignore": ignore, "--user": [user]})
    skipped = set(ignore or []) | {f.name for f in (behaviour.features if behaviour else ())}
    df = next(iter(iter_chunks(path, rows)), None)
    if df is None or not len(df):
        raise DataError(f"{path}: the file has no rows")
    try:
        y = df[label].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        y = np.full(len(df), np.nan)
    labels_ok = bool(np.isin(y, (0.0, 1.0)).all())
    features = [c for c in df.columns if c != label and c not in skipped]
    for name in features:
        safe = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in str(name))
        if safe != name:
            raise DataError(f"{path}: column {name!r} is not a valid field name; rename it to {safe!r}")
    sides = _context_reasons(df, features, context or [], item or [], user)
    fields, reports = [], []
    for name in features:
        spec_field, report = _field(
            name, df[name], "context" if name in sides else "item", len(df), min_count, max_vocab
        )
        report = _with_leak_or_side(
            report,
            _leak(df[name], y, spec_field["kind"] != "numeric") if labels_ok else None,
            sides.get(name),
        )
        if not report.leak:
            fields.append(spec_field)
        reports.append(report)
    if not fields:
        raise DataError(f"{path}: no feature columns besides the label {label!r}")
    data: dict[str, Any] = {"format_version": 1, "label": label, "fields": fields}
    if behaviour is not None:
        by_name = {f["name"]: f for f in fields}
        for feature in behaviour.features:
            spec_field, why = behaviour_field(feature, by_name.get(feature.of or ""), behaviour)
            fields.append(spec_field)
            reports.append(ColumnReport(feature.name, f"{spec_field['kind']} ({spec_field['side']})", why, 0))
        data["behaviour"] = behaviour.to_dict()
    return FeatureSpec.from_dict(data), reports


def infer_spec(
    path: str | Path, label: str, context: list[str] | None = None, rows: int = 100_000
) -> FeatureSpec:
    """Propose a spec from the first ``rows`` rows of a file (see :func:`infer_spec_report`)."""
    return infer_spec_report(path, label, context, rows)[0]
