"""The compiled fast path (edge_runtime/_fastcols.c) gives exactly what the pure-Python path gives:
the same arrays, or the same error naming the same field and record."""

from __future__ import annotations

import math
import shutil
from collections import UserDict
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from masknet_edge.edge_runtime import native
from masknet_edge.edge_runtime.encoder import FeatureEncoder
from masknet_edge.edge_runtime.errors import EncodeError
from masknet_edge.edge_runtime.spec import FeatureSpec

SPEC = FeatureSpec.from_dict(
    {
        "fields": [
            {"name": "user", "kind": "categorical", "side": "context", "num_buckets": 40},
            {"name": "c1", "kind": "categorical", "side": "item", "num_buckets": 30},
            {"name": "c2", "kind": "categorical", "side": "item", "num_buckets": 11},
            {"name": "c3", "kind": "categorical", "side": "item", "oov_buckets": 5,
             "vocabulary": ["a", "b"]},
            {"name": "req", "kind": "categorical", "side": "item", "num_buckets": 9, "required": True},
            {"name": "n1", "kind": "numeric", "side": "item", "transform": "standardize", "mean": 1,
             "std": 2},
            {"name": "n2", "kind": "numeric", "side": "item", "transform": "log1p_standardize", "mean": 1,
             "std": 0.5, "default": 4.0},
            {"name": "n3", "kind": "numeric", "side": "item", "transform": "none", "clip": 5.0},
            {"name": "nr", "kind": "numeric", "side": "item", "transform": "none", "required": True},
            {"name": "tags", "kind": "multi_categorical", "side": "item", "num_buckets": 20, "max_length": 3},
            {"name": "rtags", "kind": "multi_categorical", "side": "item", "num_buckets": 5, "max_length": 2,
             "required": True},
        ]
    }
)  # fmt: skip
TEXTS = ["a", "b", "x1", "x2", "7", "ü", "", "a|b", "b|x1|7|a"]
HAS_NATIVE = native.fastcols is not None
needs_native = pytest.mark.skipif(not HAS_NATIVE, reason="the compiled fast path is not built here")


def _outcome(enc: FeatureEncoder, records: Any) -> Any:
    try:
        return enc.encode(records)
    except EncodeError as exc:
        return ("error", exc.field, exc.record)


def _same(a: Any, b: Any) -> None:
    if isinstance(a, tuple) or isinstance(b, tuple):
        assert a == b
        return
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_the_fast_path_is_built_where_a_compiler_is() -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here: the install went on without the fast path")
    assert HAS_NATIVE, "a C compiler is here but edge_runtime._fastcols is not: reinstall (pip install -e .)"


values = st.one_of(
    st.sampled_from(TEXTS),
    st.none(),
    st.just(math.nan),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from([b"a", np.float32(1.5), np.int64(3), "2.5", "1e400", [1], {"k": 1}]),
)
records = st.lists(
    st.dictionaries(st.sampled_from([f.name for f in SPEC.fields] + ["other"]), values),
    max_size=6,
)


@needs_native
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records, st.lists(st.sampled_from(TEXTS), max_size=6))
def test_random_records_encode_identically(recs, warm):
    fast, slow = FeatureEncoder(SPEC), FeatureEncoder(SPEC, native=False)
    for enc in (fast, slow):  # warm the caches as a ranker's earlier requests do
        _outcome(
            enc, [{name: t for name in ("c1", "c2", "c3", "req", "user", "tags", "rtags")} for t in warm]
        )
    _same(_outcome(fast, recs), _outcome(slow, recs))
    _same(_outcome(fast, recs), _outcome(slow, recs))  # and again, caches warmer


