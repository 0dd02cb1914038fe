"""Text to id for every id field of a spec: its vocabulary first, else its hash bucket (ENCODING.md
§4), remembered in bounded per-field caches.

One mechanism for every categorical lookup of :class:`~edge_runtime.encoder.FeatureEncoder`: a
column of values becomes final ids (or, for the fields a cross reads, the fingerprints it chains);
when every value of several columns is cached, :meth:`IdLookup.all_cached` does them in one pass,
and the compiled fast path, its accelerator for dict records (:meth:`IdLookup.compiled_ids`,
:meth:`IdLookup.compiled_rows`), reads the same caches.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import numpy as np

from masknet_edge.edge_runtime import hashing
from masknet_edge.edge_runtime.categorical import categorical_text, multi_value_texts
from masknet_edge.edge_runtime.errors import EncodeError
from masknet_edge.edge_runtime.spec import CategoricalField, FeatureSpec, MultiCategoricalField

__all__ = ["DEFAULT_CACHE_SIZE", "IdLookup"]

#: Texts whose ids are cached per field by default. Each cached value costs about 85 bytes plus the
#: text itself (measured with tracemalloc: ~150 bytes for a 14-character id), so ~10 MB per field
#: when full; a full cache is cleared and refills with the values that come.
DEFAULT_CACHE_SIZE = 65_536


class IdLookup:
    """Text -> id of a spec's id fields, with the caches that make repeated values cheap.

    Args:
        spec: a fitted spec.
        cache_size: texts remembered per field beyond its vocabulary; a full cache starts again from
            the vocabulary (ids never change, only the time to find them).
        compiled: the compiled fast path (:mod:`edge_runtime.native`'s module), which looks dict
            records up in these caches without Python per value; None: Python only.
    """

    def __init__(self, spec: FeatureSpec, cache_size: int, compiled: Any = None) -> None:
        self.spec = spec
        self.cache_size = cache_size
        self.compiled = compiled
        # field names -> their caches and missing ids, for the compiled path
        self._caches_of: dict[tuple[str, ...], tuple[tuple[dict[str, int], ...], tuple[int, ...]]] = {}
        self.offsets = spec.vocab_offsets()
        self.fingerprints: dict[str, dict[str, int]] = {}  # field -> text -> fingerprint (crosses)
        # field -> vocabulary text -> offset id (empty for hashing fields); the id caches start from it.
        self.vocab_ids: dict[str, dict[str, int]] = {
            f.name: {
                t: self.offsets[f.name] + 1 + f.hash_buckets + i for i, t in enumerate(f.vocabulary or ())
            }
            for f in spec.fields
            if f.reads_text  # the id spaces of texts: categorical and multi-valued fields
        }
        self.id_caches: dict[str, dict[str, int]] = {}  # field -> text -> offset id
        self.multi_rows: dict[str, dict[str, tuple[int, ...]]] = {}  # field -> raw text -> padded ids
        for name, vocab in self.vocab_ids.items():
            if vocab:  # ready before the first request, so the batched fast path applies at once
                self.ids_cache_of(name)

    def ids_from_fps(self, name: str, fps: np.ndarray, missing: np.ndarray, num_buckets: int) -> np.ndarray:
        """Offset ids of hashed fingerprints (``missing`` rows take the field's missing id)."""
        off = self.offsets[name]
        ids = (fps % np.uint64(num_buckets)).astype(np.int64) + (off + 1)
        if missing.any():
            ids[missing] = off
        return ids.astype(np.int32)

    def column(
        self, name: str, values: Any, n: int, required: bool, id_field: CategoricalField | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Look up one scalar categorical column: ``(values, missing mask)``.

        With ``id_field`` the values are the final int32 ids (the cache maps text straight to ids;
        missing is the field's offset); without it they are the uint64 fingerprints a cross needs
        (missing is 0, told apart from a real fingerprint 0 by looking at the value).
        """
        fp64 = hashing._fingerprint64
        if id_field is None:
            miss_val, dtype, cache = 0, np.uint64, self.fingerprints.setdefault(name, {})

            def resolve(text: str, i: int) -> int:
                return self.fp(fp64, name, text, i)
        else:
            miss_val, dtype = self.offsets[name], np.int32
            cache = self.ids_cache_of(name)

            def resolve(text: str, i: int) -> int:
                return self.id_of_text(id_field, text, i)

        if values is None:
            if required and n:
                raise EncodeError("required field is missing", field=name, record=0)
            return np.full(n, miss_val, dtype), np.ones(n, bool)
        self.trim(name, cache)
        if isinstance(values, np.ndarray) and values.dtype.kind in "iub":
            uniq, inverse = np.unique(values, return_inverse=True)
            out = []
            for i, v in enumerate(uniq.tolist()):
                text = categorical_text(self.spec[name], v, i)
                got = cache.get(text)
                if got is None:
                    got = cache[text] = resolve(text, i)
                out.append(got)
            return np.array(out, dtype=dtype)[inverse.ravel()], np.zeros(n, bool)
        if isinstance(values, np.ndarray) and values.dtype.kind not in "OUSf":
            raise EncodeError(f"unsupported column dtype {values.dtype}", field=name)
        seq = values.tolist() if isinstance(values, np.ndarray) else values
        # Hot path: one C-level dict lookup per value. The cache maps text -> result and None -> the
        # missing value; other values (ints, floats, bytes, cache misses) get None and are resolved below.
        cache[None] = miss_val  # type: ignore[index]
        get = cache.get
        slow_missing = []
        try:
            arr = np.fromiter(map(get, seq), dtype=dtype, count=n)
        except TypeError:  # cache misses (None), or an unhashable value (list, dict)
            try:
                got = list(map(get, seq))
            except TypeError:
                got = [get(v) if type(v) is str or v is None else None for v in seq]
            for i in [i for i, g in enumerate(got) if g is None]:
                raw = seq[i]
                text = categorical_text(self.spec[name], raw, i)
                if text is None:
                    slow_missing.append(i)
                    got[i] = miss_val
                    continue
                r = get(text)
                if r is None:
                    r = cache[text] = resolve(text, i)
                if type(raw) is str:  # another spelling of the text ("2.0" in an integer field)
                    cache[raw] = r
                got[i] = r
            arr = np.array(got, dtype=dtype)
        missing = np.zeros(n, bool)
        candidates = np.flatnonzero(arr == miss_val)
        if candidates.size:
            if id_field is None:  # a real text may have fingerprint 0: look at the values
                missing[candidates] = [seq[i] is None for i in candidates.tolist()]
                missing[slow_missing] = True
            else:  # no real value maps to the missing id
                missing[candidates] = True
            if required and missing.any():
                i = int(np.flatnonzero(missing)[0])
                raise EncodeError("required field is missing (None/NaN)", field=name, record=i)
        return arr, missing

    def all_cached(self, columns: list[tuple[str, Any]], n: int) -> dict[str, np.ndarray] | None:
        """Ids of several fields' columns ``(field, values)`` at once, when every value is a cached
        text or None (the steady state of a ranker): one C-level pass over all of them. None
        otherwise; then each field takes :meth:`column`."""
        if not columns or not n:
            return None
        lookups = []
        for name, values in columns:
            cache = self.id_caches.get(name)
            if cache is None or values is None or isinstance(values, np.ndarray):
                return None
            cache[None] = self.offsets[name]  # type: ignore[index]
            lookups.append(map(cache.get, values))
        try:
            flat = np.fromiter(chain.from_iterable(lookups), dtype=np.int32, count=len(columns) * n)
        except (TypeError, ValueError):  # a value not in a cache (None from .get), or unhashable
            return None
        arr = flat.reshape(len(columns), n)
        return {name: arr[i] for i, (name, _) in enumerate(columns)}

    def compiled_ids(
        self, records: Any, names: tuple[str, ...], columns: tuple[str, ...], n: int
    ) -> np.ndarray | None:
        """Ids ``[fields, n]`` of the dict ``records``' ``columns`` (fields ``names``) by the compiled
        path, when every value is cached or None; None otherwise (then :meth:`column` does them)."""
        known = self._caches_of.get(names)
        if known is None:  # the caches exist once each field has been looked up; then they stay
            caches = tuple(self.id_caches.get(name) for name in names)
            if None in caches:
                return None
            known = self._caches_of[names] = (caches, tuple(self.offsets[name] for name in names))
        caches, missing = known
        ids = np.empty((len(caches), n), dtype=np.int32)
        return ids if self.compiled.lookup_ids(records, columns, caches, missing, ids) else None

    def compiled_rows(
        self, f: MultiCategoricalField, records: Any, column: str, n: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """A multi-valued field's ids and mask by the compiled path, when every raw value's padded
        row is cached (or it is None, in a field that is not required); None otherwise."""
        off, width = self.offsets[f.name], f.max_length
        rows = self.multi_rows.setdefault(f.name, {})
        if not f.required:
            rows[None] = (off,) * width  # type: ignore[index]  # what the per-item path gives None
        ids = np.empty((n, width), dtype=np.int32)
        if not self.compiled.lookup_rows(records, column, rows, ids, width):
            return None
        return ids, (ids != off).astype(np.float32)

    def ids_cache_of(self, name: str) -> dict[str, int]:
        """The text -> id cache of a field, created from its vocabulary on first use."""
        cache = self.id_caches.get(name)
        if cache is None:
            cache = self.id_caches[name] = dict(self.vocab_ids[name])
        return cache

    def trim(self, name: str, cache: dict[Any, Any]) -> None:
        """Keep a field's cache within ``cache_size`` texts beyond its vocabulary: when full, it starts
        again from the vocabulary (fingerprint caches of crossed fields have none)."""
        vocab = self.vocab_ids.get(name, {})
        if len(cache) > self.cache_size + len(vocab):
            cache.clear()
            if cache is self.id_caches.get(name):
                cache.update(vocab)

    def id_of_text(self, f: CategoricalField | MultiCategoricalField, text: str, i: int) -> int:
        """The offset id of one canonical text: its vocabulary id, else its hash bucket."""
        vid = self.vocab_ids[f.name].get(text)
        if vid is not None:
            return vid
        return self.offsets[f.name] + 1 + self.fp(hashing._fingerprint64, f.name, text, i) % f.hash_buckets

    @staticmethod
    def fp(fp64: Any, name: str, text: str, i: int) -> int:
        """The fingerprint of one text; a lone surrogate is an error naming the field and record."""
        try:
            return fp64(text)
        except UnicodeError:
            raise EncodeError("text is not valid UTF-8 (lone surrogate)", field=name, record=i) from None

    def multi_column(self, f: MultiCategoricalField, values: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids and mask of a multi-valued field. A raw text's whole padded row of ids is cached, so
        repeated values (genre lists, tag sets) cost one dict lookup in a C loop; only the rows not
        cached take the per-item path. Real ids are always above the field's offset, which pads."""
        off, width = self.offsets[f.name], f.max_length
        if values is None:
            if f.required and n:
                raise EncodeError("required field is missing", field=f.name, record=0)
            return np.full((n, width), off, dtype=np.int32), np.zeros((n, width), dtype=np.float32)
        seq = values.tolist() if isinstance(values, np.ndarray) else values
        rows = self.multi_rows.setdefault(f.name, {})
        try:
            found = list(map(rows.get, seq))
        except TypeError:  # an unhashable value (a list): every row takes the per-item path
            found = [None] * n
        if None in found:
            cache = self.ids_cache_of(f.name)
            self.trim(f.name, cache)
            if len(rows) > self.cache_size:
                rows.clear()
            empty = (off,) * width
            for i in [i for i, row in enumerate(found) if row is None]:
                v = seq[i]
                texts = multi_value_texts(f, v, i)
                if texts is None:
                    if f.required:
                        raise EncodeError("required field is missing", field=f.name, record=i)
                    found[i] = empty
                    continue
                ids = list(map(cache.get, texts))  # a C loop; the texts not cached are resolved below
                for j in [j for j, got in enumerate(ids) if got is None]:
                    ids[j] = cache[texts[j]] = self.id_of_text(f, texts[j], i)
                found[i] = row = (*ids, *empty[len(ids) :])
                if type(v) is str:
                    rows[v] = row
        ids = np.array(found, dtype=np.int32).reshape(n, width)
        return ids, (ids != off).astype(np.float32)
