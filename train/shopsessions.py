"""The shop world with sessions: a planted short-term interest that only real-time behaviour can see.

The static click model is the shop world's (:mod:`train.shopworld`). On top of it, each user browses
in sessions, and a click raises the user's interest in the clicked item's category for the next
minutes (EdgeRec's point: the device sees that click at once)::

    logit(t) = static logit (train/shopworld.py)
             + BOOST * sum over the user's earlier clicks c in this session on the item's category
                       of exp(-(t - t_c) / TAU)                 BOOST = 1.5, TAU = 90 s

Sessions: impressions ``GAP`` seconds apart on average (2 + Exp(15) s), ``SESSION_LENGTH`` (geometric,
mean 15) per session, sessions hours to days apart over a week. The interest starts at zero in each
session. Items are drawn uniformly. The oracle AUC (true ``p_click``) and the AUC of the static part
alone are known, so the share of the gap a model with behaviour fields closes can be measured.

Splits are by time (the first 80 % of the week trains, the next 10 % validates, the last 10 % tests),
as a deployed model meets the future.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.atomic import atomic_path
from masknet_edge.train.shopworld import ShopWorldConfig, generate, shop_spec_dict

__all__ = [
    "BOOST",
    "TAU",
    "SessionWorld",
    "ALL_FEATURES",
    "SHOP_FEATURES",
    "behaviour_section",
    "generate_sessions",
    "session_spec_dict",
    "write_events",
]

BOOST = 1.5
TAU = 90.0
SESSION_LENGTH = 15
WEEK = 7 * 24 * 3600.0


@dataclass
class SessionWorld:
    """Impressions in time order (columns), with their split, static and true click probability."""

    events: dict[str, np.ndarray]
    config: ShopWorldConfig


def generate_sessions(config: ShopWorldConfig | None = None) -> SessionWorld:
    """Simulate sessions of the shop world's users with the planted short-term interest."""
    c = config or ShopWorldConfig()
    static = generate(c)  # users, items and the static click probability of each (user, item) draw
    rng = np.random.default_rng(c.seed + 7)
    n = c.num_interactions
    inter = static.interactions
    # Re-order the impressions into sessions: each user's impressions form consecutive sessions.
    user_index = np.array([int(u[1:]) for u in inter["user_id"].tolist()])
    order = np.argsort(user_index, kind="stable")
    ts = np.empty(n)
    new_session = np.zeros(n, bool)
    users_sorted = user_index[order]
    bounds = np.flatnonzero(np.diff(users_sorted)) + 1
    for block in np.split(np.arange(n), bounds):
        t = rng.uniform(0, WEEK * 0.2)
        left = len(block)
        pos = 0
        while left:
            length = min(left, int(rng.geometric(1.0 / SESSION_LENGTH)))
            gaps = 2.0 + rng.exponential(15.0, length)
            gaps[0] = 0.0
            ts[block[pos : pos + length]] = t + np.cumsum(gaps)
            new_session[block[pos]] = True
            t = ts[block[pos + length - 1]] + rng.uniform(3 * 3600, 36 * 3600)
            pos += length
            left -= length
    ts = np.minimum(ts, WEEK)  # the rare user whose sessions run past the week ends on its last second
    # The planted interest, impression by impression, in time order per user.
    static_logit = np.log(inter["true_ctr"] / (1 - inter["true_ctr"]))
    category = inter["category"]
    logit = static_logit[order].copy()
    click = np.zeros(n, np.int64)
    u_rand = rng.random(n)
    cats = category[order]
    interest: dict[str, list[float]] = {}
    for j in range(n):
        if new_session[j]:
            interest = {}
        t = ts[j]
        clicks_here = interest.get(cats[j])
        if clicks_here:
            logit[j] += BOOST * float(np.exp(-(t - np.asarray(clicks_here)) / TAU).sum())
        if u_rand[j] < 1.0 / (1.0 + np.exp(-logit[j])):
            click[j] = 1
            interest.setdefault(cats[j], []).append(t)
    events = {k: v[order] for k, v in inter.items() if k not in ("click", "true_ctr")}
    events["ts"] = np.round(ts, 3)
    events["click"] = click
    events["static_ctr"] = inter["true_ctr"][order]
    events["true_ctr"] = np.round(1.0 / (1.0 + np.exp(-logit)), 6)
    # chronological per user already; global time order is not needed by replay
    q80, q90 = np.quantile(events["ts"], [0.8, 0.9])
    events["split"] = np.where(events["ts"] <= q80, "train", np.where(events["ts"] <= q90, "valid", "test"))
    return SessionWorld(events=events, config=c)


