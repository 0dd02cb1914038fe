"""The encoded cache of streamed training: the same rows as encoding in memory, every row once per
epoch in a new order, removed afterwards, and a clear error when it cannot be made."""

from __future__ import annotations

import shutil
from collections import namedtuple

import numpy as np
import pandas as pd
import pytest

from masknet_edge.edge_runtime.encoder import FeatureEncoder
from masknet_edge.edge_runtime.spec import FeatureSpec
from masknet_edge.train.batches import EncodedCache, load_encoded
from masknet_edge.train.fit import fit_spec
from masknet_edge.train.io import DataError, count_rows, iter_chunks


@pytest.fixture(scope="module")
def encoder(shop_data):
    spec = FeatureSpec.load(shop_data / "spec.json")
    fitted = fit_spec(spec, iter_chunks(shop_data / "train.csv", 1000, text_columns=list(spec.text_columns)))
    return FeatureEncoder(fitted)


def _labels_only(x, y):
    return y


def _rows(x, y):
    """Each row as bytes (inputs and target), in order."""
    names = sorted(x)
    return list(
        b"".join(np.ascontiguousarray(x[n][i]).tobytes() for n in names) + y[i].tobytes()
        for i in range(len(y))
    )


def test_cache_batches_hold_every_row_once_per_epoch_in_a_new_order(encoder, shop_data, tmp_path):
    path = shop_data / "train.csv"
    x, y, _ = load_encoded(path, encoder, "click", 1000)
    rows = count_rows(path)
    with EncodedCache.build(path, encoder, "click", 700, rows, _labels_only, tmp_path) as cache:
        assert cache.rows == rows == len(y) and cache.folder.parent == tmp_path
        cx, cy = cache.read(0, rows)
        for name, values in x.items():  # the cache holds exactly what encoding in memory gives
            np.testing.assert_array_equal(cx[name], values)
        np.testing.assert_array_equal(cy, y)
        np.testing.assert_array_equal(cache.read(5, 9)[1], y[5:9])
        gen = cache.batches(64, seed=3)
        epochs = [list(gen()) for _ in range(2)]
        orders = []
        for batches in epochs:
            assert all(len(b[1]) <= 64 for b in batches)
            xs = {n: np.concatenate([b[0][n] for b in batches]) for n in x}
            orders.append(_rows(xs, np.concatenate([b[1] for b in batches])))
            assert sorted(orders[-1]) == sorted(_rows(x, y))  # every row, once
        assert orders[0] != orders[1] and _rows(x, y) not in orders  # shuffled, differently each epoch
        folder = cache.folder
    assert not folder.exists()


def test_cache_stores_the_training_target(encoder, shop_data, tmp_path):
    path = shop_data / "train.csv"
    rows = count_rows(path)
    with EncodedCache.build(path, encoder, "click", 1000, rows, lambda x, y: 0.5 * y + 0.25, tmp_path) as c:
        assert set(np.unique(c.read(0, rows)[1])) <= {0.25, 0.75}


def test_a_bad_value_names_file_and_row_and_leaves_no_cache(encoder, shop_data, tmp_path):
    df = pd.read_csv(shop_data / "train.csv")
    df.loc[len(df) - 2, "click"] = 3
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    with pytest.raises(DataError, match=rf"bad.csv: row {len(df) - 1}: label 'click'"):
        EncodedCache.build(bad, encoder, "click", 500, len(df), _labels_only, cache_dir)
    assert list(cache_dir.iterdir()) == []


def test_a_row_count_that_does_not_match_the_file_is_an_error(encoder, shop_data, tmp_path):
    rows = count_rows(shop_data / "train.csv")
    for wrong in (rows - 1, rows + 1):
        with pytest.raises(DataError, match="changed while it was read|grew while it was read"):
            EncodedCache.build(shop_data / "train.csv", encoder, "click", 1000, wrong, _labels_only, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_not_enough_disk_is_refused_before_writing(encoder, shop_data, tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**6, 10**6 - 1000, 1000))
    with pytest.raises(DataError, match=r"needs .* MiB.*--cache-dir.*--no-encoded-cache"):
        EncodedCache.build(shop_data / "train.csv", encoder, "click", 1000, 5000, _labels_only, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_cache_folder_is_named(encoder, shop_data, tmp_path):
    with pytest.raises(DataError, match="missing: no such folder for the encoded cache"):
        EncodedCache.build(
            shop_data / "train.csv", encoder, "click", 1000, 10, _labels_only, tmp_path / "missing"
        )


def test_both_training_pipelines_run_without_the_tf_data_autotuner(encoder, shop_data, tmp_path):
    """The autotuner stalled 7 of 10 fit epochs on 2 cores (benchmarks/bench_epoch.py, BENCHMARKS.md)."""
    import contextlib

    from masknet_edge.train.batches import in_memory_dataset, streamed_dataset
    from masknet_edge.train.config import TrainConfig
    from masknet_edge.train.teacher import Target

    x, y, _ = load_encoded(shop_data / "train.csv", encoder, "click", 1000)
    in_memory = in_memory_dataset(x, y, 64, seed=0)
    rows = count_rows(shop_data / "train.csv")
    config = TrainConfig(chunk_rows=500, cache_dir=str(tmp_path))
    with contextlib.ExitStack() as cleanup:
        streamed, steps, _ = streamed_dataset(
            shop_data / "train.csv", encoder, "click", rows, 64, Target(None, 0.5), config, cleanup
        )
        assert steps > 0 and next(iter(streamed))[1].shape[0] == 64
    assert not in_memory.options().autotune.enabled and not streamed.options().autotune.enabled
    batch_x, batch_y = next(iter(in_memory))
    assert batch_y.shape[0] == 64 and set(batch_x) == set(x)
