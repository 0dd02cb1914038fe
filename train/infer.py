"""``masknet spec infer``: propose a feature spec from a data file (kinds, buckets, separators)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.spec import FeatureSpec
from train.io import DataError, file_columns, iter_chunks

__all__ = ["infer_spec"]

SEPARATORS = ("|", ";")


def _buckets(cardinality: int) -> int:
    return int(min(max(8, 2 * cardinality), 1_000_000))


def _field(name: str, col: Any, side: str) -> dict[str, Any]:
    values = col.dropna()
    n_unique = int(values.nunique())
    idlike = name.lower() == "id" or name.lower().endswith(("_id", "id"))
    if col.dtype.kind in "iuf" and not idlike:
        if n_unique <= 20:
            return {"name": name, "kind": "categorical", "side": side, "num_buckets": _buckets(n_unique)}
        x = values.to_numpy(dtype=np.float64)
        skewed = x.min() >= 0 and np.percentile(x, 99) > 20 * max(np.median(x), 1e-9)
        transform = "log1p_standardize" if skewed else "standardize"
        return {"name": name, "kind": "numeric", "side": side, "transform": transform}
    text = values.astype(str)
    for sep in SEPARATORS:
        has = text.str.contains(sep, regex=False)
        if len(text) and has.mean() > 0.05:
            parts = text.str.split(sep, regex=False)
            lengths = parts.str.len()
            tokens = {t for row in parts for t in row}
            return {
                "name": name,
                "kind": "multi_categorical",
                "side": side,
                "num_buckets": _buckets(len(tokens)),
                "max_length": int(max(1, np.percentile(lengths, 95))),
                "separator": sep,
                "pooling": "mean",
            }
    return {"name": name, "kind": "categorical", "side": side, "num_buckets": _buckets(n_unique)}


def infer_spec(
    path: str | Path, label: str, context: list[str] | None = None, rows: int = 100_000
) -> FeatureSpec:
    """Propose a spec from the first ``rows`` rows of a file.

    Kinds come from dtypes (numbers with more than 20 values are numeric, ids and text categorical),
    multi-valued columns are detected by a separator (``|`` or ``;``) in more than 5% of values,
    bucket counts are twice the distinct values seen. Columns named in ``context`` are on the
    context side, the rest on the item side.
    """
    columns = file_columns(path)
    if label not in columns:
        raise DataError(f"{path}: no label column {label!r}; columns: {columns}")
    unknown = [c for c in (context or []) if c not in columns]
    if unknown:
        raise DataError(f"{path}: --context names columns that are not in the file: {unknown}")
    df = next(iter(iter_chunks(path, rows)), None)
    if df is None or not len(df):
        raise DataError(f"{path}: the file has no rows")
    ctx = set(context or [])
    fields = []
    for name in df.columns:
        if name == label:
            continue
        safe = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in str(name))
        if safe != name:
            raise DataError(f"{path}: column {name!r} is not a valid field name; rename it to {safe!r}")
        fields.append(_field(name, df[name], "context" if name in ctx else "item"))
    return FeatureSpec.from_dict({"format_version": 1, "label": label, "fields": fields})
