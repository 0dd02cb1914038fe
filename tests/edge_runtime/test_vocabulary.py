"""Vocabulary categoricals: validation, the id layout, encoding, and the spec's compact JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from masknet_edge.edge_runtime.categorical import multi_value_texts
from masknet_edge.edge_runtime.encoder import FeatureEncoder
from masknet_edge.edge_runtime.errors import SpecError
from masknet_edge.edge_runtime.hashing import cross_hash_bucket, hash_bucket
from masknet_edge.edge_runtime.spec import FeatureSpec

VOCAB = ["paris", "lyon", "nice"]


def _spec(**city) -> FeatureSpec:
    city = {"vocabulary": VOCAB, "oov_buckets": 4, **city}
    return FeatureSpec.from_dict(
        {
            "fields": [
                {"name": "city", "kind": "categorical", "side": "context", **city},
                {"name": "brand", "kind": "categorical", "side": "item", "num_buckets": 10},
                {
                    "name": "tags",
                    "kind": "multi_categorical",
                    "side": "item",
                    "max_length": 3,
                    "vocabulary": ["a", "b"],
                    "oov_buckets": 2,
                },
                {"name": "city_x_brand", "kind": "cross", "fields": ["city", "brand"], "num_buckets": 16},
            ]
        }
    )


@pytest.mark.parametrize(
    ("city", "message"),
    [
        ({"min_count": -1}, "min_count must be an integer >= 1"),
        ({"min_count": 0}, "min_count must be an integer >= 1"),
        ({"vocabulary": ["a", "b", "a"]}, "vocabulary lists 'a' more than once"),
        ({"vocabulary": ["a", 3]}, r"vocabulary\[1\] must be a text"),
        ({"vocabulary": "abc"}, "vocabulary must be a list of texts"),
        ({"num_buckets": 8}, "a vocabulary field takes oov_buckets .* not num_buckets"),
        ({"oov_buckets": 0}, "oov_buckets must be an integer >= 1"),
        ({"max_vocab": 2}, "vocabulary has 3 values, more than max_vocab=2"),
    ],
)
def test_invalid_vocabularies_name_the_field(city, message):
    with pytest.raises(SpecError, match=rf"field 'city': {message}"):
        _spec(**city)


def test_hashing_keys_only_with_a_vocabulary():
    with pytest.raises(SpecError, match="field 'c': max_vocab and oov_buckets apply to vocabulary fields"):
        FeatureSpec.from_dict(
            {
                "fields": [
                    {"name": "c", "kind": "categorical", "side": "item", "num_buckets": 8, "oov_buckets": 2}
                ]
            }
        )
    with pytest.raises(SpecError, match=r"field 't': vocabulary\[0\] is empty"):
        FeatureSpec.from_dict(
            {
                "fields": [
                    {
                        "name": "t",
                        "kind": "multi_categorical",
                        "side": "item",
                        "max_length": 2,
                        "vocabulary": [""],
                    }
                ]
            }
        )


def test_unfitted_vocabulary_is_reported_and_refused_by_the_encoder():
    spec = _spec(vocabulary=None, min_count=2)
    assert not spec.is_fitted and spec.unfitted_fields() == ("city",)
    with pytest.raises(SpecError, match="'city': the vocabulary is not fitted yet"):
        spec.vocab_sizes()
    with pytest.raises(Exception, match=r"not fitted.*\['city'\]"):
        FeatureEncoder(spec)


def test_id_layout_missing_then_oov_buckets_then_vocabulary():
    spec = _spec()
    assert spec.vocab_sizes() == {"city": 1 + 4 + 3, "brand": 11, "city_x_brand": 17, "tags": 1 + 2 + 2}
    enc = FeatureEncoder(spec)
    records = [{"city": c, "brand": "b1", "tags": "a|zz|b"} for c in ("paris", "nice", "rome", None, "lyon")]
    out = enc.encode(records)
    city = out["cat_ids"][:, 0].tolist()
    oov = 1 + int(hash_bucket(["rome"], 4)[0])
    assert city == [1 + 4 + 0, 1 + 4 + 2, oov, 0, 1 + 4 + 1]
    off = spec.vocab_offsets()["tags"]
    zz = 1 + int(hash_bucket(["zz"], 2)[0])
    assert out["tags_ids"][0].tolist() == [off + 3, off + zz, off + 4]
    # A cross hashes the values' texts, vocabulary or not: the same as tf.sparse.cross_hashed.
    expected = cross_hash_bucket([["paris", "nice", "rome"], ["b1"] * 3], 16) + 1
    assert (out["cat_ids"][:3, 2] - spec.vocab_offsets()["city_x_brand"]).tolist() == expected.tolist()


def test_vocabulary_paths_agree_with_each_other():
    """The cached fast path, numpy columns and one-by-one records give the same ids."""
    spec = _spec()
    rng = np.random.default_rng(0)
    cities = rng.choice(["paris", "lyon", "nice", "rome", "oslo"], 500).tolist()
    brands = rng.choice(["b1", "b2", "b3"], 500).tolist()
    records = [{"city": c, "brand": b} for c, b in zip(cities, brands, strict=True)]
    enc = FeatureEncoder(spec)
    first = enc.encode(records)["cat_ids"]
    again = enc.encode(records)["cat_ids"]  # every text cached now
    columns = FeatureEncoder(spec).encode({"city": np.array(cities, dtype=object), "brand": brands})[
        "cat_ids"
    ]
    single = np.concatenate([FeatureEncoder(spec).encode([r])["cat_ids"] for r in records[:50]])
    assert (first == again).all() and (first == columns).all() and (first[:50] == single).all()


def test_multi_value_texts_rules():
    f = _spec()["tags"]
    assert multi_value_texts(f, "a||b|c|d") == ["a", "b", "c"]
    assert multi_value_texts(f, ["x", 2, 2.0, None, ""]) == ["x", "2", "2"]
    assert multi_value_texts(f, None) is None and multi_value_texts(f, "") is None  # empty text: missing


def test_vocabulary_is_one_compact_line_and_round_trips():
    spec = _spec()
    text = spec.to_json()
    assert '"vocabulary": ["paris","lyon","nice"]' in text
    assert FeatureSpec.from_json(text) == spec
    assert json.loads(text)["fields"][0]["vocabulary"] == VOCAB
    tricky = _spec(vocabulary=['a"b', "x\n", "\x00vocabulary-0\x00", "é"])
    assert FeatureSpec.from_json(tricky.to_json()) == tricky


def test_multi_values_decided_rules():
    """Bytes are text to split; leading separators do not push values out (every item is scanned)."""
    f = FeatureSpec.from_dict(
        {
            "fields": [
                {"name": "t", "kind": "multi_categorical", "side": "item", "max_length": 2, "num_buckets": 5}
            ]
        }
    )["t"]
    assert multi_value_texts(f, "|" * 20 + "a|b|c") == ["a", "b"]
    assert multi_value_texts(f, b"a|b") == ["a", "b"]
    assert multi_value_texts(f, ["x", None, float("nan"), "", "y"]) == ["x", "y"]
    with pytest.raises(Exception, match="field 't', record 4: bytes are not valid UTF-8"):
        multi_value_texts(f, b"\xff|a", 4)
