"""Behaviour features from a user's recent events: the one implementation, on the device and in replay.

:class:`BehaviourState` holds a user's recent events in memory, bounded as the spec's behaviour
section says, and computes the behaviour fields from them: the context-side ones once per request
(:meth:`BehaviourState.context_values`), the target-aware ones for all candidates at once
(:meth:`BehaviourState.item_values`). The device's persistent log
(:class:`edge_runtime.behaviour_log.BehaviourLog`) and training replay
(:func:`edge_runtime.replay.replay_rows`) both hold a ``BehaviourState`` and call these methods, so
training rows and device requests get their behaviour columns from the same code.

Event order is the order of :meth:`BehaviourState.add` calls ("the last k" are the last k added);
time windows compare event timestamps with the request's ``now`` (seconds, any epoch, as long as
events and requests agree).
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Any, NamedTuple

import numpy as np

from edge_runtime import hashing
from edge_runtime.behaviour_spec import BehaviourFeature, BehaviourSpec
from edge_runtime.errors import ArgumentError, EncodeError
from edge_runtime.spec import FeatureSpec

__all__ = ["BehaviourState", "Event", "behaviour_key", "check_time"]


class _KindArrays(NamedTuple):
    """One kind's kept events as arrays, oldest first, and the state version they were built at."""

    version: int
    seq: np.ndarray
    ts: np.ndarray
    codes: tuple[np.ndarray, ...]


class Event(NamedTuple):
    """One kept event: its order of arrival, time, and the canonical texts of the recorded columns."""

    seq: int
    ts: float
    values: tuple[str | None, ...]


