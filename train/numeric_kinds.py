"""What a numeric column is — a code, a count or a measure — and how a numeric field is transformed.

``spec infer`` (:mod:`train.infer`) asks :func:`numeric_kind` about every column of numbers and
:func:`numeric_transform` about the ones that stay numeric; each answer comes with the reason the
report prints.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

__all__ = [
    "CODE_DENSITY",
    "CODE_ROUGHNESS",
    "FEW_VALUES",
    "frequency_roughness",
    "has_id_token",
    "name_tokens",
    "numeric_kind",
    "numeric_transform",
]

#: At most this many distinct numbers make a column categorical whatever their shape.
FEW_VALUES = 20
_ID_TOKENS = {"id", "ids", "uid", "uuid", "guid"}


def name_tokens(name: str) -> list[str]:
    """The lower-case words of a column name (``userId`` -> ``["user", "id"]``)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


def has_id_token(name: str) -> bool:
    """Whether a column name has an id word (``user_id``, ``itemId``; not ``paid``, ``valid``)."""
    return any(t in _ID_TOKENS for t in name_tokens(name))


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


def numeric_kind(name: str, values: Any, rows: int) -> tuple[str, str]:
    """``(kind, reason)`` for a numeric column: ``categorical``, ``count``, ``measure``."""
    n_unique = int(values.nunique())
    if has_id_token(name):
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


def numeric_transform(x: np.ndarray, kind: str, reason: str) -> tuple[str, str]:
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
