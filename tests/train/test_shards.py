"""Sharded data: a folder or glob of shards reads as one data set; workers get whole shards."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from masknet_edge.cli.main import main
from masknet_edge.train.io import DataError, count_rows, data_files, file_columns, iter_chunks, worker_shards


def _shop(out, *args):
    res = CliRunner().invoke(
        main,
        [
            "data",
            "shop",
            "--users",
            "50",
            "--items",
            "30",
            "--interactions",
            "3000",
            "--out",
            str(out),
            *args,
        ],
    )
    assert res.exit_code == 0, res.output
    return out


def _cut(whole, folder, shards, file_format="csv"):
    """Cut ``whole``'s train.csv into ``shards`` files in ``folder`` (as a user would)."""
    folder.mkdir()
    df = pd.read_csv(whole / "train.csv", dtype=str, keep_default_na=False)
    bounds = np.linspace(0, len(df), shards + 1).astype(int)
    for i in range(shards):
        part = df.iloc[bounds[i] : bounds[i + 1]]
        path = folder / f"part-{i:05d}.{file_format}"
        part.to_csv(path, index=False) if file_format == "csv" else part.to_parquet(path, index=False)
    return folder


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_shards_read_as_the_single_file_they_were_cut_from(tmp_path, file_format):
    whole = _shop(tmp_path / "whole")
    sharded = _cut(whole, tmp_path / "sharded", 3, file_format)
    files = data_files(sharded)
    assert [f.name for f in files] == [f"part-{i:05d}.{file_format}" for i in range(3)]
    assert count_rows(sharded) == count_rows(whole / "train.csv") == 2400
    assert data_files(str(sharded / f"part-*.{file_format}")) == files  # a glob names them too
    spec = json.loads((whole / "spec.json").read_text())
    text = [f["name"] for f in spec["fields"] if f["kind"] == "categorical"]
    a = pd.concat(iter_chunks(whole / "train.csv", 500, text_columns=text), ignore_index=True)
    b = pd.concat(iter_chunks(sharded, 500, text_columns=text), ignore_index=True)
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    pd.testing.assert_frame_equal(a.astype(str), b.astype(str))


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_data_shop_writes_shards_of_the_same_world_one_at_a_time(tmp_path, file_format):
    whole = _shop(tmp_path / "whole")
    d = _shop(tmp_path / "d", "--shards", "3", "--format", file_format)
    files = data_files(d / "train")
    assert [f.name for f in files] == [f"part-{i:05d}.{file_format}" for i in range(3)]
    read = pd.read_csv if file_format == "csv" else pd.read_parquet
    for table in ("users", "items"):  # the same users, items (and so planted model) as the single file
        pd.testing.assert_frame_equal(read(d / f"{table}.{file_format}"), pd.read_csv(whole / f"{table}.csv"))
    parts = [read(f) for f in files] + [read(d / f"{n}.{file_format}") for n in ("valid", "test")]
    sizes = [len(p) for p in parts]
    assert (
        sum(sizes) == 3000
        and all(600 < n < 1000 for n in sizes[:3])
        and all(200 < n < 400 for n in sizes[3:])
    )
    assert all(list(p.columns) == list(parts[0].columns) for p in parts)
    again = _shop(tmp_path / "again", "--shards", "3", "--format", file_format)  # the seed fixes it
    pd.testing.assert_frame_equal(read(again / f"test.{file_format}"), parts[-1])
    assert list(d.rglob("*.partial*")) == []


def test_sharded_writer_keeps_one_shard_in_memory(tmp_path, monkeypatch):
    from masknet_edge.train import shopworld

    drawn = []
    impressions = shopworld._impressions
    monkeypatch.setattr(
        shopworld, "_impressions", lambda c, w, rng, n: drawn.append(n) or impressions(c, w, rng, n)
    )
    config = shopworld.ShopWorldConfig(num_users=20, num_items=10, num_interactions=1000, seed=3)
    shopworld.write_sharded(config, tmp_path, shards=7, file_format="csv")
    assert sum(drawn) == 1000 and max(drawn) <= 143  # the impressions are drawn one shard at a time
    with pytest.raises(ValueError, match="shards"):
        shopworld.write_sharded(config, tmp_path / "x", shards=0)


def test_a_spec_fitted_on_shards_equals_the_one_fitted_on_the_whole_file(tmp_path):
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.fit import fit_spec

    whole = _shop(tmp_path / "whole")
    sharded = _cut(whole, tmp_path / "sharded", 4)
    spec = FeatureSpec.load(whole / "spec.json")
    cols = list(spec.text_columns)
    one = fit_spec(spec, iter_chunks(whole / "train.csv", 700, text_columns=cols), seed=0)
    many = fit_spec(spec, iter_chunks(sharded, 700, text_columns=cols), seed=0)
    # Equal, up to the last bits of means and deviations: they are merged chunk by chunk, and shard
    # boundaries cut chunks elsewhere (as another --chunk-rows would on the single file).
    for a, b in zip(one.to_dict()["fields"], many.to_dict()["fields"], strict=True):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], float):
                assert a[key] == pytest.approx(b[key], rel=1e-12), (a["name"], key)
            else:
                assert a[key] == b[key], (a["name"], key)


def test_training_reads_a_folder_of_shards(tmp_path):
    d = _shop(tmp_path / "d", "--shards", "2", "--format", "parquet")
    res = CliRunner().invoke(
        main,
        ["train", "--train", str(d / "train"), "--valid", str(d / "valid.parquet"),
         "--spec", str(d / "spec.json"), "--epochs", "1", "--blocks", "1", "--block-units", "8",
         "--out", str(tmp_path / "run"), "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["train_rows"] == count_rows(d / "train")


def test_bad_shards_are_named(tmp_path):
    d = _shop(tmp_path / "d", "--shards", "2")
    other = pd.read_csv(d / "train" / "part-00001.csv").drop(columns=["price"])
    other.to_csv(d / "train" / "part-00001.csv", index=False)
    with pytest.raises(DataError, match="part-00001.csv.*price"):
        file_columns(d / "train")
    with pytest.raises(DataError, match="part-00001.csv"):
        list(iter_chunks(d / "train", 100))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .csv"):
        data_files(tmp_path / "empty")
    with pytest.raises(DataError, match="matches no file"):
        data_files(str(tmp_path / "nothing-*.csv"))
    files = data_files(d / "train")
    assert worker_shards(files, 0, 2) == files[:1] and worker_shards(files, 1, 2) == files[1:]
    with pytest.raises(DataError, match="2 shard.*3 workers"):
        worker_shards(files, 0, 3)
    res = CliRunner().invoke(
        main, ["data", "shop", "--sessions", "--shards", "2", "--out", str(tmp_path / "s")]
    )
    assert res.exit_code == 2 and "--shards" in res.output
