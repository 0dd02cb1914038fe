"""Behaviour on the device: the spec section, the features' meaning, the log's guarantees, and
replay == device (encoded arrays identical over >= 10,000 replayed events)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from masknet_edge.edge_runtime.behaviour import BehaviourState
from masknet_edge.edge_runtime.behaviour_log import BehaviourLog
from masknet_edge.edge_runtime.encoder import FeatureEncoder
from masknet_edge.edge_runtime.errors import ArgumentError, BehaviourLogError, EncodeError, SpecError
from masknet_edge.edge_runtime.replay import Replay, replay_rows
from masknet_edge.edge_runtime.spec import FeatureSpec

ROOT = Path(__file__).resolve().parents[2]


def spec_dict(**changes) -> dict:
    d = {
        "label": "click",
        "fields": [
            {"name": "user_id", "kind": "categorical", "side": "context", "num_buckets": 50},
            {
                "name": "item_id",
                "kind": "categorical",
                "side": "item",
                "num_buckets": 100,
                "value_type": "integer",
            },
            {"name": "category", "kind": "categorical", "side": "item", "num_buckets": 20},
            {
                "name": "recent_categories",
                "kind": "multi_categorical",
                "side": "context",
                "max_length": 5,
                "num_buckets": 20,
            },
            {
                "name": "clicks_1h",
                "kind": "numeric",
                "side": "context",
                "transform": "log1p_standardize",
                "mean": 0.5,
                "std": 1.0,
            },
            {"name": "same_cat", "kind": "numeric", "side": "item", "transform": "none"},
            {
                "name": "since_item",
                "kind": "numeric",
                "side": "item",
                "transform": "log1p_standardize",
                "mean": 5.0,
                "std": 2.0,
            },
            {"name": "since_click", "kind": "numeric", "side": "context", "transform": "none"},
            {"name": "unclicked", "kind": "numeric", "side": "item", "transform": "none"},
            {"name": "like_rate", "kind": "numeric", "side": "context", "transform": "none"},
        ],
        "behaviour": {
            "events": {"click": {"keep_last": 20, "keep_seconds": 86400}, "expose": {"keep_last": 50}},
            "features": [
                {
                    "name": "recent_categories",
                    "type": "last_values",
                    "event": "click",
                    "of": "category",
                    "k": 5,
                },
                {"name": "clicks_1h", "type": "count", "event": "click", "window_seconds": 3600},
                {"name": "same_cat", "type": "match_count", "event": "click", "of": "category", "k": 3},
                {
                    "name": "since_item",
                    "type": "seconds_since",
                    "event": "click",
                    "of": "item_id",
                    "cap_seconds": 7200,
                },
                {"name": "since_click", "type": "seconds_since", "event": "click", "cap_seconds": 600},
                {
                    "name": "unclicked",
                    "type": "unclicked_exposures",
                    "event": "expose",
                    "reset_by": "click",
                    "of": "item_id",
                },
                {"name": "like_rate", "type": "rate", "event": "click", "per": "expose", "k": 3},
            ],
        },
    }
    d.update(changes)
    return d


@pytest.fixture(scope="module")
def spec() -> FeatureSpec:
    return FeatureSpec.from_dict(spec_dict())


def _with_behaviour(**section_changes) -> dict:
    d = spec_dict()
    d["behaviour"] = {**d["behaviour"], **section_changes}
    return d


def _feature(i: int, **changes) -> dict:
    d = spec_dict()
    d["behaviour"]["features"][i] = {**d["behaviour"]["features"][i], **changes}
    return d


# ------------------------------------------------------------------------------------------ spec
def test_spec_round_trips_with_its_behaviour_section(spec):
    again = FeatureSpec.from_json(spec.to_json())
    assert again == spec and again.behaviour == spec.behaviour
    assert again.fingerprint() == spec.fingerprint()
    assert spec.behaviour_columns == (
        "recent_categories",
        "clicks_1h",
        "same_cat",
        "since_item",
        "since_click",
        "unclicked",
        "like_rate",
    )
    assert FeatureSpec.from_dict({**spec_dict(), "behaviour": None}).behaviour is None


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (_feature(0, k=21), ["recent_categories", "k=21", "keep_last=20"]),
        (_feature(1, window_seconds=90000), ["clicks_1h", "window_seconds", "keep_seconds"]),
        (_feature(1, event="purchase"), ["clicks_1h", "'purchase'", "not a declared event"]),
        (_feature(2, of="price"), ["same_cat", "categorical field", "not a field"]),
        (_feature(2, of="user_id"), ["same_cat", "not an item field"]),
        (_feature(2, of="recent_categories"), ["same_cat", "categorical field", "multi_categorical"]),
        (_feature(0, type="count", of=None, k=None), ["recent_categories", "numeric", "multi_categorical"]),
        (_feature(1, name="nowhere"), ["nowhere", "no field of that name"]),
        (_feature(5, reset_by=None), ["unclicked", "reset_by"]),
        (_feature(5, reset_by="expose"), ["unclicked", "another event kind"]),
        (_feature(1, window_seconds=-5), ["clicks_1h", "window_seconds", "> 0"]),
        (_feature(1, window_seconds=float("nan")), ["clicks_1h", "window_seconds"]),
        (_feature(0, k=0), ["recent_categories", "k must be"]),
        (_feature(0, k=True), ["recent_categories", "k must be"]),
        (_feature(3, cap_seconds=0), ["since_item", "cap_seconds"]),
        (_feature(0, type="sometimes"), ["recent_categories", "type must be one of"]),
        (_feature(1, of="category"), ["clicks_1h", "no 'of'"]),
        (_feature(1, k=3), ["clicks_1h", "k applies"]),
        (_feature(0, colour="red"), ["features[0]", "unknown keys", "colour"]),
        (_feature(6, per=None), ["like_rate", "per", "rate needs it"]),
        (_feature(6, per="click"), ["like_rate", "per must be another event kind"]),
        (_feature(6, per="purchase"), ["like_rate", "'purchase'", "not a declared event"]),
        (_feature(6, k=None), ["like_rate", "needs k"]),
        (_feature(6, k=21), ["like_rate", "k=21", "'click'", "keep_last=20"]),
        (_feature(6, of="category"), ["like_rate", "no 'of'"]),
        (_feature(1, per="expose"), ["clicks_1h", "per", "belongs to rate"]),
        (_with_behaviour(events={}), ["declare at least one event"]),
        (_with_behaviour(events={"click": {"keep_last": 0}}), ["click", "keep_last"]),
        (_with_behaviour(events={"bad name": {}}), ["event name"]),
        (_with_behaviour(events=[1]), ["events", "must be an object"]),
        (_with_behaviour(colour=1), ["unknown keys", "colour"]),
        ({**spec_dict(), "behaviour": [1]}, ["section", "must be an object"]),
    ],
)
def test_a_bad_behaviour_section_is_a_spec_error_naming_the_feature(data, words):
    with pytest.raises(SpecError) as err:
        FeatureSpec.from_dict(data)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


def test_a_behaviour_field_cannot_be_required_crossed_or_sourced():
    d = spec_dict()
    d["fields"][5]["required"] = True
    with pytest.raises(SpecError, match="same_cat.*cannot be required"):
        FeatureSpec.from_dict(d)
    d = spec_dict()
    d["fields"][6]["source"] = "other"
    with pytest.raises(SpecError, match="since_item.*no 'source'"):
        FeatureSpec.from_dict(d)
    d = spec_dict()
    d["fields"][4] = {**d["fields"][4], "transform": "bucketize", "boundaries": [1.0, 2.0]}
    d["fields"].append({"name": "x", "kind": "cross", "fields": ["user_id", "clicks_1h"], "num_buckets": 8})
    with pytest.raises(SpecError, match="'x'.*crosses behaviour fields"):
        FeatureSpec.from_dict(d)


# ------------------------------------------------------------------------------------- features
def test_each_feature_type_means_what_the_docs_say(spec):
    s = BehaviourState(spec)
    s.add("expose", {"item_id": 1, "category": "a"}, ts=0.0)
    s.add("expose", {"item_id": 1, "category": "a"}, ts=5.0)
    s.add("click", {"item_id": 1, "category": "a"}, ts=10.0)  # resets item 1's unclicked count
    s.add("expose", {"item_id": 1, "category": "a"}, ts=20.0)
    s.add("expose", {"item_id": 2, "category": "b"}, ts=30.0)
    s.add("click", {"item_id": 2, "category": "b"}, ts=4000.0)
    s.add("click", {"item_id": 3, "category": "b"}, ts=4100.0)
    s.add("click", {"item_id": "4.0", "category": None}, ts=4200.0)  # integer ids: "4.0" is 4
    ctx = s.context_values(now=4300.0)
    assert ctx["recent_categories"] == ["b", "b", "a"]  # most recent first; a missing value is skipped
    assert ctx["clicks_1h"] == 3.0  # the click at t=10 is older than an hour
    assert ctx["since_click"] == 100.0
    items = {"item_id": [1, 2, 4, 9], "category": ["a", "b", "b", None]}
    got = s.item_values(items, 4, now=4300.0)
    assert got["same_cat"].tolist() == [0.0, 2.0, 2.0, 0.0]  # the last k=3 clicks: b, b, (missing)
    assert got["since_item"].tolist() == [4290.0, 300.0, 100.0, 7200.0]  # none: the cap
    assert got["unclicked"].tolist() == [1.0, 0.0, 0.0, 0.0]  # item 2 was clicked after its exposure
    # keep_seconds: a click older than a day is not seen, even before the log trims it
    assert s.context_values(now=10.0 + 86400.0 + 1)["recent_categories"] == ["b", "b"]
    assert BehaviourState(spec).context_values(now=0.0)["since_click"] == 600.0


def test_rate_is_the_share_of_the_last_k_exposures_followed_by_a_click(spec):
    s = BehaviourState(spec)
    assert s.context_values(now=0.0)["like_rate"] is None  # no exposure: missing, not 0
    s.add("expose", {"item_id": 1}, ts=1.0)
    assert s.context_values(now=1.0)["like_rate"] == 0.0
    s.add("click", {"item_id": 1}, ts=1.0)  # a tie in time: arrival order decides
    assert s.context_values(now=1.0)["like_rate"] == 1.0
    for i, clicked in [(2, False), (3, True), (4, False)]:
        s.add("expose", {"item_id": i}, ts=float(i))
        if clicked:
            s.add("click", {"item_id": i}, ts=float(i))
    # the last k=3 exposures are items 2, 3, 4; only item 3's click came after the oldest of them
    assert s.context_values(now=5.0)["like_rate"] == pytest.approx(1 / 3)
    s.add("click", {"item_id": 99}, ts=1e9)  # a click from a clock far ahead: arrival decides
    assert s.context_values(now=5.0)["like_rate"] == pytest.approx(2 / 3)
    # keep_seconds hides item 3's click (a day old) from a request, as for every other feature
    assert s.context_values(now=3.0 + 86400.0)["like_rate"] == pytest.approx(1 / 3)


def test_the_state_stays_within_its_bounds(spec):
    s = BehaviourState(spec)
    for i in range(1000):
        s.add("expose", {"item_id": i}, ts=float(i))
        s.add("click", {"item_id": i}, ts=float(i))
    assert len(s.events("expose")) == 50 and len(s.events("click")) == 20
    assert [e.values[1] for e in s.events("click")][-1] == "999"
    s.add("click", {"item_id": 1}, ts=1e9)  # a clock jump deletes nothing: only keep_last bounds
    assert len(s.events("click")) == 20
    assert s.context_values(now=1e9)["clicks_1h"] == 1.0  # but what a request sees is by time
    assert s.context_values(now=1000.0)["clicks_1h"] == 20.0  # the clock back: all 20 again


def test_bad_events_and_times_are_named(spec):
    s = BehaviourState(spec)
    with pytest.raises(ArgumentError, match="unknown event kind 'purchase'"):
        s.add("purchase", {}, ts=1.0)
    with pytest.raises(ArgumentError, match="ts"):
        s.add("click", {}, ts=float("inf"))
    with pytest.raises(ArgumentError, match="ts"):
        s.add("click", {}, ts="yesterday")
    with pytest.raises(ArgumentError, match="mapping"):
        s.add("click", ["i1"], ts=1.0)
    with pytest.raises(EncodeError, match="item_id"):
        s.add("click", {"item_id": "abc"}, ts=1.0)  # an integer field
    with pytest.raises(ArgumentError, match="now"):
        s.context_values(now=float("nan"))
    with pytest.raises(EncodeError, match="item_id.*record 1"):
        s.item_values({"item_id": [1, [2]]}, 2, now=1.0)
    with pytest.raises(ArgumentError, match="behaviour"):
        BehaviourState(FeatureSpec.from_dict({**spec_dict(), "behaviour": None}))


# ------------------------------------------------------------------------------------------ log
def test_the_log_persists_reloads_and_stays_bounded(spec, tmp_path):
    path = tmp_path / "log.db"
    with BehaviourLog(path, spec) as log:
        for i in range(300):
            log.record("expose", {"item_id": i % 40, "category": f"c{i % 7}"}, ts=float(i))
            if i % 3 == 0:
                log.record("click", {"item_id": i % 40, "category": f"c{i % 7}"}, ts=float(i))
        before = log.context_values(now=400.0), log.item_values({"item_id": [3, 6]}, 2, now=400.0)
        size_300 = path.stat().st_size
        assert len(log) == 70
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with BehaviourLog(path, spec) as again:
        assert len(again) == 70
        after = again.context_values(now=400.0), again.item_values({"item_id": [3, 6]}, 2, now=400.0)
        assert before[0] == after[0]
        assert all(np.array_equal(before[1][k], after[1][k]) for k in before[1])
        assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM events").fetchone()[0] == 70
        for i in range(5000):
            again.record("expose", {"item_id": i, "category": "c"}, ts=1000.0 + i)
    # 5,000 more events: the file holds the same bounded number of rows, its size does not grow with them
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM events").fetchone()[0] == 70
    assert path.stat().st_size <= 2 * max(size_300, 32768)


def test_clear_forgets_everything_in_memory_and_on_disk(spec, tmp_path):
    path = tmp_path / "log.db"
    log = BehaviourLog(path, spec)
    log.record("click", {"item_id": 1, "category": "secret_category_xyz"}, ts=1.0)
    log.clear()
    assert len(log) == 0 and log.context_values(now=2.0)["recent_categories"] == []
    log.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"secret_category_xyz" not in raw  # secure_delete and a truncated WAL
    with BehaviourLog(path, spec) as again:
        assert len(again) == 0
    with pytest.raises(BehaviourLogError, match="is closed"):
        again.record("click", {"item_id": 1}, ts=3.0)
    with pytest.raises(BehaviourLogError, match="is closed"):
        again.clear()


def test_a_file_that_is_not_a_log_is_refused_and_left_alone(spec, tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_bytes(b"my notes, not a database" * 100)
    with pytest.raises(BehaviourLogError, match="notes.txt.*not a behaviour log"):
        BehaviourLog(junk, spec)
    assert junk.read_bytes() == b"my notes, not a database" * 100
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('format', 'someone else')")
    db.commit()
    db.close()
    with pytest.raises(BehaviourLogError, match="someone else"):
        BehaviourLog(other, spec)
    with pytest.raises(BehaviourLogError, match="is a folder"):
        BehaviourLog(tmp_path, spec)


def test_rows_the_spec_does_not_know_are_ignored_and_kept(spec, tmp_path):
    path = tmp_path / "log.db"
    with BehaviourLog(path, spec) as log:
        log.record("click", {"item_id": 1, "category": "a"}, ts=1.0)
    db = sqlite3.connect(path)
    db.execute("INSERT INTO events VALUES (99, 'wishlist', 2.0, '{}')")
    db.execute("INSERT INTO events VALUES (100, 'click', 3.0, 'not json')")
    db.commit()
    db.close()
    with BehaviourLog(path, spec) as log:
        assert len(log) == 1
        log.record("click", {"item_id": 2}, ts=4.0)
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM events").fetchone()[0] == 4


def test_the_log_is_thread_safe(spec, tmp_path):
    d = spec_dict()
    d["behaviour"]["events"]["expose"]["keep_last"] = 10_000
    big = FeatureSpec.from_dict(d)
    log = BehaviourLog(tmp_path / "log.db", big)
    errors = []

    def worker(w: int) -> None:
        try:
            for i in range(300):
                log.record("expose", {"item_id": w * 1000 + i, "category": "c"}, ts=float(i))
                log.item_values({"item_id": [1, 2, 3]}, 3, now=float(i))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(log) == 2400
    log.close()
    with BehaviourLog(tmp_path / "log.db", big) as again:
        assert len(again) == 2400


def test_a_killed_process_leaves_every_acknowledged_event(spec, tmp_path):
    """SIGKILL mid-stream: the log opens, and every event whose record() returned is in it."""
    d = spec_dict()
    d["behaviour"]["events"]["expose"]["keep_last"] = 100_000
    spec_path = tmp_path / "spec.json"
    FeatureSpec.from_dict(d).save(spec_path)
    script = textwrap.dedent(
        f"""
        import sys
        from masknet_edge.edge_runtime.behaviour_log import BehaviourLog
        from masknet_edge.edge_runtime.spec import FeatureSpec
        log = BehaviourLog({str(tmp_path / "log.db")!r}, FeatureSpec.load({str(spec_path)!r}))
        i = 0
        while True:
            log.record("expose", {{"item_id": i, "category": "c"}}, ts=float(i))
            print(i, flush=True)
            i += 1
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    acked = -1
    deadline = time.monotonic() + 60
    while acked < 2000 and time.monotonic() < deadline:
        acked = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert acked >= 2000
    log = BehaviourLog(tmp_path / "log.db", FeatureSpec.from_dict(d))
    j = log._state.columns.index("item_id")
    seen = {int(e.values[j]) for e in log._state.events("expose")}
    log.close()
    assert set(range(acked + 1)) <= seen


