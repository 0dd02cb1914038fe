"""Fitting a spec on training data, in one streaming pass: numeric statistics and vocabularies.

- Means and spreads merge chunk by chunk with Chan's parallel update of Welford's sums, so the
  variance stays exact for large values with a small spread (timestamps around 1.7e9 with std 5).
- ``bucketize`` boundaries are quantiles of a uniform sample of the whole file (bottom-k of random
  keys, i.e. reservoir sampling), so a file sorted by value gives the true quantiles.
- Vocabularies count the canonical text of every value the encoder would look up; values seen at
  least ``min_count`` times are kept, most frequent first, ties by text, at most ``max_vocab``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.categorical import categorical_text, multi_value_texts
from masknet_edge.edge_runtime.errors import EncodeError
from masknet_edge.edge_runtime.numeric import numeric_column
from masknet_edge.edge_runtime.spec import (
    CategoricalField,
    FeatureSpec,
    MultiCategoricalField,
    NumericField,
    fit_vocabulary,
)
from masknet_edge.train.io import DataError

__all__ = ["RunningMoments", "UniformSample", "fit_spec", "fit_vocabulary"]

_SAMPLE = 200_000


class RunningMoments:
    """Count, mean, spread, min and max of a stream of float arrays (Chan et al. merge)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0  # sum of squared deviations from the mean
        self.min = math.inf
        self.max = -math.inf

    def update(self, x: np.ndarray) -> None:
        """Merge a chunk of finite values."""
        if not x.size:
            return
        n_b = int(x.size)
        mean_b = float(x.mean())
        m2_b = float(np.square(x - mean_b).sum())
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * self.n * n_b / n
        self.n = n
        self.min = min(self.min, float(x.min()))
        self.max = max(self.max, float(x.max()))

    @property
    def std(self) -> float:
        """Population standard deviation (0 for fewer than two values)."""
        return math.sqrt(self.m2 / self.n) if self.n else 0.0


class UniformSample:
    """A uniform random sample of at most ``size`` values of a stream (bottom-k of random keys)."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.keys = np.empty(0)
        self.values = np.empty(0)

    def update(self, x: np.ndarray) -> None:
        """Offer every value of ``x``; each value of the stream is kept with equal probability."""
        keys = np.concatenate([self.keys, self.rng.random(x.size)])
        values = np.concatenate([self.values, x])
        if keys.size > self.size:
            keep = np.argpartition(keys, self.size - 1)[: self.size]
            keys, values = keys[keep], values[keep]
        self.keys, self.values = keys, values


class _NumericStats:
    def __init__(self, field: NumericField, seed: int) -> None:
        self.field = field
        self.moments = RunningMoments()
        wants_sample = field.transform == "bucketize" and field.boundaries is None
        self.sample = UniformSample(_SAMPLE, seed) if wants_sample else None

    def update(self, raw: np.ndarray) -> None:
        x = raw[np.isfinite(raw)]
        if self.field.transform == "log1p_standardize":
            x = np.log1p(np.maximum(x, 0.0))
        self.moments.update(x)
        if self.sample is not None and x.size:
            self.sample.update(x)

    def fitted(self) -> NumericField:
        f, m = self.field, self.moments
        if m.n == 0:
            raise DataError(
                f"field {f.name!r}: no finite values in the training data to fit {f.transform!r} on"
            )
        stats = {"mean": m.mean, "std": m.std or 1.0, "min": m.min, "max": m.max}
        if self.sample is not None:
            values = self.sample.values
            qs = np.quantile(values, np.linspace(0, 1, f.num_bins + 1)[1:-1])
            bounds = tuple(float(b) for b in np.unique(qs)) or (float(values[0]),)
            return replace(f, boundaries=bounds, **stats)
        return replace(f, **stats)


class _VocabularyCounts:
    def __init__(self, field: CategoricalField | MultiCategoricalField) -> None:
        self.field = field
        self.counts: Counter[str] = Counter()

    def update(self, column: Any, first_row: int) -> None:
        f = self.field
        try:
            if isinstance(f, CategoricalField):
                for value, count in column.value_counts(dropna=True).items():
                    try:
                        text = categorical_text(f, value)
                    except EncodeError as exc:  # name the first row holding the bad value
                        row = first_row + int(np.flatnonzero((column == value).to_numpy())[0])
                        raise EncodeError(exc.detail, field=f.name, record=row) from None
                    if text is not None:
                        self.counts[text] += int(count)
            else:
                for i, value in enumerate(column.tolist()):
                    self.counts.update(multi_value_texts(f, value, first_row + i))
        except EncodeError as exc:
            row = "" if exc.record is None else f"row {exc.record + 1}: "
            raise DataError(f"{row}field {f.name!r}: {exc.detail}") from None

    def fitted(self) -> CategoricalField | MultiCategoricalField:
        f = self.field
        return replace(f, vocabulary=fit_vocabulary(self.counts, f.min_count or 1, f.max_vocab))


def fit_spec(spec: FeatureSpec, chunks: Iterable[Any], seed: int = 0) -> FeatureSpec:
    """Fit numeric statistics and vocabularies on ``chunks`` (DataFrames); other fields are unchanged.

    Statistics already present are kept only for ``bucketize`` boundaries; means and spreads are
    always refitted on the training data, which is what serving must match. A vocabulary is fitted
    when the field sets ``min_count`` (a given ``vocabulary`` without ``min_count`` is kept as is).
    """
    numeric = {f.name: _NumericStats(f, seed) for f in spec.fields if isinstance(f, NumericField)}
    vocabs = {
        f.name: _VocabularyCounts(f)
        for f in spec.fields
        if f.reads_text  # a categorical or multi-valued field: an id space of texts
        and f.min_count is not None
        and getattr(f, "shares", None) is None  # a shared id space is fitted by its owner
    }
    first = 0
    for chunk in chunks:
        for st in numeric.values():
            col = st.field.column
            if col in chunk.columns:
                try:  # the encoder's own reading of numbers: statistics fit what serving will see
                    x, missing = numeric_column(st.field, chunk[col].to_numpy(), len(chunk))
                except EncodeError as exc:
                    row = "" if exc.record is None else f"row {first + exc.record + 1}: "
                    raise DataError(f"{row}column {col!r}: {exc.detail}") from None
                st.update(x[~missing])
        for name, vc in vocabs.items():
            if name in chunk.columns:
                vc.update(chunk[name], first)
        first += len(chunk)
    fitted = spec
    for st in (*numeric.values(), *vocabs.values()):
        fitted = fitted.with_field(st.fitted())
    return fitted
