"""The behaviour log's file under what devices do to it: wrong clocks, crashes, files cut short,
other applications' databases, read-only storage, a second writer, and deletion that must be real."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from masknet_edge.edge_runtime.behaviour_log import BehaviourLog, Retention
from masknet_edge.edge_runtime.errors import ArgumentError, BehaviourLogError
from masknet_edge.edge_runtime.spec import FeatureSpec
from tests.edge_runtime.test_behaviour import spec_dict

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def spec() -> FeatureSpec:
    return FeatureSpec.from_dict(spec_dict())


def _item_ids(log: BehaviourLog) -> list[int]:
    j = log._state.columns.index("item_id")
    return [int(e.values[j]) for _, e in log._state.all_events()]


def _rows(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    finally:
        db.close()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# ------------------------------------------------------------------------------------ clocks
@pytest.mark.parametrize(
    "jump",
    [2 * 86400.0, -2 * 86400.0, 1e12, -1e9],
    ids=["2-days-ahead", "2-days-back", "far-future", "far-past"],
)
def test_a_clock_jump_deletes_no_committed_event(spec, tmp_path, jump):
    """Events recorded around a jumped clock all stay, in memory and in the file, across a reopen."""
    path = tmp_path / "log.db"
    with BehaviourLog(path, spec) as log:
        for i in range(10):
            log.record("click", {"item_id": i, "category": "a"}, ts=1000.0 + i)
        log.record("click", {"item_id": 10, "category": "a"}, ts=1000.0 + jump)
        for i in range(11, 19):
            log.record("click", {"item_id": i, "category": "a"}, ts=1011.0 + i)
        assert _item_ids(log) == list(range(19))
    assert _rows(path) == 19
    with BehaviourLog(path, spec) as again:
        assert _item_ids(again) == list(range(19))
        # What a request sees is still decided by time: at the normal clock, the jumped event is
        # visible only when it lies in the past of the request or at age 0 in its future.
        seen = again.context_values(now=1040.0)["clicks_1h"]
        assert seen == (18.0 if jump < -3600 else 19.0)


def test_the_order_of_recording_decides_what_is_kept(spec, tmp_path):
    """keep_last counts by arrival: a clock running backwards does not make new events the oldest."""
    with BehaviourLog(tmp_path / "log.db", spec) as log:
        for i in range(25):
            log.record("click", {"item_id": i, "category": "a"}, ts=10_000.0 - i)
        assert _item_ids(log) == list(range(5, 25))  # keep_last 20: the first five recorded went


# ----------------------------------------------------------------------------- crashes, cuts
def test_processes_killed_at_random_points_and_files_cut_short_lose_nothing_acknowledged():
    """The crash benchmark in small (RELIABILITY.md holds its 200-kill run)."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_log_crash", "--kills", "12", "--cuts", "25", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    figures = json.loads(out.stdout)
    assert figures["kill"]["failures"] == [] and figures["cut"]["failures"] == [], figures
    assert figures["kill"]["events"] > 12 and figures["cut"]["mean_share_kept"] > 0.2
    assert out.returncode == 0


def test_a_log_cut_short_opens_with_what_survived_and_keeps_the_damaged_file(spec, tmp_path):
    d = spec_dict()
    d["behaviour"]["events"]["expose"]["keep_last"] = 5000
    big = FeatureSpec.from_dict(d)
    path = tmp_path / "log.db"
    with BehaviourLog(path, big) as log:
        for i in range(3000):
            log.record("expose", {"item_id": i % 90, "category": f"c{i}"}, ts=float(i))
        log._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    whole = path.read_bytes()
    path.write_bytes(whole[: int(len(whole) * 0.9)])
    with BehaviourLog(path, big) as log:
        assert 0 < len(log) < 3000
        assert (
            log.damaged_copy is not None and log.damaged_copy.read_bytes() == whole[: int(len(whole) * 0.9)]
        )
        log.record("click", {"item_id": 1, "category": "new"}, ts=4000.0)
        kept = len(log)
    with BehaviourLog(path, big) as again:  # the repaired file is sound: no second repair
        assert again.damaged_copy is None and len(again) == kept


