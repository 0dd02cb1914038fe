"""Behaviour end to end: spec infer --behaviour, data replay (and its hostile inputs), and a trained
bundle ranking from a BehaviourLog with the same scores as the replayed training rows."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from masknet_edge.cli.main import main
from masknet_edge.edge_runtime.errors import ArgumentError
from tests.conftest import TINY_MODEL, needs_tf


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.output


def _replay(events: Path, spec: Path, out: Path, *extra: str) -> tuple[int, str]:
    """``masknet data replay`` of a sessions file (user, time and split columns of the shop world)."""
    common = ["--user", "user_id", "--time", "ts", "--split", "split"]
    return _run("data", "replay", events, "--spec", spec, *common, "--out", out, *extra)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sessions") / "world"
    code, text = _run(
        "data",
        "shop",
        "--sessions",
        "--users",
        "150",
        "--items",
        "40",
        "--interactions",
        "4000",
        "--out",
        out,
    )
    assert code == 0, text
    return out


@pytest.fixture(scope="module")
def replayed(sessions, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("replayed") / "rep"
    code, text = _replay(sessions / "events.csv", sessions / "spec.json", out, "--json")
    assert code == 0, text
    result = json.loads(text)
    assert result["rows"] == 4000 and sorted(result["files"]) == ["test", "train", "valid"]
    return out


def test_replay_writes_the_behaviour_columns_and_drops_the_split(replayed, sessions):
    with (replayed / "train.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert "split" not in rows[0]
    spec = json.loads((sessions / "spec.json").read_text())
    for f in spec["behaviour"]["features"]:
        assert f["name"] in rows[0]
    clicked = [r for r in rows if r["recent_click_categories"]]
    assert clicked and all(
        set(r["recent_click_categories"].split("|"))
        <= {"electronics", "books", "fashion", "sports", "home", "beauty", "toys", "grocery"}
        for r in clicked
    )
    assert max(float(r["category_interest"]) for r in rows) > 0


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda rows: rows.reverse(), "time goes back for user"),
        (
            lambda rows: rows[3].update(click="maybe"),
            "line 5, column 'click': the click label must be 0 or 1",
        ),
        (lambda rows: rows[2].update(split="../escape"), "line 4: split value '../escape'"),
        (lambda rows: rows[2].update(split=""), "line 4: split value '' in column 'split' cannot name"),
        (lambda rows: rows[1].update(ts="tomorrow"), "line 3, column 'ts'"),
    ],
)
def test_replay_names_the_file_and_record_of_bad_input_and_writes_nothing(
    sessions, tmp_path, mutate, message
):
    with (sessions / "events.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["user_id"] == "u0"][:20]
    mutate(rows)
    bad = tmp_path / "bad.csv"
    with bad.open("w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "out"
    code, text = _replay(bad, sessions / "spec.json", out)
    assert code == 2 and message in text and str(bad) in text, text
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["bad.csv"]


def test_replay_refuses_misuse(sessions, replayed, tmp_path):
    events, spec = sessions / "events.csv", sessions / "spec.json"
    common = ["--user", "user_id", "--time", "ts"]
    code, text = _run("data", "replay", events, "--spec", spec, *common, "--out", sessions)
    assert code == 2 and "input" in text, text
    code, text = _run(
        "data", "replay", replayed / "train.csv", "--spec", spec, *common, "--out", tmp_path / "o"
    )
    assert code == 2 and "already has behaviour column" in text
    static = tmp_path / "static.json"
    data = json.loads(spec.read_text())
    del data["behaviour"]
    static.write_text(json.dumps(data))
    code, text = _run("data", "replay", events, "--spec", static, *common, "--out", tmp_path / "o")
    assert code == 2 and "no behaviour section" in text
    code, text = _run(
        "data", "replay", events, "--spec", spec, "--user", "who", "--time", "ts", "--out", tmp_path / "o"
    )
    assert code == 2 and "'who'" in text
    assert not (tmp_path / "o").exists()


def test_spec_infer_adds_the_behaviour_fields(sessions, tmp_path):
    behaviour = tmp_path / "behaviour.json"
    behaviour.write_text(json.dumps(json.loads((sessions / "spec.json").read_text())["behaviour"]))
    infer = ["spec", "infer", sessions / "events.csv", "--label", "click", "--behaviour", behaviour]
    out = tmp_path / "spec.json"
    code, text = _run(
        *infer, "--context", "user_id,age", "--ignore", "ts,split,static_ctr,true_ctr", "--out", out
    )
    assert code == 0, text
    spec = json.loads(out.read_text())
    kinds = {f["name"]: (f["kind"], f["side"]) for f in spec["fields"]}
    assert kinds["recent_click_categories"] == ("multi_categorical", "context")
    assert kinds["category_interest"] == ("numeric", "item")
    assert "ts" not in kinds and "split" not in kinds
    assert spec["behaviour"]["events"]["click"]["keep_last"] == 50
    behaviour.write_text('{"events": {"click": {"keep_last": -1}}}')
    code, text = _run(*infer, "--out", tmp_path / "x.json")
    assert code == 2 and "behaviour.json" in text and "keep_last" in text


@pytest.fixture(scope="module")
def behaviour_bundle(sessions, replayed, tmp_path_factory) -> Path:
    pytest.importorskip("tensorflow")
    run = tmp_path_factory.mktemp("brun") / "run"
    code, text = _run(
        "train",
        "--spec",
        sessions / "spec.json",
        "--train",
        replayed / "train.csv",
        "--valid",
        replayed / "valid.csv",
        "--out",
        run,
        *TINY_MODEL,
    )
    assert code == 0, text
    bundle = run.parent / "b.mnb"
    code, text = _run("convert", run, "--quantize", "none", "--out", bundle)
    assert code == 0, text
    return bundle


@needs_tf
def test_the_ranker_scores_from_its_log_exactly_as_the_replayed_rows(behaviour_bundle, sessions, tmp_path):
    import pandas as pd

    from masknet_edge.edge_runtime.behaviour_log import BehaviourLog
    from masknet_edge.edge_runtime.ranker import Ranker
    from masknet_edge.edge_runtime.replay import replay_rows

    ranker = Ranker.load(behaviour_bundle)
    spec = ranker.spec
    events = pd.read_csv(sessions / "events.csv", dtype={"user_id": str, "item_id": str})
    rows = events[events["user_id"].isin(["u1", "u2", "u3"])].drop(columns=["split"]).to_dict("records")
    expected = ranker.score_inputs(
        ranker.encoder.encode(list(replay_rows(rows, spec, user="user_id", time="ts")))
    )
    logs = {u: BehaviourLog(tmp_path / f"{u}.db", spec) for u in ("u1", "u2", "u3")}
    got = []
    context_cols, item_cols = spec.columns_of_side("context"), spec.columns_of_side("item")
    for r in rows:
        log = logs[r["user_id"]]
        context = {k: r[k] for k in context_cols if k in r}
        candidate = {k: r[k] for k in item_cols if k in r}
        got.append(ranker.score(context, [candidate], behaviour=log, now=r["ts"])[0])
        log.record("expose", r, ts=r["ts"])
        if r["click"]:
            log.record("click", r, ts=r["ts"])
    np.testing.assert_array_equal(np.array(got, np.float32), expected)

    # the catalog path fills the same behaviour columns
    catalog = [{k: r[k] for k in item_cols if k in r} for r in rows[:30]]
    ranker.index_catalog(catalog, id_field="item_id")
    context = {k: rows[0][k] for k in context_cols if k in rows[0]}
    now = rows[-1]["ts"] + 10
    direct = ranker.rank(context, catalog, k=30, behaviour=logs["u1"], now=now)
    cached = ranker.rank_catalog(context, k=30, behaviour=logs["u1"], now=now)
    assert [s for _, s in direct] == [s for _, s in cached]
    subset = [c["item_id"] for c in catalog[:5]]
    sub = ranker.rank_catalog(context, k=5, subset=subset, behaviour=logs["u1"], now=now)
    assert sorted(s for _, s in sub) == sorted(
        ranker.score(context, catalog[:5], behaviour=logs["u1"], now=now).tolist()
    )

    # without a log, the request carries the columns itself (replayed rows do), or is refused
    replayed_rows = list(replay_rows(rows[:20], spec, user="user_id", time="ts"))
    ctx_cols = {k: replayed_rows[5][k] for k in context_cols if k in replayed_rows[5]}
    cands = [{k: r[k] for k in item_cols if k in r} for r in replayed_rows]
    assert ranker.score(ctx_cols, cands).shape == (20,)
    with pytest.raises(ArgumentError, match="behaviour fields"):
        ranker.rank(context, catalog)
    with pytest.raises(ArgumentError, match="category_interest"):
        ranker.score(ctx_cols, catalog)  # the context has its columns, the candidates do not
    with pytest.raises(ArgumentError, match="BehaviourLog"):
        ranker.score(context, catalog, behaviour="log.db")
    for log in logs.values():
        log.close()


@needs_tf
def test_masknet_rank_reads_a_behaviour_log(behaviour_bundle, sessions, tmp_path):
    from masknet_edge.edge_runtime.behaviour_log import BehaviourLog
    from masknet_edge.edge_runtime.ranker import Ranker

    ranker = Ranker.load(behaviour_bundle)
    candidates = tmp_path / "items.csv"
    items = [
        {"item_id": f"i{i}", "category": c, "brand": "brand_1", "price": 10.0 + i}
        for i, c in enumerate(["books", "toys", "home", "books", "sports"])
    ]
    with candidates.open("w", newline="") as fh:
        w = csv.DictWriter(fh, list(items[0]))
        w.writeheader()
        w.writerows(items)
    log_path = tmp_path / "log.db"
    with BehaviourLog(log_path, ranker.spec) as log:
        log.record("click", {"item_id": "i3", "category": "books"}, ts=1000.0)
        expected = ranker.rank({"user_id": "u1", "age": 30}, items, k=5, behaviour=log, now=1010.0)
    context = '{"user_id": "u1", "age": 30}'
    args = ["rank", behaviour_bundle, "--context", context, "--candidates", candidates, "--json"]
    code, text = _run(*args, "--behaviour-log", log_path, "--now", "1010")
    assert code == 0, text
    got = json.loads(text)["ranking"]
    assert [r["candidate"]["item_id"] for r in got] == [c["item_id"] for c, _ in expected]
    assert [r["score"] for r in got] == pytest.approx([s for _, s in expected], abs=1e-6)
    code, text = _run(*args)
    assert code == 2 and "behaviour fields" in text
    code, text = _run(*args, "--behaviour-log", tmp_path / "typo.db")
    assert code == 2 and "no behaviour log" in text and not (tmp_path / "typo.db").exists()
    code, text = _run(*args, "--behaviour-log", candidates)
    assert code == 2 and "not a behaviour log" in text
    # Another app's SQLite file: refused, and not a byte or a side file changed (rank only reads).
    other = tmp_path / "other" / "app.db"
    other.parent.mkdir()
    db = sqlite3.connect(other)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE notes (body TEXT)")
    db.commit()
    db.close()
    before = {p.name: p.read_bytes() for p in other.parent.iterdir()}
    code, text = _run(*args, "--behaviour-log", other)
    assert code == 2 and "another application's SQLite database" in text
    assert {p.name: p.read_bytes() for p in other.parent.iterdir()} == before
    # A log that an app is recording into right now is read, not refused.
    with BehaviourLog(log_path, ranker.spec):
        code, text = _run(*args, "--behaviour-log", log_path, "--now", "1010")
    assert code == 0, text
