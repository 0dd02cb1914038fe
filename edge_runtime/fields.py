"""The field kinds of a feature spec: what each holds, its checks and its id space.

- ``categorical``: a value hashed into ``num_buckets`` buckets (see :mod:`edge_runtime.hashing`), or
  looked up in a vocabulary with out-of-vocabulary buckets.
- ``numeric``: a number with a transform fitted on training data: ``standardize``,
  ``log1p_standardize`` (for counts), ``minmax``, ``none``, or ``bucketize`` (then the field is
  categorical over ``len(boundaries) + 1`` buckets).
- ``multi_categorical``: several values ("Action|Sci-Fi" or a list), truncated/padded to
  ``max_length`` with a mask, pooled (``mean``/``sum``/``attention``) by the model; with ``shares`` it
  uses the id space and embedding rows of a categorical field.
- ``cross``: the hashed cross of two or more categorical (or bucketized) fields, as
  ``tf.sparse.cross_hashed``.

Every check raises :class:`~edge_runtime.errors.SpecError` naming the field and the problem.
:class:`~edge_runtime.spec.FeatureSpec` holds a list of these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from masknet_edge.edge_runtime.field_checks import (
    POOLINGS,
    Side,
    check_bool,
    check_buckets,
    check_count,
    check_name,
    check_side,
    spec_error,
)
from masknet_edge.edge_runtime.hashing import VALUE_TYPES, canonical_text
from masknet_edge.edge_runtime.numeric_field import NumericField

__all__ = [
    "KINDS",
    "CategoricalField",
    "CrossField",
    "Field",
    "IdSpace",
    "MultiCategoricalField",
    "NumericField",
    "fit_vocabulary",
]


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
class IdSpace:
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
    #: Values are looked up by their canonical text.
    reads_text: ClassVar[bool] = True
    #: What the field becomes in the model's inputs: ``ids`` (one ``cat_ids`` column), ``values``
    #: (one ``num_values`` column) or ``sequence`` (``<name>_ids`` and ``<name>_mask``).
    model_input: ClassVar[str] = "ids"

    def __post_init__(self) -> None:
        check_name(self.name)
        check_side(self.name, self.side)
        check_bool(self.name, "required", self.required)
        self._check_id_space(self.allow_empty_text)

    def _check_id_space(self, allow_empty_text: bool) -> None:
        if self.value_type not in VALUE_TYPES:
            raise spec_error(
                self.name,
                f"value_type must be one of {VALUE_TYPES}. Received: value_type={self.value_type!r}",
            )
        check_count(self.name, "min_count", self.min_count, 1)
        check_count(self.name, "max_vocab", self.max_vocab, 1)
        check_count(self.name, "oov_buckets", self.oov_buckets, 1)
        lookup = self.min_count is not None or self.vocabulary is not None
        if not lookup:
            if self.max_vocab is not None or self.oov_buckets is not None:
                raise spec_error(
                    self.name,
                    "max_vocab and oov_buckets apply to vocabulary fields; set min_count (fit a "
                    "vocabulary on the training file) or vocabulary, or remove them",
                )
            if self.num_buckets is None:
                raise spec_error(
                    self.name,
                    "needs num_buckets (hash every value) or min_count / vocabulary (exact ids for known "
                    "values, oov_buckets for the rest)",
                )
            check_buckets(self.name, self.num_buckets)
            return
        if self.num_buckets is not None:
            raise spec_error(
                self.name,
                "a vocabulary field takes oov_buckets (hash buckets for values outside the vocabulary), "
                f"not num_buckets. Received: num_buckets={self.num_buckets!r}",
            )
        if self.oov_buckets is None:
            object.__setattr__(self, "oov_buckets", 1)
        if self.vocabulary is None:
            return
        if isinstance(self.vocabulary, (str, bytes)) or not isinstance(self.vocabulary, (list, tuple)):
            raise spec_error(
                self.name, f"vocabulary must be a list of texts. Received: {type(self.vocabulary).__name__}"
            )
        vocab = tuple(self.vocabulary)
        object.__setattr__(self, "vocabulary", vocab)
        limit = self.max_vocab if self.max_vocab is not None else MAX_VOCABULARY
        if len(vocab) > limit:
            raise spec_error(self.name, f"vocabulary has {len(vocab)} values, more than max_vocab={limit}")
        for i, v in enumerate(vocab):
            if not isinstance(v, str):
                raise spec_error(self.name, f"vocabulary[{i}] must be a text. Received: {v!r}")
            if self.value_type != "text" and v and _canonical_or_none(v, self.value_type) != v:
                raise spec_error(
                    self.name,
                    f"vocabulary[{i}] = {v!r} is not the canonical text of a {self.value_type} "
                    f"(expected {_canonical_or_none(v, self.value_type)!r})",
                )
            if not v and not allow_empty_text:
                raise spec_error(
                    self.name, f"vocabulary[{i}] is empty; empty items of a multi-valued field are skipped"
                )
        if len(set(vocab)) != len(vocab):
            seen: set[str] = set()
            dup = next(v for v in vocab if v in seen or seen.add(v))  # type: ignore[func-returns-value]
            raise spec_error(self.name, f"vocabulary lists {dup!r} more than once")

    @property
    def column(self) -> str:
        """The raw column this field reads."""
        return self.name

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
            raise spec_error(self.name, "the vocabulary is not fitted yet (masknet train fits it)")
        return 1 + self.hash_buckets + len(self.vocabulary or ())


@dataclass(frozen=True)
class CategoricalField(IdSpace):
    """A single categorical value: hashed into ``num_buckets`` buckets, or looked up in a vocabulary.

    Two id spaces (see :class:`IdSpace` for the layout):

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

    def edge_values(self) -> list[Any]:
        """Values that exercise this field's rules in the conformance vectors (JSON-native, valid):
        every spelling of a typed value, unicode, padding, the first and last vocabulary entries."""
        values: list[Any] = {
            "integer": ["7", "7.0", 7, 7.0, "+07", "1e1"],
            "boolean": [True, False, "True", "FALSE", "0", 1],
        }.get(self.value_type, ["ü東京 é", "never-seen-in-training", " padded ", "01234", 3, 2.0, True])
        return values + list((self.vocabulary or ())[:1]) + list((self.vocabulary or ())[-1:])


