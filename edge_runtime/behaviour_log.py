"""The device's behaviour log: bounded, persisted in SQLite, crash-safe, thread-safe, local only.

The app records what the user does (``log.record("click", item)``); the ranker asks the log for the
behaviour fields of a request. Events stay in one SQLite file on the device (created ``0600``); the
log never sends anything anywhere, and records only the item columns the spec's features read.

What is kept: the last ``keep_last`` events of each kind, by order of recording, so the file does
not grow with use. Timestamps never delete anything: ``keep_seconds`` and ``window_seconds`` only
decide what a request sees, so a clock that jumps (an NTP correction, a user changing the time)
hides events for a while instead of destroying them. A :class:`Retention` policy deletes more, on
purpose: at most ``max_events`` events, none older than ``max_age_seconds`` by the log's clock.

Durability: every :meth:`BehaviourLog.record` that returned is committed. With the default
``durable=False`` (SQLite WAL, ``synchronous=NORMAL``) a killed process loses nothing that was
acknowledged; a power cut may lose the last few events. ``durable=True`` (``synchronous=FULL``)
survives power cuts too, at the price of one fsync per event. A file cut short or damaged is
opened with what survived (``masknet_edge.edge_runtime.behaviour_file``).

Privacy: :meth:`BehaviourLog.clear` and :meth:`BehaviourLog.forget` delete events for good: freed
pages are overwritten (``secure_delete``) and the write-ahead log is truncated to zero bytes.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from masknet_edge.edge_runtime import hashing
from masknet_edge.edge_runtime.behaviour import BehaviourState, Event, behaviour_key, check_time
from masknet_edge.edge_runtime.behaviour_file import LOG_FORMAT, LogFile, erase_log_file, open_log_file
from masknet_edge.edge_runtime.errors import ArgumentError, BehaviourLogError, EncodeError
from masknet_edge.edge_runtime.spec import FeatureSpec

__all__ = ["LOG_FORMAT", "BehaviourLog", "Retention"]


@dataclass(frozen=True)
class Retention:
    """How much personal history the log may hold, beyond what the spec's features need.

    Args:
        max_events: at most this many events of all kinds together; the oldest recorded go first.
        max_age_seconds: no event whose time is more than this before the log's clock. The clock is
            read when the log opens and at each :meth:`BehaviourLog.record`; timestamps passed to
            ``record`` never advance it, so one event from a wrong clock deletes nothing.

    A policy tighter than the spec's ``keep_last`` / ``keep_seconds`` makes the device see less than
    training replay did.
    """

    max_events: int | None = None
    max_age_seconds: float | None = None

    def __post_init__(self) -> None:
        n = self.max_events
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ArgumentError(f"Expected max_events to be an integer >= 1. Received: max_events={n!r}")
        age = self.max_age_seconds
        bad_age = isinstance(age, bool) or not isinstance(age, (int, float)) or not age > 0
        if age is not None and (bad_age or not math.isfinite(age)):
            raise ArgumentError(
                f"Expected max_age_seconds to be a number of seconds > 0. Received: max_age_seconds={age!r}"
            )


class BehaviourLog:
    """A user's recent events on the device, and the behaviour fields they give.

    Args:
        path: the SQLite file (created when absent), or None for a log held in memory only.
        spec: the bundle's feature spec; its ``behaviour`` section says what is kept.
        durable: fsync every event (survives power cuts, slower). Defaults to False.
        clock: the time of an event recorded without ``ts`` and of a request without ``now``.
            Defaults to ``time.time``.
        readonly: read the file without writing or locking it (a tool inspecting an app's log, a
            log on a read-only file system); :meth:`record` and :meth:`clear` then fail.
            Defaults to False.
        retention: what may be kept at most (:class:`Retention`). Defaults to the spec's bounds only.

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
        readonly: bool = False,
        retention: Retention | None = None,
    ) -> None:
        self._state = BehaviourState(spec)
        self.spec = spec
        #: What the log's features depend on; a ranker accepts a log whose key equals its spec's.
        self.behaviour_key = behaviour_key(spec)
        self.path = None if path is None else Path(path)
        self.readonly = bool(readonly)
        self.retention = retention or Retention()
        if not isinstance(self.retention, Retention):
            raise ArgumentError(f"retention must be a Retention. Received: {type(retention).__name__}")
        self._clock = clock
        self._lock = threading.Lock()
        self._file: LogFile | None = None
        self._closed = False
        #: Where a damaged file was moved when it was repaired on opening; None when it was sound.
        self.damaged_copy: Path | None = None
        if self.path is not None:
            self._file = open_log_file(self.path, durable=durable, readonly=self.readonly)
            self.damaged_copy = self._file.damaged_copy
            try:
                self._load()
            except BaseException:
                self._file.close()
                raise

    # ------------------------------------------------------------------ file
    def _fail(self, what: str, exc: BaseException | None = None) -> BehaviourLogError:
        detail = f" ({exc})" if exc is not None else ""
        return BehaviourLogError(f"behaviour log {self.path}: {what}{detail}")

    @property
    def _db(self) -> sqlite3.Connection | None:
        return None if self._file is None else self._file.db

    def _load(self) -> None:
        """Read the file into memory, then delete what the spec's bounds and the retention policy
        no longer keep. Rows of kinds the spec does not declare (another model's), or that cannot be
        read, are left as they are."""
        assert self._db is not None
        columns = self._state.columns
        stale: list[Event] = []
        try:
            rows = self._db.execute("SELECT seq, kind, ts, item FROM events ORDER BY seq").fetchall()
        except sqlite3.Error as exc:
            raise self._fail("cannot read", exc) from None
        for seq, kind, ts, item in rows:
            if not (isinstance(item, str) and isinstance(seq, int) and isinstance(ts, float)):
                continue
            try:
                values = json.loads(item)
            except ValueError:
                continue
            if not (isinstance(values, dict) and kind in self._state.behaviour.event_names):
                continue
            if not math.isfinite(ts):
                continue
            texts = tuple(v if isinstance(v, str) else None for v in (values.get(c) for c in columns))
            stale.extend(self._state.add_canonical(kind, texts, ts, seq=seq))
        stale.extend(self._expired())
        if stale and not self.readonly:
            self._delete(stale, "cannot apply the log's bounds")

    def _expired(self) -> list[Event]:
        """Take out of memory the events the retention policy no longer allows (oldest first)."""
        r = self.retention
        gone: list[Event] = []
        if r.max_age_seconds is not None:
            oldest = float(self._clock()) - r.max_age_seconds
            gone.extend(self._state.discard(lambda _kind, e: e.ts <= oldest))
        if r.max_events is not None and len(self._state) > r.max_events:
            ordered = self._state.all_events()
            cut = {e.seq for _, e in ordered[: len(ordered) - r.max_events]}
            gone.extend(self._state.discard(lambda _kind, e: e.seq in cut))
        return gone

    def _delete(self, events: Sequence[Event], what: str, *, scrub: bool = False) -> None:
        """Delete ``events`` from the file in one transaction; ``scrub`` also empties the WAL."""
        assert self._db is not None
        try:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM events WHERE seq = ?", [(e.seq,) for e in events])
            self._db.execute("COMMIT")
            if scrub:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise self._fail(what, exc) from None

    def _writable(self, doing: str) -> None:
        if self._closed:
            raise self._fail(f"is closed; open it again to {doing}")
        if self.readonly:
            raise self._fail(f"was opened with readonly=True; open it writable to {doing}")

    # ---------------------------------------------------------------- events
    def record(self, kind: str, item: Mapping[str, Any], ts: float | None = None) -> None:
        """Record one event (``expose``, ``click``, any kind the spec declares) of ``item`` at ``ts``
        (default: now). When this returns, the event is committed to the file."""
        values = self._state.canonical_values(item)
        t = self._clock() if ts is None else check_time(ts)
        with self._lock:
            self._writable("record")
            seq = self._state.last_seq + 1
            dropped = self._state.add_canonical(kind, values, t, seq=seq)
            dropped += self._expired()
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

    def forget(self, field: str, value: Any) -> int:
        """Delete every event whose item had ``value`` in ``field`` (one of the recorded columns), in
        memory and in the file, freed pages overwritten; returns how many were deleted."""
        if field not in self._state.columns:
            raise ArgumentError(
                f"the log records only {list(self._state.columns)}; it holds nothing under {field!r}"
            )
        j = self._state.columns.index(field)
        try:
            text = hashing.canonical_text(value, self.spec[field].value_type) or None
        except (TypeError, ValueError) as exc:
            raise EncodeError(f"cannot forget: {exc}", field=field) from None
        with self._lock:
            self._writable("forget events")
            gone = self._state.discard(lambda _kind, e: e.values[j] == text)
            if self._db is not None:
                self._delete(gone, "cannot forget", scrub=True)
            return len(gone)

    @staticmethod
    def erase(path: str | os.PathLike[str]) -> None:
        """Forget a user whose history is the log at ``path``: its files are overwritten with zeros,
        then deleted. Refuses a file that is not a behaviour log, or one a writer holds open."""
        erase_log_file(Path(path))

    def clear(self) -> None:
        """Delete every event, in memory and in the file (freed pages overwritten)."""
        with self._lock:
            self._writable("clear it")
            self._state.clear()
            if self._db is not None:
                try:
                    self._db.execute("DELETE FROM events")
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error as exc:
                    raise self._fail("cannot clear", exc) from None

    def close(self) -> None:
        """Close the file and release it to other writers; later calls to :meth:`record` fail."""
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()

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
