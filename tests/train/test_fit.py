"""Fitting a spec: stable moments, uniform quantile samples, vocabularies; and the Keras lookup layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from masknet_edge.edge_runtime.encoder import FeatureEncoder
from masknet_edge.edge_runtime.spec import FeatureSpec
from masknet_edge.train.fit import RunningMoments, UniformSample, fit_spec, fit_vocabulary


def _chunks(df: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    return [df.iloc[i : i + size] for i in range(0, len(df), size)]


def test_variance_is_exact_for_large_values_with_small_spread():
    rng = np.random.default_rng(0)
    x = 1.7e9 + rng.normal(0, 5, 200_000)
    m = RunningMoments()
    for part in np.array_split(x, 37):
        m.update(part)
    assert m.n == x.size
    assert m.mean == pytest.approx(x.mean(), rel=1e-12)
    assert m.std == pytest.approx(x.std(), rel=1e-6)  # sumsq/n - mean^2 gives ~1.0 or 0 here
    spec = FeatureSpec.from_dict({"fields": [{"name": "ts", "kind": "numeric", "side": "item"}]})
    fitted = fit_spec(spec, _chunks(pd.DataFrame({"ts": x}), 10_000))
    assert fitted["ts"].std == pytest.approx(x.std(), rel=1e-6)


def test_quantile_boundaries_of_a_sorted_file_are_the_true_quantiles():
    x = np.sort(np.random.default_rng(1).exponential(10.0, 600_000))  # sorted: early rows are small
    spec = FeatureSpec.from_dict(
        {
            "fields": [
                {"name": "v", "kind": "numeric", "side": "item", "transform": "bucketize", "num_bins": 4}
            ]
        }
    )
    fitted = fit_spec(spec, _chunks(pd.DataFrame({"v": x}), 50_000))
    truth = np.quantile(x, [0.25, 0.5, 0.75])
    assert np.allclose(fitted["v"].boundaries, truth, rtol=0.02)


def test_uniform_sample_keeps_every_part_of_the_stream_equally():
    s = UniformSample(10_000, seed=0)
    for part in np.array_split(np.arange(1_000_000, dtype=float), 100):
        s.update(part)
    assert s.values.size == 10_000 and len(np.unique(s.values)) == 10_000
    share_late = (s.values >= 500_000).mean()
    assert 0.47 < share_late < 0.53


def test_vocabulary_order_min_count_and_cap():
    counts = {"b": 3, "a": 3, "c": 5, "d": 1, "e": 2}
    assert fit_vocabulary(counts, 1, None) == ("c", "a", "b", "e", "d")
    assert fit_vocabulary(counts, 2, None) == ("c", "a", "b", "e")
    assert fit_vocabulary(counts, 2, 2) == ("c", "a")


def test_fit_spec_fits_vocabularies_over_chunks_and_keeps_given_ones():
    df = pd.DataFrame(
        {
            "city": ["paris", "lyon", "paris", None, "nice", "paris", "lyon", "oslo"],
            "tags": ["a|b", "b", "b|c|b", None, "", "a", "b", "z"],
            "fixed": ["x"] * 8,
        }
    )
    spec = FeatureSpec.from_dict(
        {
            "fields": [
                {"name": "city", "kind": "categorical", "side": "item", "min_count": 2},
                {
                    "name": "tags",
                    "kind": "multi_categorical",
                    "side": "item",
                    "max_length": 2,
                    "min_count": 1,
                },
                {"name": "fixed", "kind": "categorical", "side": "item", "vocabulary": ["y", "x"]},
            ]
        }
    )
    fitted = fit_spec(spec, _chunks(df, 3))
    assert fitted["city"].vocabulary == ("paris", "lyon")
    # "b|c|b" keeps its first two items: the encoder looks up "b" and "c" only.
    assert fitted["tags"].vocabulary == ("b", "a", "c", "z")
    assert fitted["fixed"].vocabulary == ("y", "x")
    ids = FeatureEncoder(fitted).encode(df)["cat_ids"][:, 0]
    off = fitted.vocab_offsets()["city"]
    assert (ids[[0, 2, 5]] == off + 2).all() and (ids[[1, 6]] == off + 3).all() and ids[3] == off


def test_ids_equal_keras_string_lookup_with_hashed_oov_indices():
    """Our layout is StringLookup(vocabulary, num_oov_indices=H, mask_token) with the mask as id 0."""
    import keras

    vocab = [f"v{i}" for i in range(50)]
    spec = FeatureSpec.from_dict(
        {
            "fields": [
                {"name": "c", "kind": "categorical", "side": "item", "vocabulary": vocab, "oov_buckets": 7}
            ]
        }
    )
    values = [f"v{i}" for i in range(0, 80)] + ["é", "x y", "v1 ", "00v3"]  # ("" is missing for us)
    ours = FeatureEncoder(spec).encode({"c": values})["cat_ids"][:, 0]
    layer = keras.layers.StringLookup(vocabulary=vocab, num_oov_indices=7, mask_token="\x00missing\x00")
    theirs = np.asarray(layer(np.array(values, dtype=object))).ravel()
    assert ours.tolist() == theirs.tolist()
