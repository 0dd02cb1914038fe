"""The hash must equal TensorFlow's bit for bit: golden vectors without TF, live TF when present."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from masknet_edge.edge_runtime.hashing import canonical_text, cross_hash_bucket, fingerprint64, hash_bucket
from tests.conftest import needs_tf

GOLDEN = json.loads((Path(__file__).parents[1] / "golden" / "hash_vectors.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: f"buckets={c['num_buckets']}")
def test_strings_match_tensorflow_golden(case):
    got = hash_bucket(GOLDEN["strings"], case["num_buckets"])
    assert got.dtype == np.int64
    assert got.tolist() == case["strings"]


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: f"buckets={c['num_buckets']}")
def test_ints_hash_as_decimal_text_like_keras(case):
    assert hash_bucket(GOLDEN["ints"], case["num_buckets"]).tolist() == case["ints"]
    assert hash_bucket([str(i) for i in GOLDEN["ints"]], case["num_buckets"]).tolist() == case["ints"]


@pytest.mark.parametrize(
    "case", GOLDEN["crosses"], ids=lambda c: f"{len(c['columns'])}cols-{c['num_buckets']}"
)
def test_crosses_match_tensorflow_golden(case):
    assert cross_hash_bucket(case["columns"], case["num_buckets"]).tolist() == case["buckets"]


def test_cross_of_ints_equals_cross_of_their_text():
    a, b = [1, 2, 30], ["x", "y", "z"]
    assert cross_hash_bucket([a, b], 97).tolist() == cross_hash_bucket([["1", "2", "30"], b], 97).tolist()


def test_known_fingerprint_value():
    # farmhash::Fingerprint64("abc"), the same value as Guava's farmHashFingerprint64.
    assert fingerprint64("abc") == 2640714258260161385


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("abc", "abc"),
        ("", ""),
        (7, "7"),
        (np.int64(-3), "-3"),
        (3.0, "3"),
        (np.float32(2.0), "2"),
        (0.25, "0.25"),
        (float("inf"), "inf"),
        (True, "true"),
        (np.bool_(False), "false"),
        (b"caf\xc3\xa9", "café"),
        (None, None),
        (float("nan"), None),
    ],
)
def test_canonical_text(value, text):
    assert canonical_text(value) == text


def test_canonical_text_rejects_containers_and_bad_utf8():
    with pytest.raises(TypeError, match="list"):
        canonical_text([1, 2])
    with pytest.raises(UnicodeDecodeError):
        canonical_text(b"\xff\xfe")


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, None])
def test_bucket_count_must_be_positive_int(bad):
    with pytest.raises(ValueError, match="num_buckets"):
        hash_bucket(["a"], bad)


def test_cross_columns_must_have_equal_length():
    with pytest.raises(ValueError, match="same length"):
        cross_hash_bucket([["a", "b"], ["c"]], 10)


@needs_tf
def test_differential_against_live_tensorflow_100k_random_strings():
    import tensorflow as tf

    rng = np.random.default_rng(2021)
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-|éü中文🙂\t"))
    lengths = rng.integers(0, 80, size=100_000)
    chars = rng.choice(alphabet, size=int(lengths.sum()))
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    strings = ["".join(chars[bounds[i] : bounds[i + 1]]) for i in range(len(lengths))]
    for buckets in (1000, 2**20 + 7, 2**31 - 1):
        expected = tf.strings.to_hash_bucket_fast(strings, buckets).numpy()
        np.testing.assert_array_equal(hash_bucket(strings, buckets), expected)
    # crosses on 10,000 rows of three columns
    cols = [strings[:10_000], strings[10_000:20_000], [str(i) for i in range(10_000)]]
    sparse = [
        tf.SparseTensor(indices=[[i, 0] for i in range(10_000)], values=c, dense_shape=[10_000, 1])
        for c in cols
    ]
    expected = tf.sparse.to_dense(tf.sparse.cross_hashed(sparse, num_buckets=100_003)).numpy().ravel()
    np.testing.assert_array_equal(cross_hash_bucket(cols, 100_003), expected)


@given(st.one_of(st.text(alphabet="0123456789+-. ٢²", max_size=12), st.integers().map(str)))
def test_the_canonical_integer_shortcut_agrees_with_the_full_rule(text):
    from masknet_edge.edge_runtime.hashing import _integer_text, is_canonical_integer

    if text and is_canonical_integer(text):
        assert _integer_text(text, text) == text  # what the full rule would have returned
