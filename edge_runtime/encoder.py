"""The hashing feature encoder: raw records -> model input arrays, identical in training and serving.

Its parts: :mod:`edge_runtime.columns` reads the input forms, :mod:`edge_runtime.categorical` gives
values their canonical texts, :mod:`edge_runtime.id_lookup` turns texts into ids,
:mod:`edge_runtime.numeric_encoding` transforms numbers; this module plans each side's work, crosses and
assembles.

Input records may be a list of dicts, a dict of columns (lists or numpy arrays) or a pandas DataFrame
(duck-typed: pandas is never imported). Output is a dict of numpy arrays named as
:meth:`FeatureSpec.input_signature` says: ``cat_ids`` (int32, offset ids), ``num_values`` (float32),
and ``<field>_ids`` / ``<field>_mask`` for multi-valued fields.

Outcomes for bad input (all errors are :class:`~edge_runtime.errors.EncodeError` naming the field and
the record index):

- missing field, ``None``, NaN: the missing id / the numeric fill value; an error if ``required``;
- unknown extra fields: ignored;
- a list/dict where a scalar is expected, an object with no canonical text: error;
- text in a numeric field: parsed as a float, an error if it does not parse;
- ``inf`` in a numeric field: error (never a silent garbage score);
- bytes that are not UTF-8, text with lone surrogates: error;
- a multi-valued value longer than ``max_length``: the first ``max_length`` values are kept.

For ranking, :meth:`FeatureEncoder.encode_context` encodes the user/request once and
:meth:`FeatureEncoder.encode_items` the candidates; :meth:`FeatureEncoder.assemble` joins them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from masknet_edge.edge_runtime import hashing
from masknet_edge.edge_runtime.columns import Columns
from masknet_edge.edge_runtime.encoded import EncodedPart, Plan, reuse_key, rows_of
from masknet_edge.edge_runtime.errors import ArgumentError, EncodeError
from masknet_edge.edge_runtime.id_lookup import DEFAULT_CACHE_SIZE, IdLookup
from masknet_edge.edge_runtime.native import fastcols as native_fast_path
from masknet_edge.edge_runtime.numeric import numeric_column
from masknet_edge.edge_runtime.numeric_encoding import NumericEncoding
from masknet_edge.edge_runtime.spec import (
    CategoricalField,
    CrossField,
    FeatureSpec,
    MultiCategoricalField,
    NumericField,
)

__all__ = ["DEFAULT_CACHE_SIZE", "EncodedPart", "FeatureEncoder"]


class FeatureEncoder:
    """Encode raw records into model inputs exactly as the spec says.

    Args:
        spec: a fitted :class:`FeatureSpec` (numeric statistics present).
        cache_size: texts whose ids are remembered per field (see :data:`DEFAULT_CACHE_SIZE` for the
            memory). Larger pays when a field has more distinct values than this and they repeat
            (training on large files). Defaults to 65,536.
        native: use the compiled fast path for lists of dicts where it was built
            (:mod:`edge_runtime.native`; same arrays). False forces the pure-Python path.

    >>> spec = FeatureSpec.from_dict({"fields": [
    ...     {"name": "city", "kind": "categorical", "side": "context", "num_buckets": 10}]})
    >>> FeatureEncoder(spec).encode([{"city": "Paris"}, {}])["cat_ids"].ravel().tolist()
    [1, 0]
    """

    def __init__(self, spec: FeatureSpec, cache_size: int = DEFAULT_CACHE_SIZE, native: bool = True) -> None:
        if not isinstance(spec, FeatureSpec):
            raise ArgumentError(f"Expected a FeatureSpec. Received: {type(spec).__name__}")
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise ArgumentError(
                f"Expected cache_size to be an integer >= 0. Received: cache_size={cache_size!r}"
            )
        self.cache_size = cache_size
        self._native = native_fast_path if native else None
        if not spec.is_fitted:
            raise EncodeError(
                f"the spec is not fitted: fields {list(spec.unfitted_fields())} lack statistics or a "
                "vocabulary; fit it on training data first (masknet train does)"
            )
        self.spec = spec
        self._ids = IdLookup(spec, cache_size, self._native)  # text -> id of every id field, its caches
        self._offsets = self._ids.offsets
        self._id_names = [f.name for f in spec.id_fields]
        # Derived layout, computed once (the spec's properties recompute on every access).
        self._id_fields = spec.id_fields
        self._multi_fields = spec.multi_fields
        self._raw_columns = spec.raw_columns
        self._side_columns = {side: spec.columns_of_side(side) for side in ("context", "item")}
        self._side = {name: spec.side_of(name) for name in spec.names}
        self._dense_names = [f.name for f in spec.dense_fields]
        self._cross_sources = {s for f in spec.fields if isinstance(f, CrossField) for s in f.fields}
        self._plans: dict[tuple[str, ...], Plan] = {}
        self._last_context: tuple[Any, EncodedPart | None] = (None, None)
        self._numbers = NumericEncoding(spec)  # transforms and buckets of the numeric fields
        self._by_kind = {
            "categorical": self._categorical,
            "numeric": self._bucketized,
            "multi_categorical": self._multi,
        }

    # --------------------------------------------------------------- public API
    def encode(self, records: Any) -> dict[str, np.ndarray]:
        """Encode complete records (every field from each record) into model inputs."""
        cols = Columns(records, "records")
        part = self._encode_part(cols, self._raw_columns, cols.n)
        return self._assemble([part], cols.n)

    def encode_context(self, context: Mapping[str, Any]) -> EncodedPart:
        """Encode the context (user/request) fields of one request: a part of one row."""
        if not isinstance(context, Mapping):
            raise EncodeError(f"context must be a mapping of field -> value, got {type(context).__name__}")
        names = self._side_columns["context"]
        if not names:
            return EncodedPart(n=1, ids={}, fps={}, dense={}, multi={})
        # A device ranks for one user: the same context request after request. The last one's
        # encoding is kept and reused when every value is the same (same type, equal value).
        key = reuse_key(tuple(map(context.get, self._plan(names).columns)))  # the columns the fields read
        last_key, last_part = self._last_context
        if key is not None and last_key == key:
            return last_part
        part = self._encode_part(Columns([context], "context"), names, 1)
        if key is not None:
            part.freeze()  # shared by the requests that reuse it
            self._last_context = (key, part)
        return part

    def encode_items(self, items: Any, extra: Mapping[str, Any] | None = None) -> EncodedPart:
        """Encode the item (candidate) fields of many candidates; ``extra`` columns (one value per
        candidate) are used instead of the candidates' own (the device's behaviour fields)."""
        cols = Columns(items, "candidates", extra)
        return self._encode_part(cols, self._side_columns["item"], cols.n)

    def fill_numeric(self, inputs: dict[str, np.ndarray], columns: Mapping[str, np.ndarray]) -> None:
        """Overwrite, in place, the numeric fields ``columns`` (raw values, one per row of ``inputs``)
        of assembled inputs, transformed as the spec says (catalog ranking's behaviour fields)."""
        for name, raw in columns.items():
            f = self.spec[name]
            x = np.asarray(raw, dtype=np.float64)
            if not isinstance(f, NumericField):
                raise ArgumentError(f"fill_numeric fills numeric fields; {name!r} is {f.kind}")
            missing = np.isnan(x)
            if f.is_bucketized:
                j = self._id_names.index(name)
                inputs["cat_ids"][:, j] = self._numbers.bucket_ids(f, x, missing)[0]
            else:
                j = self._dense_names.index(name)
                inputs["num_values"][:, j] = self._numbers.transform(f, x, missing)

    def placeholder_context(self) -> EncodedPart:
        """A context part with every context field missing, without the checks of ``required``.

        Only for layouts whose context columns are overwritten before use (catalog ranking fills
        them per request with :meth:`fill_context`).
        """
        part = EncodedPart(n=1, ids={}, fps={}, dense={}, multi={})
        for name in self._side_columns["context"]:
            f = self.spec[name]
            off = self._offsets.get(name, 0)
            if f.model_input == "sequence":
                part.multi[name] = (
                    np.full((1, f.max_length), off, np.int32),
                    np.zeros((1, f.max_length), np.float32),
                )
            elif f.model_input == "values":
                part.dense[name] = np.zeros(1, np.float32)
            else:
                part.ids[name] = np.full(1, off, np.int32)
                part.fps[name] = (np.zeros(1, np.uint64), np.ones(1, bool))
        return part

    def assemble(self, context: EncodedPart, items: EncodedPart) -> dict[str, np.ndarray]:
        """Join an encoded context (1 row) with encoded items (N rows) into model inputs."""
        if context.n != 1:
            raise ValueError(f"a context part has exactly one row, got {context.n}")
        return self._assemble([context, items], items.n)

    def fill_context(self, inputs: dict[str, np.ndarray], context: EncodedPart, items: EncodedPart) -> None:
        """Overwrite, in place, the context-dependent columns of assembled ``inputs`` for ``items``.

        Used by catalog ranking: the item columns are assembled once, and each request only writes
        its context columns (and the crosses that involve the context).
        """
        n, parts = items.n, [context, items]
        for j, f in enumerate(self._id_fields):
            if isinstance(f, CrossField):
                if any(self._side[src] == "context" for src in f.fields):
                    inputs["cat_ids"][:, j] = self._cross_column(f, parts, n)
            elif self._side[f.name] == "context":
                inputs["cat_ids"][:, j] = context.ids[f.name]
        for j, name in enumerate(self._dense_names):
            if name in context.dense:
                inputs["num_values"][:, j] = context.dense[name]
        for f in self._multi_fields:
            if f.name in context.multi:
                ids, mask = context.multi[f.name]
                inputs[f"{f.name}_ids"][:] = ids
                inputs[f"{f.name}_mask"][:] = mask

    # -------------------------------------------------------------- internals
    def _plan(self, names: Sequence[str]) -> Plan:
        """Per-part work list, computed once per distinct set of names (see :class:`Plan`)."""
        key = tuple(names)
        plan = self._plans.get(key)
        if plan is None:
            single, dense = [], []
            for name in names:
                f = self.spec[name]
                if f.model_input == "values":
                    dense.append(f)
                else:
                    single.append((name, f, self.spec.column_of(name)))
            # The plain categorical fields, whose ids can be looked up all at once (no cross reads
            # their fingerprints, no ``required`` check); none when fewer than two.
            batchable = [
                (name, f, column)
                for name, f, column in single
                if isinstance(f, CategoricalField) and name not in self._cross_sources and not f.required
            ]
            batchable = batchable if len(batchable) >= 2 else []
            plan = self._plans[key] = Plan(
                single=single,
                dense=dense,
                columns=list(dict.fromkeys(self.spec.column_of(name) for name in names)),
                batchable=batchable,
                id_names=tuple(name for name, _, _ in batchable),
                id_columns=tuple(column for _, _, column in batchable),
                num_names=tuple(f.name for f in dense),
                num_columns=tuple(f.column for f in dense),
                num_rules=self._numbers.table(dense).rules if dense else (),
            )
        return plan

    def _encode_part(self, cols: Columns, names: Sequence[str], n: int) -> EncodedPart:
        part = EncodedPart(n=n, ids={}, fps={}, dense={}, multi={})
        plan = self._plan(names)
        if not plan.columns:  # e.g. a context side with no fields: nothing to read
            return part
        single, dense = plan.single, plan.dense
        done = self._native_part(part, plan, cols, n) if self._native is not None else set()
        if len(part.ids) == len(single) and len(part.dense) == len(dense):
            return part  # the compiled path did every field (the ids are of single fields only)
        cols.prefetch([c for c in plan.columns if c not in done])
        if not part.ids:
            batched = self._ids.all_cached(
                [(name, cols.get(column)) for name, _, column in plan.batchable], n
            )
            if batched is not None:
                part.ids.update(batched)
        for name, f, column in single:
            if name not in part.ids:
                self._by_kind[f.kind](part, f, column, cols, n)
        if dense and not part.dense:
            block = self._numbers.block(dense, [cols.get(f.column) for f in dense], n)
            if block is not None:
                part.dense.update(zip([f.name for f in dense], block, strict=True))
            else:  # one field at a time: finds and names the bad value
                for f in dense:
                    x, missing = numeric_column(f, cols.get(f.column), n)
                    part.dense[f.name] = self._numbers.transform(f, x, missing)
        return part

    # One encoding per field kind that reads a column (``_by_kind``); crosses are computed from them.
    def _categorical(
        self, part: EncodedPart, f: CategoricalField, column: str, cols: Columns, n: int
    ) -> None:
        values = cols.get(column)
        if f.name in self._cross_sources:  # a cross chains the fingerprints of the texts
            fps, missing = self._ids.column(f.name, values, n, f.required)
            part.fps[f.name] = (fps, missing)
            if not f.uses_vocabulary:
                part.ids[f.name] = self._ids.ids_from_fps(f.name, fps, missing, f.hash_buckets)
                return
        part.ids[f.name], _ = self._ids.column(f.name, values, n, f.required, f)

    def _bucketized(self, part: EncodedPart, f: NumericField, column: str, cols: Columns, n: int) -> None:
        x, missing = numeric_column(f, cols.get(column), n)
        part.ids[f.name], part.fps[f.name] = self._numbers.bucket_ids(f, x, missing)

    def _multi(self, part: EncodedPart, f: MultiCategoricalField, column: str, cols: Columns, n: int) -> None:
        records = cols.dict_records((column,)) if self._native is not None and n else None
        native = self._ids.compiled_rows(f, records, column, n) if records is not None else None
        part.multi[f.name] = native if native is not None else self._ids.multi_column(f, cols.get(column), n)

    def _native_part(self, part: EncodedPart, plan: Plan, cols: Columns, n: int) -> set[str]:
        """The compiled fast path (:mod:`edge_runtime.native`) for dict records: the batchable ids
        and the plain numeric block, read straight from the dicts. Fills ``part`` with what it
        could do and returns the columns it read; the rest (and anything it gave up on: cache
        misses, texts in numeric fields, other types) takes the Python path."""
        done: set[str] = set()
        if not n:
            return done
        fast = self._native
        records = cols.dict_records(plan.id_columns + plan.num_columns)
        if records is None:
            return done
        if plan.id_names:
            ids = self._ids.compiled_ids(records, plan.id_names, plan.id_columns, n)
            if ids is not None:
                part.ids.update(zip(plan.id_names, ids, strict=True))
                done.update(plan.id_columns)
        if plan.num_names:
            y = np.empty((len(plan.num_names), n), dtype=np.float32)
            if fast.numbers(records, plan.num_columns, plan.num_rules, y):
                part.dense.update(zip(plan.num_names, y, strict=True))
                done.update(plan.num_columns)
        return done

    def _cross_column(self, f: CrossField, parts: Sequence[EncodedPart], n: int) -> np.ndarray:
        fps, missing = [], np.zeros(n, bool)
        for src in f.fields:
            for p in parts:
                if src in p.fps:
                    fp, m = p.fps[src]
                    fps.append(np.broadcast_to(fp, (n,)))
                    missing |= np.broadcast_to(m, (n,))
                    break
            else:  # pragma: no cover - every raw column is encoded
                raise AssertionError(src)
        h = hashing.cross_fingerprints(fps)
        return self._ids.ids_from_fps(f.name, h, missing, f.num_buckets)

    def _assemble(self, parts: Sequence[EncodedPart], n: int) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if self._id_names:
            cat = np.empty((n, len(self._id_names)), dtype=np.int32)
            for j, f in enumerate(self._id_fields):
                if isinstance(f, CrossField):
                    cat[:, j] = self._cross_column(f, parts, n)
                    continue
                for p in parts:
                    if f.name in p.ids:
                        cat[:, j] = p.ids[f.name]
                        break
            out["cat_ids"] = cat
        if self._dense_names:
            dense = np.empty((n, len(self._dense_names)), dtype=np.float32)
            for j, name in enumerate(self._dense_names):
                for p in parts:
                    if name in p.dense:
                        dense[:, j] = p.dense[name]
                        break
            out["num_values"] = dense
        for f in self._multi_fields:
            for p in parts:
                if f.name in p.multi:
                    ids, mask = p.multi[f.name]
                    out[f"{f.name}_ids"] = rows_of(ids, n)
                    out[f"{f.name}_mask"] = rows_of(mask, n)
                    break
        return out
