"""The spec fields of behaviour features, as ``masknet spec infer --behaviour`` adds them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from masknet_edge.edge_runtime.behaviour_spec import BehaviourFeature, BehaviourSpec
from masknet_edge.edge_runtime.errors import SpecError

__all__ = ["HISTORY_LENGTH", "RATE_WINDOWS", "behaviour_field", "propose_sequences", "read_behaviour"]

#: The ids a proposed history holds. On MovieLens-100K 25 is as good as 50 on validation AUC (2
#: seeds per split) and its request costs 8 % less model time (BENCHMARKS.md): every candidate
#: attends to every event, so the length is paid per candidate.
HISTORY_LENGTH = 25
#: The exposures a proposed click rate is taken over: a short and a long one, both better than
#: either alone on MovieLens-100K's validation splits (BENCHMARKS.md).
RATE_WINDOWS = (10, 50)

_ID_SPACE_KEYS = ("num_buckets", "min_count", "max_vocab", "oov_buckets", "value_type")


def read_behaviour(path: str | Path) -> BehaviourSpec:
    """A behaviour section from a JSON file (``{"events": ..., "features": [...]}``); errors name it."""
    p = Path(path)
    try:
        data = json.loads(p.read_bytes())
    except OSError as exc:
        raise SpecError(f"cannot read behaviour file {p}: {exc.strerror or exc}") from None
    except (ValueError, RecursionError):
        raise SpecError(f"{p}: not valid JSON; expected a behaviour section (events, features)") from None
    try:
        return BehaviourSpec.from_dict(data)
    except SpecError as exc:
        raise SpecError(f"{p}: {exc}") from None


def propose_sequences(item: str, k: int = HISTORY_LENGTH, ages: bool = True) -> BehaviourSpec:
    """The behaviour section ``spec infer --sequence ITEM`` proposes for an impression log.

    Every impression is recorded as an ``expose``, a clicked one also as a ``click`` (what ``masknet
    data replay`` does); the model reads the last ``k`` clicked and the last ``k`` shown ``item`` ids,
    each attended by the candidate (:func:`behaviour_field`), how many of each the log holds, and
    the user's click rate over the last :data:`RATE_WINDOWS` exposures. With ``ages``, each
    history's events also carry how long ago they happened (``last_ages`` along the history). The
    rates carry most of the lift on MovieLens-100K (BENCHMARKS.md): the two counts cannot stand in
    for them, as both stop at the log's length once it is full. The log keeps the longer of ``k``
    and the longest rate window of each kind.
    """
    keep = max(k, *RATE_WINDOWS)
    histories = []
    for event, what in (("click", "clicked"), ("expose", "shown")):
        history = {"name": f"recent_{what}_{item}", "type": "last_values", "event": event, "of": item, "k": k}
        histories.append(history)
        if ages:
            histories.append({**history, "name": f"{history['name']}_ages", "type": "last_ages"})
    rates = [
        {"name": f"click_rate_{n}", "type": "rate", "event": "click", "per": "expose", "k": n}
        for n in RATE_WINDOWS
    ]
    return BehaviourSpec.from_dict(
        {
            "events": {"click": {"keep_last": keep}, "expose": {"keep_last": keep}},
            "features": [
                *histories,
                {"name": "recent_clicks", "type": "count", "event": "click"},
                {"name": "recent_impressions", "type": "count", "event": "expose"},
                *rates,
            ],
        }
    )


def _ages_field(feature: BehaviourFeature, behaviour: BehaviourSpec | None) -> tuple[dict[str, Any], str]:
    """``last_ages``: along the ``last_values`` history of the same events when there is one."""
    field: dict[str, Any] = {
        "name": feature.name,
        "kind": "multi_categorical",
        "side": "context",
        "max_length": feature.k,
        "min_count": 1,
        "value_type": "integer",
    }
    what = f"behaviour: how long ago each of the last {feature.k} {feature.event!r} events happened"
    same = (feature.event, feature.of, feature.k)
    histories = behaviour.features if behaviour is not None else ()
    history = next((h for h in histories if h.type == "last_values" and (h.event, h.of, h.k) == same), None)
    if history is None:
        return field, f"{what} (log2 buckets of seconds, mean-pooled)"
    field["along"] = history.name
    return field, f"{what}, added to each event of {history.name!r} (log2 buckets of seconds)"


def behaviour_field(
    feature: BehaviourFeature, of_field: dict[str, Any] | None, behaviour: BehaviourSpec | None = None
) -> tuple[dict[str, Any], str]:
    """The spec field a behaviour feature fills, and why it has that form.

    ``last_values`` lists values of ``of``, most recent first. Of an item field (the usual case:
    recent item ids, their categories), it becomes a history the candidate attends to: the field
    shares ``of``'s ids and embedding rows, and DIN's attention weighs each event by its likeness to
    the candidate (a mean of the last k cannot tell whether the candidate resembles them). Of a
    context field, a multi-valued field with ``of``'s id space, mean-pooled. ``last_ages`` goes
    ``along`` the ``last_values`` history of the same events in ``behaviour``, so each event's
    vector carries its age. Counts and seconds are non-negative and long-tailed:
    ``log1p_standardize``.
    """
    if feature.type == "last_ages":
        return _ages_field(feature, behaviour)
    if feature.type == "last_values":
        source = of_field or {}
        what = f"behaviour: the last {feature.k} {feature.of} values of {feature.event!r} events"
        field: dict[str, Any] = {
            "name": feature.name,
            "kind": "multi_categorical",
            "side": "context",
            "max_length": feature.k,
        }
        if source.get("side") == "item":
            field.update(shares=feature.of, pooling="attention")
            return field, f"{what}, weighed by their likeness to the candidate's {feature.of} (attention)"
        field["pooling"] = "mean"
        field.update({k: source[k] for k in _ID_SPACE_KEYS if k in source})
        if "num_buckets" not in field and "min_count" not in field:
            field["min_count"] = 1
        return field, what
    e, of = feature.event, feature.of
    if feature.type == "rate":
        field = {"name": feature.name, "kind": "numeric", "side": "context", "transform": "standardize"}
        why = f"behaviour: the share of the last {feature.k} {feature.per!r} events followed by {e!r}"
        return field, f"{why} (the user's recent rate; a share in [0, 1], standardized)"
    if feature.type == "count":
        what = f"{e!r} events" + (f" in {feature.window_seconds:g} s" if feature.window_seconds else "")
    elif feature.type == "seconds_since":
        what = f"seconds since the latest {e!r}" + (f" on the candidate's {of}" if of else "")
    elif feature.type == "match_count":
        what = f"recent {e!r} events on the candidate's {of}"
    elif feature.type == "decayed_match":
        what = f"{e!r} events on the candidate's {of}, halved every {feature.half_life_seconds:g} s"
    else:
        what = f"{e!r} of the candidate's {of} since its last {feature.reset_by!r}"
    field = {"name": feature.name, "kind": "numeric", "side": feature.side, "transform": "log1p_standardize"}
    return field, f"behaviour ({feature.side} side): {what}; log1p for the long tail"
