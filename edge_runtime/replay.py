"""Training replay: behaviour columns for logged impressions, computed by the device's own code.

An impression log (one row per item shown to a user, with its click label, in time order per user)
becomes training rows whose behaviour fields are what the device would have computed just before
the impression: each user has a :class:`~edge_runtime.behaviour.BehaviourState`; for each row the
state gives the behaviour columns at the row's time, then the row is recorded as an ``expose`` event
(when the spec declares that kind) and, when clicked, as a ``click`` event. The device does the same
through :class:`~edge_runtime.behaviour_log.BehaviourLog` (rank, then record what was shown and
tapped), so training and device agree by construction; a test compares the encoded arrays.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from masknet_edge.edge_runtime import hashing
from masknet_edge.edge_runtime.behaviour import BehaviourState
from masknet_edge.edge_runtime.errors import ArgumentError, EncodeError
from masknet_edge.edge_runtime.numeric import parse_number_text
from masknet_edge.edge_runtime.spec import FeatureSpec

__all__ = ["Replay", "replay_rows"]


class Replay:
    """Replays impressions user by user; feed rows in file order with :meth:`row`.

    Args:
        spec: a spec with a ``behaviour`` section (fitted or not) and a label.
        user: the column naming the user (one behaviour state per distinct value).
        time: the column of event times, in seconds; non-decreasing per user.
        expose: the event kind each impression records. Defaults to ``expose``.
        click: the event kind a clicked impression also records. Defaults to ``click``.
    """

    def __init__(
        self, spec: FeatureSpec, user: str, time: str, expose: str = "expose", click: str = "click"
    ) -> None:
        if spec.behaviour is None:
            raise ArgumentError("replay needs a spec with a 'behaviour' section")
        if spec.label is None:
            raise ArgumentError("replay needs the spec's label (the click outcome of each impression)")
        declared = spec.behaviour.event_names
        unknown = [k for k in (expose, click) if k not in declared]
        if len(unknown) == 2:
            raise ArgumentError(
                f"the spec declares neither {expose!r} nor {click!r}; declared: {list(declared)}"
            )
        self.spec = spec
        self.user, self.time, self.label = user, time, spec.label
        self.expose = expose if expose in declared else None
        self.click = click if click in declared else None
        self._states: dict[str, BehaviourState] = {}
        self._last_time: dict[str, float] = {}
        self.rows = 0

    @property
    def users(self) -> int:
        """Distinct users seen so far."""
        return len(self._states)

    def row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The row with its behaviour columns (multi-valued ones as lists), then recorded."""
        i = self.rows
        user = _text(row.get(self.user), self.user, i)
        if user is None:
            raise EncodeError("the user is missing", field=self.user, record=i)
        ts = _number(row.get(self.time), self.time, i)
        clicked = _label(row.get(self.label), self.label, i)
        last = self._last_time.get(user)
        if last is not None and ts < last:
            raise EncodeError(
                f"time goes back for user {user!r} ({ts} after {last}); sort the log by time per user",
                field=self.time,
                record=i,
            )
        state = self._states.get(user)
        if state is None:
            state = self._states[user] = BehaviourState(self.spec)
        out = dict(row)
        out.update(state.context_values(ts))
        columns = {c: [row.get(c)] for c in state.columns}
        out.update({k: float(v[0]) for k, v in state.item_values(columns, 1, ts).items()})
        if self.expose:
            state.add(self.expose, row, ts)
        if self.click and clicked:
            state.add(self.click, row, ts)
        self._last_time[user] = ts
        self.rows += 1
        return out


def replay_rows(
    rows: Iterable[Mapping[str, Any]],
    spec: FeatureSpec,
    user: str,
    time: str,
    expose: str = "expose",
    click: str = "click",
) -> Iterator[dict[str, Any]]:
    """Each row with its behaviour columns, as the device computes them before the impression (see
    :class:`Replay`)."""
    replay = Replay(spec, user, time, expose, click)
    for row in rows:
        yield replay.row(row)


def _text(value: Any, column: str, i: int) -> str | None:
    try:
        return hashing.canonical_text(value) or None
    except (TypeError, ValueError) as exc:
        raise EncodeError(str(exc), field=column, record=i) from None


def _number(value: Any, column: str, i: int) -> float:
    if isinstance(value, str):
        try:
            value = parse_number_text(value)
        except ValueError:
            raise EncodeError(
                f"expected a time in seconds, got {value!r:.40}", field=column, record=i
            ) from None
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if not ok or not math.isfinite(value):
        raise EncodeError(f"expected a finite time in seconds, got {value!r:.40}", field=column, record=i)
    return float(value)


def _label(value: Any, column: str, i: int) -> bool:
    try:
        y = float(value)
    except (TypeError, ValueError):
        y = float("nan")
    if y not in (0.0, 1.0):
        raise EncodeError(f"the click label must be 0 or 1, got {value!r:.40}", field=column, record=i)
    return y == 1.0
