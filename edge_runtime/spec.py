"""The feature spec: the single, versioned source of truth for a model's inputs.

A spec is a list of fields. Each field says what it holds, which side of a request it belongs to
(``context``: the user/request, encoded once; ``item``: the candidate, encoded per candidate) and what
a missing value becomes. It round-trips through JSON; loading validates it and names the field and the
problem on any error.

Field kinds:

- ``categorical``: a value hashed into ``num_buckets`` buckets (see :mod:`edge_runtime.hashing`).
- ``numeric``: a number with a transform fitted on training data: ``standardize``,
  ``log1p_standardize`` (for counts), ``minmax``, ``none``, or ``bucketize`` (then the field is
  categorical over ``len(boundaries) + 1`` buckets).
- ``multi_categorical``: several values ("Action|Sci-Fi" or a list), hashed, truncated/padded to
  ``max_length`` with a mask, pooled (``mean``/``sum``) by the model. With ``shares`` it uses the id
  space and embedding rows of a categorical field (a history of item ids is the candidates' own item
  ids), and ``attention`` pooling weighs each value by its likeness to the candidate's value (DIN).
- ``cross``: the hashed cross of two or more categorical (or bucketized) fields, as
  ``tf.sparse.cross_hashed``.

Every categorical id space reserves index 0 for "missing"; hash bucket ``b`` is id ``1 + b``; ids are
offset into one shared embedding table in field order.

Why one module of this length: it is the whole contract the device, training and the JVM port must
agree on (every kind's rules, their checks with an error naming field and value, the canonical JSON
and its fingerprint); kept in one place so that a rule is written once. About half of it is the
fields' documentation and error messages.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from masknet_edge.edge_runtime.atomic import atomic_write_bytes
from masknet_edge.edge_runtime.behaviour_spec import BehaviourSpec
from masknet_edge.edge_runtime.errors import SpecError
from masknet_edge.edge_runtime.hashing import VALUE_TYPES, canonical_text

__all__ = [
    "FORMAT_VERSION",
    "fit_vocabulary",
    "CategoricalField",
    "CrossField",
    "FeatureSpec",
    "InputSpec",
    "MultiCategoricalField",
    "NumericField",
]

#: Version of the spec's JSON format. Readers refuse a newer major version.
FORMAT_VERSION = 1
#: Largest JSON spec file accepted (bytes); a spec is a few kilobytes.
MAX_SPEC_BYTES = 8 * 1024 * 1024

Side = Literal["context", "item"]
SIDES = ("context", "item")
NUMERIC_TRANSFORMS = ("standardize", "log1p_standardize", "minmax", "bucketize", "none")
POOLINGS = ("mean", "sum", "attention")
#: The id-space keys a ``shares`` field takes from the field it shares.
SHARED_KEYS = ("num_buckets", "vocabulary", "min_count", "max_vocab", "oov_buckets", "value_type")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
#: Upper bound on all ids together: they index one int32 embedding table.
MAX_TOTAL_VOCAB = 2**31 - 1


def _fail(name: str, message: str) -> SpecError:
    return SpecError(f"field {name!r}: {message}")


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise SpecError(
            f"field name must match {_NAME_RE.pattern} (letters, digits, underscore; it names model "
            f"inputs). Received: name={name!r}"
        )


def _check_side(name: str, side: Any) -> None:
    if side not in SIDES:
        raise _fail(name, f"side must be one of {SIDES}. Received: side={side!r}")


def _check_buckets(name: str, num_buckets: Any) -> None:
    if isinstance(num_buckets, bool) or not isinstance(num_buckets, int) or num_buckets < 1:
        raise _fail(name, f"num_buckets must be an integer >= 1. Received: num_buckets={num_buckets!r}")


def _check_bool(name: str, key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise _fail(name, f"{key} must be true or false. Received: {key}={value!r}")


def _check_number(name: str, key: str, value: Any, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(name, f"{key} must be a finite number. Received: {key}={value!r}")


def _check_count(name: str, key: str, value: Any, minimum: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(name, f"{key} must be an integer >= {minimum}. Received: {key}={value!r}")


def _canonical_or_none(text: str, value_type: str) -> str | None:
    try:
        return canonical_text(text, value_type)
    except ValueError:
        return None


def fit_vocabulary(
    counts: Mapping[str, int], min_count: int, max_vocab: int | None = None
) -> tuple[str, ...]:
    """A vocabulary from training counts (ENCODING.md §4.2): texts seen at least ``min_count`` times,
    most frequent first, ties in code-point order of the texts, at most ``max_vocab``."""
    kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return tuple(kept[:max_vocab] if max_vocab is not None else kept)


#: Largest vocabulary of one field (its texts travel in the bundle's spec).
MAX_VOCABULARY = 1_000_000


@dataclass(frozen=True)
class _IdSpace:
    """The id layout shared by categorical and multi-valued fields, with or without a vocabulary.

    It holds the fields both kinds have (their meaning: :class:`CategoricalField`) and checks them.

    Ids of a field (before its offset in the shared table): ``0`` is missing/padding; ``1 .. H`` are
    the ``H`` hash buckets (all values when hashing; out-of-vocabulary values otherwise); ``H + 1 ..
    H + V`` are the vocabulary in its order. This is ``keras.layers.StringLookup(vocabulary=...,
    num_oov_indices=H, mask_token=...)`` with the mask as the missing id, and with no vocabulary it is
    the plain hashing layout (bucket ``b`` is id ``1 + b``).
    """

    name: str
    side: Side
    num_buckets: int | None = None
    required: bool = False
    vocabulary: tuple[str, ...] | None = None
    min_count: int | None = None
    max_vocab: int | None = None
    oov_buckets: int | None = None
    value_type: str = "text"
    #: Whether the empty text is a value of its own (a categorical) or no value (an item of a list).
    allow_empty_text: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_side(self.name, self.side)
        _check_bool(self.name, "required", self.required)
        self._check_id_space(self.allow_empty_text)

    def _check_id_space(self, allow_empty_text: bool) -> None:
        if self.value_type not in VALUE_TYPES:
            raise _fail(
                self.name,
                f"value_type must be one of {VALUE_TYPES}. Received: value_type={self.value_type!r}",
            )
        _check_count(self.name, "min_count", self.min_count, 1)
        _check_count(self.name, "max_vocab", self.max_vocab, 1)
        _check_count(self.name, "oov_buckets", self.oov_buckets, 1)
        lookup = self.min_count is not None or self.vocabulary is not None
        if not lookup:
            if self.max_vocab is not None or self.oov_buckets is not None:
                raise _fail(
                    self.name,
                    "max_vocab and oov_buckets apply to vocabulary fields; set min_count (fit a "
                    "vocabulary on the training file) or vocabulary, or remove them",
                )
            if self.num_buckets is None:
                raise _fail(
                    self.name,
                    "needs num_buckets (hash every value) or min_count / vocabulary (exact ids for known "
                    "values, oov_buckets for the rest)",
                )
            _check_buckets(self.name, self.num_buckets)
            return
        if self.num_buckets is not None:
            raise _fail(
                self.name,
                "a vocabulary field takes oov_buckets (hash buckets for values outside the vocabulary), "
                f"not num_buckets. Received: num_buckets={self.num_buckets!r}",
            )
        if self.oov_buckets is None:
            object.__setattr__(self, "oov_buckets", 1)
        if self.vocabulary is None:
            return
        if isinstance(self.vocabulary, (str, bytes)) or not isinstance(self.vocabulary, (list, tuple)):
            raise _fail(
                self.name, f"vocabulary must be a list of texts. Received: {type(self.vocabulary).__name__}"
            )
        vocab = tuple(self.vocabulary)
        object.__setattr__(self, "vocabulary", vocab)
        limit = self.max_vocab if self.max_vocab is not None else MAX_VOCABULARY
        if len(vocab) > limit:
            raise _fail(self.name, f"vocabulary has {len(vocab)} values, more than max_vocab={limit}")
        for i, v in enumerate(vocab):
            if not isinstance(v, str):
                raise _fail(self.name, f"vocabulary[{i}] must be a text. Received: {v!r}")
            if self.value_type != "text" and v and _canonical_or_none(v, self.value_type) != v:
                raise _fail(
                    self.name,
                    f"vocabulary[{i}] = {v!r} is not the canonical text of a {self.value_type} "
                    f"(expected {_canonical_or_none(v, self.value_type)!r})",
                )
            if not v and not allow_empty_text:
                raise _fail(
                    self.name, f"vocabulary[{i}] is empty; empty items of a multi-valued field are skipped"
                )
        if len(set(vocab)) != len(vocab):
            seen: set[str] = set()
            dup = next(v for v in vocab if v in seen or seen.add(v))  # type: ignore[func-returns-value]
            raise _fail(self.name, f"vocabulary lists {dup!r} more than once")

    @property
    def uses_vocabulary(self) -> bool:
        """True for a vocabulary field (exact ids for known values, hashed buckets for the rest)."""
        return self.min_count is not None or self.vocabulary is not None

    @property
    def hash_buckets(self) -> int:
        """Hash buckets: every value when hashing, out-of-vocabulary values otherwise."""
        return int(self.oov_buckets if self.uses_vocabulary else self.num_buckets)  # type: ignore[arg-type]

    @property
    def is_fitted(self) -> bool:
        """True unless a vocabulary is still to be fitted."""
        return not self.uses_vocabulary or self.vocabulary is not None

    @property
    def vocab_size(self) -> int:
        """Ids this field uses in the embedding table (missing id, hash buckets, vocabulary)."""
        if not self.is_fitted:
            raise _fail(self.name, "the vocabulary is not fitted yet (masknet train fits it)")
        return 1 + self.hash_buckets + len(self.vocabulary or ())


@dataclass(frozen=True)
class CategoricalField(_IdSpace):
    """A single categorical value: hashed into ``num_buckets`` buckets, or looked up in a vocabulary.

    Two id spaces (see :class:`_IdSpace` for the layout):

    - **hashing** (``num_buckets``): every value is hashed; no state, unbounded id spaces.
    - **vocabulary** (``min_count`` and/or ``vocabulary``): values seen at least ``min_count`` times
      in the training file (at most ``max_vocab``, most frequent first, ties by text) get their own
      id; every other value is hashed into ``oov_buckets`` buckets, so unseen values still spread out.

    Args:
        name: the column name in raw records.
        side: ``"context"`` (user/request) or ``"item"`` (candidate).
        num_buckets: hash buckets of a hashing field, >= 1. Defaults to None (a vocabulary field).
        required: when true a missing value is an error; else it takes the missing id. Defaults to False.
        vocabulary: the canonical texts with their own ids, in id order; fitted when ``min_count`` is
            set. Defaults to None.
        min_count: fit the vocabulary on the training file from values seen at least this often.
            Defaults to None.
        max_vocab: at most this many vocabulary values. Defaults to None (no cap below 1,000,000).
        oov_buckets: hash buckets for values outside the vocabulary, >= 1. Defaults to 1.
        value_type: what the values are: ``text``, ``integer`` or ``boolean``; every spelling of a
            value (``"2"``, ``"2.0"``, ``2``, ``np.int64(2)`` in an integer field) has one canonical
            text (:func:`edge_runtime.hashing.canonical_text`). Defaults to ``text``.
    """

    kind: ClassVar[str] = "categorical"


@dataclass(frozen=True)
class NumericField:
    """A number, transformed with statistics fitted on the training data.

    Args:
        name: the column name in raw records.
        side: ``"context"`` or ``"item"``.
        transform: one of ``standardize`` (``(x - mean) / std``), ``log1p_standardize``
            (``(log1p(max(x, 0)) - mean) / std``, mean/std in log space), ``minmax``
            (``(x - min) / (max - min)`` clipped to [0, 1]), ``bucketize`` (bucket ``i`` holds
            ``boundaries[i-1] <= x < boundaries[i]``; the field becomes categorical) or ``none``.
            Defaults to ``standardize``.
        default: raw value used when missing; None uses the training mean (for ``bucketize``:
            the missing id). Defaults to None.
        required: when true a missing value is an error. Defaults to False.
        boundaries: bucket boundaries for ``bucketize``, strictly increasing; fitted as quantiles
            when None.
        num_bins: bins to fit when ``boundaries`` is None. Defaults to 10.
        mean, std, min, max: fitted statistics (set by fitting; see ``masknet_edge.train.fit``).
        clip: transformed values are clipped to ``[-clip, clip]`` so float32 stays finite.
            Defaults to 1e6.
        source: the raw column to read, when it differs from ``name`` (e.g. ``age_bucket`` bucketizes
            the column ``age`` that the field ``age`` standardizes). Defaults to None (``name``).
    """

    name: str
    side: Side
    transform: str = "standardize"
    default: float | None = None
    required: bool = False
    boundaries: tuple[float, ...] | None = None
    num_bins: int = 10
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    clip: float = 1e6
    source: str | None = None
    kind: ClassVar[str] = "numeric"

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.source is not None and (not isinstance(self.source, str) or not self.source):
            raise _fail(self.name, f"source must be a column name. Received: source={self.source!r}")
        _check_side(self.name, self.side)
        if self.transform not in NUMERIC_TRANSFORMS:
            raise _fail(
                self.name,
                f"transform must be one of {NUMERIC_TRANSFORMS}. Received: transform={self.transform!r}",
            )
        _check_bool(self.name, "required", self.required)
        for key in ("default", "mean", "std", "min", "max"):
            _check_number(self.name, key, getattr(self, key))
        _check_number(self.name, "clip", self.clip, optional=False)
        if self.clip <= 0:
            raise _fail(self.name, f"clip must be > 0. Received: clip={self.clip!r}")
        if self.std is not None and self.std <= 0:
            raise _fail(self.name, f"std must be > 0. Received: std={self.std!r}")
        if isinstance(self.num_bins, bool) or not isinstance(self.num_bins, int) or self.num_bins < 2:
            raise _fail(self.name, f"num_bins must be an integer >= 2. Received: num_bins={self.num_bins!r}")
        if self.boundaries is not None:
            b = tuple(self.boundaries)
            object.__setattr__(self, "boundaries", b)
            if not b:
                raise _fail(self.name, "boundaries must not be empty")
            for v in b:
                _check_number(self.name, "boundaries", v, optional=False)
            if any(b[i] >= b[i + 1] for i in range(len(b) - 1)):
                raise _fail(self.name, f"boundaries must be strictly increasing. Received: {list(b)}")
        if self.transform != "bucketize" and self.boundaries is not None:
            raise _fail(self.name, f"boundaries only apply to transform='bucketize', not {self.transform!r}")

    @property
    def column(self) -> str:
        """The raw column this field reads."""
        return self.source or self.name

    @property
    def is_bucketized(self) -> bool:
        """True when the field is encoded as a categorical bucket index."""
        return self.transform == "bucketize"

    @property
    def is_fitted(self) -> bool:
        """True when every statistic the transform needs is present."""
        if self.transform == "bucketize":
            return self.boundaries is not None
        if self.transform in ("standardize", "log1p_standardize"):
            return self.mean is not None and self.std is not None
        if self.transform == "minmax":
            return self.min is not None and self.max is not None and self.mean is not None
        return True

    @property
    def vocab_size(self) -> int:
        """Ids of a bucketized field (bins plus the missing id); 0 when not bucketized."""
        if not self.is_bucketized:
            return 0
        if self.boundaries is None:
            raise _fail(self.name, "bucketize boundaries are not fitted yet")
        return len(self.boundaries) + 2


@dataclass(frozen=True)
class MultiCategoricalField(_IdSpace):
    """Several categorical values per record, e.g. genres ``"Action|Sci-Fi"`` or recent item ids.

    Args:
        name: the column name in raw records.
        side: ``"context"`` or ``"item"``.
        max_length: values kept per record (the first ones); the rest are dropped. >= 1. Keyword only.
        num_buckets: hash buckets of a hashing field, >= 1. Defaults to None (a vocabulary field).
        separator: splits a string value; a list/tuple value is taken as is. Defaults to ``"|"``.
        pooling: how the model pools the embeddings: ``mean``, ``sum``, or ``attention`` (weights
            from the candidate's value of the ``shares`` field; needs ``shares``). Defaults to ``mean``.
        shares: a categorical field whose id space and embedding rows this field uses: the same
            value is the same id and the same vector in both. Its id-space keys (``num_buckets``,
            ``vocabulary`` ...) are then taken from that field and not written. Defaults to None.
        required: when true a missing value is an error. Defaults to False.
        vocabulary, min_count, max_vocab, oov_buckets: a vocabulary of items, as for
            :class:`CategoricalField`. Default to None.
        value_type: what each item is, as for :class:`CategoricalField`. Defaults to ``text``.
    """

    max_length: int = field(kw_only=True)
    separator: str = "|"
    pooling: str = "mean"
    shares: str | None = None
    kind: ClassVar[str] = "multi_categorical"
    allow_empty_text: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.pooling == "attention" and self.shares is None:
            raise _fail(
                self.name,
                "attention pooling weighs values by the candidate's value of the same id space: set "
                "shares to the item field (e.g. shares: item_id)",
            )
        if self.shares is None:
            super().__post_init__()
        else:  # the id space is the shared field's, checked there and copied by FeatureSpec
            _check_name(self.name)
            _check_side(self.name, self.side)
            _check_bool(self.name, "required", self.required)
            if not isinstance(self.shares, str) or not self.shares:
                raise _fail(self.name, f"shares must name a field. Received: shares={self.shares!r}")
        if (
            isinstance(self.max_length, bool)
            or not isinstance(self.max_length, int)
            or not 1 <= self.max_length <= 4096
        ):
            raise _fail(
                self.name,
                f"max_length must be an integer in [1, 4096]. Received: max_length={self.max_length!r}",
            )
        if not isinstance(self.separator, str) or not self.separator:
            raise _fail(
                self.name, f"separator must be a non-empty string. Received: separator={self.separator!r}"
            )
        if self.pooling not in POOLINGS:
            raise _fail(self.name, f"pooling must be one of {POOLINGS}. Received: pooling={self.pooling!r}")


@dataclass(frozen=True)
class CrossField:
    """The hashed cross of two or more scalar categorical fields (``tf.sparse.cross_hashed``).

    A cross of context fields only is a context feature; any item field makes it an item feature.
    If any crossed value is missing, the cross takes the missing id.

    Args:
        name: the name of the crossed feature (not a raw column).
        fields: names of the crossed fields, each ``categorical`` or bucketized ``numeric``.
        num_buckets: hash buckets, >= 1.
    """

    name: str
    fields: tuple[str, ...]
    num_buckets: int
    kind: ClassVar[str] = "cross"

    def __post_init__(self) -> None:
        _check_name(self.name)
        if isinstance(self.fields, str) or not isinstance(self.fields, (list, tuple)):
            raise _fail(self.name, f"fields must be a list of field names. Received: fields={self.fields!r}")
        object.__setattr__(self, "fields", tuple(self.fields))
        if len(self.fields) < 2:
            raise _fail(self.name, f"a cross needs at least 2 fields. Received: fields={list(self.fields)}")
        if len(set(self.fields)) != len(self.fields):
            raise _fail(self.name, f"a cross lists a field twice. Received: fields={list(self.fields)}")
        _check_buckets(self.name, self.num_buckets)

    @property
    def vocab_size(self) -> int:
        """Ids this field uses in the embedding table (buckets plus the missing id)."""
        return self.num_buckets + 1


Field = CategoricalField | NumericField | MultiCategoricalField | CrossField
_KINDS: dict[str, type] = {
    "categorical": CategoricalField,
    "numeric": NumericField,
    "multi_categorical": MultiCategoricalField,
    "cross": CrossField,
}


@dataclass(frozen=True)
class InputSpec:
    """One model input: its name, dtype and shape without the batch dimension."""

    name: str
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class FeatureSpec:
    """A validated, immutable list of fields, optionally naming the label column.

    >>> spec = FeatureSpec.from_dict({"fields": [
    ...     {"name": "user_id", "kind": "categorical", "side": "context", "num_buckets": 100},
    ...     {"name": "price", "kind": "numeric", "side": "item", "mean": 10.0, "std": 2.0}]})
    >>> [i.name for i in spec.input_signature()]
    ['cat_ids', 'num_values']
    """

    fields: tuple[Field, ...]
    label: str | None = None
    format_version: int = FORMAT_VERSION
    behaviour: BehaviourSpec | None = None
    _by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        if not self.fields:
            raise SpecError("a spec needs at least one field")
        if self.format_version != FORMAT_VERSION:
            raise SpecError(
                f"unsupported spec format_version {self.format_version!r}; this version of masknet-edge "
                f"reads version {FORMAT_VERSION}. Upgrade masknet-edge or re-export the spec."
            )
        object.__setattr__(self, "fields", self._with_shared_id_spaces(self.fields))
        by_name: dict[str, Field] = {}
        for f in self.fields:
            if not isinstance(f, tuple(_KINDS.values())):
                raise SpecError(f"spec fields must be field objects. Received: {f!r}")
            if f.name in by_name:
                raise _fail(f.name, "duplicate field name")
            by_name[f.name] = f
        if self.label is not None:
            if not isinstance(self.label, str) or not self.label:
                raise SpecError(f"label must be a column name. Received: label={self.label!r}")
            if self.label in by_name:
                raise _fail(self.label, "the label column cannot also be a feature")
        for f in self.fields:
            if isinstance(f, CrossField):
                for src in f.fields:
                    other = by_name.get(src)
                    if other is None:
                        raise _fail(f.name, f"crosses unknown field {src!r}; known fields: {sorted(by_name)}")
                    scalar_cat = isinstance(other, CategoricalField) or (
                        isinstance(other, NumericField) and other.is_bucketized
                    )
                    if not scalar_cat:
                        raise _fail(
                            f.name,
                            "can only cross categorical or bucketized numeric fields; "
                            f"{src!r} is {other.kind}"
                            + (
                                f" with transform {other.transform!r}"
                                if isinstance(other, NumericField)
                                else ""
                            ),
                        )
        object.__setattr__(self, "_by_name", by_name)
        if self.behaviour is not None:
            self._check_behaviour(self.behaviour, by_name)
        if self.is_fitted and self.total_vocab > MAX_TOTAL_VOCAB:
            raise SpecError(f"all fields together use more than {MAX_TOTAL_VOCAB} ids; lower num_buckets")

    @staticmethod
    def _with_shared_id_spaces(fields: tuple[Field, ...]) -> tuple[Field, ...]:
        """Each ``shares`` field with the id space of the field it names (a categorical field; an
        ``attention`` one reads a context-side history of an item field)."""
        by_name = {f.name: f for f in fields if isinstance(f, _IdSpace)}
        out = []
        for f in fields:
            if isinstance(f, MultiCategoricalField) and f.shares is not None:
                target = by_name.get(f.shares)
                if not isinstance(target, CategoricalField):
                    what = target.kind if target is not None else "not a field of the spec"
                    raise _fail(
                        f.name, f"shares {f.shares!r}, which is {what}; it must name a categorical field"
                    )
                if f.pooling == "attention" and (target.side != "item" or f.side != "context"):
                    raise _fail(
                        f.name,
                        "attention pooling reads a context-side history against an item field: "
                        f"this field is {f.side}-side and {f.shares!r} is {target.side}-side",
                    )
                f = replace(f, **{k: getattr(target, k) for k in SHARED_KEYS})
            out.append(f)
        return tuple(out)

    @staticmethod
    def _check_behaviour(behaviour: BehaviourSpec, by_name: dict[str, Field]) -> None:
        """Each behaviour feature fills a field of the right kind and side; each ``of`` is categorical."""
        if not isinstance(behaviour, BehaviourSpec):
            raise SpecError(f"behaviour must be a BehaviourSpec. Received: {type(behaviour).__name__}")
        derived = set(behaviour_names := [f.name for f in behaviour.features])
        for f in by_name.values():
            if isinstance(f, CrossField) and derived & set(f.fields):
                raise _fail(
                    f.name, f"crosses behaviour fields {sorted(derived & set(f.fields))}; not supported"
                )
        for b in behaviour.features:
            target = by_name.get(b.name)
            if target is None:
                raise _fail(b.name, f"the behaviour feature has no field of that name; add a {b.type} field")
            want_multi = b.type == "last_values"
            ok_kind = isinstance(target, MultiCategoricalField if want_multi else NumericField)
            if not ok_kind:
                raise _fail(
                    b.name,
                    f"behaviour type {b.type!r} fills a "
                    f"{'multi_categorical' if want_multi else 'numeric'} field, not a {target.kind} one",
                )
            if target.side != b.side:
                raise _fail(
                    b.name, f"behaviour type {b.type!r} here is a {b.side}-side feature, not {target.side}"
                )
            if target.required:
                raise _fail(b.name, "a behaviour field is computed on the device; it cannot be required")
            if isinstance(target, NumericField) and target.source is not None:
                raise _fail(b.name, "a behaviour field fills its own column; it takes no 'source'")
            if b.of is not None:
                source = by_name.get(b.of)
                if not isinstance(source, CategoricalField):
                    raise _fail(
                        b.name,
                        f"'of' must name a categorical field of the spec; {b.of!r} is "
                        + (source.kind if source is not None else "not a field"),
                    )
                if b.side == "item" and source.side != "item":
                    raise _fail(b.name, f"compares candidates on {b.of!r}, which is not an item field")
                if b.of in behaviour_names:
                    raise _fail(b.name, f"'of' cannot be another behaviour feature ({b.of!r})")

    @property
    def behaviour_columns(self) -> tuple[str, ...]:
        """Fields the device computes from its behaviour log (none without a behaviour section)."""
        return tuple(f.name for f in self.behaviour.features) if self.behaviour else ()

    # ----------------------------------------------------------------- lookups
    def __getitem__(self, name: str) -> Field:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no field {name!r} in the spec; fields: {sorted(self._by_name)}") from None

    @property
    def names(self) -> tuple[str, ...]:
        """Field names in spec order."""
        return tuple(f.name for f in self.fields)

    def side_of(self, name: str) -> Side:
        """The side of a field; a cross is ``item`` when any crossed field is."""
        f = self[name]
        if isinstance(f, CrossField):
            return "item" if any(self.side_of(s) == "item" for s in f.fields) else "context"
        return f.side

    @property
    def raw_columns(self) -> tuple[str, ...]:
        """Names of the fields read from raw columns (every field except crosses)."""
        return tuple(f.name for f in self.fields if not isinstance(f, CrossField))

    def column_of(self, name: str) -> str:
        """The raw column a field reads (its ``source`` or its name)."""
        f = self[name]
        return f.column if isinstance(f, NumericField) else f.name

    @property
    def text_columns(self) -> tuple[str, ...]:
        """Raw columns holding categorical values (read as text from files)."""
        return tuple(f.name for f in self.fields if isinstance(f, (CategoricalField, MultiCategoricalField)))

    @property
    def input_columns(self) -> tuple[str, ...]:
        """The distinct raw columns a record must (or may) carry, in spec order."""
        return tuple(dict.fromkeys(self.column_of(n) for n in self.raw_columns))

    def columns_of_side(self, side: Side) -> tuple[str, ...]:
        """Raw columns of one side."""
        return tuple(n for n in self.raw_columns if self.side_of(n) == side)

    @property
    def id_fields(self) -> tuple[Field, ...]:
        """Fields that become one id column of ``cat_ids``, in order."""
        return tuple(
            f
            for f in self.fields
            if isinstance(f, (CategoricalField, CrossField))
            or (isinstance(f, NumericField) and f.is_bucketized)
        )

    @property
    def dense_fields(self) -> tuple[NumericField, ...]:
        """Numeric fields that become one column of ``num_values``, in order."""
        return tuple(f for f in self.fields if isinstance(f, NumericField) and not f.is_bucketized)

    @property
    def multi_fields(self) -> tuple[MultiCategoricalField, ...]:
        """Multi-valued fields; each becomes ``<name>_ids`` and ``<name>_mask`` inputs."""
        return tuple(f for f in self.fields if isinstance(f, MultiCategoricalField))

    @property
    def is_fitted(self) -> bool:
        """True when every numeric transform has its statistics and every vocabulary is fitted."""
        return not self.unfitted_fields()

    def unfitted_fields(self) -> tuple[str, ...]:
        """Names of fields still lacking statistics or a vocabulary."""
        return tuple(f.name for f in self.fields if not isinstance(f, CrossField) and not f.is_fitted)

    def vocab_sizes(self) -> dict[str, int]:
        """Ids each id-bearing field uses (scalar id fields, then multi-valued fields)."""
        return {f.name: f.vocab_size for f in (*self.id_fields, *self.multi_fields)}

    def vocab_offsets(self) -> dict[str, int]:
        """Offset of each id-bearing field in the shared embedding table; a ``shares`` field has the
        offset of the field it shares and no rows of its own."""
        offsets, total = {}, 0
        for name, size in self.vocab_sizes().items():
            shared = getattr(self[name], "shares", None)
            if shared is not None:
                offsets[name] = offsets[shared]
                continue
            offsets[name] = total
            total += size
        return offsets

    @property
    def total_vocab(self) -> int:
        """Rows of the shared embedding table."""
        return sum(
            size for name, size in self.vocab_sizes().items() if getattr(self[name], "shares", None) is None
        )

    def input_signature(self) -> tuple[InputSpec, ...]:
        """The model inputs the encoder produces, without the batch dimension."""
        sig = []
        if self.id_fields:
            sig.append(InputSpec("cat_ids", "int32", (len(self.id_fields),)))
        if self.dense_fields:
            sig.append(InputSpec("num_values", "float32", (len(self.dense_fields),)))
        for f in self.multi_fields:
            sig.append(InputSpec(f"{f.name}_ids", "int32", (f.max_length,)))
            sig.append(InputSpec(f"{f.name}_mask", "float32", (f.max_length,)))
        return tuple(sig)

    # ----------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``FeatureSpec.from_dict(spec.to_dict()) == spec``."""
        fields = []
        for f in self.fields:
            d = {"name": f.name, "kind": f.kind}
            # None means "not set / not fitted": omitted, so specs stay short and readable.
            d.update({k: v for k, v in asdict(f).items() if k != "name" and v is not None})
            if isinstance(f, MultiCategoricalField) and f.shares is not None:
                for k in SHARED_KEYS:  # the shared field's, not this one's to state
                    d.pop(k, None)
                fields.append(d)
                continue
            if isinstance(f, CrossField):
                d["fields"] = list(f.fields)
            if isinstance(f, NumericField) and f.boundaries is not None:
                d["boundaries"] = list(f.boundaries)
            if isinstance(f, (CategoricalField, MultiCategoricalField)):
                if f.vocabulary is not None:
                    d["vocabulary"] = list(f.vocabulary)
                if f.value_type == "text":  # the default, omitted: a spec lists only what differs
                    del d["value_type"]
            fields.append(d)
        out = {"format_version": self.format_version, "label": self.label, "fields": fields}
        if self.behaviour is not None:
            out["behaviour"] = self.behaviour.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Build and validate a spec from a dict (as read from JSON)."""
        if not isinstance(data, Mapping):
            raise SpecError(f"a spec must be a JSON object. Received: {type(data).__name__}")
        unknown = set(data) - {"format_version", "label", "fields", "behaviour"}
        if unknown:
            raise SpecError(
                f"unknown spec keys {sorted(unknown)}; allowed: format_version, label, fields, behaviour"
            )
        raw_fields = data.get("fields")
        if not isinstance(raw_fields, list):
            raise SpecError("spec key 'fields' must be a list of field objects")
        fields = []
        for i, raw in enumerate(raw_fields):
            if not isinstance(raw, Mapping):
                raise SpecError(f"fields[{i}] must be an object. Received: {raw!r}")
            name = raw.get("name", f"fields[{i}]")
            if not isinstance(name, str):
                raise SpecError(f"fields[{i}]: 'name' must be a text. Received: name={name!r:.80}")
            kind = raw.get("kind")
            if not isinstance(kind, str) or kind not in _KINDS:
                raise _fail(name, f"unknown kind; expected one of {sorted(_KINDS)}. Received: kind={kind!r}")
            ftype = _KINDS[kind]
            allowed = {f for f in ftype.__dataclass_fields__ if f != "kind"}
            kwargs = {k: v for k, v in raw.items() if k != "kind"}
            if kwargs.get("shares") is not None and set(kwargs) & set(SHARED_KEYS):
                raise _fail(
                    name,
                    f"takes its id space from {kwargs['shares']!r} (shares); remove "
                    f"{sorted(set(kwargs) & set(SHARED_KEYS))}",
                )
            extra = set(kwargs) - allowed
            if extra:
                raise _fail(
                    name, f"unknown keys {sorted(extra)} for kind {kind!r}; allowed: {sorted(allowed)}"
                )
            try:
                fields.append(ftype(**kwargs))
            except TypeError as exc:
                raise _fail(
                    name, f"incomplete definition ({exc}); {kind!r} needs {sorted(allowed)}"
                ) from None
        return cls(
            fields=tuple(fields),
            label=data.get("label"),
            format_version=data.get("format_version", FORMAT_VERSION),
            behaviour=BehaviourSpec.from_dict(data["behaviour"])
            if data.get("behaviour") is not None
            else None,
        )

    def to_json(self) -> str:
        """Canonical JSON text (sorted keys, 2-space indent; each vocabulary on one line, compact)."""
        data = self.to_dict()
        # Each vocabulary becomes a placeholder built from a tag that occurs nowhere in the spec's
        # JSON, then the placeholder is replaced by the compact list.
        everything = json.dumps(data)
        tag = "@vocabulary@"
        while tag in everything:
            tag += "@"
        vocabularies = {}
        for i, d in enumerate(data["fields"]):
            if "vocabulary" in d:
                key = f"{tag}{i}{tag}"
                vocabularies[json.dumps(key)] = json.dumps(d["vocabulary"], separators=(",", ":"))
                d["vocabulary"] = key
        text = json.dumps(data, indent=2, sort_keys=True)
        for key, compact in vocabularies.items():
            text = text.replace(key, compact, 1)
        return text + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> FeatureSpec:
        """Parse and validate JSON text."""
        if len(text) > MAX_SPEC_BYTES:
            raise SpecError(f"spec is larger than {MAX_SPEC_BYTES} bytes; not a feature spec")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # also: a 5,000-digit integer, deep nesting
            problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).splitlines()[0]
            raise SpecError(f"spec is not valid JSON: {problem}") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FeatureSpec:
        """Read a spec JSON file; errors name the file."""
        if not isinstance(path, (str, os.PathLike)):
            raise SpecError(f"expected the path of a spec file. Received: {type(path).__name__} {path!r:.80}")
        p = Path(path)
        try:
            size = p.stat().st_size
            if size > MAX_SPEC_BYTES:
                raise SpecError(f"{p}: larger than {MAX_SPEC_BYTES} bytes; not a feature spec")
            text = p.read_bytes()
        except OSError as exc:
            raise SpecError(f"cannot read spec file {p}: {exc.strerror or exc}") from None
        try:
            return cls.from_json(text)
        except SpecError as exc:
            raise SpecError(f"{p}: {exc}") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the spec atomically (temp file in the same folder, then rename)."""
        atomic_write_bytes(Path(path), self.to_json().encode("utf-8"))

    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON: identifies a spec exactly (bundles record it)."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    def with_field(self, new: Field) -> FeatureSpec:
        """A copy with the field of the same name replaced by ``new``."""
        self[new.name]  # raises KeyError naming the fields when unknown
        return replace(self, fields=tuple(new if f.name == new.name else f for f in self.fields))
