"""What every field kind shares: the sides, the transforms and poolings, and the checks that name the
field and the problem."""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from masknet_edge.edge_runtime.errors import SpecError

__all__ = [
    "MAX_TOTAL_VOCAB",
    "NUMERIC_TRANSFORMS",
    "POOLINGS",
    "SHARED_KEYS",
    "SIDES",
    "Side",
    "check_bool",
    "check_buckets",
    "check_count",
    "check_name",
    "check_number",
    "check_side",
    "spec_error",
]

Side = Literal["context", "item"]
SIDES = ("context", "item")
NUMERIC_TRANSFORMS = ("standardize", "log1p_standardize", "minmax", "bucketize", "none")
POOLINGS = ("mean", "sum", "attention")
#: The id-space keys a ``shares`` field takes from the field it shares.
SHARED_KEYS = ("num_buckets", "vocabulary", "min_count", "max_vocab", "oov_buckets", "value_type")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
#: Upper bound on all ids together: they index one int32 embedding table.
MAX_TOTAL_VOCAB = 2**31 - 1


def spec_error(name: str, message: str) -> SpecError:
    """The error of a spec that names the field and the problem."""
    return SpecError(f"field {name!r}: {message}")


def check_name(name: Any) -> None:
    """A field name: an identifier of at most 64 characters."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise SpecError(
            f"field name must match {_NAME_RE.pattern} (letters, digits, underscore; it names model "
            f"inputs). Received: name={name!r}"
        )


def check_side(name: str, side: Any) -> None:
    """``context`` or ``item``."""
    if side not in SIDES:
        raise spec_error(name, f"side must be one of {SIDES}. Received: side={side!r}")


def check_buckets(name: str, num_buckets: Any) -> None:
    """A bucket count: an integer >= 1."""
    if isinstance(num_buckets, bool) or not isinstance(num_buckets, int) or num_buckets < 1:
        raise spec_error(name, f"num_buckets must be an integer >= 1. Received: num_buckets={num_buckets!r}")


def check_bool(name: str, key: str, value: Any) -> None:
    """A true/false setting."""
    if not isinstance(value, bool):
        raise spec_error(name, f"{key} must be true or false. Received: {key}={value!r}")


def check_number(name: str, key: str, value: Any, *, optional: bool = True) -> None:
    """A finite number (or None when ``optional``)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise spec_error(name, f"{key} must be a finite number. Received: {key}={value!r}")


def check_count(name: str, key: str, value: Any, minimum: int) -> None:
    """An integer >= ``minimum``."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise spec_error(name, f"{key} must be an integer >= {minimum}. Received: {key}={value!r}")
