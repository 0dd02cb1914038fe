"""`masknet data split`: a timed log in time order with a split column, by time or by user."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from masknet_edge.cli.main import main


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "log.csv"
    rows = [["user", "item", "zip", "ts", "label"]]
    rows += [[f"u{i % 20}", str(i % 7), "01234", str(1000 - i), str(i % 2)] for i in range(200)]
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _read(path):
    with path.open() as f:
        return list(csv.DictReader(f))


def test_by_time_cuts_the_timeline_and_keeps_every_cell_as_written(log, tmp_path):
    out = tmp_path / "by-time.csv"
    res = CliRunner().invoke(
        main, ["data", "split", str(log), "--by", "time", "--time", "ts", "--user", "user", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    rows = _read(out)
    times = [int(r["ts"]) for r in rows]
    assert times == sorted(times) and {r["zip"] for r in rows} == {"01234"}
    assert [r["split"] for r in rows] == ["train"] * 160 + ["valid"] * 20 + ["test"] * 20


def test_by_user_keeps_valid_and_test_users_out_of_training(log, tmp_path):
    out = tmp_path / "by-user.csv"
    res = CliRunner().invoke(
        main, ["data", "split", str(log), "--by", "user", "--time", "ts", "--user", "user", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    users = {s: {r["user"] for r in _read(out) if r["split"] == s} for s in ("train", "valid", "test")}
    assert users["train"] and users["valid"] and users["test"]
    assert not (users["train"] & users["valid"]) and not (users["train"] & users["test"])


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--time", "when"], "no column 'when'"), (["--time", "item", "--out", "LOG"], "input")],
)
def test_bad_columns_and_outputs_are_refused(log, tmp_path, args, message):
    out = tmp_path / "o.csv"
    opts = {"--time": "ts", "--out": str(out)}
    for k, v in zip(args[::2], args[1::2], strict=True):
        opts[k] = str(log) if v == "LOG" else v
    flat = [x for kv in opts.items() for x in kv]
    before = log.read_bytes()
    res = CliRunner().invoke(main, ["data", "split", str(log), "--by", "time", "--user", "user", *flat])
    assert res.exit_code == 2 and message in res.output, res.output
    assert log.read_bytes() == before
