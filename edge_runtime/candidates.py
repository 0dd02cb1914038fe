"""Candidates as a request brings them (a list of dicts, any iterable, a dict of columns or a
DataFrame), and the top-k rule of ranking: ties go to the earlier candidate (ENCODING.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.errors import ArgumentError, EncodeError

__all__ = ["carried_columns", "check_k", "materialized", "rows_of", "top_indices"]


def materialized(candidates: Any) -> Any:
    """Columns (a mapping or a DataFrame) and sequences as they are; any other iterable (a generator)
    as a list, so that it can be encoded and then returned."""
    if type(candidates) is list:  # the common case first: no abstract-class check
        return candidates
    if isinstance(candidates, (Mapping, list, tuple)) or _is_frame(candidates):
        return candidates
    if isinstance(candidates, (str, bytes)) or not hasattr(candidates, "__iter__"):
        raise EncodeError(
            "candidates must be dicts (a list or any iterable), a dict of columns or a DataFrame; "
            f"got {type(candidates).__name__}"
        )
    return list(candidates)


def _is_frame(obj: Any) -> bool:
    return hasattr(obj, "to_dict") and hasattr(obj, "columns")


def rows_of(candidates: Any) -> list[Any]:
    """The candidates as a list of records, whatever form they came in."""
    if isinstance(candidates, Mapping):
        keys = list(candidates)
        n = len(candidates[keys[0]]) if keys else 0
        return [{k: candidates[k][i] for k in keys} for i in range(n)]
    if _is_frame(candidates):
        return candidates.to_dict("records")
    return list(candidates)


def carried_columns(candidates: Any) -> set[str]:
    """The columns candidates carry: a dict's or a DataFrame's, else the first record's keys."""
    if _is_frame(candidates):
        return set(candidates.columns)
    if isinstance(candidates, Mapping):
        return set(candidates)
    first = candidates[0] if len(candidates) else {}
    return set(first) if isinstance(first, Mapping) else set()


def check_k(k: Any) -> None:
    """``k`` is an integer >= 1."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ArgumentError(f"Expected k to be an integer >= 1. Received: k={k!r}")


def top_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best scores, best first; ties go to the earlier candidate (index-stable).

    Quantized models tie often; a tie at the k-th place is broken by candidate order, so the same
    request always returns the same items, on every platform.
    """
    check_k(k)
    k = min(k, len(scores))
    if k == len(scores):
        return np.argsort(-scores, kind="stable")
    kth = -np.partition(-scores, k - 1)[k - 1]  # the k-th best score
    above = np.flatnonzero(scores > kth)
    tied = np.flatnonzero(scores == kth)[: k - len(above)]  # the earliest of the tied candidates
    part = np.concatenate([above, tied])
    return part[np.lexsort((part, -scores[part]))]
