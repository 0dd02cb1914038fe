"""Evaluation set-ups for behaviour on a timed log: a split by time, or by user.

Random 8:1:1 splits put a user's later ratings into training and let every test user's id be
learned, which hides what on-device behaviour is for. Two set-ups that do not:

- ``time``: the last ``test`` share of the global timeline is test, the ``valid`` share before it
  valid, the rest training. Late-joining users are unknown to the model; a row's behaviour is what
  the device logged before it.
- ``user``: users are split (seeded) ``1 - valid - test`` / ``valid`` / ``test``; valid and test users
  never appear in training, so only their on-device history personalises the ranking (a new install,
  or an app that sends no user id).

The output is the log, in time order (ties in file order), with a ``split`` column, ready for
``masknet data replay --split split``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from masknet_edge.train.io import DataError, file_columns, read_table

__all__ = ["SPLIT_BY", "split_log"]

SPLIT_BY = ("time", "user")


def _check_share(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0.0 < value < 0.5):
        raise DataError(f"--{name} must be a share in (0, 0.5). Received: {value!r}")


def split_log(
    frame: Any, by: str, time: str, user: str, seed: int = 0, valid: float = 0.1, test: float = 0.1
) -> Any:
    """``frame`` (a pandas DataFrame) sorted by ``time`` with a ``split`` column (train/valid/test).

    Args:
        frame: the log; ``time`` must hold numbers of seconds.
        by: ``time`` (a global time cut) or ``user`` (a seeded user split).
        time, user: the columns of the event time and the user.
        seed: the seed of the user split. Defaults to 0.
        valid, test: the shares of rows (``time``) or users (``user``). Default to 0.1 each.
    """
    import pandas as pd

    if by not in SPLIT_BY:
        raise DataError(f"--by must be one of {SPLIT_BY}. Received: {by!r}")
    _check_share("valid", valid)
    _check_share("test", test)
    for column in (time, user):
        if column not in frame.columns:
            raise DataError(f"no column {column!r}; the file has {list(frame.columns)[:20]}")
    if "split" in frame.columns:
        raise DataError("the file already has a 'split' column; rename or drop it first")
    t = pd.to_numeric(frame[time], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(t))
    if len(bad):
        raise DataError(f"column {time!r}, data row {bad[0] + 1}: {frame[time].iloc[bad[0]]!r} is not a time")
    order = np.argsort(t, kind="stable")
    out = frame.iloc[order].reset_index(drop=True)
    n = len(out)
    if by == "time":
        a, b = int(n * (1 - valid - test)), int(n * (1 - test))
        split = np.array(["train"] * a + ["valid"] * (b - a) + ["test"] * (n - b), dtype=object)
    else:
        users = np.array(sorted(pd.unique(out[user].astype(str))), dtype=object)
        np.random.default_rng(seed).shuffle(users)
        m = len(users)
        a, b = int(m * (1 - valid - test)), int(m * (1 - test))
        part = (
            {u: "train" for u in users[:a]}
            | {u: "valid" for u in users[a:b]}
            | {u: "test" for u in users[b:]}
        )
        split = out[user].astype(str).map(part).to_numpy(dtype=object)
    out["split"] = split
    return out


def split_file(
    events: str | Path, out: str | Path, by: str, time: str, user: str, seed: int = 0, overwrite: bool = False
) -> dict[str, Any]:
    """Read ``events``, write it in time order with a ``split`` column to ``out`` (CSV, atomically)."""
    from masknet_edge.edge_runtime.atomic import atomic_path
    from masknet_edge.edge_runtime.outputs import check_output

    out = check_output(out, [events], overwrite=overwrite)
    frame = read_table(events, text_columns=file_columns(events))  # cells as written: "01234" stays
    result = split_log(frame, by, time, user, seed)
    with atomic_path(out) as tmp:
        result.to_csv(tmp, index=False)
    counts = result["split"].value_counts()
    return {
        "out": str(out),
        "rows": {s: int(counts.get(s, 0)) for s in ("train", "valid", "test")},
        "users": {
            s: int(result.loc[result["split"] == s, user].nunique()) for s in ("train", "valid", "test")
        },
    }
