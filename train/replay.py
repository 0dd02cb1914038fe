"""``masknet data replay``: an impression log file -> training rows with behaviour columns.

The rows stream through :class:`edge_runtime.replay.Replay` (the device's own behaviour code) chunk
by chunk, so memory holds one chunk plus each user's bounded behaviour state. Multi-valued behaviour
columns are written joined by their field's separator, exactly as the encoder splits them again.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Any

from masknet_edge.edge_runtime.errors import EncodeError
from masknet_edge.edge_runtime.outputs import check_output, staged_dir
from masknet_edge.edge_runtime.replay import Replay
from masknet_edge.edge_runtime.spec import FeatureSpec
from masknet_edge.train.io import DataError, file_columns, iter_chunks

__all__ = ["replay_file"]

_SPLIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
CHUNK_ROWS = 50_000


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def _split_name(value: Any) -> str:
    """The file name a split cell gives; an empty cell gives "" (refused), not "nan"."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _checked_columns(events: str | Path, spec: FeatureSpec, needed: list[str | None]) -> list[str]:
    """The event file's columns: it must hold ``needed`` and none of the behaviour columns replay
    computes."""
    columns = file_columns(events)
    absent = [c for c in needed if c is not None and c not in columns]
    if absent:
        raise DataError(f"{events}: no column(s) {absent}; columns: {columns}")
    clash = [c for c in spec.behaviour_columns if c in columns] if spec.behaviour else []
    if clash:
        raise DataError(f"{events}: already has behaviour column(s) {clash}; replay computes them")
    return columns


def _join_multi(row: dict[str, Any], multi: dict[str, str], events: str | Path, line: int) -> None:
    """Multi-valued behaviour columns of ``row`` joined by their field's separator, in place."""
    for col, sep in multi.items():
        values = row[col]
        bad = next((v for v in values if sep in v), None)
        if bad is not None:
            raise DataError(
                f"{events}: line {line}: value {bad!r} of {col!r} contains the "
                f"field's separator {sep!r}; choose another separator in the spec"
            )
        row[col] = sep.join(values)


def replay_file(
    events: str | Path,
    spec: FeatureSpec,
    out: str | Path,
    user: str,
    time: str,
    split: str | None = None,
    expose: str = "expose",
    click: str = "click",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write ``out/replayed.csv`` (or one ``out/<split value>.csv`` per value of ``split``).

    Args:
        events: CSV/TSV/Parquet impressions, in time order within each user, with the label column.
        spec: a spec with a ``behaviour`` section (see ``masknet spec infer --behaviour``).
        out: the folder to write (staged, then renamed into place).
        user, time: the user and time (seconds) columns.
        split: a column whose values name the output files (e.g. train/valid/test); it is kept out of
            the rows. Defaults to None (one file).
        expose, click: the event kinds an impression and a click record.
        overwrite: replace an existing ``out``.
    """
    out = check_output(out, [events], overwrite=overwrite)
    columns = _checked_columns(events, spec, [user, time, spec.label, split])
    try:
        replay = Replay(spec, user, time, expose, click)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    multi = {f.name: f.separator for f in spec.multi_fields if f.name in spec.behaviour_columns}
    header = [c for c in columns if c != split] + list(spec.behaviour_columns)
    text = [c for c in spec.text_columns if c in columns] + [user]
    counts: dict[str, int] = {}
    with staged_dir(out, overwrite=overwrite) as staging:
        files: dict[str, Any] = {}
        writers: dict[str, csv.DictWriter] = {}
        try:
            for chunk in iter_chunks(events, CHUNK_ROWS, text_columns=text):
                for record in chunk.to_dict("records"):
                    row = replay.row(record)
                    line = replay.rows + 1  # the file's line: the header is line 1
                    name = "replayed" if split is None else _split_name(row.pop(split))
                    writer = writers.get(name)
                    if writer is None:
                        if not _SPLIT_NAME.match(name):
                            raise DataError(
                                f"{events}: line {line}: split value {name!r} in column {split!r} cannot "
                                "name a file (letters, digits, _ and -; not empty)"
                            )
                        files[name] = open(staging / f"{name}.csv", "w", newline="", encoding="utf-8")  # noqa: SIM115
                        writer = writers[name] = csv.DictWriter(files[name], header, extrasaction="ignore")
                        writer.writeheader()
                    _join_multi(row, multi, events, line)
                    writer.writerow({k: _cell(v) for k, v in row.items()})
                    counts[name] = counts.get(name, 0) + 1
        except EncodeError as exc:  # name the file's line, as training does (record i is line i + 2)
            where = [f"line {exc.record + 2}"] if exc.record is not None else []
            where += [f"column {exc.field!r}"] if exc.field is not None else []
            raise DataError(f"{events}: {', '.join(where)}: {exc.detail}") from None
        finally:
            for f in files.values():
                f.close()
        if not counts:
            raise DataError(f"{events}: the file has no rows")
    return {
        "out": str(out),
        "rows": replay.rows,
        "users": replay.users,
        "files": {name: str(out / f"{name}.csv") for name in sorted(counts)},
        "rows_per_file": dict(sorted(counts.items())),
    }
