"""Sharded data: a folder or glob of shards reads as one data set; workers get whole shards."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from convert.cli import main
from train.io import DataError, count_rows, data_files, file_columns, iter_chunks, worker_shards


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


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_shards_read_as_the_single_file_they_were_cut_from(tmp_path, file_format):
    whole = _shop(tmp_path / "whole")
    sharded = _shop(tmp_path / "sharded", "--shards", "3", "--format", file_format)
    files = data_files(sharded / "train")
    assert [f.name for f in files] == [f"part-{i:05d}.{file_format}" for i in range(3)]
    assert count_rows(sharded / "train") == count_rows(whole / "train.csv") == 2400
    assert data_files(str(sharded / "train" / f"part-*.{file_format}")) == files  # a glob names them too
    spec = json.loads((whole / "spec.json").read_text())
    text = [f["name"] for f in spec["fields"] if f["kind"] == "categorical"]
    a = pd.concat(iter_chunks(whole / "train.csv", 500, text_columns=text), ignore_index=True)
    b = pd.concat(iter_chunks(sharded / "train", 500, text_columns=text), ignore_index=True)
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    pd.testing.assert_frame_equal(a.astype(str), b.astype(str))


def test_a_spec_fitted_on_shards_equals_the_one_fitted_on_the_whole_file(tmp_path):
    from edge_runtime.spec import FeatureSpec
    from train.fit import fit_spec

    whole = _shop(tmp_path / "whole")
    sharded = _shop(tmp_path / "sharded", "--shards", "4")
    spec = FeatureSpec.load(whole / "spec.json")
    cols = list(spec.text_columns)
    one = fit_spec(spec, iter_chunks(whole / "train.csv", 700, text_columns=cols), seed=0)
    many = fit_spec(spec, iter_chunks(sharded / "train", 700, text_columns=cols), seed=0)
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
    assert json.loads(res.output)["train_rows"] == 2400


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
