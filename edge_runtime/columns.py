"""Uniform column access over the forms records come in: a list of dicts, a dict of columns, or a
pandas DataFrame (duck-typed: pandas is never imported)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.errors import EncodeError

__all__ = ["Columns", "columns_of"]


def _is_dataframe(obj: Any) -> bool:
    return hasattr(obj, "columns") and hasattr(obj, "iloc") and not isinstance(obj, Mapping)


class Columns:
    """Uniform column access over list-of-dicts, dict-of-columns and DataFrames."""

    def __init__(self, records: Any, what: str, extra: Mapping[str, Any] | None = None) -> None:
        self._extra = extra or {}  # columns computed on the device (behaviour fields): they win
        self._records = None
        self._pending: frozenset[str] = frozenset()
        self._columns: Mapping[str, Any] | None = None
        self._frame = None
        if _is_dataframe(records):
            self._frame = records
            self.n = len(records)
        elif isinstance(records, Mapping):
            self._columns = records
            lengths = {}
            for k, v in records.items():
                if isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
                    raise EncodeError(
                        f"{what} given as a dict of columns, but column {k!r} is not a list or array "
                        f"(got {type(v).__name__}); pass one dict per record as a list",
                        field=str(k),
                    )
                lengths[k] = len(v)
            if len(set(lengths.values())) > 1:
                raise EncodeError(f"{what} columns have different lengths: {lengths}")
            self.n = next(iter(lengths.values()), 0)
        elif isinstance(records, Sequence) and not isinstance(records, (str, bytes)):
            if set(map(type, records)) - {dict}:  # a C-level pass; the loop only for other types
                for i, r in enumerate(records):
                    if not isinstance(r, Mapping):
                        raise EncodeError(
                            f"expected a mapping of field -> value, got {type(r).__name__}", record=i
                        )
            self._records = records
            self._transposed: dict[str, Any] = {}
            self.n = len(records)
        else:
            raise EncodeError(
                f"{what} must be a list of dicts, a dict of columns or a DataFrame; "
                f"got {type(records).__name__}"
            )

    def get(self, name: str) -> list[Any] | np.ndarray | None:
        """The column, or None when absent everywhere."""
        if name in self._extra:
            return self._extra[name]
        if self._frame is not None:
            if name not in self._frame.columns:
                return None
            return self._frame[name].to_numpy()
        if self._columns is not None:
            col = self._columns.get(name)
            if col is None:
                return None
            return col if isinstance(col, np.ndarray) else list(col)
        col = self._transposed.get(name)
        if col is not None:
            return col
        if name in self._pending:
            self._transpose(self._pending)
            self._pending = frozenset()
            col = self._transposed.get(name)
            if col is not None:
                return col
        return [r.get(name) for r in self._records]

    def prefetch(self, names: Sequence[str]) -> None:
        """Announce the columns that will be read: list-of-dict records are transposed into them in
        one C-level pass at the first :meth:`get` of one (not at all when the compiled fast path of
        :meth:`dict_records` reads them all)."""
        if self._records is not None:
            self._pending = frozenset(n for n in names if n not in self._extra)

    def dict_records(self, names: Sequence[str]) -> list[Any] | None:
        """The records as a list, for the compiled fast path to read ``names`` from; None when the
        records are not a sequence of dicts or one of the names is a device-computed column."""
        if self._records is None or any(name in self._extra for name in names):
            return None
        records = self._records
        return records if type(records) is list else list(records)

    def _transpose(self, names: frozenset[str]) -> None:
        """Columns from list-of-dict records in one C-level pass when every record has every
        column (the common case); otherwise columns are gathered one by one in :meth:`get`."""
        names_list = sorted(names)
        if len(names_list) < 2 or not self.n:
            return
        try:
            rows = list(map(itemgetter(*names_list), self._records))
        except (KeyError, TypeError):
            return
        self._transposed = dict(zip(names_list, zip(*rows, strict=True), strict=True))  # read-only tuples


def columns_of(records: Any, names: Sequence[str], what: str = "candidates") -> tuple[int, dict[str, Any]]:
    """The number of records and the named columns (None where absent) of records given in any of
    the encoder's forms (dicts, a dict of columns, a DataFrame)."""
    cols = Columns(records, what)
    return cols.n, {name: cols.get(name) for name in names}
