"""The feature hash: FarmHash Fingerprint64 of UTF-8 text, modulo the bucket count.

This is exactly the function TensorFlow uses in ``tf.strings.to_hash_bucket_fast``,
``keras.layers.Hashing`` (integers are hashed as their decimal text) and ``tf.sparse.cross_hashed``
(crosses chain the per-column fingerprints with ``FingerprintCat64`` from the key ``0xDECAFCAFFE``).
It is public API so that ports (Android: Guava's ``Hashing.farmHashFingerprint64()``; iOS/C++: the
reference ``farmhash::Fingerprint64``) can reproduce every bucket bit for bit.

Canonical text of a value (what is hashed):

========================  =====================================================
value                     text
========================  =====================================================
``str``                   itself, UTF-8 encoded (must be encodable)
``bytes``                 must be valid UTF-8; hashed as those bytes
``bool``                  ``"true"`` / ``"false"`` (as ``tf.strings.as_string``)
``int`` (numpy ints too)  decimal, e.g. ``"-12"``
``float`` whole number    as the int, so ``3.0`` -> ``"3"`` (CSV readers turn ids into floats)
``float`` otherwise       shortest round-trip ``repr``, e.g. ``"0.25"``, ``"inf"``
``None`` / NaN            missing: never hashed, the field's missing bucket is used
========================  =====================================================

That is the ``text`` value type. A categorical field may declare its values ``integer`` or
``boolean`` instead (see :data:`VALUE_TYPES`); then every spelling of one value has one text, so a
file's ``"2.0"``, an app's ``2`` and numpy's ``int64(2)`` hash alike in an integer field, and
``"True"``, ``True`` and ``np.bool_(True)`` alike in a boolean one:

- ``integer``: ints (not bools) as decimal; whole finite floats as the int; texts of an integer
  (``"+0012"`` -> ``"12"``) or of a whole decimal number (``"2.0"``, ``"1e3"``; no whitespace,
  underscores, hex, ``inf`` or ``nan``) likewise; anything else is an error.
- ``boolean``: bools; the ints/whole floats ``0``/``1``; texts ``true``/``false`` in any case and
  ``"1"``/``"0"``; anything else is an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

try:  # the compiled binding: Linux x86-64 wheels only
    from farmhash import fingerprint64 as _fingerprint64

    FARMHASH = "pyfarmhash"
except ImportError:  # arm64, 32-bit ARM, macOS, Windows without a compiler: the same function in Python
    from masknet_edge.edge_runtime.farmhash64 import fingerprint64 as _fingerprint64

    FARMHASH = "python"

__all__ = [
    "CROSS_HASH_KEY",
    "FARMHASH",
    "VALUE_TYPES",
    "canonical_text",
    "cross_fingerprints",
    "cross_hash_bucket",
    "fingerprint64",
    "fingerprints",
    "hash_bucket",
]

#: What a categorical field's values are; each has its own canonical text (module docstring).
VALUE_TYPES = ("text", "integer", "boolean")
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
#: A decimal number as text: no whitespace, underscores, hex, inf or nan (what every port can parse);
#: ENCODING.md §3.3 and §7.1.
DECIMAL_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_BOOL_TEXTS = {"true": "true", "false": "false", "1": "true", "0": "false"}
#: Longest text parsed as an integer (Python refuses to convert more than 4,300 digits).
_MAX_INT_DIGITS = 1000

#: The ``hash_key`` that ``tf.sparse.cross_hashed`` starts from when none is given.
CROSS_HASH_KEY = 0xDECAFCAFFE
_K_MUL = np.uint64(0xC6A4A7935BD1E995)
_SHIFT = np.uint64(47)


def is_pandas_missing(value: Any) -> bool:
    """Whether ``value`` is pandas' missing marker ``pd.NA`` or ``pd.NaT`` (without importing pandas)."""
    t = type(value)
    return t.__name__ in ("NAType", "NaTType") and t.__module__.startswith("pandas")


def canonical_text(value: Any, value_type: str = "text") -> str | None:
    """Return the canonical text of one categorical value, or ``None`` when it is missing.

    Args:
        value: a str, bytes, bool, int, float, numpy scalar or None.
        value_type: ``text``, ``integer`` or ``boolean`` (module docstring). Defaults to ``text``.

    Raises:
        TypeError: for any other type (lists, dicts, ...).
        ValueError: for a value that is not of ``value_type`` (``"abc"`` in an integer field).
        UnicodeError: for bytes that are not valid UTF-8.

    >>> canonical_text(3.0), canonical_text(True), canonical_text(float("nan"))
    ('3', 'true', None)
    >>> canonical_text("2.0", "integer"), canonical_text("True", "boolean")
    ('2', 'true')
    """
    if value_type == "text":
        return _text(value)
    if value_type == "integer" and type(value) is str and is_canonical_integer(value):
        return value  # a log's or a vocabulary's own text: nothing to parse
    text = _text(value)
    if not text:  # the empty text is missing in every value type, as an empty CSV cell is (§3.1)
        return None
    if value_type == "integer":
        return _integer_text(value, text)
    if value_type == "boolean":
        return _boolean_text(value, text)
    raise ValueError(f"Expected value_type in {VALUE_TYPES}. Received: value_type={value_type!r}")