# ------------------------------------------------------------------------------ other files
@pytest.mark.parametrize("journal", ["delete", "wal"])
@pytest.mark.parametrize("readonly", [False, True])
def test_another_applications_database_is_refused_and_left_byte_for_byte(spec, tmp_path, journal, readonly):
    other = tmp_path / "app.db"
    db = sqlite3.connect(other)
    db.execute(f"PRAGMA journal_mode={journal}")
    db.execute("CREATE TABLE contacts (name TEXT)")
    db.execute("INSERT INTO contacts VALUES ('ada')")
    db.commit()
    db.close()
    before = _files(tmp_path)
    with pytest.raises(BehaviourLogError, match=r"app.db: is another application's SQLite.*contacts"):
        BehaviourLog(other, spec, readonly=readonly)
    assert _files(tmp_path) == before


def test_an_empty_file_becomes_a_log_and_a_missing_one_is_not_created_by_a_reader(spec, tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    with BehaviourLog(empty, spec) as log:
        log.record("click", {"item_id": 1}, ts=1.0)
    with pytest.raises(BehaviourLogError, match="does not exist"):
        BehaviourLog(tmp_path / "absent.db", spec, readonly=True)
    assert not (tmp_path / "absent.db").exists()


# --------------------------------------------------------------------- readers and writers
def test_a_reader_sees_a_live_log_and_cannot_write(spec, tmp_path):
    path = tmp_path / "log.db"
    with BehaviourLog(path, spec) as writer:
        writer.record("click", {"item_id": 7, "category": "a"}, ts=1.0)
        with BehaviourLog(path, spec, readonly=True) as reader:
            assert _item_ids(reader) == [7]
            for call in (lambda: reader.record("click", {"item_id": 1}, ts=2.0), reader.clear):
                with pytest.raises(BehaviourLogError, match="readonly=True"):
                    call()
        writer.record("click", {"item_id": 8, "category": "a"}, ts=2.0)  # the reader took no lock
    assert _rows(path) == 2


def test_a_second_writer_is_refused_with_a_hint_in_this_process_and_in_another(spec, tmp_path):
    path = tmp_path / "log.db"
    spec_path = tmp_path / "spec.json"
    spec.save(spec_path)
    with BehaviourLog(path, spec) as log:
        log.record("click", {"item_id": 1}, ts=1.0)
        with pytest.raises(BehaviourLogError, match="another process.*one writer"):
            BehaviourLog(path, spec)
        script = textwrap.dedent(
            f"""
            from masknet_edge.edge_runtime.behaviour_log import BehaviourLog
            from masknet_edge.edge_runtime.errors import BehaviourLogError
            from masknet_edge.edge_runtime.spec import FeatureSpec
            try:
                BehaviourLog({str(path)!r}, FeatureSpec.load({str(spec_path)!r}))
            except BehaviourLogError as exc:
                print(exc)
            """
        )
        out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
        assert "another process" in out.stdout, out.stderr
        log.record("click", {"item_id": 2}, ts=2.0)
    with BehaviourLog(path, spec) as again:  # closing released the file
        assert _item_ids(again) == [1, 2]


def test_a_log_on_a_read_only_file_system_is_read_and_not_called_damaged(spec, tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to mount a read-only file system")
    spec_path = tmp_path / "spec.json"
    spec.save(spec_path)
    mnt = tmp_path / "ro"
    mnt.mkdir()
    script = textwrap.dedent(
        f"""
        import subprocess
        from masknet_edge.edge_runtime.behaviour_log import BehaviourLog
        from masknet_edge.edge_runtime.errors import BehaviourLogError
        from masknet_edge.edge_runtime.spec import FeatureSpec
        spec = FeatureSpec.load({str(spec_path)!r})
        path = {str(mnt / "log.db")!r}
        with BehaviourLog(path, spec) as log:
            log.record("click", {{"item_id": 5}}, ts=1.0)
        subprocess.run(["mount", "-o", "remount,ro", {str(mnt)!r}], check=True)
        try:
            BehaviourLog(path, spec)
        except BehaviourLogError as exc:
            print("WRITABLE:", exc)
        with BehaviourLog(path, spec, readonly=True) as log:
            print("READ:", len(log))
        """
    )
    cmd = f'mount -t tmpfs tmpfs {mnt} && exec {sys.executable} -c "$0"'
    out = subprocess.run(
        ["unshare", "-rm", "sh", "-c", cmd, script], cwd=ROOT, capture_output=True, text=True
    )
    if out.returncode != 0 and "mount" in out.stderr and "READ:" not in out.stdout:
        pytest.skip(f"cannot mount a read-only file system here: {out.stderr.strip()[:200]}")
    assert "READ: 1" in out.stdout, out.stderr
    assert "cannot be written" in out.stdout and "damaged" not in out.stdout


# ---------------------------------------------------------------------------------- privacy
def _every_byte(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.iterdir() if p.is_file())


def test_the_log_records_only_the_columns_the_spec_reads(spec, tmp_path):
    with BehaviourLog(tmp_path / "log.db", spec) as log:
        log.record("click", {"item_id": 3, "category": "a", "email": "ada@example.org"}, ts=1.0)
    assert b"ada@example.org" not in _every_byte(tmp_path)
    assert b'"category": "a"' in _every_byte(tmp_path)


def test_forget_deletes_every_trace_of_a_value(spec, tmp_path):
    path = tmp_path / "log.db"
    with BehaviourLog(path, spec) as log:
        for i in range(40):
            category = "embarrassing_topic_xyz" if i % 4 == 0 else f"c{i}"
            log.record("expose", {"item_id": i, "category": category}, ts=float(i))
        assert log.forget("category", "embarrassing_topic_xyz") == 10
        assert len(log) == 30 and "embarrassing_topic_xyz" not in log.context_values(now=50.0)
        with pytest.raises(ArgumentError, match="records only"):
            log.forget("user_id", "u1")
        assert b"embarrassing_topic_xyz" not in _every_byte(tmp_path)
    assert _rows(path) == 30


def test_retention_by_count_and_age_really_deletes(spec, tmp_path):
    path = tmp_path / "log.db"
    now = [1000.0]
    policy = Retention(max_events=12, max_age_seconds=100.0)
    with BehaviourLog(path, spec, retention=policy, clock=lambda: now[0]) as log:
        for i in range(20):
            log.record("expose", {"item_id": i, "category": f"old_value_{i}"}, ts=950.0 + i)
        assert _item_ids(log) == list(range(8, 20))  # at most 12 events, the oldest recorded went
        # An event whose own timestamp is far ahead does not move the clock: nothing ages out.
        log.record("expose", {"item_id": 20, "category": "c"}, ts=1e12)
        assert len(log) == 12
    assert _rows(path) == 12
    now[0] = 1000.0 + 100.0 + 0.5  # the log's clock: the events of t <= 1000.5 are too old
    with BehaviourLog(path, spec, retention=policy, clock=lambda: now[0]) as log:
        assert _item_ids(log) == [20]
    assert _rows(path) == 1
    assert b"old_value_9" not in path.read_bytes()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_events": 0}, "max_events"),
        ({"max_events": 1.5}, "max_events"),
        ({"max_age_seconds": -1}, "max_age_seconds"),
        ({"max_age_seconds": float("nan")}, "max_age_seconds"),
        ({"max_age_seconds": float("inf")}, "max_age_seconds"),
    ],
)
def test_a_bad_retention_policy_is_named(kwargs, match):
    with pytest.raises(ArgumentError, match=match):
        Retention(**kwargs)


def test_erasing_a_user_s_log_leaves_no_byte_of_it(spec, tmp_path):
    path = tmp_path / "alice.db"
    with BehaviourLog(path, spec) as log:
        for i in range(30):
            log.record("expose", {"item_id": i, "category": "alice_secret_topic"}, ts=float(i))
        with pytest.raises(BehaviourLogError, match="another process"):
            BehaviourLog.erase(path)  # not while the app records into it
    (tmp_path / "notes.txt").write_text("not a log")
    with pytest.raises(BehaviourLogError, match="not a behaviour log"):
        BehaviourLog.erase(tmp_path / "notes.txt")
    BehaviourLog.erase(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_erasing_a_damaged_log_erases_its_damaged_original_too(spec, tmp_path):
    path = tmp_path / "bob.db"
    with BehaviourLog(path, spec) as log:
        for i in range(40):
            log.record("expose", {"item_id": i, "category": "bob_topic"}, ts=float(i))
        log._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) * 3 // 4])
    BehaviourLog.erase(path)  # repairs on opening, then erases both
    assert list(tmp_path.iterdir()) == []
