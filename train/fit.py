"""Fitting a spec's numeric transforms on training data, in one streaming pass."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from edge_runtime.spec import FeatureSpec, NumericField
from train.io import DataError

__all__ = ["fit_spec"]

_SAMPLE = 200_000


class _Stats:
    def __init__(self, field: NumericField, seed: int) -> None:
        self.field = field
        self.n = 0
        self.sum = 0.0
        self.sumsq = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.sample: list[np.ndarray] = []
        self.sampled = 0
        self.rng = np.random.default_rng(seed)

    def update(self, raw: Any) -> None:
        x = np.asarray(raw, dtype=np.float64)
        x = x[np.isfinite(x)]
        if self.field.transform == "log1p_standardize":
            x = np.log1p(np.maximum(x, 0.0))
        if not x.size:
            return
        self.n += x.size
        self.sum += float(x.sum())
        self.sumsq += float(np.square(x).sum())
        self.min = min(self.min, float(x.min()))
        self.max = max(self.max, float(x.max()))
        if self.field.transform == "bucketize" and self.field.boundaries is None:
            keep = x if self.sampled < _SAMPLE else x[self.rng.random(x.size) < _SAMPLE / (self.n + 1)]
            self.sample.append(keep[:_SAMPLE])
            self.sampled += keep.size

    def fitted(self) -> NumericField:
        f = self.field
        if self.n == 0:
            raise DataError(
                f"field {f.name!r}: no finite values in the training data to fit {f.transform!r} on"
            )
        mean = self.sum / self.n
        std = math.sqrt(max(self.sumsq / self.n - mean * mean, 0.0)) or 1.0
        if f.transform == "bucketize":
            if f.boundaries is not None:
                return f
            values = np.concatenate(self.sample)
            qs = np.quantile(values, np.linspace(0, 1, f.num_bins + 1)[1:-1])
            bounds = tuple(float(b) for b in np.unique(qs))
            if not bounds:
                bounds = (float(values[0]),)
            return replace(f, boundaries=bounds, mean=mean, std=std, min=self.min, max=self.max)
        return replace(f, mean=mean, std=std, min=self.min, max=self.max)


def fit_spec(spec: FeatureSpec, chunks: Iterable[Any], seed: int = 0) -> FeatureSpec:
    """Fit every numeric field's statistics on ``chunks`` (DataFrames); other fields are unchanged.

    Statistics already present (e.g. given boundaries) are kept only for ``bucketize`` boundaries;
    means and spreads are always refitted on the training data, which is what serving must match.
    """
    stats = {f.name: _Stats(f, seed) for f in spec.fields if isinstance(f, NumericField)}
    for chunk in chunks:
        for name, st in stats.items():
            col = st.field.column
            if col in chunk.columns:
                try:
                    st.update(chunk[col].to_numpy(dtype=np.float64, na_value=np.nan))
                except (TypeError, ValueError):
                    raise DataError(
                        f"column {col!r}: values are not numeric; field {name!r} is numeric"
                    ) from None
    fitted = spec
    for st in stats.values():
        fitted = fitted.with_field(st.fitted())
    return fitted