def write_events(world: SessionWorld, out_dir: str | Path) -> Path:
    """Write ``events.csv`` (impressions in time order per user, with their split) into ``out_dir``."""
    import pandas as pd

    path = Path(out_dir) / "events.csv"
    with atomic_path(path, suffix=".csv") as tmp:
        pd.DataFrame(world.events).to_csv(tmp, index=False)
    return path


#: Every behaviour feature the shop world's events support (compared in BENCHMARKS.md, "Which
#: behaviour features pay for their cost").
ALL_FEATURES = (
    "recent_click_categories",
    "clicks_10m",
    "since_category_click",
    "category_clicks_10m",
    "category_interest",
    "unclicked_exposures",
)
#: The ones the shop's spec uses: the decayed interest in the candidate's category and the last
#: clicked categories close as much of the gap as all six (0.600 against 0.599, seeds 0-1) for a
#: request 1.07x the static one's instead of 1.27x (BENCHMARKS.md, "Which behaviour features pay").
SHOP_FEATURES = ("recent_click_categories", "category_interest")


def behaviour_section(features: tuple[str, ...] = SHOP_FEATURES) -> dict[str, Any]:
    """The behaviour the shop's device keeps and the features it derives (see the module doc)."""
    return _select(_full_section(), features)


def _select(section: dict[str, Any], features: tuple[str, ...]) -> dict[str, Any]:
    unknown = set(features) - set(ALL_FEATURES)
    if unknown:
        raise ValueError(f"Expected features among {ALL_FEATURES}. Received: {sorted(unknown)}")
    return {**section, "features": [f for f in section["features"] if f["name"] in features]}


def _full_section() -> dict[str, Any]:
    return {
        "events": {
            "click": {"keep_last": 50, "keep_seconds": 86400.0},
            "expose": {"keep_last": 200, "keep_seconds": 86400.0},
        },
        "features": [
            {
                "name": "recent_click_categories",
                "type": "last_values",
                "event": "click",
                "of": "category",
                "k": 5,
            },
            {"name": "clicks_10m", "type": "count", "event": "click", "window_seconds": 600.0},
            {
                "name": "since_category_click",
                "type": "seconds_since",
                "event": "click",
                "of": "category",
                "cap_seconds": 3600.0,
            },
            {
                "name": "category_clicks_10m",
                "type": "match_count",
                "event": "click",
                "of": "category",
                "window_seconds": 600.0,
            },
            {
                "name": "category_interest",
                "type": "decayed_match",
                "event": "click",
                "of": "category",
                "half_life_seconds": 60.0,
            },
            {
                "name": "unclicked_exposures",
                "type": "unclicked_exposures",
                "event": "expose",
                "reset_by": "click",
                "of": "item_id",
            },
        ],
    }


def session_spec_dict(
    num_users: int = 2_000,
    num_items: int = 400,
    behaviour: bool = True,
    features: tuple[str, ...] = SHOP_FEATURES,
) -> dict[str, Any]:
    """The shop spec, plus (with ``behaviour``) the behaviour fields and section of ``features``."""
    spec = shop_spec_dict(num_users, num_items)
    if not behaviour:
        return spec
    spec["fields"] += [
        {
            "name": "recent_click_categories",
            "kind": "multi_categorical",
            "side": "context",
            "max_length": 5,
            "min_count": 1,
        },
        {"name": "clicks_10m", "kind": "numeric", "side": "context", "transform": "log1p_standardize"},
        {"name": "since_category_click", "kind": "numeric", "side": "item", "transform": "log1p_standardize"},
        {"name": "category_clicks_10m", "kind": "numeric", "side": "item", "transform": "log1p_standardize"},
        {"name": "category_interest", "kind": "numeric", "side": "item", "transform": "log1p_standardize"},
        {"name": "unclicked_exposures", "kind": "numeric", "side": "item", "transform": "log1p_standardize"},
    ]
    spec["fields"] = [f for f in spec["fields"] if f["name"] not in set(ALL_FEATURES) - set(features)]
    spec["behaviour"] = behaviour_section(features)
    return spec