# ------------------------------------------------------------------------------- replay = device
def _impressions(n: int, users: int = 40, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    t = np.zeros(users)
    rows = []
    for _ in range(n):
        u = int(rng.integers(users))
        t[u] += float(rng.exponential(200.0))
        rows.append(
            {
                "user_id": f"u{u}",
                "item_id": int(rng.integers(60)),
                "category": f"c{rng.integers(8)}" if rng.random() > 0.02 else None,
                "ts": round(float(t[u]), 3),
                "click": int(rng.random() < 0.3),
            }
        )
    return rows


def _with_attended_history() -> FeatureSpec:
    """The test spec with its category history in the form spec infer proposes (the candidate's ids),
    and each event's age bucket along it."""
    d = spec_dict()
    history = next(f for f in d["fields"] if f["name"] == "recent_categories")
    del history["num_buckets"]
    history.update(shares="category", pooling="attention")
    ages = {"name": "recent_ages", "kind": "multi_categorical", "side": "context", "max_length": 5}
    d["fields"].append({**ages, "num_buckets": 64, "value_type": "integer", "along": history["name"]})
    feature = next(b for b in d["behaviour"]["features"] if b["name"] == "recent_categories")
    d["behaviour"]["features"].append({**feature, "name": "recent_ages", "type": "last_ages"})
    return FeatureSpec.from_dict(d)


@pytest.mark.parametrize("history", ["mean-pooled", "attended, with its events' ages"])
def test_replay_and_the_device_give_identical_encoded_arrays_over_10000_events(spec, tmp_path, history):
    if history != "mean-pooled":
        spec = _with_attended_history()
        assert spec.vocab_offsets()["recent_categories"] == spec.vocab_offsets()["category"]
    rows = _impressions(10_000)
    encoder = FeatureEncoder(spec)
    replayed = encoder.encode(list(replay_rows(rows, spec, user="user_id", time="ts")))
    logs: dict[str, BehaviourLog] = {}
    parts = []
    events = 0
    for r in rows:  # the device: one persistent log per user, a request, then what was shown and tapped
        log = logs.get(r["user_id"])
        if log is None:
            log = logs[r["user_id"]] = BehaviourLog(tmp_path / f"{r['user_id']}.db", spec)
        candidate = {"item_id": r["item_id"], "category": r["category"]}
        context = {"user_id": r["user_id"], **log.context_values(r["ts"])}
        extra = log.item_values({"item_id": [r["item_id"]], "category": [r["category"]]}, 1, r["ts"])
        parts.append(
            encoder.assemble(encoder.encode_context(context), encoder.encode_items([candidate], extra))
        )
        log.record("expose", r, ts=r["ts"])
        events += 1
        if r["click"]:
            log.record("click", r, ts=r["ts"])
            events += 1
    for log in logs.values():
        log.close()
    device = {k: np.concatenate([p[k] for p in parts]) for k in replayed}
    assert events >= 10_000
    differences = {k: int((replayed[k] != device[k]).sum()) for k in replayed}
    assert differences == dict.fromkeys(replayed, 0)
    # and the features are not trivially constant
    assert len(np.unique(replayed["num_values"], axis=0)) > 1000
    if "recent_ages_ids" in replayed:  # many age buckets, at the history's positions
        assert len(np.unique(replayed["recent_ages_ids"])) > 8
        assert (replayed["recent_ages_mask"] == replayed["recent_categories_mask"]).all()


def test_replay_refuses_what_it_cannot_replay_naming_the_record(spec):
    rows = [
        {"user_id": "u", "item_id": 1, "ts": 5.0, "click": 0},
        {"user_id": "u", "item_id": 1, "ts": 4.0, "click": 0},
    ]
    with pytest.raises(EncodeError, match="'ts', record 1: time goes back for user 'u'"):
        list(replay_rows(rows, spec, user="user_id", time="ts"))
    for bad, words in (
        ({"user_id": None, "ts": 1.0, "click": 0}, "user_id', record 0: the user is missing"),
        ({"user_id": "u", "ts": "soon", "click": 0}, "'ts', record 0"),
        ({"user_id": "u", "ts": float("inf"), "click": 0}, "'ts', record 0"),
        ({"user_id": "u", "ts": 1.0, "click": "yes"}, "'click', record 0: the click label must be 0 or 1"),
    ):
        with pytest.raises(EncodeError, match=words):
            list(replay_rows([bad], spec, user="user_id", time="ts"))
    with pytest.raises(ArgumentError, match="neither"):
        Replay(spec, "user_id", "ts", expose="view", click="tap")
    with pytest.raises(ArgumentError, match="label"):
        Replay(FeatureSpec.from_dict({**spec_dict(), "label": None}), "user_id", "ts")


def test_the_docstring_examples_run():
    import doctest

    from masknet_edge.edge_runtime import behaviour, behaviour_spec

    for module in (behaviour, behaviour_spec):
        result = doctest.testmod(module)
        assert result.attempted >= 1 and result.failed == 0, module.__name__


def _reference_item_values(state: BehaviourState, texts: dict, now: float) -> dict:
    """The item features written the plain way, one event at a time (what the runtime must equal)."""
    import math
    from collections import Counter

    b = state.behaviour
    kinds = {e.name: e for e in b.events}

    def visible(kind):
        keep = kinds[kind].keep_seconds
        return [e for e in state.events(kind) if keep is None or e.ts > now - keep]

    out = {}
    for f in b.features:
        if f.side != "item":
            continue
        j = state.columns.index(f.of)
        default = 0.0
        if f.type == "match_count":
            events = [
                e for e in visible(f.event) if f.window_seconds is None or e.ts > now - f.window_seconds
            ]
            events = events[-f.k :] if f.k is not None else events
            by_value = dict(Counter(e.values[j] for e in events))
        elif f.type == "decayed_match":
            by_value = {}
            for e in visible(f.event):
                w = math.exp(-math.log(2.0) / f.half_life_seconds * max(now - e.ts, 0.0))
                by_value[e.values[j]] = by_value.get(e.values[j], 0.0) + w
        elif f.type == "seconds_since":
            default = f.cap
            by_value = {e.values[j]: min(max(now - e.ts, 0.0), f.cap) for e in visible(f.event)}
        else:
            reset = {e.values[j]: e.seq for e in visible(f.reset_by)}
            by_value = {}
            for e in visible(f.event):
                if e.seq > reset.get(e.values[j], -1):
                    by_value[e.values[j]] = by_value.get(e.values[j], 0) + 1
        by_value.pop(None, None)
        out[f.name] = np.array([float(by_value.get(t, default)) for t in texts[f.of]])
    return out


@pytest.mark.parametrize("seed", range(6))
def test_item_features_equal_the_plain_definition(seed):
    """Random streams (missing values, time going back, windows, last k) give the values of the
    definition written out one event at a time (ENCODING.md §10)."""
    d = spec_dict()
    d["fields"].append({"name": "interest", "kind": "numeric", "side": "item", "transform": "none"})
    d["fields"].append({"name": "cat_10m", "kind": "numeric", "side": "item", "transform": "none"})
    d["behaviour"]["features"] += [
        {
            "name": "interest",
            "type": "decayed_match",
            "event": "click",
            "of": "category",
            "half_life_seconds": 60,
        },
        {
            "name": "cat_10m",
            "type": "match_count",
            "event": "expose",
            "of": "category",
            "window_seconds": 600,
        },
    ]
    d["behaviour"]["events"]["expose"]["keep_seconds"] = 1800
    spec = FeatureSpec.from_dict(d)
    state = BehaviourState(spec)
    rng = np.random.default_rng(seed)
    ts = 1e6
    for step in range(400):
        ts += float(rng.choice([-30.0, 0.0, 5.0, 60.0, 900.0]))  # sometimes back in time
        item = {
            "item_id": None if rng.random() < 0.1 else int(rng.integers(60)),
            "category": None if rng.random() < 0.1 else f"c{rng.integers(12)}",
        }
        state.add("click" if rng.random() < 0.3 else "expose", item, ts=ts)
        if step % 7 == 0:
            n = 25
            cands = {
                "item_id": [None if rng.random() < 0.1 else int(rng.integers(80)) for _ in range(n)],
                "category": [None if rng.random() < 0.1 else f"c{rng.integers(15)}" for _ in range(n)],
            }
            now = ts + float(rng.choice([0.0, 10.0, 700.0, 5000.0]))
            got = state.item_values(cands, n, now)
            want = _reference_item_values(state, state.candidate_texts(cands, n), now)
            assert got.keys() == want.keys()
            for name in want:
                np.testing.assert_allclose(
                    got[name], want[name], rtol=1e-12, err_msg=f"{name} at step {step}"
                )