@dataclass(frozen=True)
class MultiCategoricalField(IdSpace):
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
        along: an ``attention`` history whose events this field describes, position by position (e.g.
            each event's age bucket or category): the model adds this field's embedding at each
            position to that event's vector and, when this field ``shares`` an item field, the
            candidate's value of that field to the query. It is not a field of the model on its own.
            Defaults to None.
        required: when true a missing value is an error. Defaults to False.
        vocabulary, min_count, max_vocab, oov_buckets: a vocabulary of items, as for
            :class:`CategoricalField`. Default to None.
        value_type: what each item is, as for :class:`CategoricalField`. Defaults to ``text``.
    """

    max_length: int = field(kw_only=True)
    separator: str = "|"
    pooling: str = "mean"
    shares: str | None = None
    along: str | None = None
    kind: ClassVar[str] = "multi_categorical"
    allow_empty_text: ClassVar[bool] = False
    model_input: ClassVar[str] = "sequence"

    def __post_init__(self) -> None:
        if self.pooling == "attention" and self.shares is None:
            raise spec_error(
                self.name,
                "attention pooling weighs values by the candidate's value of the same id space: set "
                "shares to the item field (e.g. shares: item_id)",
            )
        if self.shares is None:
            super().__post_init__()
        else:  # the id space is the shared field's, checked there and copied by FeatureSpec
            check_name(self.name)
            check_side(self.name, self.side)
            check_bool(self.name, "required", self.required)
            if not isinstance(self.shares, str) or not self.shares:
                raise spec_error(self.name, f"shares must name a field. Received: shares={self.shares!r}")
        if (
            isinstance(self.max_length, bool)
            or not isinstance(self.max_length, int)
            or not 1 <= self.max_length <= 4096
        ):
            raise spec_error(
                self.name,
                f"max_length must be an integer in [1, 4096]. Received: max_length={self.max_length!r}",
            )
        if not isinstance(self.separator, str) or not self.separator:
            raise spec_error(
                self.name, f"separator must be a non-empty string. Received: separator={self.separator!r}"
            )
        if self.pooling not in POOLINGS:
            raise spec_error(
                self.name, f"pooling must be one of {POOLINGS}. Received: pooling={self.pooling!r}"
            )
        if self.along is not None:
            if not isinstance(self.along, str) or not self.along or self.along == self.name:
                raise spec_error(
                    self.name, f"along must name another (attention) field. Received: along={self.along!r}"
                )
            if self.pooling == "attention":
                raise spec_error(
                    self.name, f"a field along {self.along!r} is part of its events, not pooled on its own"
                )

    def edge_values(self) -> list[Any]:
        """Values that exercise this field's rules in the conformance vectors (JSON-native, valid):
        empty items, an over-long list (the first ``max_length`` are kept), a leading run of
        separators, a list with a missing item, a single value."""
        items = list((self.vocabulary or ())[:2]) or (
            ["1", "2"] if self.value_type == "integer" else ["a", "b"]
        )
        if self.value_type == "boolean":
            items = ["true", "false"]
        sep = self.separator
        return [
            sep.join([*items, "", items[0]]),
            items * (self.max_length + 2),
            sep * 3 + items[-1],
            [items[0], None, ""],
            items[0],
        ]


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
    #: Computed from other fields: it reads no column and has nothing to fit.
    column: ClassVar[None] = None
    reads_text: ClassVar[bool] = False
    is_fitted: ClassVar[bool] = True
    model_input: ClassVar[str] = "ids"

    def __post_init__(self) -> None:
        check_name(self.name)
        if isinstance(self.fields, str) or not isinstance(self.fields, (list, tuple)):
            raise spec_error(
                self.name, f"fields must be a list of field names. Received: fields={self.fields!r}"
            )
        object.__setattr__(self, "fields", tuple(self.fields))
        if len(self.fields) < 2:
            raise spec_error(
                self.name, f"a cross needs at least 2 fields. Received: fields={list(self.fields)}"
            )
        if len(set(self.fields)) != len(self.fields):
            raise spec_error(self.name, f"a cross lists a field twice. Received: fields={list(self.fields)}")
        check_buckets(self.name, self.num_buckets)

    @property
    def vocab_size(self) -> int:
        """Ids this field uses in the embedding table (buckets plus the missing id)."""
        return self.num_buckets + 1

    def edge_values(self) -> list[Any]:
        """None: a cross reads no column; the edge cases of the fields it crosses exercise it."""
        return []


Field = CategoricalField | NumericField | MultiCategoricalField | CrossField
KINDS: dict[str, type] = {
    "categorical": CategoricalField,
    "numeric": NumericField,
    "multi_categorical": MultiCategoricalField,
    "cross": CrossField,
}