def is_canonical_integer(text: str) -> bool:
    """Whether ``text`` is already the canonical text of an integer: ASCII digits, no sign, no
    leading zero (``"0"`` itself is), at most :data:`_MAX_INT_DIGITS` of them."""
    return (
        text.isascii()
        and text.isdigit()
        and (text[0] != "0" or len(text) == 1)
        and len(text) <= _MAX_INT_DIGITS
    )


def _integer_text(value: Any, text: str) -> str:
    if type(value) is bool or isinstance(value, np.bool_):
        raise ValueError(f"expected an integer, got the boolean {value!r}")
    if _INT_TEXT.fullmatch(text) and len(text) <= _MAX_INT_DIGITS:
        return str(int(text))
    f = float(text) if len(text) <= 64 and DECIMAL_TEXT.fullmatch(text) else math.nan
    if math.isfinite(f) and f.is_integer():
        return str(int(f))
    raise ValueError(f"expected an integer, got {text[:40]!r}")


def _boolean_text(value: Any, text: str) -> str:
    got = _BOOL_TEXTS.get(text.lower())
    if got is None:
        raise ValueError(f"expected a boolean (true/false, 1/0), got {text[:40]!r}")
    return got


def _text(value: Any) -> str | None:
    t = type(value)
    if t is str:
        return value
    if value is None or is_pandas_missing(value):
        return None
    if t is bool or t is np.bool_:
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return None
        if math.isfinite(f) and f.is_integer():
            return str(int(f))
        return repr(f)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8")
    if isinstance(value, np.str_):
        return str(value)
    raise TypeError(f"expected a str, number, bool or None, got {t.__name__}")


def fingerprint64(text: str) -> int:
    """FarmHash Fingerprint64 of the UTF-8 bytes of ``text`` (an unsigned 64-bit int)."""
    return _fingerprint64(text)


def fingerprints(values: Iterable[Any]) -> np.ndarray:
    """Fingerprint64 of the canonical text of each value, as ``uint64``.

    Raises:
        ValueError: when a value is missing (None/NaN): missing values have no fingerprint.
    """
    out = []
    for v in values:
        text = canonical_text(v)
        if text is None:
            raise ValueError("missing values (None/NaN) have no fingerprint")
        out.append(_fingerprint64(text))
    return np.array(out, dtype=np.uint64)


def _check_buckets(num_buckets: int) -> np.uint64:
    if isinstance(num_buckets, bool) or not isinstance(num_buckets, (int, np.integer)) or num_buckets < 1:
        raise ValueError(f"num_buckets must be a positive integer. Received: num_buckets={num_buckets!r}")
    return np.uint64(num_buckets)


def hash_bucket(values: Sequence[Any] | np.ndarray, num_buckets: int) -> np.ndarray:
    """Hash each value into ``[0, num_buckets)``, exactly like ``tf.strings.to_hash_bucket_fast``.

    ``bucket = Fingerprint64(utf8(canonical_text(value))) mod num_buckets``; integers hash as their
    decimal text, as ``keras.layers.Hashing`` does.

    Args:
        values: strings, ints or other values with a canonical text (see the module docstring).
        num_buckets: the number of buckets, >= 1.

    Returns:
        An ``int64`` array of the same length.

    >>> hash_bucket(["a", 1], 1000).tolist()
    [939, 849]
    """
    n = _check_buckets(num_buckets)
    fps = fingerprints(np.asarray(values, dtype=object).ravel().tolist())
    return (fps % n).astype(np.int64)


def _shift_mix(v: np.ndarray) -> np.ndarray:
    return v ^ (v >> _SHIFT)


def cross_fingerprints(columns: Sequence[np.ndarray], hash_key: int = CROSS_HASH_KEY) -> np.ndarray:
    """Chain per-column ``uint64`` fingerprints with TensorFlow's ``FingerprintCat64``.

    ``h = key; for each column c: h = FingerprintCat64(h, fp_c)``. Vectorised over rows.
    """
    if not columns:
        raise ValueError("a cross needs at least one column")
    with np.errstate(over="ignore"):
        h = np.full(np.shape(columns[0]), np.uint64(hash_key), dtype=np.uint64)
        for fp in columns:
            fp = np.asarray(fp, dtype=np.uint64)
            r = h ^ _K_MUL
            r = r ^ (_shift_mix(fp * _K_MUL) * _K_MUL)
            r = r * _K_MUL
            r = _shift_mix(r) * _K_MUL
            h = _shift_mix(r)
    return h


def cross_hash_bucket(columns: Sequence[Sequence[Any]], num_buckets: int) -> np.ndarray:
    """Hash the row-wise cross of several columns, exactly like ``tf.sparse.cross_hashed``.

    Each column holds one value per row (the dense, single-valued case of ``cross_hashed`` with
    string inputs; ints are their decimal text).

    Args:
        columns: two or more equally long sequences of values.
        num_buckets: the number of buckets, >= 1.

    Returns:
        An ``int64`` array with one bucket per row.
    """
    n = _check_buckets(num_buckets)
    cols = [np.asarray(c, dtype=object).ravel() for c in columns]
    if len({len(c) for c in cols}) > 1:
        raise ValueError(f"all columns of a cross must have the same length, got {[len(c) for c in cols]}")
    fps = [fingerprints(c.tolist()) for c in cols]
    return (cross_fingerprints(fps) % n).astype(np.int64)
