"""The encoder: exact ids, transforms, context/item split, bad input, and properties (hypothesis)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from masknet_edge.edge_runtime.encoder import FeatureEncoder
from masknet_edge.edge_runtime.errors import ArgumentError, EncodeError
from masknet_edge.edge_runtime.hashing import cross_hash_bucket, hash_bucket
from masknet_edge.edge_runtime.spec import FeatureSpec
from tests.edge_runtime.test_spec import shop_dict

SPEC = FeatureSpec.from_dict(shop_dict())
OFF = SPEC.vocab_offsets()
RECORDS = [
    {
        "user_id": "u1",
        "age": 30,
        "age_group": 30,
        "gender": "F",
        "item_id": 17,
        "category": "shoes",
        "price": 19.0,
        "tags": "red|sale",
    },
    {
        "user_id": "u2",
        "age": None,
        "age_group": 60,
        "gender": None,
        "item_id": "17",
        "category": "books",
        "price": None,
        "tags": ["a", "b", "c", "d", "e"],
        "unknown_extra": [1, 2],
    },
    {
        "user_id": 7.0,
        "age": "41.5",
        "age_group": float("nan"),
        "gender": "M",
        "item_id": 3,
        "category": "",
        "tags": "",
    },
]


@pytest.fixture
def enc() -> FeatureEncoder:
    return FeatureEncoder(SPEC)


def test_ids_are_offset_hash_buckets(enc):
    out = enc.encode(RECORDS)
    cat = out["cat_ids"]
    assert cat.dtype == np.int32 and cat.shape == (3, 7)
    users = hash_bucket(["u1", "u2", "7"], 1000)
    np.testing.assert_array_equal(cat[:, 0], OFF["user_id"] + 1 + users)
    # bucketize [25, 35, 50]: 30 -> bucket 1, 60 -> bucket 3, NaN -> missing id
    np.testing.assert_array_equal(cat[:, 1], [OFF["age_group"] + 2, OFF["age_group"] + 4, OFF["age_group"]])
    assert cat[1, 2] == OFF["gender"]  # None -> missing id
    # item ids 17 and "17" are the same value
    assert cat[0, 3] == cat[1, 3] == OFF["item_id"] + 1 + hash_bucket([17], 500)[0]
    # "" is missing: a CSV cell cannot tell an empty text from a missing value, so neither does the device
    assert cat[2, 4] == OFF["category"]
    # crosses equal tf.sparse.cross_hashed over the canonical texts (bucket index text for bucketized)
    expected = cross_hash_bucket([["1", "3"], ["shoes", "books"]], 200)
    np.testing.assert_array_equal(cat[:2, 5], OFF["age_x_category"] + 1 + expected)
    assert cat[2, 5] == OFF["age_x_category"]  # a crossed value missing -> missing id
    np.testing.assert_array_equal(
        cat[[0, 2], 6], OFF["user_x_gender"] + 1 + cross_hash_bucket([["u1", "7"], ["F", "M"]], 30)
    )


def test_numeric_transforms(enc):
    num = enc.encode(RECORDS)["num_values"]
    assert num.dtype == np.float32
    np.testing.assert_allclose(num[:, 0], [(30 - 35) / 10, 0.0, (41.5 - 35) / 10], rtol=1e-6)
    np.testing.assert_allclose(
        num[:, 1], [math.log1p(19) - 3, math.log1p(20) - 3, math.log1p(20) - 3], rtol=1e-6
    )


def test_multi_valued_padding_truncation_and_mask(enc):
    out = enc.encode(RECORDS)
    ids, mask = out["tags_ids"], out["tags_mask"]
    off = OFF["tags"]
    np.testing.assert_array_equal(mask, [[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]])
    np.testing.assert_array_equal(ids[0, :2], off + 1 + hash_bucket(["red", "sale"], 100))
    np.testing.assert_array_equal(ids[1], off + 1 + hash_bucket(["a", "b", "c", "d"], 100))
    assert (ids[mask == 0] == off).all()


def test_input_forms_agree(enc):
    import pandas as pd

    base = enc.encode(RECORDS[:1] * 3)
    cols = {k: [RECORDS[0][k]] * 3 for k in RECORDS[0]}
    for other in (enc.encode(cols), enc.encode(pd.DataFrame(cols))):
        assert base.keys() == other.keys()
        for k in base:
            np.testing.assert_array_equal(base[k], other[k])


def test_numpy_columns(enc):
    cols = {
        "user_id": np.array([1, 2, 1]),
        "item_id": np.array(["1", "2", "1"]),
        "age": np.array([30.0, np.nan, 20.0]),
    }
    out = enc.encode(cols)
    assert out["cat_ids"][0, 0] == out["cat_ids"][2, 0] == OFF["user_id"] + 1 + hash_bucket([1], 1000)[0]
    np.testing.assert_array_equal(out["cat_ids"][:, 3], OFF["item_id"] + 1 + hash_bucket([1, 2, 1], 500))
    np.testing.assert_allclose(out["num_values"][:, 0], [-0.5, 0.0, -1.5])


def test_context_once_plus_items_equals_full_records(enc):
    ctx = {k: v for k, v in RECORDS[0].items() if k in SPEC.columns_of_side("context")}
    items = [{k: v for k, v in r.items() if k in SPEC.columns_of_side("item")} for r in RECORDS]
    split = enc.assemble(enc.encode_context(ctx), enc.encode_items(items))
    full = enc.encode([{**r, **ctx} for r in items])
    for k in full:
        np.testing.assert_array_equal(split[k], full[k])
    sub = enc.assemble(enc.encode_context(ctx), enc.encode_items(items).take(np.array([2, 0])))
    np.testing.assert_array_equal(sub["cat_ids"], full["cat_ids"][[2, 0]])


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"item_id": None}, r"field 'item_id', record 0: required field is missing"),
        (
            {"item_id": 1, "user_id": [1, 2]},
            r"field 'user_id', record 0: expected a single categorical value",
        ),
        ({"item_id": 1, "age": "old"}, r"field 'age', record 0: cannot parse 'old' as a number"),
        ({"item_id": 1, "age": float("inf")}, r"field 'age', record 0: value inf is not finite"),
        ({"item_id": 1, "age": {"x": 1}}, r"field 'age', record 0: expected a number, got dict"),
        ({"item_id": 1, "gender": b"\xff"}, r"field 'gender', record 0: bytes are not valid UTF-8"),
        ({"item_id": 1, "gender": "\udc80"}, r"field 'gender', record 0: text is not valid UTF-8"),
        ({"item_id": 1, "age": "x" * 100}, r"field 'age', record 0: cannot parse 'x+' as a number"),
        ({"item_id": 1, "age": 10**400}, r"field 'age', record 0: number .* is too large"),
    ],
)
def test_bad_values_name_field_and_record(enc, record, message):
    with pytest.raises(EncodeError, match=message):
        enc.encode([record])


def test_bad_containers(enc):
    with pytest.raises(EncodeError, match=r"record 1: expected a mapping"):
        enc.encode([{"item_id": 1}, "oops"])
    with pytest.raises(EncodeError, match=r"different lengths"):
        enc.encode({"item_id": [1, 2], "user_id": [1]})
    with pytest.raises(EncodeError, match=r"must be a list of dicts"):
        enc.encode("item_id=1")
    with pytest.raises(EncodeError, match=r"not fitted"):
        FeatureEncoder(FeatureSpec.from_dict({"fields": [{"name": "x", "kind": "numeric", "side": "item"}]}))


def test_huge_values_stay_finite(enc):
    out = enc.encode([{"item_id": "x" * 1_000_000, "age": 1e300, "price": 1e308}])
    assert np.isfinite(out["num_values"]).all()
    assert out["num_values"][0, 0] == np.float32(1e6)


def test_empty_batch(enc):
    out = enc.encode([])
    assert out["cat_ids"].shape == (0, 7) and out["tags_mask"].shape == (0, 4)


def test_encoder_imports_no_tensorflow():
    code = (
        "import sys\n"
        "from masknet_edge import FeatureEncoder, FeatureSpec\n"
        "from tests.edge_runtime.test_spec import shop_dict\n"
        "FeatureEncoder(FeatureSpec.from_dict(shop_dict())).encode([{'item_id': 1, 'tags': 'a|b'}])\n"
        "heavy = {'tensorflow', 'keras', 'pandas', 'click'}\n"
        "above = ('masknet_edge.train', 'masknet_edge.convert', 'masknet_edge.cli')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(above))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------- properties
scalars = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
records = st.lists(
    st.dictionaries(
        st.sampled_from([*SPEC.raw_columns, "extra"]), scalars, max_size=len(SPEC.raw_columns) + 1
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_property_deterministic_in_range_or_documented_error(recs):
    enc = FeatureEncoder(SPEC)
    try:
        out = enc.encode(recs)
    except EncodeError as exc:
        assert exc.field in SPEC.raw_columns
        assert exc.record is not None and 0 <= exc.record < len(recs)
        return
    again = FeatureEncoder(SPEC).encode(recs)
    for k in out:
        np.testing.assert_array_equal(out[k], again[k])
    cat = out["cat_ids"]
    for j, f in enumerate(SPEC.id_fields):
        assert ((cat[:, j] >= OFF[f.name]) & (cat[:, j] < OFF[f.name] + f.vocab_size)).all()
    assert np.isfinite(out["num_values"]).all()
    assert ((out["tags_ids"] >= OFF["tags"]) & (out["tags_ids"] < SPEC.total_vocab)).all()
    assert set(np.unique(out["tags_mask"])) <= {0.0, 1.0}


def test_fast_paths_equal_general_paths():
    """The batched id lookup (warm caches) equals the one-field path; the numeric block and the
    one-field path both equal the documented formulas."""
    spec = FeatureSpec.from_dict(
        {
            "fields": [
                {"name": "a", "kind": "categorical", "side": "item", "num_buckets": 50},
                {"name": "b", "kind": "categorical", "side": "item", "num_buckets": 7},
                {
                    "name": "s",
                    "kind": "numeric",
                    "side": "item",
                    "transform": "standardize",
                    "mean": 3.0,
                    "std": 2.0,
                },
                {
                    "name": "l",
                    "kind": "numeric",
                    "side": "item",
                    "transform": "log1p_standardize",
                    "mean": 1.0,
                    "std": 0.5,
                    "default": 4.0,
                },
                {
                    "name": "m",
                    "kind": "numeric",
                    "side": "item",
                    "transform": "minmax",
                    "min": -1.0,
                    "max": 9.0,
                    "mean": 2.0,
                },
                {"name": "n", "kind": "numeric", "side": "item", "transform": "none", "clip": 5.0},
            ]
        }
    )
    rng = np.random.default_rng(0)
    recs = [
        {
            "a": f"x{rng.integers(20)}",
            "b": None if i % 5 == 0 else str(rng.integers(9)),
            **{k: (None if i % 7 == 0 else float(rng.normal(3, 6))) for k in "slmn"},
        }
        for i in range(200)
    ]
    # Which path serves a call (per value on cold caches, batched once warm) is a matter of speed,
    # measured by benchmarks/bench_encoder.py; here every path must give the same arrays.
    enc = FeatureEncoder(spec, native=False)  # the Python paths (the compiled one: test_native.py)
    first = enc.encode(recs)  # cold caches
    second = enc.encode(recs)  # warm caches
    np.testing.assert_array_equal(first["cat_ids"], second["cat_ids"])
    cold = FeatureEncoder(spec).encode(recs)
    np.testing.assert_array_equal(cold["cat_ids"], second["cat_ids"])
    for j, f in enumerate(spec.dense_fields):
        expected = [_documented_transform(f, r[f.name]) for r in recs]
        np.testing.assert_array_equal(second["num_values"][:, j], np.array(expected, dtype=np.float32))
        mixed = enc.encode([{**r, "s": str(r["s"]) if r["s"] is not None else None} for r in recs])
        np.testing.assert_array_equal(mixed["num_values"][:, j], second["num_values"][:, j])  # per field


def _documented_transform(f, v):
    """ENCODING.md §7 for one value, written out in plain Python (not the encoder's table)."""
    if v is None:
        if f.default is not None:
            v = f.default
        elif f.transform in ("standardize", "log1p_standardize"):
            return 0.0
        else:
            v = f.mean or 0.0
    if f.transform == "standardize":
        y = (v - f.mean) / f.std
    elif f.transform == "log1p_standardize":
        y = (math.log1p(max(v, 0.0)) - f.mean) / f.std
    elif f.transform == "minmax":
        y = min(max((v - f.min) / ((f.max - f.min) or 1.0), 0.0), 1.0)
    else:
        y = v
    return min(max(y, -f.clip), f.clip)


def test_numeric_texts_parse_like_a_csv_reader():
    spec = FeatureSpec.from_dict(
        {
            "fields": [
                {"name": "p", "kind": "numeric", "side": "item", "transform": "none", "mean": 0.0},
                {
                    "name": "b",
                    "kind": "numeric",
                    "side": "item",
                    "transform": "bucketize",
                    "boundaries": [0, 10],
                    "default": 5,
                },
            ]
        }
    )
    enc = FeatureEncoder(spec)
    out = enc.encode([{"p": " 2", "b": None}, {"p": "1e3", "b": "NA"}, {"p": "NA", "b": 10}, {"p": "nan"}])
    assert out["num_values"][:, 0].tolist() == [2.0, 1000.0, 0.0, 0.0]
    # a bucketized field with a default puts missing values in the default's bin (5 -> bin 1)
    off = spec.vocab_offsets()["b"]
    assert (out["cat_ids"][:, 0] - off).tolist() == [2, 2, 3, 2]
    for bad in ("1_000", "0x10", "1,5", "inf", "-Infinity"):
        with pytest.raises(EncodeError, match="field 'p', record 0"):
            enc.encode([{"p": bad}])


def test_cache_size_bounds_memory_and_never_changes_ids():
    spec = FeatureSpec.from_dict(
        {
            "fields": [
                {
                    "name": "u",
                    "kind": "categorical",
                    "side": "item",
                    "oov_buckets": 5,
                    "vocabulary": ["a", "b"],
                },
                {"name": "h", "kind": "categorical", "side": "item", "num_buckets": 1000},
            ]
        }
    )
    from masknet_edge.edge_runtime.id_lookup import IdLookup

    small, large = FeatureEncoder(spec, cache_size=10), FeatureEncoder(spec)
    lookup = IdLookup(spec, cache_size=10)  # the encoder's lookup, on its own
    for start in range(0, 1000, 100):
        batch = [{"u": f"v{i}" if i % 3 else "a", "h": f"h{i}"} for i in range(start, start + 100)]
        ids = small.encode(batch)["cat_ids"]
        np.testing.assert_array_equal(ids, large.encode(batch)["cat_ids"])
        for j, name in enumerate(("u", "h")):
            got, _ = lookup.column(name, [r[name] for r in batch], 100, False, spec[name])
            np.testing.assert_array_equal(got, ids[:, j])
            assert len(lookup.ids_cache_of(name)) <= 10 + 2 + 100
    assert "a" in lookup.ids_cache_of("u")  # the vocabulary stays cached when the cache starts again
    with pytest.raises(ArgumentError, match="cache_size"):
        FeatureEncoder(spec, cache_size=-1)


def test_the_docstring_examples_run():
    import doctest

    from masknet_edge.edge_runtime import encoder, numeric

    for module in (encoder, numeric):
        result = doctest.testmod(module)
        assert result.attempted >= 1 and result.failed == 0, module.__name__


def test_cached_multi_valued_rows_equal_the_per_item_path():
    """A multi-valued value's cached row (second encode) equals its first, per-item encoding, for
    texts, lists, missing and empty values, and values longer than max_length."""
    spec = FeatureSpec.from_dict(
        {
            "fields": [
                {"name": "g", "kind": "multi_categorical", "side": "item", "max_length": 3, "num_buckets": 50}
            ]
        }
    )
    values = ["a|b", "a|b", "", None, ["a", "b"], "c|d|e|f", "b", "a||b", 7, "a|b"]
    enc = FeatureEncoder(spec)
    cold = enc.encode({"g": values})
    warm = enc.encode({"g": values})
    fresh = FeatureEncoder(spec).encode({"g": list(reversed(values))})
    for k in ("g_ids", "g_mask"):
        np.testing.assert_array_equal(cold[k], warm[k])
        np.testing.assert_array_equal(cold[k], fresh[k][::-1])
    np.testing.assert_array_equal(cold["g_mask"].sum(axis=1), [2, 2, 0, 0, 2, 3, 1, 2, 1, 2])
    np.testing.assert_array_equal(cold["g_ids"][0], cold["g_ids"][4])  # "a|b" and ["a", "b"] agree


def test_a_repeated_context_reuses_its_encoding_and_a_changed_one_does_not():
    from masknet_edge.edge_runtime.encoder import FeatureEncoder
    from masknet_edge.edge_runtime.spec import FeatureSpec

    spec = FeatureSpec.from_dict(
        {
            "fields": [
                {"name": "user", "kind": "categorical", "side": "context", "num_buckets": 97},
                {"name": "flag", "kind": "categorical", "side": "context", "num_buckets": 97},
                {"name": "age", "kind": "numeric", "side": "context", "transform": "none"},
                {"name": "item", "kind": "categorical", "side": "item", "num_buckets": 97},
            ]
        }
    )
    enc = FeatureEncoder(spec)
    first = enc.encode_context({"user": "u1", "flag": 1, "age": 30})
    again = enc.encode_context({"user": "u1", "flag": 1, "age": 30})
    assert again is first and not first.ids["user"].flags.writeable  # shared, so read-only
    other = enc.encode_context({"user": "u2", "flag": 1, "age": 30})
    assert other.ids["user"][0] != first.ids["user"][0]
    # True == 1, but a boolean encodes as "true": equal values of another type are not reused
    as_bool = enc.encode_context({"user": "u2", "flag": True, "age": 30})
    assert as_bool is not other and as_bool.ids["flag"][0] != other.ids["flag"][0]
    # a fresh encoder gives the same arrays: reuse changes nothing but the time
    fresh = FeatureEncoder(spec).encode_context({"user": "u2", "flag": True, "age": 30})
    for name in ("user", "flag"):
        assert fresh.ids[name].tolist() == as_bool.ids[name].tolist()
    items = enc.encode_items([{"item": "a"}, {"item": "b"}])
    inputs = enc.assemble(as_bool, items)
    inputs["cat_ids"][:] = 0  # the assembled inputs are the caller's own
    assert enc.encode_context({"user": "u2", "flag": True, "age": 30}).ids["user"][0] != 0


def test_numbers_given_as_texts_parse_alike_in_one_pass_or_value_by_value():
    from masknet_edge.edge_runtime.errors import EncodeError
    from masknet_edge.edge_runtime.numeric import numeric_column, parse_number_text
    from masknet_edge.edge_runtime.spec import FeatureSpec

    f = FeatureSpec.from_dict(
        {"fields": [{"name": "x", "kind": "numeric", "side": "item", "transform": "none"}]}
    )["x"]
    clean = [" 1.5", "2 ", "+3", "-0", ".5", "5.", "1e5", "-2.5E-3", "0.1", "9" * 60, "\t7\n"]
    x, missing = numeric_column(f, clean, len(clean))  # every one a plain decimal: the one-pass path
    assert x.tolist() == [parse_number_text(t) for t in clean] and not missing.any()
    mixed = ["1.5", "", "NA", "2"]  # missing texts take the careful path: the same rule
    x, missing = numeric_column(f, mixed, 4)
    assert missing.tolist() == [False, True, True, False] and x[0] == 1.5 and x[3] == 2.0
    with pytest.raises(EncodeError, match="record 2") as err:
        numeric_column(f, ["1", "2", "1_000"], 3)
    assert "1_000" in str(err.value)


def test_a_reused_context_is_keyed_by_the_columns_its_fields_read():
    """A field with ``source`` reads another column: a change there is a new context."""
    from masknet_edge.edge_runtime.encoder import FeatureEncoder
    from masknet_edge.edge_runtime.spec import FeatureSpec

    spec = FeatureSpec.from_dict(
        {
            "fields": [
                {"name": "u", "kind": "categorical", "side": "context", "num_buckets": 7},
                {"name": "age_x", "kind": "numeric", "side": "context", "transform": "none", "source": "age"},
                {"name": "i", "kind": "categorical", "side": "item", "num_buckets": 7},
            ]
        }
    )
    enc = FeatureEncoder(spec)
    assert enc.encode_context({"u": "a", "age": 30}).dense["age_x"].tolist() == [30.0]
    assert enc.encode_context({"u": "a", "age": 50}).dense["age_x"].tolist() == [50.0]


def test_a_history_given_as_a_list_of_texts_is_reused_only_while_it_is_equal():
    """A behaviour log gives its histories as lists of texts: an equal list reuses the encoding, a
    changed one (or the same list changed in place) does not, and a list of other values never does."""
    from masknet_edge.edge_runtime.encoder import FeatureEncoder
    from masknet_edge.edge_runtime.spec import FeatureSpec

    spec = FeatureSpec.from_dict(
        {
            "fields": [
                {"name": "i", "kind": "categorical", "side": "item", "vocabulary": ["1", "2", "3"]},
                {"name": "h", "kind": "multi_categorical", "side": "context", "max_length": 3, "shares": "i"},
            ]
        }
    )
    enc = FeatureEncoder(spec)
    history = ["3", "1"]
    first = enc.encode_context({"h": history})
    assert enc.encode_context({"h": ["3", "1"]}) is first
    history.append("2")  # the caller's list changed in place: a new context
    grown = enc.encode_context({"h": history})
    assert grown is not first and grown.multi["h"][1].sum() == 3 and first.multi["h"][1].sum() == 2
    ints = enc.encode_context({"h": [3, 1]})
    assert ints is not enc.encode_context({"h": [3, 1]})  # not texts: encoded again each time
    assert ints.multi["h"][0].tolist() == first.multi["h"][0].tolist()
