"""Field embeddings from the encoder's ids and numerics: the first layer of every model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from masknet_edge.edge_runtime.field_checks import POOLINGS
from masknet_edge.train.config import KERAS_PACKAGE as PACKAGE
from masknet_edge.train.initializers import (
    check_initializer,
    embedding_default,
    fresh_initializer,
    serialize_initializer,
)
from masknet_edge.train.target_attention import TargetAttention

__all__ = ["FeatureEmbedding"]


def _checked_multi(
    num_id_fields: int,
    multi_fields: Sequence[str],
    multi_poolings: Sequence[str],
    multi_queries: Sequence[int] | None,
    multi_along: Sequence[int] | None,
) -> tuple[list[int], list[int]]:
    """The multi-valued fields' query columns and histories, checked against their poolings (-1 for
    none): an attention pooling needs a query among the ``cat_ids`` columns; a field along a history
    names an attention field and may have a query of its own."""
    if len(multi_fields) != len(multi_poolings):
        raise ValueError(
            "Expected one pooling per multi-valued field. "
            f"Received: multi_fields={list(multi_fields)}, multi_poolings={list(multi_poolings)}"
        )
    queries = [-1] * len(multi_fields) if multi_queries is None else [int(q) for q in multi_queries]
    if len(queries) != len(multi_fields):
        raise ValueError(f"Expected one query per multi-valued field. Received: multi_queries={queries}")
    along = [-1] * len(multi_fields) if multi_along is None else [int(a) for a in multi_along]
    if len(along) != len(multi_fields):
        raise ValueError(f"Expected one history index per multi-valued field. Received: multi_along={along}")
    for p, q, a in zip(multi_poolings, queries, along, strict=True):
        if p not in POOLINGS:
            raise ValueError(f"Expected poolings in {POOLINGS}. Received: multi_poolings={p!r}")
        query_ok = 0 <= q < num_id_fields if p == "attention" else q == -1 or (a >= 0 and q < num_id_fields)
        if not query_ok:
            raise ValueError(
                "Expected a cat_ids column as the query of each attention pooling (and optionally of a "
                "field along one), and -1 elsewhere. "
                f"Received: multi_poolings={list(multi_poolings)}, multi_queries={queries}"
            )
        if a != -1 and not (
            0 <= a < len(multi_fields) and multi_poolings[a] == "attention" and p != "attention"
        ):
            raise ValueError(
                "Expected multi_along to name attention histories (and -1 elsewhere). "
                f"Received: multi_poolings={list(multi_poolings)}, multi_along={along}"
            )
    return queries, along


@keras.saving.register_keras_serializable(package=PACKAGE)
class FeatureEmbedding(keras.layers.Layer):
    """Embed every field into a k-vector: ``[batch, fields, k]``.

    - scalar id fields (``cat_ids``, offsets from the encoder) look up one shared table;
    - multi-valued fields look up the table and pool with their mask (``mean`` or ``sum``), or by
      target attention (``attention``, :class:`train.target_attention.TargetAttention`): weighed by
      their likeness to the row of the id field their query names (the candidate's item);
    - a multi-valued field ``along`` an attention history describes its events position by position
      (their ages, their categories): its rows are added to the history's, and its query's row (if
      any) to the history's query; it is no field of the output on its own;
    - numeric fields, when ``numeric_mode="vector"``, become value-scaled vectors ``e_j = v_j * x_j``
      (the paper); with ``"dense"`` they are left to the caller (concatenated as values).

    Field order: id fields, multi-valued fields, numeric fields.

    Args:
        vocab_size: rows of the shared table (``FeatureSpec.total_vocab``).
        embedding_dim: k. Defaults to 10.
        num_id_fields: columns of ``cat_ids``.
        num_numeric: columns of ``num_values``.
        multi_fields: names of the multi-valued fields (inputs ``<name>_ids``/``<name>_mask``).
        multi_poolings: pooling (``"mean"``/``"sum"``/``"attention"``) of each multi-valued field, in
            the same order.
        multi_queries: for each multi-valued field, the ``cat_ids`` column whose row queries its
            attention (-1 for the other poolings). Defaults to -1 for every field.
        multi_along: for each multi-valued field, the index (in ``multi_fields``) of the attention
            history whose events it describes, or -1. Defaults to -1 for every field.
        attention_units: hidden widths of each attention's activation unit. Defaults to ``(64,)``.
        numeric_mode: ``"vector"`` or ``"dense"``. Defaults to ``"vector"``.
        embeddings_initializer: of the table and the numeric vectors (a ``keras.initializers`` name,
            config or object). Defaults to None: ``RandomNormal(stddev=0.01)``.
        embeddings_regularizer: applied to the rows a batch looks up, per example (the table is too
            large to regularize whole at every step). Defaults to None.
        embeddings_regularizer_l2: shorthand for ``embeddings_regularizer=L2(value)`` (and how runs
            saved before that argument existed name it). Defaults to 0.
        unknown_rate: while training, each present value of an ``unknown_buckets`` column is replaced
            by one of its field's out-of-vocabulary ids with this probability, so those rows learn
            what a value never seen in training (a new user, a new item) should mean. Defaults to 0.
        unknown_buckets: per ``cat_ids`` column, ``[first_id, count]`` of its out-of-vocabulary ids,
            or ``[-1, 0]`` for a column never hidden. Defaults to None (none hidden).
        seed: of the hiding draws. Defaults to None.

    Input shape:
        A dict: ``cat_ids`` ``[batch, num_id_fields]`` int32 offset ids; for each multi-valued field
        ``<name>_ids`` int32 and ``<name>_mask`` float32, both ``[batch, max_length]``;
        ``num_values`` ``[batch, num_numeric]`` float32.

    Output shape:
        ``[batch, num_fields, embedding_dim]``: id fields, then multi-valued (but those ``along``
        another), then (``vector`` mode) numeric fields.

    >>> import numpy as np
    >>> layer = FeatureEmbedding(vocab_size=10, embedding_dim=4, num_id_fields=2)
    >>> tuple(layer({"cat_ids": np.array([[1, 7]], "int32")}).shape)
    (1, 2, 4)
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 10,
        num_id_fields: int = 0,
        num_numeric: int = 0,
        multi_fields: tuple[str, ...] | list[str] = (),
        multi_poolings: tuple[str, ...] | list[str] = (),
        multi_queries: tuple[int, ...] | list[int] | None = None,
        multi_along: tuple[int, ...] | list[int] | None = None,
        attention_units: tuple[int, ...] | list[int] = (64,),
        numeric_mode: str = "vector",
        embeddings_initializer: Any = None,
        embeddings_regularizer: Any = None,
        embeddings_regularizer_l2: float = 0.0,
        unknown_rate: float = 0.0,
        unknown_buckets: list[list[int]] | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= unknown_rate < 1.0:
            raise ValueError(f"Expected unknown_rate in [0, 1). Received: unknown_rate={unknown_rate}")
        buckets = [[int(a), int(b)] for a, b in (unknown_buckets or [])]
        if buckets and len(buckets) != num_id_fields:
            raise ValueError(f"Expected one [first_id, count] per cat_ids column. Received: {buckets}")
        self.unknown_rate = float(unknown_rate)
        self.unknown_buckets = buckets
        self.seed = seed
        self._hides = self.unknown_rate > 0 and any(n > 0 for _, n in buckets)
        if self._hides:
            self.seed_generator = keras.random.SeedGenerator(seed)
        if numeric_mode not in ("vector", "dense"):
            raise ValueError(
                f"Expected numeric_mode in {{'vector', 'dense'}}. Received: numeric_mode={numeric_mode!r}"
            )
        queries, along = _checked_multi(
            num_id_fields, multi_fields, multi_poolings, multi_queries, multi_along
        )
        for key, value in (("vocab_size", vocab_size), ("embedding_dim", embedding_dim)):
            if value < 1:
                raise ValueError(f"Expected {key} >= 1. Received: {key}={value}")
        self.vocab_size = int(vocab_size)
        self.embedding_dim = int(embedding_dim)
        self.num_id_fields = int(num_id_fields)
        self.num_numeric = int(num_numeric)
        self.multi_fields = tuple(multi_fields)
        self.multi_poolings = tuple(multi_poolings)
        self.multi_queries = tuple(queries)
        self.multi_along = tuple(along)
        self.attention_units = tuple(int(u) for u in attention_units)
        self.attentions = {
            name: TargetAttention(self.attention_units, name=f"attention_{name}")
            for name, p in zip(self.multi_fields, self.multi_poolings, strict=True)
            if p == "attention"
        }
        self.numeric_mode = numeric_mode
        self.embeddings_initializer = check_initializer("embeddings_initializer", embeddings_initializer)
        if embeddings_regularizer is None and embeddings_regularizer_l2:
            embeddings_regularizer = keras.regularizers.L2(float(embeddings_regularizer_l2))
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)

    @property
    def num_fields(self) -> int:
        """Fields in the output (numerics count only in ``vector`` mode)."""
        n = self.num_id_fields + sum(1 for a in self.multi_along if a < 0)
        return n + (self.num_numeric if self.numeric_mode == "vector" else 0)

    def build(self, input_shape: Any) -> None:
        self.table = self.add_weight(
            name="table",
            shape=(self.vocab_size, self.embedding_dim),
            initializer=fresh_initializer(self.embeddings_initializer, embedding_default),
        )
        if self.num_numeric and self.numeric_mode == "vector":
            self.numeric_vectors = self.add_weight(
                name="numeric_vectors",
                shape=(self.num_numeric, self.embedding_dim),
                initializer=fresh_initializer(self.embeddings_initializer, embedding_default),
            )
        for attention in self.attentions.values():
            attention.build((None, self.embedding_dim))

    def _hide(self, ids: Any) -> Any:
        """``ids`` with each present value of a hidden column replaced by an out-of-vocabulary id at
        ``unknown_rate`` (training only)."""
        first = ops.convert_to_tensor([max(a, 0) for a, _ in self.unknown_buckets], dtype=ids.dtype)
        count = ops.convert_to_tensor([n for _, n in self.unknown_buckets], dtype="float32")
        draw = keras.random.uniform(ops.shape(ids), seed=self.seed_generator)
        bucket = ops.cast(keras.random.uniform(ops.shape(ids), seed=self.seed_generator) * count, ids.dtype)
        present = ops.not_equal(ids, first - 1)  # local id 0 (missing) stays missing
        hide = ops.logical_and(ops.logical_and(draw < self.unknown_rate, count > 0), present)
        return ops.where(hide, first + ops.minimum(bucket, ops.cast(count, ids.dtype) - 1), ids)

    def call(self, inputs: dict[str, Any], training: bool | None = None) -> Any:
        # One lookup for every id input (scalar ids and the padded multi-valued ids side by side):
        # a single GATHER keeps a single copy of the table in the converted model.
        widths = []
        id_inputs = []
        if self.num_id_fields:
            cat_ids = inputs["cat_ids"]
            id_inputs.append(self._hide(cat_ids) if training and self._hides else cat_ids)
            widths.append(self.num_id_fields)
        for name in self.multi_fields:
            id_inputs.append(inputs[f"{name}_ids"])
            widths.append(int(inputs[f"{name}_ids"].shape[1]))
        parts = []
        if id_inputs:
            all_ids = id_inputs[0] if len(id_inputs) == 1 else ops.concatenate(id_inputs, axis=1)
            all_rows = ops.take(self.table, all_ids, axis=0)  # [B, sum(widths), k]
            start = 0
            chunks = []
            for w in widths:
                chunks.append(all_rows[:, start : start + w, :])
                start += w
            if self.num_id_fields:
                rows = id_rows = chunks.pop(0)  # [B, F_id, k]
                parts.append(rows)
                if self.embeddings_regularizer is not None:  # per example: the batch mean
                    batch = ops.cast(ops.shape(rows)[0], rows.dtype)
                    self.add_loss(self.embeddings_regularizer(rows) / batch)
            keys, queries = list(chunks), [id_rows[:, q, :] if q >= 0 else None for q in self.multi_queries]
            for rows, query, a in zip(chunks, queries, self.multi_along, strict=True):
                if a >= 0:  # this field's rows describe the events of history a
                    keys[a] = keys[a] + rows
                    if query is not None:
                        queries[a] = queries[a] + query
            fields = zip(self.multi_fields, self.multi_poolings, self.multi_along, keys, queries, strict=True)
            for name, pooling, a, rows, query in fields:
                if a >= 0:
                    continue
                if pooling == "attention":
                    mask = ops.cast(inputs[f"{name}_mask"], rows.dtype)
                    pooled = self.attentions[name](query, rows, mask)
                    parts.append(ops.expand_dims(pooled, 1))
                    continue
                mask = ops.expand_dims(ops.cast(inputs[f"{name}_mask"], rows.dtype), -1)  # [B, L, 1]
                pooled = ops.sum(rows * mask, axis=1)
                if pooling == "mean":
                    pooled = pooled / ops.maximum(ops.sum(mask, axis=1), 1.0)
                parts.append(ops.expand_dims(pooled, 1))
        if self.num_numeric and self.numeric_mode == "vector":
            x = ops.cast(inputs["num_values"], self.numeric_vectors.dtype)
            parts.append(ops.expand_dims(x, -1) * ops.expand_dims(self.numeric_vectors, 0))
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=1)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (None, self.num_fields, self.embedding_dim)

    def get_config(self) -> dict[str, Any]:
        config = {
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "num_id_fields": self.num_id_fields,
            "num_numeric": self.num_numeric,
            "multi_fields": list(self.multi_fields),
            "multi_poolings": list(self.multi_poolings),
            "multi_queries": list(self.multi_queries),
            "multi_along": list(self.multi_along),
            "attention_units": list(self.attention_units),
            "numeric_mode": self.numeric_mode,
            "embeddings_initializer": serialize_initializer(self.embeddings_initializer),
            "embeddings_regularizer": keras.regularizers.serialize(self.embeddings_regularizer)
            if self.embeddings_regularizer is not None
            else None,
        }
        if self.unknown_rate:
            config.update(
                unknown_rate=self.unknown_rate, unknown_buckets=self.unknown_buckets, seed=self.seed
            )
        return {**super().get_config(), **config}
