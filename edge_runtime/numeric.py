"""Numeric fields: reading raw values (numbers, texts, missing) and the one transform rule.

:func:`numeric_column` turns a raw column into float64 values and a missing mask (training fits its
statistics on exactly these); :class:`TransformTable` applies the fields' transforms, one field or
many at once, from a single table of shift / scale / clip / fill per field, so the rule exists once
in Python. The compiled fast path (``edge_runtime/_fastcols.c``) applies the same table's rows in C
for lists of dicts on the device; ``tests/edge_runtime/test_native.py`` proves both give the same
arrays.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

import numpy as np

from masknet_edge.edge_runtime import hashing
from masknet_edge.edge_runtime.errors import EncodeError
from masknet_edge.edge_runtime.spec import NumericField

__all__ = ["NUMERIC_MISSING_TEXTS", "TransformTable", "numeric_column", "parse_number_text", "plain_numbers"]


#: Texts that mean "missing" in a numeric field: what pandas reads as missing in a CSV file, so an
#: app's "NA" and a file's NA cell agree.
NUMERIC_MISSING_TEXTS = frozenset(
    (
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    )
)
_INFINITE = re.compile(r"[+-]?(inf|infinity)", re.IGNORECASE)


def parse_number_text(text: str) -> float:
    """A numeric field's value given as text: a decimal number, surrounding whitespace ignored.

    The missing texts (:data:`NUMERIC_MISSING_TEXTS`) give NaN, ``inf``/``infinity`` give an infinity
    (which the encoder refuses); anything else (``1_000``, ``0x10``, ``1,5``) raises ``ValueError``.
    """
    t = text.strip(" \t\r\n")
    if t in NUMERIC_MISSING_TEXTS:
        return math.nan
    if len(t) <= 64 and (hashing.DECIMAL_TEXT.fullmatch(t) or _INFINITE.fullmatch(t)):
        return float(t)
    raise ValueError(f"cannot parse {text[:40]!r} as a number")


def numeric_column(f: NumericField, values: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw float64 values and missing mask of one numeric column (errors name the raw column).

    Numbers are taken as float64 (booleans as 0/1), texts through :func:`parse_number_text`;
    ``None``/NaN are missing; infinities and other types are errors. Training fits the statistics on
    exactly these values.
    """
    if values is None:
        if f.required and n:
            raise EncodeError("required field is missing", field=f.column, record=0)
        return np.zeros(n, np.float64), np.ones(n, bool)
    x = None
    kind = getattr(getattr(values, "dtype", None), "kind", "")
    if kind in ("M", "m"):  # numpy would silently turn times into counts of days or nanoseconds
        raise EncodeError(
            f"expected numbers, got a column of {values.dtype}; convert times to numbers first",
            field=f.column,
            record=0,
        )
    if plain_numbers(values):
        try:  # numbers (and None -> NaN) in one go; texts parse one by one (numpy takes "1_000")
            x = np.asarray(values, dtype=np.float64)
            if x.shape != (n,):
                x = None
        except (TypeError, ValueError, OverflowError):
            x = None
    if x is None and isinstance(values, (list, tuple)) and len(values) == n:
        x = _decimal_texts(values)
    if x is None:
        x = np.empty(n, np.float64)
        for i, v in enumerate(values.tolist() if isinstance(values, np.ndarray) else values):
            x[i] = _parse_number(f.column, v, i)
    missing = np.isnan(x)
    if np.isinf(x).any():
        i = int(np.flatnonzero(np.isinf(x))[0])
        raise EncodeError(
            f"value {x[i]} is not finite; numeric values must be finite", field=f.column, record=i
        )
    if f.required and missing.any():
        raise EncodeError(
            "required field is missing (None/NaN)", field=f.column, record=int(np.flatnonzero(missing)[0])
        )
    return x, missing


def _decimal_texts(values: list[Any] | tuple[Any, ...]) -> np.ndarray | None:
    """A column of texts that are all plain decimal numbers (what a CSV read as text gives), parsed
    in one C-level pass each for the check and the conversion; None when any value is not such a
    text (missing texts, other types, errors): those take the value-by-value path, which names them.
    The same texts, the same floats as :func:`parse_number_text`."""
    if set(map(type, values)) != {str}:
        return None
    texts = [v.strip(" \t\r\n") for v in values]
    if max(map(len, texts)) > 64 or not all(map(hashing.DECIMAL_TEXT.fullmatch, texts)):
        return None
    return np.fromiter(map(float, texts), dtype=np.float64, count=len(texts))


#: Element types that the one-go float conversion would mishandle: texts are parsed one by one,
#: times would silently become numbers (they are errors), ``pd.NA`` is missing.
_TIMES = (np.datetime64, np.timedelta64, datetime.date, datetime.time, datetime.timedelta)
_NOT_PLAIN_NUMBERS = {str, bytes, datetime.datetime, *_TIMES}