def check_time(value: Any, what: str = "ts") -> float:
    """A finite number of seconds, or :class:`ArgumentError` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentError(f"Expected {what} to be a number of seconds. Received: {what}={value!r:.80}")
    t = float(value)
    if not math.isfinite(t):
        raise ArgumentError(f"Expected {what} to be a finite number of seconds. Received: {what}={value!r}")
    return t


def behaviour_key(spec: FeatureSpec) -> str:
    """What a log's events and features depend on: the behaviour section and the value types of the
    recorded columns. A fitted spec and its unfitted draft have the same key."""
    if spec.behaviour is None:
        return ""
    b = spec.behaviour
    types = {c: spec[c].value_type for c in b.recorded_columns}
    return json.dumps([b.to_dict(), types], sort_keys=True)


class BehaviourState:
    """A user's recent events and the behaviour fields they give (no persistence, no locking).

    Args:
        spec: a feature spec with a ``behaviour`` section.

    >>> spec = FeatureSpec.from_dict({"fields": [
    ...     {"name": "category", "kind": "categorical", "side": "item", "num_buckets": 10},
    ...     {"name": "same_category_clicks", "kind": "numeric", "side": "item", "transform": "none"}],
    ...   "behaviour": {"events": {"click": {"keep_last": 20}}, "features": [
    ...     {"name": "same_category_clicks", "type": "match_count", "event": "click", "of": "category"}]}})
    >>> state = BehaviourState(spec)
    >>> _ = state.add("click", {"category": "shoes"}, ts=10.0)
    >>> state.item_values({"category": ["shoes", "hats"]}, 2, now=11.0)["same_category_clicks"].tolist()
    [1.0, 0.0]
    """

    def __init__(self, spec: FeatureSpec) -> None:
        if not isinstance(spec, FeatureSpec) or spec.behaviour is None:
            raise ArgumentError("a behaviour log needs a FeatureSpec with a 'behaviour' section")
        self.spec = spec
        self.behaviour: BehaviourSpec = spec.behaviour
        self.columns = self.behaviour.recorded_columns
        self._column_index = {c: i for i, c in enumerate(self.columns)}
        self._value_types = {c: spec[c].value_type for c in self.columns}
        self._kinds = {e.name: e for e in self.behaviour.events}
        self._events: dict[str, deque[Event]] = {e.name: deque() for e in self.behaviour.events}
        self._context = [f for f in self.behaviour.features if f.side == "context"]
        self._item = [f for f in self.behaviour.features if f.side == "item"]
        self._seq = 0
        self._newest = -math.inf
        # Columnar copies of each kind's events for the vectorised item features, rebuilt when the
        # kind changes; values are coded per column (a code per distinct text, -1 for missing).
        self._version = dict.fromkeys(self._kinds, 0)
        self._arrays: dict[str, _KindArrays] = {}
        self._codes: list[dict[str, int]] = [{} for _ in self.columns]
        self._max_codes = 4 * sum(e.keep_last for e in self.behaviour.events) + 1024

    # ----------------------------------------------------------------- events
    def canonical_values(self, item: Mapping[str, Any]) -> tuple[str | None, ...]:
        """The canonical texts an event records from ``item`` (its ``of`` columns; None when absent)."""
        if not isinstance(item, Mapping):
            raise ArgumentError(
                f"an event's item must be a mapping of field -> value. Received: {type(item).__name__}"
            )
        out = []
        for c in self.columns:
            try:
                out.append(hashing.canonical_text(item.get(c), self._value_types[c]) or None)
            except (TypeError, ValueError) as exc:
                raise EncodeError(f"cannot record the event: {exc}", field=c) from None
        return tuple(out)

    def add(self, kind: str, item: Mapping[str, Any], ts: float) -> list[Event]:
        """Keep one event; returns the events it pushed out of the bounds (oldest first)."""
        return self.add_canonical(kind, self.canonical_values(item), check_time(ts))

    def add_canonical(
        self, kind: str, values: tuple[str | None, ...], ts: float, seq: int | None = None
    ) -> list[Event]:
        """:meth:`add` for values already canonical (a log reloading its file passes its own ``seq``)."""
        events = self._events.get(kind) if isinstance(kind, str) else None
        if events is None:
            raise ArgumentError(f"unknown event kind {kind!r:.80}; the spec declares {list(self._kinds)}")
        self._seq = self._seq + 1 if seq is None else max(self._seq, seq)
        events.append(Event(self._seq if seq is None else seq, ts, values))
        self._newest = max(self._newest, ts)
        self._version[kind] += 1
        return self._trim(kind)

    def _trim(self, kind: str) -> list[Event]:
        events, spec = self._events[kind], self._kinds[kind]
        dropped = []
        while len(events) > spec.keep_last:
            dropped.append(events.popleft())
        if spec.keep_seconds is not None:
            while events and events[0].ts <= self._newest - spec.keep_seconds:
                dropped.append(events.popleft())
        return dropped

    def clear(self) -> None:
        """Forget every event."""
        for kind, events in self._events.items():
            events.clear()
            self._version[kind] += 1
        self._newest = -math.inf
        self._forget_codes()

    def _forget_codes(self) -> None:
        self._arrays.clear()
        for codes in self._codes:
            codes.clear()

    def _columnar(self, kind: str) -> _KindArrays:
        """The kind's events as arrays (cached until the kind changes)."""
        cached = self._arrays.get(kind)
        if cached is not None and cached.version == self._version[kind]:
            return cached
        events = self._events[kind]
        n = len(events)
        codes = []
        for j, table in enumerate(self._codes):
            texts = (e.values[j] for e in events)
            codes.append(
                np.fromiter(
                    (-1 if t is None else table.setdefault(t, len(table)) for t in texts), np.int64, n
                )
            )
        arrays = _KindArrays(
            version=self._version[kind],
            seq=np.fromiter((e.seq for e in events), np.int64, n),
            ts=np.fromiter((e.ts for e in events), np.float64, n),
            codes=tuple(codes),
        )
        self._arrays[kind] = arrays
        return arrays

    def __len__(self) -> int:
        return sum(len(e) for e in self._events.values())

    def events(self, kind: str) -> list[Event]:
        """The kept events of one kind, oldest first."""
        return list(self._events[kind])

    @property
    def last_seq(self) -> int:
        """The sequence number of the latest event added."""
        return self._seq

    # --------------------------------------------------------------- features
    def _visible(self, kind: str, now: float) -> list[Event]:
        """Kept events of ``kind`` as of ``now``: within its ``keep_seconds`` when set."""
        events = self._events[kind]
        keep = self._kinds[kind].keep_seconds
        if keep is None:
            return list(events)
        return [e for e in events if e.ts > now - keep]

    def _selected(self, f: BehaviourFeature, now: float) -> list[Event]:
        events = self._visible(f.event, now)
        if f.window_seconds is not None:
            events = [e for e in events if e.ts > now - f.window_seconds]
        if f.k is not None:
            events = events[-f.k :]
        return events

    def context_values(self, now: float) -> dict[str, Any]:
        """The context-side behaviour columns for a request at ``now`` (raw values, as a record holds)."""
        now = check_time(now, "now")
        out: dict[str, Any] = {}
        for f in self._context:
            events = self._selected(f, now)
            if f.type == "last_values":
                j = self._column_index[f.of]
                out[f.name] = [e.values[j] for e in reversed(events) if e.values[j] is not None]
            elif f.type == "count":
                out[f.name] = float(len(events))
            else:  # seconds_since the latest event of the kind
                out[f.name] = min(max(now - events[-1].ts, 0.0), f.cap) if events else f.cap
        return out

    def _visible_arrays(self, kind: str, now: float) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
        """``(seq, ts, codes per column)`` of the kind's events visible at ``now`` (see :meth:`_visible`)."""
        a = self._columnar(kind)
        keep = self._kinds[kind].keep_seconds
        if keep is None:
            return a.seq, a.ts, a.codes
        m = a.ts > now - keep
        return a.seq[m], a.ts[m], tuple(c[m] for c in a.codes)

    def _per_code(self, f: BehaviourFeature, j: int, now: float) -> tuple[np.ndarray, float]:
        """One item feature's value for every coded value of its column, and for all others."""
        seq, ts, codes = self._visible_arrays(f.event, now)
        if f.type == "unclicked_exposures":
            reset_seq, _, reset_codes = self._visible_arrays(f.reset_by, now)
        size = len(self._codes[j])  # after building the arrays, which may code new values
        c = codes[j]
        if f.type == "match_count":
            m = np.ones(len(ts), bool) if f.window_seconds is None else ts > now - f.window_seconds
            c = c[m]
            if f.k is not None:
                c = c[len(c) - f.k :] if len(c) > f.k else c
            return np.bincount(c[c >= 0], minlength=size).astype(np.float64), 0.0
        if f.type == "decayed_match":
            rate = math.log(2.0) / f.half_life_seconds
            weights = np.exp(-rate * np.maximum(now - ts, 0.0))
            return np.bincount(c[c >= 0], weights=weights[c >= 0], minlength=size), 0.0
        if f.type == "seconds_since":  # of the latest kept event with the value (the last added)
            per_code = np.full(size, f.cap, dtype=np.float64)
            found, first = np.unique(c[::-1], return_index=True)
            latest = ts[::-1][first]
            keep = found >= 0
            per_code[found[keep]] = np.minimum(np.maximum(now - latest[keep], 0.0), f.cap)
            return per_code, f.cap
        # unclicked_exposures: events since the latest reset event on the same value
        last_reset = np.full(size + 1, -1, dtype=np.int64)  # slot ``size``: missing values
        np.maximum.at(last_reset, np.where(reset_codes[j] >= 0, reset_codes[j], size), reset_seq)
        counted = (c >= 0) & (seq > last_reset[np.where(c >= 0, c, size)])
        return np.bincount(c[counted], minlength=size).astype(np.float64), 0.0

    def candidate_texts(self, columns: Mapping[str, Sequence[Any]], n: int) -> dict[str, list[str | None]]:
        """Canonical texts of the candidates' ``of`` columns (an absent column is all missing)."""
        out = {}
        for c in {f.of for f in self._item}:
            values = columns.get(c)
            if values is None:
                out[c] = [None] * n
                continue
            vt = self._value_types[c]
            if vt == "text" and all(type(v) is str and v for v in values):  # the common case, at C speed
                out[c] = list(values)
                continue
            texts: list[str | None] = []
            for i, v in enumerate(values):
                try:
                    texts.append(
                        (v if vt == "text" and type(v) is str else hashing.canonical_text(v, vt)) or None
                    )
                except (TypeError, ValueError) as exc:
                    raise EncodeError(str(exc), field=c, record=i) from None
            out[c] = texts
        return out

    def item_values(self, columns: Mapping[str, Sequence[Any]], n: int, now: float) -> dict[str, np.ndarray]:
        """The item-side behaviour columns of ``n`` candidates (``columns``: their raw ``of`` columns,
        or the canonical texts from :meth:`candidate_texts`) for a request at ``now``.

        Each feature is first computed per distinct value among the kept events (a few hundred at
        most), then looked up for every candidate.
        """
        now = check_time(now, "now")
        texts = self.candidate_texts(columns, n)
        if sum(map(len, self._codes)) > self._max_codes:  # codes of long-gone values: start afresh
            self._forget_codes()  # (only here: codes never change while one request runs)
        out = {}
        for f in self._item:
            j = self._column_index[f.of]
            per_code, default = self._per_code(f, j, now)
            table = self._codes[j]
            # the candidates' codes in a C loop; a value no kept event has (or a missing one) is -1
            cand = np.fromiter(map(table.get, texts[f.of], repeat(-1, n)), dtype=np.int64, count=n)
            values = np.full(n, default, dtype=np.float64)
            known = (cand >= 0) & (cand < len(per_code))
            values[known] = per_code[cand[known]]
            out[f.name] = values
        return out
