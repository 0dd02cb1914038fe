"""Canonical texts of categorical values: what a categorical or multi-valued field looks up.

Training fits vocabularies with these very functions, and the encoder hashes or looks up what they
return, so a value has one text everywhere (ENCODING.md says how a port computes it).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from masknet_edge.edge_runtime import hashing
from masknet_edge.edge_runtime.errors import EncodeError
from masknet_edge.edge_runtime.spec import CategoricalField, MultiCategoricalField

__all__ = ["categorical_text", "multi_value_texts"]


def multi_value_texts(f: MultiCategoricalField, value: Any, record: int = 0) -> list[str] | None:
    """The canonical texts a multi-valued field looks up for one raw value; None when it is missing.

    A text (or UTF-8 bytes) is split on the field's separator, a list/tuple/array is taken as is,
    any other scalar is one item. Missing and empty items are skipped; the first ``max_length``
    others are kept. Training fits vocabularies with this very function.
    """
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise EncodeError("bytes are not valid UTF-8", field=f.name, record=record) from None
    if isinstance(value, str):
        if not value:  # the empty text is missing, as for every categorical value
            return None
        items = value.split(f.separator)
    elif isinstance(value, (list, tuple, np.ndarray)):
        items = list(value)
    elif value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    else:
        items = [value]
    plain, integer = f.value_type == "text", f.value_type == "integer"
    # Texts only, none empty (a behaviour log's histories): canonical as they are when plain, or
    # when every one is a canonical integer; the first max_length are kept.
    texts_only = (plain or integer) and items and set(map(type, items)) == {str} and "" not in items
    if texts_only and (plain or all(map(hashing.is_canonical_integer, items))):
        return items[: f.max_length]
    texts: list[str] = []
    for item in items:
        if type(item) is str and (plain or (integer and hashing.is_canonical_integer(item))):
            text = item  # already canonical (a behaviour log's history holds canonical texts)
        else:
            text = categorical_text(f, item, record)
        if text:
            texts.append(text)
            if len(texts) == f.max_length:
                break
    return texts


def categorical_text(f: CategoricalField | MultiCategoricalField, v: Any, i: int = 0) -> str | None:
    """The canonical text of one value of a field (by its value type), or None when it is missing.

    Missing: ``None``, NaN and the empty text (a CSV cell cannot tell an empty text from a missing
    value, so neither can the device). Errors are :class:`EncodeError` naming field and record.
    """
    try:
        return hashing.canonical_text(v, f.value_type) or None
    except UnicodeDecodeError:
        raise EncodeError("bytes are not valid UTF-8", field=f.name, record=i) from None
    except TypeError as exc:
        raise EncodeError(f"expected a single categorical value: {exc}", field=f.name, record=i) from None
    except ValueError as exc:
        raise EncodeError(str(exc), field=f.name, record=i) from None
