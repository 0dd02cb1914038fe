"""Numeric fields as model inputs: their transforms (one table per list of fields, built once) and the
buckets of bucketized fields (ids, and the fingerprints crosses chain)."""

from __future__ import annotations

from typing import Any

import numpy as np

from masknet_edge.edge_runtime import hashing
from masknet_edge.edge_runtime.numeric import TransformTable, plain_numbers
from masknet_edge.edge_runtime.spec import FeatureSpec, NumericField

__all__ = ["NumericEncoding"]


class NumericEncoding:
    """The transforms and buckets of a spec's numeric fields.

    Args:
        spec: a fitted spec.
    """

    def __init__(self, spec: FeatureSpec) -> None:
        self.offsets = spec.vocab_offsets()
        self.tables: dict[tuple[str, ...], TransformTable] = {}
        self.bucket_fps = {
            f.name: hashing.fingerprints([str(i) for i in range(len(f.boundaries) + 1)])
            for f in spec.fields
            if isinstance(f, NumericField) and f.is_bucketized
        }

    def block(self, fields: list[NumericField], raws: list[Any], n: int) -> np.ndarray | None:
        """Model inputs of all plain numeric fields at once, from their raw columns (the fast path);
        None when a column needs a closer look (texts, times, infinities, a required value missing)."""
        if not all(plain_numbers(r) for r in raws):
            return None
        try:
            x = np.array(raws, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            return None
        if x.shape != (len(fields), n):
            return None
        return self.values(fields, x)

    def values(self, fields: list[NumericField], x: np.ndarray) -> np.ndarray | None:
        """Model inputs of raw float64 values ``[fields, n]`` (changed in place); None when a value
        needs the field-by-field path's error (infinite, or missing in a required field)."""
        if np.isinf(x).any():
            return None
        missing = np.isnan(x)
        if missing.any() and any(f.required for f in fields):
            return None
        return self.table(fields).apply(x, missing)

    def table(self, fields: list[NumericField]) -> TransformTable:
        """The transform table of these fields (built once per distinct list)."""
        key = tuple(f.name for f in fields)
        table = self.tables.get(key)
        if table is None:
            table = self.tables[key] = TransformTable(fields)
        return table

    def transform(self, f: NumericField, x: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """One field's model inputs (the same table, one row)."""
        return self.table([f]).apply(x[None].copy(), missing[None])[0]

    def bucket_ids(
        self, f: NumericField, x: np.ndarray, missing: np.ndarray
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Offset ids of a bucketized field, and the bucket fingerprints crosses chain."""
        if f.default is not None and missing.any():  # a default is a value: it has a bin
            x = np.where(missing, float(f.default), x)
            missing = np.zeros(len(x), bool)
        b = np.searchsorted(np.asarray(f.boundaries, dtype=np.float64), x, side="right")
        ids = (self.offsets[f.name] + 1 + b).astype(np.int32)
        ids[missing] = self.offsets[f.name]
        return ids, (self.bucket_fps[f.name][b], missing)