def plain_numbers(values: Any) -> bool:
    """Whether a column can be converted to float64 in one go: numbers, booleans and None only.
    Texts are parsed one by one (numpy would take "1_000" as 1000), times are errors (numpy would
    make them counts of days), ``pd.NA`` is missing; those take the value-by-value path."""
    if values is None:
        return False
    kind = getattr(getattr(values, "dtype", None), "kind", None)
    if kind is not None:
        return kind in "biuf"
    return not (set(map(type, values)) & _NOT_PLAIN_NUMBERS)


def _parse_number(name: str, v: Any, i: int) -> float:
    if v is None or hashing.is_pandas_missing(v):
        return math.nan
    if isinstance(v, _TIMES):  # numpy counts np.timedelta64 among its integers
        raise EncodeError(
            f"expected a number, got {type(v).__name__}; convert times to numbers first", field=name, record=i
        )
    if isinstance(v, (bool, np.bool_)):
        return float(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        try:
            return float(v)
        except OverflowError:
            raise EncodeError(f"number {v} is too large", field=name, record=i) from None
    if isinstance(v, (str, bytes)):
        try:
            text = v.decode("utf-8") if isinstance(v, bytes) else v
            return parse_number_text(text)
        except UnicodeDecodeError:
            raise EncodeError("bytes are not valid UTF-8", field=name, record=i) from None
        except ValueError as exc:
            raise EncodeError(str(exc), field=name, record=i) from None
    raise EncodeError(f"expected a number, got {type(v).__name__}", field=name, record=i)


def _rule(f: NumericField) -> tuple[bool, float, float, float, float, float]:
    """One field's row of the table: ``(log1p, shift, scale, lo, hi, fill)`` (ENCODING.md §7)."""
    log1p = f.transform == "log1p_standardize"
    if f.transform in ("standardize", "log1p_standardize"):
        shift, scale, lo, hi = f.mean, f.std, -f.clip, f.clip
    elif f.transform == "minmax":
        shift, scale = f.min, (f.max - f.min) or 1.0
        lo, hi = max(0.0, -f.clip), min(1.0, f.clip)
    elif f.transform == "none":
        shift, scale, lo, hi = 0.0, 1.0, -f.clip, f.clip
    else:  # pragma: no cover - validated by the spec
        raise AssertionError(f.transform)
    # A missing value becomes the default's transform; without a default, the training mean's
    # (0 once standardized; the raw mean, or 0, for ``none``).
    if f.default is None and f.transform in ("standardize", "log1p_standardize"):
        fill = 0.0
    else:
        ref = f.default if f.default is not None else (f.mean or 0.0)
        g = math.log1p(max(ref, 0.0)) if log1p else ref
        fill = (g - shift) / scale
    return log1p, shift, scale, lo, hi, min(max(fill, lo), hi)


class TransformTable:
    """The transforms of some numeric fields, one row each: ``y = clip((g(x) - shift) / scale, lo,
    hi)`` with ``g(x) = log1p(max(x, 0))`` for ``log1p_standardize`` and ``x`` otherwise; a missing
    value gets the row's ``fill``. One field or many at once run the same code.

    >>> from masknet_edge.edge_runtime.spec import FeatureSpec
    >>> f = FeatureSpec.from_dict({"fields": [{"name": "p", "kind": "numeric", "side": "item",
    ...     "transform": "standardize", "mean": 10.0, "std": 2.0}]})["p"]
    >>> TransformTable([f]).apply(np.array([[14.0, np.nan]]), np.array([[False, True]])).tolist()
    [[2.0, 0.0]]
    """

    def __init__(self, fields: list[NumericField]) -> None:
        rows = [_rule(f) for f in fields]
        self.names = tuple(f.name for f in fields)
        #: The rows as the compiled fast path reads them (``edge_runtime/_fastcols.c`` ``numbers``,
        #: the same formula in C): ``(log1p, shift, scale, lo, hi, fill, required)`` per field.
        self.rules = tuple(
            (bool(r[0]), *map(float, r[1:]), bool(f.required)) for r, f in zip(rows, fields, strict=True)
        )
        self._log_rows = np.array([i for i, r in enumerate(rows) if r[0]], dtype=np.intp)
        columns = np.array([r[1:] for r in rows], dtype=np.float64).reshape(len(rows), 5).T[..., None]
        self._shift, self._scale, self._lo, self._hi, self._fill = columns

    def apply(self, x: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """float32 ``[fields, n]`` model inputs from float64 raw values ``x`` (changed in place) and
        their missing mask, both ``[fields, n]``."""
        with np.errstate(over="ignore", invalid="ignore"):
            if self._log_rows.size:
                x[self._log_rows] = np.log1p(np.maximum(x[self._log_rows], 0.0))
            y = (x - self._shift) / self._scale
            np.clip(y, self._lo, self._hi, out=y)
            if missing.any():
                y = np.where(missing, self._fill, y)
        return y.astype(np.float32)
