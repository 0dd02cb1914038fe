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
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.behaviour_spec import BehaviourSpec
from masknet_edge.edge_runtime.spec import FeatureSpec
from masknet_edge.train.behaviour_fields import behaviour_field
from masknet_edge.train.io import DataError, file_columns, iter_chunks
from masknet_edge.train.sides import propose_context, user_column

__all__ = [
    "ColumnReport",
    "collision_share",
    "frequency_roughness",
    "infer_spec",
    "infer_spec_report",
    "vocabulary_keys",
]

SEPARATORS = ("|", ";")
#: At most this many distinct numbers make a column categorical whatever their shape.
FEW_VALUES = 20
#: Hashed fields get this many buckets per distinct value (5 % of values collide, 1 - e^(-1/20)).
BUCKETS_PER_VALUE = 20
MAX_BUCKETS = 1_000_000
_ID_TOKENS = {"id", "ids", "uid", "uuid", "guid"}


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


def _name_tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


def _has_id_token(name: str) -> bool:
    return any(t in _ID_TOKENS for t in _name_tokens(name))


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


def frequency_roughness(sizes: np.ndarray, freq: np.ndarray) -> float:
    """How much neighbouring values' frequencies differ, as a share of how much random pairs' do.

    The mean ``|log f(v_i+1) - log f(v_i)|`` over the distinct values in order of size, divided by the
    mean over all pairs of values (Gini's mean difference of ``log f``). A count's frequency changes
    smoothly with its size (Criteo's I1-I13: 0.11-0.31 on criteo-8k); codes numbered in order of first
    appearance put values of unrelated frequency side by side (0.45-0.94 on every text column of the
    shared data sets renumbered so). 0.0 when every value is equally frequent.
    """
    order = np.argsort(sizes, kind="stable")
    log_f = np.log(np.asarray(freq, dtype=np.float64)[order])
    n = len(log_f)
    if n < 2:
        return 0.0
    ranked = np.sort(log_f)
    all_pairs = float(np.sum((2 * np.arange(n) - n + 1) * ranked) * 2 / (n * (n - 1)))
    if all_pairs <= 0:
        return 0.0
    return float(np.mean(np.abs(np.diff(log_f)))) / all_pairs


#: Integer columns that fill at least this share of their range ...
CODE_DENSITY = 0.9
#: ... and whose frequencies are at least this rough (see :func:`frequency_roughness`) are codes.
CODE_ROUGHNESS = 0.4


def _numeric_kind(name: str, values: Any, rows: int) -> tuple[str, str]:
    """``(kind, reason)`` for a numeric column: ``categorical``, ``count``, ``measure``."""
    n_unique = int(values.nunique())
    if _has_id_token(name):
        return "categorical", f"numbers, but the name {name!r} has an id token"
    if n_unique <= FEW_VALUES:
        return "categorical", f"{n_unique} distinct numbers (<= {FEW_VALUES}): codes"
    x = values.to_numpy(dtype=np.float64)
    if not np.all(x == np.round(x)):
        return "measure", "fractional numbers"
    counts = values.value_counts()
    sizes = np.asarray(counts.index, dtype=np.float64)
    density = n_unique / (sizes.max() - sizes.min() + 1)
    roughness = frequency_roughness(sizes, counts.to_numpy())
    if density >= CODE_DENSITY and roughness >= CODE_ROUGHNESS:
        return "categorical", (
            f"integer codes: {n_unique} values fill {density:.0%} of {sizes.min():g}..{sizes.max():g} and "
            f"neighbouring values' frequencies differ as unrelated values' do (roughness {roughness:.2f} "
            f">= {CODE_ROUGHNESS}; counts change smoothly)"
        )
    sizes = np.asarray(counts.index, dtype=np.float64)
    smallest = np.sort(sizes)[:5]
    mode = sizes[int(np.argmax(counts.to_numpy()))]
    freq = counts.to_numpy()
    if freq.min() == freq.max():  # every value equally often: frequency says nothing about size
        rho = 0.0
    else:
        from scipy.stats import spearmanr

        rho = float(spearmanr(sizes, freq).statistic)
    peaked = freq.max() >= 2 * np.median(freq)  # a clear mode, not a flat spread of codes
    if mode in smallest and peaked and rho <= -0.5:
        return (
            "count",
            f"integer counts: the smallest values are the most frequent (size/frequency rho {rho:.2f})",
        )
    if rows / n_unique < 3:
        return (
            "measure",
            f"integers nearly unique per row ({n_unique} in {rows} rows): a timestamp or measure",
        )
    return "categorical", (
        f"integer codes: {n_unique} values repeat ({rows / n_unique:.0f} rows each on average) and how often "
        f"has nothing to do with how large (rho {rho:.2f})"
    )