@needs_native
def test_the_fast_path_serves_warm_requests_and_equals_every_input_form():
    rng = np.random.default_rng(0)
    recs = [
        {
            "user": "u1",
            "c1": str(rng.integers(50)),
            "c2": None if i % 5 == 0 else f"v{rng.integers(9)}",
            "c3": "ab"[i % 2],
            "req": "r",
            "n1": None if i % 7 == 0 else float(rng.normal()),
            "n2": int(rng.integers(100)),
            "n3": bool(i % 2),
            "nr": float(i),
            "tags": None if i % 4 == 0 else ["a|b", "x1", "b|x1|7|a"][i % 3],
            "rtags": "a|b",
        }
        for i in range(300)
    ]
    fast, slow = FeatureEncoder(SPEC), FeatureEncoder(SPEC, native=False)
    calls = []

    class Spy:
        def lookup_ids(self, *args):
            calls.append(("ids", native.fastcols.lookup_ids(*args)))
            return calls[-1][1]

        def numbers(self, *args):
            calls.append(("numbers", native.fastcols.numbers(*args)))
            return calls[-1][1]

        def lookup_rows(self, *args):
            calls.append(("rows", native.fastcols.lookup_rows(*args)))
            return calls[-1][1]

    fast._native = fast._ids.compiled = Spy()  # the numbers' entry, and the id lookup's accelerator
    cold = fast.encode(recs)
    cold_calls, calls[:] = list(calls), []
    warm = fast.encode(recs)
    # A warm request is served by the compiled path: each of its lookups succeeds (a cold one may
    # fall back to Python, which fills the caches), whatever the order of the calls.
    assert {kind for kind, _ in calls} == {"ids", "numbers", "rows"} and all(ok for _, ok in calls), calls
    assert cold_calls and not all(ok for _, ok in cold_calls)
    expected = slow.encode(recs)
    _same(cold, expected)
    _same(warm, expected)
    # other containers take the Python path, with the same result
    _same(fast.encode(tuple(recs)), expected)
    _same(fast.encode([UserDict(r) for r in recs]), expected)
    _same(fast.encode({k: [r[k] for r in recs] for k in recs[0]}), expected)
    # a context once plus items, and device-computed columns that override the candidates' own
    ctx, items = fast.encode_context({"user": "u1"}), fast.encode_items(recs, {"n1": [2.0] * len(recs)})
    ctx_s, items_s = slow.encode_context({"user": "u1"}), slow.encode_items(recs, {"n1": [2.0] * len(recs)})
    _same(fast.assemble(ctx, items), slow.assemble(ctx_s, items_s))


