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
events and requests agree). What is kept is decided by that order alone (each kind's ``keep_last``),
never by timestamps: a clock that jumps forward or back changes what a request sees (``keep_seconds``,
``window_seconds``) but deletes nothing.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from typing import Any, NamedTuple

import numpy as np

from masknet_edge.edge_runtime import hashing
from masknet_edge.edge_runtime.behaviour_spec import BehaviourFeature, BehaviourSpec
from masknet_edge.edge_runtime.errors import ArgumentError, EncodeError
from masknet_edge.edge_runtime.spec import FeatureSpec

__all__ = ["BehaviourState", "Event", "age_bucket", "behaviour_key", "check_time"]


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


def age_bucket(seconds: float) -> int:
    """``floor(log2(1 + seconds))`` of an event's age, exactly: the binary exponent of ``1 + seconds``,
    so every platform puts an age on a power of two in the same bucket. A negative age (an event later
    than the request) counts as 0; one beyond the largest finite number as that number (bucket 1023)."""
    return math.frexp(1.0 + min(max(seconds, 0.0), sys.float_info.max))[1] - 1


#: The text of each age bucket (0 .. 1023), built once: a request lists up to k of them per history.
_AGE_TEXTS = tuple(str(b) for b in range(1024))


def _age_texts(now: float, events: list[Event]) -> list[str]:
    """:func:`age_bucket` of each event's age at ``now``, as texts (the same numbers, inlined: an age
    that overflows to infinity has exponent 0 from ``frexp``, and index -1 is bucket 1023, its bucket)."""
    frexp = math.frexp
    return [_AGE_TEXTS[frexp(1.0 + (now - e.ts if now > e.ts else 0.0))[1] - 1] for e in events]


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
        self._present = self._history_columns(spec)
        self._item = [f for f in self.behaviour.features if f.side == "item"]
        self._seq = 0

    def _history_columns(self, spec: FeatureSpec) -> dict[str, tuple[int, ...]]:
        """For each ``last_values``/``last_ages`` feature, the recorded columns an event must have to
        be listed: its history's ``of`` and the ``of`` of every ``last_values`` field along that
        history, so a history and the fields along it list the same events, position by position."""
        by_name = {f.name: f for f in self.behaviour.features}
        group: dict[str, str] = {}
        for f in self.behaviour.features:
            along = getattr(spec[f.name], "along", None)
            group[f.name] = along if along in by_name else f.name
        columns: dict[str, list[str]] = {}
        for f in self.behaviour.features:
            if f.type == "last_values" or (f.type == "last_ages" and group[f.name] == f.name):
                columns.setdefault(group[f.name], []).append(f.of)  # type: ignore[arg-type]
        return {
            name: tuple(self._column_index[c] for c in dict.fromkeys(columns[group[name]]))
            for name, f in by_name.items()
            if f.type in ("last_values", "last_ages")
        }

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
        dropped = []
        while len(events) > self._kinds[kind].keep_last:
            dropped.append(events.popleft())
        return dropped

    def discard(self, drop: Callable[[str, Event], bool]) -> list[Event]:
        """Forget the events for which ``drop(kind, event)`` is true; returns them."""
        gone = []
        for kind, events in self._events.items():
            dropped = [e for e in events if drop(kind, e)]
            if dropped:  # rebuild a kind's queue only when it loses events (record() calls this)
                gone += dropped
                self._events[kind] = deque(e for e in events if not drop(kind, e))
        return gone

    def clear(self) -> None:
        """Forget every event."""
        for events in self._events.values():
            events.clear()

    def __len__(self) -> int:
        return sum(len(e) for e in self._events.values())

    def events(self, kind: str) -> list[Event]:
        """The kept events of one kind, oldest first."""
        return list(self._events[kind])

    def all_events(self) -> list[tuple[str, Event]]:
        """Every kept event with its kind, in order of arrival."""
        pairs = [(kind, e) for kind, events in self._events.items() for e in events]
        return sorted(pairs, key=lambda p: p[1].seq)

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
        listed_by: dict[Any, list[Event]] = {}  # a history and the fields along it share their events
        for f in self._context:
            if f.type == "rate":
                out[f.name] = self._rate(f, now)
            elif f.type in ("last_values", "last_ages"):
                key = (f.event, f.k, self._present[f.name])
                listed = listed_by.get(key)
                if listed is None:
                    listed = listed_by[key] = self._listed(self._selected(f, now), key[2])
                if f.type == "last_values":
                    j = self._column_index[f.of]
                    out[f.name] = [e.values[j] for e in listed]
                else:
                    out[f.name] = _age_texts(now, listed)
            else:
                events = self._selected(f, now)
                if f.type == "count":
                    out[f.name] = float(len(events))
                else:  # seconds_since the latest event of the kind
                    out[f.name] = min(max(now - events[-1].ts, 0.0), f.cap) if events else f.cap
        return out

    @staticmethod
    def _listed(events: list[Event], present: tuple[int, ...]) -> list[Event]:
        """The events a history lists, most recent first: those with every one of its columns."""
        if len(present) == 1:  # the usual history: one column, at list-comprehension speed
            j = present[0]
            return [e for e in reversed(events) if e.values[j] is not None]
        return [e for e in reversed(events) if all(e.values[j] is not None for j in present)]

    def _rate(self, f: BehaviourFeature, now: float) -> float | None:
        """``rate``: ``event``s that arrived after the oldest of the last ``k`` visible ``per`` events,
        over their number; None (missing) when no ``per`` event is visible."""
        shown = self._visible(f.per, now)[-f.k :]
        if not shown:
            return None
        first = shown[0].seq
        return sum(1 for e in self._visible(f.event, now) if e.seq > first) / len(shown)

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
        visible: dict[str, list[Event]] = {}

        def seen(kind: str) -> list[Event]:
            if kind not in visible:
                visible[kind] = self._visible(kind, now)
            return visible[kind]

        out = {}
        for f in self._item:
            j = self._column_index[f.of]
            default = 0.0
            if f.type == "match_count":
                by_value: dict[Any, float] = Counter(e.values[j] for e in self._selected(f, now))
            elif f.type == "decayed_match":
                by_value = {}
                rate = math.log(2.0) / f.half_life_seconds
                for e in seen(f.event):
                    v = e.values[j]
                    by_value[v] = by_value.get(v, 0.0) + math.exp(-rate * max(now - e.ts, 0.0))
            elif f.type == "seconds_since":
                default = cap = f.cap
                by_value = {e.values[j]: e.ts for e in seen(f.event)}  # the latest wins
                by_value = {v: min(max(now - ts, 0.0), cap) for v, ts in by_value.items()}
            else:  # unclicked_exposures: exposures since the latest reset on the same value
                reset = {e.values[j]: e.seq for e in seen(f.reset_by)}
                by_value = {}
                for e in seen(f.event):
                    v = e.values[j]
                    if e.seq > reset.get(v, -1):
                        by_value[v] = by_value.get(v, 0) + 1
            by_value.pop(None, None)  # a missing value matches nothing
            looked_up = map(by_value.get, texts[f.of], repeat(default, n))  # a C loop over candidates
            out[f.name] = np.fromiter(looked_up, dtype=np.float64, count=n)
        return out