def _numeric_transform(x: np.ndarray, kind: str, reason: str) -> tuple[str, str]:
    """``(transform, why)`` for a numeric column's values ``x`` (no missing values).

    Counts and long-tailed columns get ``log1p_standardize``, which reads a negative value as 0
    (``log1p(max(x, 0))``, as FuxiCTR treats Criteo's counts). That is right only while the negatives
    are small beside the tail (fewer than half the values, none below -5 % of the 99th percentile):
    Criteo's I2 (10 % of values in -2..-1, 99th percentile ~2,100) is logged, a balance that goes from
    -1e6 to 1e6 is standardized. Standardizing I2 instead left its tail at ~20 standard deviations
    and cost ParaMaskNet 0.004 validation AUC (BENCHMARKS.md).
    """
    if not x.size:
        return "standardize", reason
    negatives = float((x < 0).mean())
    p99 = float(np.percentile(x, 99))
    skewed = p99 > 20 * max(float(np.median(x)), 1e-9)
    if not (kind == "count" or skewed):
        return "standardize", reason
    if negatives < 0.01:
        return "log1p_standardize", reason + "; log1p for the long tail"
    lowest = float(x.min())
    if skewed and negatives < 0.5 and -lowest <= 0.05 * p99:
        return "log1p_standardize", (
            f"{reason}; log1p for the long tail (99th percentile {p99:g}); its negatives "
            f"({negatives:.0%}, down to {lowest:g}) count as 0"
        )
    return "standardize", f"{reason}; not logged: {negatives:.0%} negatives, down to {lowest:g}"


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
        kind, reason = _numeric_kind(name, values, rows)
        if kind == "categorical":
            x = values.to_numpy(dtype=np.float64)
            whole = np.all(x == np.round(x))
            if whole:  # integer codes: "2", "2.0" and 2 are one value
                text = values.astype(np.int64).astype(str)
                return _categorical(
                    name, text, side, min_count, max_vocab, reason, extra={"value_type": "integer"}
                )
            return _categorical(name, values.astype(str), side, min_count, max_vocab, reason)
        transform, why = _numeric_transform(values.to_numpy(dtype=np.float64), kind, reason)
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
        user = user_column(features, {c: _name_tokens(c) for c in features})
    if user is not None and user in features and user not in item:
        free = [c for c in features if c not in context and c not in item]
        proposal = propose_context(df, user, free)
        for column, why in proposal.reasons.items():
            reasons.setdefault(column, f"{why} (--item {column} to keep it on the item side)")
    return reasons


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
    columns = file_columns(path)
    if label not in columns:
        raise DataError(f"{path}: no label column {label!r}; columns: {columns}")
    for option, names in (("--context", context), ("--item", item), ("--ignore", ignore), ("--user", [user])):
        unknown = [c for c in (names or []) if c is not None and c not in columns]
        if unknown:
            raise DataError(f"{path}: {option} names columns that are not in the file: {unknown}")
    both = sorted(set(context or []) & set(item or []))
    if both:
        raise DataError(f"{path}: {both} named both by --context and by --item; name each column once")
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
        leak = _leak(df[name], y, spec_field["kind"] != "numeric") if labels_ok else None
        if leak:
            report = ColumnReport(
                name,
                "left out (label leak?)",
                f"{leak}; add it to the spec by hand if it is known at serving time",
                report.distinct,
                leak=True,
            )
        else:
            fields.append(spec_field)
            if name in sides:
                report = replace(report, reason=f"{report.reason}; context side: {sides[name]}")
        reports.append(report)
    if not fields:
        raise DataError(f"{path}: no feature columns besides the label {label!r}")
    data: dict[str, Any] = {"format_version": 1, "label": label, "fields": fields}
    if behaviour is not None:
        by_name = {f["name"]: f for f in fields}
        for feature in behaviour.features:
            spec_field, why = behaviour_field(feature, by_name.get(feature.of or ""))
            fields.append(spec_field)
            reports.append(ColumnReport(feature.name, f"{spec_field['kind']} ({spec_field['side']})", why, 0))
        data["behaviour"] = behaviour.to_dict()
    return FeatureSpec.from_dict(data), reports


def infer_spec(
    path: str | Path, label: str, context: list[str] | None = None, rows: int = 100_000
) -> FeatureSpec:
    """Propose a spec from the first ``rows`` rows of a file (see :func:`infer_spec_report`)."""
    return infer_spec_report(path, label, context, rows)[0]
