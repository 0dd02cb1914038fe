"""The behaviour section of a feature spec: which events the device keeps and which features it derives.

A spec may declare real-time behaviour (EdgeRec, Gong et al., CIKM 2020: the device sees a tap now,
the server a page later). Each behaviour feature is also an ordinary field of the spec, whose raw
column the device computes from its event log instead of the app passing it in. Training rows get
the same column from :func:`edge_runtime.replay.replay_rows`, which runs the device's own code.

>>> b = BehaviourSpec.from_dict({
...     "events": {"click": {"keep_last": 50}},
...     "features": [{"name": "recent_categories", "type": "last_values", "event": "click",
...                   "of": "category", "k": 10}]})
>>> b.features[0].side, b.recorded_columns
('context', ('category',))

Feature types (``of`` names a categorical field of the spec whose value events record):

- ``last_values`` (context, a ``multi_categorical`` field): the ``of`` values of the last ``k``
  events of kind ``event``, most recent first.
- ``last_ages`` (context, a ``multi_categorical`` field): the ages of the events ``last_values``
  with the same ``event``, ``of`` and ``k`` lists, position by position: the age bucket
  ``floor(log2(1 + seconds))`` as an integer text (``0`` under a second, ``10`` about half an hour,
  ``21`` about a month). A history's field names it in ``along`` so each event's vector carries
  how long ago it happened.
- ``count`` (context, numeric): events of kind ``event`` in the last ``window_seconds`` (all kept
  events when not set).
- ``seconds_since`` (numeric): seconds since the latest ``event``; with ``of``, since the latest one
  whose value equals the candidate's (item side). ``cap_seconds`` when there is none, and at most
  that.
- ``match_count`` (item, numeric): how many of the last ``k`` events (and/or those of the last
  ``window_seconds``) have the candidate's ``of`` value.
- ``decayed_match`` (item, numeric): the events with the candidate's ``of`` value, each weighted
  ``0.5 ** (age / half_life_seconds)``: a recent interest that fades (Σ over kept events).
- ``unclicked_exposures`` (item, numeric): events of kind ``event`` (exposures) with the candidate's
  ``of`` value since the latest ``reset_by`` event (click) with that value.
- ``rate`` (context, numeric): of the last ``k`` events of kind ``per`` (exposures), the share
  followed by an ``event`` (clicks that arrived after the oldest of them, over their number): the
  user's recent click rate. Missing when the log holds no ``per`` event. Counts cannot stand in
  for it: both saturate at the kinds' ``keep_last``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from masknet_edge.edge_runtime.errors import SpecError

__all__ = ["DEFAULT_CAP_SECONDS", "FEATURE_TYPES", "BehaviourFeature", "BehaviourSpec", "EventKind"]

#: Feature type -> the side of the request it belongs to (``seconds_since`` depends on ``of``).
FEATURE_TYPES = {
    "last_values": "context",
    "last_ages": "context",
    "count": "context",
    "seconds_since": None,
    "match_count": "item",
    "decayed_match": "item",
    "unclicked_exposures": "item",
    "rate": "context",
}
#: What ``seconds_since`` reports when no such event is kept: 30 days.
DEFAULT_CAP_SECONDS = 30 * 24 * 3600.0
MAX_KEEP_LAST = 100_000
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _fail(where: str, message: str) -> SpecError:
    return SpecError(f"behaviour {where}: {message}")


def _positive_int(where: str, key: str, value: Any, top: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (top and value > top):
        limit = f"an integer in [1, {top}]" if top else "an integer >= 1"
        raise _fail(where, f"{key} must be {limit}. Received: {key}={value!r}")


def _positive_seconds(where: str, key: str, value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise _fail(where, f"{key} must be a number of seconds > 0. Received: {key}={value!r}")


@dataclass(frozen=True)
class EventKind:
    """An event kind the device records, and how much of it the log keeps.

    Args:
        name: the event's name (``click``, ``expose``, ``add_to_cart`` ...).
        keep_last: the log keeps at most this many events of the kind. Defaults to 200.
        keep_seconds: and only those of the last ``keep_seconds``; None keeps them regardless of
            age. Defaults to None.
    """

    name: str
    keep_last: int = 200
    keep_seconds: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise _fail(
                "events", f"an event name is a letter or _ then letters, digits, _. Received: {self.name!r}"
            )
        _positive_int(f"event {self.name!r}", "keep_last", self.keep_last, MAX_KEEP_LAST)
        if self.keep_seconds is not None:
            _positive_seconds(f"event {self.name!r}", "keep_seconds", self.keep_seconds)


@dataclass(frozen=True)
class BehaviourFeature:
    """One feature derived from the event log; its ``name`` is a field of the spec.

    Args:
        name: the field (and raw column) the feature fills.
        type: one of :data:`FEATURE_TYPES`.
        event: the event kind it reads.
        of: the categorical field whose value events record and candidates are compared on.
        k: the last ``k`` events (``last_values``: required; ``match_count``: optional).
        window_seconds: only events of the last ``window_seconds`` (``count``, ``match_count``).
        reset_by: ``unclicked_exposures``: the event kind that resets the count (e.g. ``click``).
        cap_seconds: ``seconds_since``: the value when there is no event, and the largest value.
            Defaults to None (:data:`DEFAULT_CAP_SECONDS`).
        half_life_seconds: ``decayed_match``: the age at which an event weighs one half.
        per: ``rate``: the event kind whose last ``k`` events the rate is taken over (exposures).
    """

    name: str
    type: str
    event: str
    of: str | None = None
    k: int | None = None
    window_seconds: float | None = None
    reset_by: str | None = None
    cap_seconds: float | None = None
    half_life_seconds: float | None = None
    per: str | None = None

    def __post_init__(self) -> None:
        where = f"feature {self.name!r}"
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise _fail("features", f"a feature name is a field name. Received: {self.name!r}")
        if self.type not in FEATURE_TYPES:
            raise _fail(where, f"type must be one of {sorted(FEATURE_TYPES)}. Received: type={self.type!r}")
        if not isinstance(self.event, str):
            raise _fail(where, f"event must be an event name. Received: event={self.event!r}")
        needs_of = self.type in (
            "last_values",
            "last_ages",
            "match_count",
            "decayed_match",
            "unclicked_exposures",
        )
        if needs_of and not self.of:
            raise _fail(where, f"type {self.type!r} needs 'of': the field whose values it reads")
        if self.type == "count" and self.of is not None:
            raise _fail(where, "type 'count' counts events of a kind; it takes no 'of'")
        if self.of is not None and (not isinstance(self.of, str) or not self.of):
            raise _fail(where, f"of must be a field name. Received: of={self.of!r}")
        if self.type in ("last_values", "last_ages", "rate") and self.k is None:
            raise _fail(where, f"type {self.type!r} needs k: how many of the last events it reads")
        if self.k is not None:
            if self.type not in ("last_values", "last_ages", "match_count", "rate"):
                raise _fail(
                    where, f"k applies to last_values, last_ages, match_count and rate, not {self.type!r}"
                )
            _positive_int(where, "k", self.k, MAX_KEEP_LAST)
        if self.window_seconds is not None:
            if self.type not in ("count", "match_count"):
                raise _fail(where, f"window_seconds applies to count and match_count, not {self.type!r}")
            _positive_seconds(where, "window_seconds", self.window_seconds)
        if (self.type == "unclicked_exposures") != (self.reset_by is not None):
            raise _fail(
                where, "reset_by (the event that resets the count) belongs to unclicked_exposures only"
            )
        if self.reset_by is not None and self.reset_by == self.event:
            raise _fail(where, "reset_by must be another event kind than event")
        if (self.type == "rate") != (self.per is not None):
            raise _fail(where, "per (the event kind a rate is taken over) belongs to rate, and rate needs it")
        if self.per is not None and self.per == self.event:
            raise _fail(where, "per must be another event kind than event")
        if self.type == "rate" and self.of is not None:
            raise _fail(where, "type 'rate' compares event kinds; it takes no 'of'")
        if (self.type == "decayed_match") != (self.half_life_seconds is not None):
            raise _fail(where, "half_life_seconds belongs to decayed_match, and decayed_match needs it")
        if self.half_life_seconds is not None:
            _positive_seconds(where, "half_life_seconds", self.half_life_seconds)
        if self.cap_seconds is not None:
            if self.type != "seconds_since":
                raise _fail(where, f"cap_seconds applies to seconds_since, not {self.type!r}")
            _positive_seconds(where, "cap_seconds", self.cap_seconds)

    @property
    def side(self) -> str:
        """``context`` (computed once per request) or ``item`` (per candidate, vectorised)."""
        fixed = FEATURE_TYPES[self.type]
        return fixed or ("item" if self.of else "context")

    @property
    def cap(self) -> float:
        """The ``seconds_since`` cap."""
        return DEFAULT_CAP_SECONDS if self.cap_seconds is None else float(self.cap_seconds)


@dataclass(frozen=True)
class BehaviourSpec:
    """The event kinds the device keeps and the features derived from them."""

    events: tuple[EventKind, ...]
    features: tuple[BehaviourFeature, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", tuple(self.events))
        object.__setattr__(self, "features", tuple(self.features))
        if not self.events:
            raise _fail("events", "declare at least one event kind")
        kinds = {}
        for e in self.events:
            if e.name in kinds:
                raise _fail("events", f"event {e.name!r} is declared twice")
            kinds[e.name] = e
        names = set()
        for f in self.features:
            where = f"feature {f.name!r}"
            if f.name in names:
                raise _fail(where, "declared twice")
            names.add(f.name)
            for key in ("event", "reset_by", "per"):
                kind = getattr(f, key)
                if kind is not None and kind not in kinds:
                    raise _fail(where, f"{key} {kind!r} is not a declared event; declared: {sorted(kinds)}")
            # A rate reads the last k `per` events and the `event`s after them: the log must keep k of both.
            for e in (kinds[f.event], kinds[f.per] if f.per else None):
                if e is not None and f.k is not None and f.k > e.keep_last:
                    raise _fail(
                        where, f"k={f.k} is more than the log keeps of {e.name!r} (keep_last={e.keep_last})"
                    )
            e = kinds[f.event]
            if (
                f.window_seconds is not None
                and e.keep_seconds is not None
                and f.window_seconds > e.keep_seconds
            ):
                raise _fail(
                    where,
                    f"window_seconds={f.window_seconds} is longer than the log keeps {e.name!r} "
                    f"(keep_seconds={e.keep_seconds})",
                )

    @property
    def event_names(self) -> tuple[str, ...]:
        """The declared event kinds, in order."""
        return tuple(e.name for e in self.events)

    @property
    def recorded_columns(self) -> tuple[str, ...]:
        """The item columns an event records (the ``of`` of every feature), in first-use order."""
        return tuple(dict.fromkeys(f.of for f in self.features if f.of))

    def event(self, name: str) -> EventKind:
        """The declared event kind ``name``."""
        for e in self.events:
            if e.name == name:
                return e
        raise KeyError(f"no event kind {name!r}; declared: {list(self.event_names)}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; unset keys are omitted."""
        events = {}
        for e in self.events:
            d: dict[str, Any] = {"keep_last": e.keep_last}
            if e.keep_seconds is not None:
                d["keep_seconds"] = e.keep_seconds
            events[e.name] = d
        features = [{k: v for k, v in vars(f).items() if v is not None} for f in self.features]
        return {"events": events, "features": features}

    @classmethod
    def from_dict(cls, data: Any) -> BehaviourSpec:
        """Build and validate from a dict (as read from JSON); errors name the event or feature."""
        if not isinstance(data, Mapping):
            raise _fail(
                "section", f"must be an object with 'events' and 'features'. Received: {type(data).__name__}"
            )
        unknown = set(data) - {"events", "features"}
        if unknown:
            raise _fail("section", f"unknown keys {sorted(unknown)}; allowed: events, features")
        raw_events = data.get("events")
        if not isinstance(raw_events, Mapping):
            raise _fail("events", "must be an object: event name -> {keep_last, keep_seconds}")
        events = []
        for name, raw in raw_events.items():
            if not isinstance(raw, Mapping):
                raise _fail(f"event {name!r}", "must be an object with keep_last / keep_seconds")
            extra = set(raw) - {"keep_last", "keep_seconds"}
            if extra:
                raise _fail(
                    f"event {name!r}", f"unknown keys {sorted(extra)}; allowed: keep_last, keep_seconds"
                )
            events.append(EventKind(name, **raw))
        raw_features = data.get("features", [])
        if not isinstance(raw_features, list):
            raise _fail("features", "must be a list of feature objects")
        allowed = set(BehaviourFeature.__dataclass_fields__)
        features = []
        for i, raw in enumerate(raw_features):
            if not isinstance(raw, Mapping):
                raise _fail(f"features[{i}]", f"must be an object. Received: {raw!r:.80}")
            extra = set(raw) - allowed
            if extra:
                raise _fail(f"features[{i}]", f"unknown keys {sorted(extra)}; allowed: {sorted(allowed)}")
            missing = {"name", "type", "event"} - set(raw)
            if missing:
                raise _fail(f"features[{i}]", f"missing keys {sorted(missing)}")
            features.append(BehaviourFeature(**raw))
        return cls(events=tuple(events), features=tuple(features))
