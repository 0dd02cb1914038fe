"""The device's behaviour log: bounded, persisted in SQLite, crash-safe, thread-safe, local only.

The app records what the user does (``log.record("click", item)``); the ranker asks the log for the
behaviour fields of a request. Events stay in one SQLite file on the device (created ``0600``); the
log never sends anything anywhere. It keeps only what the spec's behaviour section bounds (the last
``keep_last`` of each kind, within ``keep_seconds``), so the file does not grow with use.

Durability: every :meth:`BehaviourLog.record` that returned is committed. With the default
``durable=False`` (SQLite WAL, ``synchronous=NORMAL``) a killed process loses nothing that was
acknowledged; a power cut may lose the last few events. ``durable=True`` (``synchronous=FULL``)
survives power cuts too, at the price of one fsync per event.

Privacy: :meth:`BehaviourLog.clear` deletes every event and overwrites the freed pages
(``secure_delete``); the write-ahead log is truncated.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.behaviour import BehaviourState, behaviour_key, check_time
from edge_runtime.errors import BehaviourLogError
from edge_runtime.spec import FeatureSpec

__all__ = ["LOG_FORMAT", "BehaviourLog"]

#: Written into the file's ``meta`` table; a file with another format is refused, never rewritten.
LOG_FORMAT = "masknet-edge behaviour log 1"

#: The write-ahead log is truncated to this size after each checkpoint.
WAL_BYTES = 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, ts REAL NOT NULL, item TEXT NOT NULL
);
"""


class BehaviourLog:
    """A user's recent events on the device, and the behaviour fields they give.

    Args:
        path: the SQLite file (created when absent), or None for a log held in memory only.
        spec: the bundle's feature spec; its ``behaviour`` section says what is kept.
        durable: fsync every event (survives power cuts, slower). Defaults to False.
        clock: the time of an event recorded without ``ts`` and of a request without ``now``.
            Defaults to ``time.time``.

    >>> log = BehaviourLog(None, spec)            # doctest: +SKIP
    >>> log.record("click", {"item_id": "42", "category": "shoes"})   # doctest: +SKIP
    >>> ranker.rank(context, candidates, behaviour=log)              # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        spec: FeatureSpec,
        *,
        durable: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._state = BehaviourState(spec)
        self.spec = spec
        #: What the log's features depend on; a ranker accepts a log whose key equals its spec's.
        self.behaviour_key = behaviour_key(spec)
        self.path = None if path is None else Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._closed = False
        if self.path is not None:
            self._db = self._open(self.path, durable)
            self._load()

    # ------------------------------------------------------------------ file
    def _fail(self, what: str, exc: BaseException | None = None) -> BehaviourLogError:
        detail = f" ({exc})" if exc is not None else ""
        return BehaviourLogError(f"behaviour log {self.path}: {what}{detail}")

    def _open(self, path: Path, durable: bool) -> sqlite3.Connection:
        if path.is_dir():
            raise self._fail("is a folder; give the path of a log file")
        try:
            if not path.exists():  # private from the start: only the app's user may read it
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise self._fail("cannot open", exc) from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            db.execute("PRAGMA secure_delete=ON")
            # A small write-ahead log: checkpoint every 256 pages and truncate it to 1 MiB after, so
            # the files stay ~1.1 MiB instead of SQLite's default ~4 MiB of WAL.
            db.execute("PRAGMA wal_autocheckpoint=256")
            db.execute(f"PRAGMA journal_size_limit={WAL_BYTES}")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('format', ?)", (LOG_FORMAT,))
            elif row[0] != LOG_FORMAT:
                raise self._fail(f"was written as {row[0]!r:.80}, not {LOG_FORMAT!r}; not rewriting it")
        except sqlite3.DatabaseError as exc:
            db.close()
            raise self._fail(
                "is not a behaviour log (or is damaged); move it away to start a new one", exc
            ) from None
        except BehaviourLogError:
            db.close()
            raise
        return db

    def _load(self) -> None:
        """Read the file into memory and delete the events beyond the spec's bounds. Rows of kinds
        the spec does not declare (another model's), or that cannot be read, are left as they are."""
        assert self._db is not None
        columns = self._state.columns
        stale = []
        try:
            rows = self._db.execute("SELECT seq, kind, ts, item FROM events ORDER BY seq").fetchall()
            for seq, kind, ts, item in rows:
                try:
                    values = json.loads(item)
                    ok = isinstance(values, dict) and kind in self._state.behaviour.event_names
                    ok = ok and isinstance(ts, float) and np.isfinite(ts)
                except ValueError:
                    ok = False
                if not ok:
                    continue
                texts = tuple(v if isinstance(v, str) else None for v in (values.get(c) for c in columns))
                stale.extend(e.seq for e in self._state.add_canonical(kind, texts, ts, seq=seq))
            if stale:
                self._db.executemany("DELETE FROM events WHERE seq = ?", [(s,) for s in stale])
        except sqlite3.Error as exc:
            raise self._fail("cannot read", exc) from None

    # ---------------------------------------------------------------- events
    def record(self, kind: str, item: Mapping[str, Any], ts: float | None = None) -> None:
        """Record one event (``expose``, ``click``, any kind the spec declares) of ``item`` at ``ts``
        (default: now). When this returns, the event is committed to the file."""
        values = self._state.canonical_values(item)
        t = self._clock() if ts is None else check_time(ts)
        with self._lock:
            if self._closed:
                raise self._fail("is closed; open it again to record")
            seq = self._state.last_seq + 1
            dropped = self._state.add_canonical(kind, values, t, seq=seq)
            if self._db is None:
                return
            item_json = json.dumps(dict(zip(self._state.columns, values, strict=True)))
            try:
                self._db.execute("BEGIN")
                self._db.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (seq, kind, t, item_json))
                if dropped:
                    self._db.executemany("DELETE FROM events WHERE seq = ?", [(e.seq,) for e in dropped])
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._state.clear()  # memory follows the file again
                self._load()
                raise self._fail("cannot record the event", exc) from None

    def clear(self) -> None:
        """Delete every event, in memory and in the file (freed pages overwritten)."""
        with self._lock:
            if self._closed:
                raise self._fail("is closed; open it again to clear it")
            self._state.clear()
            if self._db is not None:
                try:
                    self._db.execute("DELETE FROM events")
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error as exc:
                    raise self._fail("cannot clear", exc) from None

    def close(self) -> None:
        """Close the file; later calls to :meth:`record` fail."""
        with self._lock:
            self._closed = True
            if self._db is not None:
                self._db.close()

    def __enter__(self) -> BehaviourLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        with self._lock:
            return len(self._state)

    # -------------------------------------------------------------- features
    def now(self) -> float:
        """The log's clock."""
        return float(self._clock())

    def context_values(self, now: float | None = None) -> dict[str, Any]:
        """Context-side behaviour columns of a request at ``now`` (default: the clock)."""
        t = self.now() if now is None else now
        with self._lock:
            return self._state.context_values(t)

    def item_values(
        self, columns: Mapping[str, Sequence[Any]], n: int, now: float | None = None
    ) -> dict[str, np.ndarray]:
        """Item-side behaviour columns of ``n`` candidates (their raw ``of`` columns) at ``now``."""
        t = self.now() if now is None else now
        with self._lock:
            return self._state.item_values(columns, n, t)
