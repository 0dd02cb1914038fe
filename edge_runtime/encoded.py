"""What the encoder works with: a request side's encoded fields (:class:`EncodedPart`) and the
per-side work list it computes once (:class:`Plan`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.spec import NumericField

__all__ = ["EncodedPart", "Plan", "reuse_key", "rows_of"]


@dataclass(frozen=True)
class Plan:
    """How one side's fields are encoded: ``single`` (name, field, column) one by one, ``dense`` the
    plain numeric fields as one block, ``columns`` all columns read, ``batchable`` the plain
    categorical fields whose ids are looked up all at once, and what the compiled fast path reads:
    the two groups' names, columns and transform rows."""

    single: list[tuple[str, Any, str]]
    dense: list[NumericField]
    columns: list[str]
    batchable: list[tuple[str, Any, str]]
    id_names: tuple[str, ...]
    id_columns: tuple[str, ...]
    num_names: tuple[str, ...]
    num_columns: tuple[str, ...]
    num_rules: tuple[tuple[Any, ...], ...]


@dataclass
class EncodedPart:
    """Encoded fields of one side of a request: ``n`` rows (1 for a context).

    ``ids`` maps an id-field name to int32 offset ids; ``fps`` holds the uint64 fingerprints (and
    ``missing`` masks) that crosses need; ``dense`` maps numeric field names to float32 values;
    ``multi`` maps multi-valued field names to ``(ids, mask)``.
    """

    n: int
    ids: dict[str, np.ndarray]
    fps: dict[str, tuple[np.ndarray, np.ndarray]]
    dense: dict[str, np.ndarray]
    multi: dict[str, tuple[np.ndarray, np.ndarray]]

    def freeze(self) -> None:
        """Make every array read-only (a part shared between requests)."""
        pairs = (*self.fps.values(), *self.multi.values())
        for a in (*self.ids.values(), *self.dense.values(), *(x for pair in pairs for x in pair)):
            a.flags.writeable = False

    def take(self, rows: np.ndarray) -> EncodedPart:
        """The selected rows of this part."""
        return EncodedPart(
            n=len(rows),
            ids={k: v[rows] for k, v in self.ids.items()},
            fps={k: (f[rows], m[rows]) for k, (f, m) in self.fps.items()},
            dense={k: v[rows] for k, v in self.dense.items()},
            multi={k: (i[rows], m[rows]) for k, (i, m) in self.multi.items()},
        )


def rows_of(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` (one row, or ``n``) as ``n`` contiguous, writable rows: a part's own array when it is
    one already (a shared, read-only part is copied)."""
    if a.shape[0] != n:
        return np.repeat(a, n, axis=0)
    return a if a.flags.c_contiguous and a.flags.writeable else a.copy()


#: Value types whose equal values (of one type) always encode alike.
_ALIKE = frozenset((str, int, float, bool, type(None)))


def reuse_key(values: tuple[Any, ...]) -> Any:
    """What a context's encoding may be reused for: its raw values with their types (``1 == True``,
    but they do not encode alike), a list of texts (a behaviour log's history) as their tuple; None
    when a value is of another type, or a list holds anything but texts (never reused)."""
    types = tuple(map(type, values))
    if not set(types) <= _ALIKE | {list}:
        return None
    if list in types:
        if not all(set(map(type, v)) <= {str} for v, t in zip(values, types, strict=True) if t is list):
            return None
        values = tuple(tuple(v) if t is list else v for v, t in zip(values, types, strict=True))
    return (values, types)