@needs_native
def test_the_compiled_functions_check_their_arguments():
    f = native.fastcols
    with pytest.raises(TypeError):
        f.lookup_ids((), ("a",), ({},), np.empty((1, 0), np.int32))
    with pytest.raises(ValueError, match="buffer"):
        f.lookup_ids([{}], ("a",), ({},), (1,), np.empty((1, 1), np.int64))
    with pytest.raises(TypeError, match="missing_ids"):
        f.lookup_ids([{}], ("a",), ({},), (2**40,), np.empty((1, 1), np.int32))
    out = np.zeros((1, 3), np.int32)
    assert f.lookup_ids([{"a": "x"}, {}, {"a": None}], ("a",), ({"x": 5},), (1,), out)
    assert out.tolist() == [[5, 1, 1]]  # None and an absent key: the missing id, no cache entry needed
    assert not f.lookup_ids([{"a": "y"}], ("a",), ({"x": 5},), (1,), out[:, :1].copy())  # a miss
    assert not f.lookup_ids([{"a": ["x"]}], ("a",), ({"x": 5},), (1,), out[:, :1].copy())  # unhashable
    # numbers: (log1p, shift, scale, lo, hi, fill, required) per column, float32 out
    rule = (False, 1.0, 2.0, -1.0, 1.0, 0.25, False)
    with pytest.raises(ValueError, match="buffer"):
        f.numbers([{}], ("a",), (rule,), np.empty((1, 1), np.float64))
    with pytest.raises(TypeError, match="rule"):
        f.numbers([{}], ("a",), (rule[:3],), np.empty((1, 1), np.float32))
    with pytest.raises(TypeError, match="rules"):
        f.numbers([{}], ("a",), (), np.empty((1, 1), np.float32))
    y = np.zeros((1, 5), np.float32)
    assert f.numbers([{"a": 2}, {"a": None}, {}, {"a": math.nan}, {"a": 99.0}], ("a",), (rule,), y)
    assert y.tolist() == [[0.5, 0.25, 0.25, 0.25, 1.0]]  # (2 - 1) / 2; fill for missing; clipped
    logrule = (True, 0.0, 1.0, -9.0, 9.0, 0.0, False)
    y2 = np.zeros((1, 2), np.float32)
    assert f.numbers([{"a": -5}, {"a": math.e - 1}], ("a",), (logrule,), y2)
    assert y2.tolist() == [[0.0, 1.0]]  # log1p(max(x, 0))
    for bad in ({"a": "1"}, {"a": 2**2000}, {"a": math.inf}, {"a": np.float64(1.0)}):
        assert not f.numbers([bad], ("a",), (rule,), y[:, :1].copy()), bad  # the Python path decides
    assert not f.numbers([{}], ("a",), (rule[:-1] + (True,),), y[:, :1].copy())  # required and missing
    # many records: read in blocks of 256, every block's values land in their own places
    many = [{"a": str(i % 7), "b": i} for i in range(700)]
    ids = np.zeros((2, 700), np.int32)
    cache = {str(k): 10 + k for k in range(7)}
    assert f.lookup_ids(many, ("a", "a"), (cache, cache), (1, 1), ids)
    assert ids.tolist() == [[10 + i % 7 for i in range(700)]] * 2
    big = np.zeros((1, 700), np.float32)
    assert f.numbers(many, ("b",), ((False, 0.0, 1.0, -1e6, 1e6, 0.0, False),), big)
    assert big.tolist() == [list(map(float, range(700)))]
    many[650]["a"] = "unseen"  # a miss in the third block
    assert not f.lookup_ids(many, ("a",), (cache,), (1,), ids[:1].copy())
    assert not f.numbers([{"a": 1}], ("a",), ((False, 1.0, 0.0, -1.0, 1.0, 0.0, False),), y[:, :1].copy())


@needs_native
def test_records_changed_by_a_values_own_code_are_given_up_not_crashed_on():
    f = native.fastcols
    records: list = []

    class Shrinks:
        """Equal to "x", and its hash empties the records while the lookup runs."""

        def __hash__(self) -> int:
            records.clear()
            return hash("x")

        def __eq__(self, other: object) -> bool:
            return other == "x"

    records.extend([{"a": Shrinks()}, {"a": "x"}, {"a": "x"}])
    out = np.zeros((1, 3), np.int32)
    # Every value is read (and held) before any lookup runs a value's code, as the Python path's
    # map(cache.get, values) does: the lookup sees the records as they were, and nothing crashes.
    assert f.lookup_ids(records, ("a",), ({"x": 5},), (1,), out) and out.tolist() == [[5, 5, 5]]
    assert records == []
    # records are read 256 at a time: a list emptied while the first block is looked up ends the
    # call at the next block
    records.extend([{"a": Shrinks()}] + [{"a": "x"}] * 299)
    assert not f.lookup_ids(records, ("a",), ({"x": 5},), (1,), np.zeros((1, 300), np.int32))

    class KeyShrinks(Shrinks):
        """A record key that collides with the column "a" and empties the records when compared."""

        def __hash__(self) -> int:
            return hash("a")

        def __eq__(self, other: object) -> bool:
            records.clear()
            return False

    records.extend([{KeyShrinks(): 1.0, "a": 2.0}, {"a": 3.0}])
    rule = (False, 0.0, 1.0, -9.0, 9.0, 0.0, False)
    assert not f.numbers(records, ("a",), (rule,), np.zeros((1, 2), np.float32))
    records.extend([{"t": "a|b"}, {"t": "c"}])
    assert not f.lookup_rows(records, "t", {"a|b": (1, 2)}, np.zeros((2, 2), np.int32), 2)  # "c": a miss
    out = np.zeros((2, 2), np.int32)
    assert f.lookup_rows(records, "t", {"a|b": (1, 2), "c": (3, 0)}, out, 2) and out.tolist() == [
        [1, 2],
        [3, 0],
    ]
