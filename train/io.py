"""Reading training data: CSV or Parquet, whole or in bounded chunks (pandas / pyarrow).

A data path is one file, a folder of shards (every ``.csv``/``.tsv``/``.parquet`` file in it, in
name order) or a glob pattern (``data/train-*.parquet``); shards must share their columns.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from masknet_edge.edge_runtime.errors import MasknetError
from masknet_edge.edge_runtime.numeric import NUMERIC_MISSING_TEXTS

__all__ = [
    "DataError",
    "count_rows",
    "data_files",
    "file_columns",
    "iter_chunks",
    "read_table",
    "worker_shards",
]

#: What pandas reads as missing by default (the numeric missing texts of ENCODING.md §7.1); it still
#: applies to every column except categorical ones, where only an empty cell is missing ("NA" or
#: "null" is a value there, as it is on the device).
PANDAS_NA_TEXTS = tuple(sorted(NUMERIC_MISSING_TEXTS))


class DataError(MasknetError, ValueError):
    """A data file is missing, empty, unreadable or lacks columns."""


def _kind(path: Path) -> str:
    suffixes = "".join(path.suffixes).lower()
    if suffixes.endswith((".parquet", ".pq")):
        return "parquet"
    if suffixes.endswith((".csv", ".csv.gz", ".txt", ".tsv", ".tsv.gz")):
        return "csv"
    raise DataError(f"{path}: unknown file type; expected .csv, .csv.gz, .tsv or .parquet")


_GLOB = frozenset("*?[")
_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".parquet", ".pq")


def data_files(path: str | Path) -> list[Path]:
    """The files a data path names: itself, a folder's data files in name order, or a glob's matches
    in name order. A folder or pattern that names no data file is a DataError."""
    p = Path(path)
    if _GLOB & set(str(p)):
        first = next(i for i, part in enumerate(p.parts) if _GLOB & set(part))
        anchor = Path(*p.parts[:first]) if first else Path(".")
        found = sorted(f for f in anchor.glob(str(Path(*p.parts[first:]))) if f.is_file())
        if not found:
            raise DataError(f"{p}: the pattern matches no file")
        return found
    if p.is_dir():
        found = sorted(f for f in p.iterdir() if f.is_file() and f.name.lower().endswith(_SUFFIXES))
        if not found:
            raise DataError(f"{p}: the folder holds no .csv, .tsv or .parquet shard")
        return found
    return [p]


def worker_shards(files: list[Path], index: int, count: int) -> list[Path]:
    """The shards worker ``index`` of ``count`` reads (every ``count``-th, from its index)."""
    if len(files) < count:
        raise DataError(
            f"{len(files)} shard(s) for {count} workers: each worker reads whole shards, so write at "
            f"least {count} (masknet data shop --shards N, or split the file)"
        )
    return files[index::count]


def _check(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such data file")
    if p.stat().st_size == 0:
        raise DataError(f"{p}: the file is empty")
    return p


def _parquet(path: Path) -> Any:
    """Open a Parquet file; a damaged or foreign one is a DataError naming it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None


def _sep(path: Path) -> str:
    return "\t" if ".tsv" in "".join(path.suffixes).lower() else ","


def file_columns(path: str | Path) -> list[str]:
    """Column names of a data path (the header; every shard must have the same), without reading rows."""
    files = data_files(path)
    first = _file_columns(files[0])
    for f in files[1:]:
        other = _file_columns(f)
        if other != first:
            raise DataError(
                f"{f}: its columns differ from the first shard's ({files[0]}): "
                f"{sorted(set(other) ^ set(first))[:10] or 'same names, other order'}"
            )
    return first


def _file_columns(path: Path) -> list[str]:
    p = _check(path)
    if _kind(p) == "parquet":
        return list(_parquet(p).schema_arrow.names)
    import pandas as pd

    try:
        names = list(pd.read_csv(p, sep=_sep(p), nrows=0).columns)
        with p.open(newline="", encoding="utf-8-sig") as f:  # the names as written, before pandas
            written = next(csv.reader(f, delimiter=_sep(p)), [])  # renames 'age' twice to 'age.1'
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{p}: cannot read the header ({exc})") from None
    if len(written) == len(names):
        empty = [i + 1 for i, name in enumerate(written) if not name.strip()]
        if empty:
            raise DataError(f"{p}: line 1: column {empty[0]} has no name; name every column")
        repeated = sorted(name for name, n in Counter(written).items() if n > 1)
        if repeated:
            raise DataError(f"{p}: line 1: repeated column names {repeated}; name every column once")
    return names


def iter_chunks(
    path: str | Path, chunk_rows: int, columns: list[str] | None = None, text_columns: list[str] | None = None
) -> Iterator[Any]:
    """Yield pandas DataFrames of at most ``chunk_rows`` rows; memory stays bounded by the chunk.

    ``text_columns`` are read as text exactly as written (CSV), so ``"01234"`` stays ``"01234"``:
    categorical values are hashed by their text, and the device must see the same text. Shards are
    read one after the other.
    """
    files = data_files(path)
    if len(files) > 1:
        file_columns(path)  # the shards agree, or a DataError names the one that does not
    for f in files:
        yield from _file_chunks(f, chunk_rows, columns, text_columns)


def _file_chunks(
    path: Path, chunk_rows: int, columns: list[str] | None, text_columns: list[str] | None
) -> Iterator[Any]:
    p = _check(path)
    import pandas as pd

    if _kind(p) == "parquet":
        import pyarrow as pa

        try:
            for batch in _parquet(p).iter_batches(batch_size=chunk_rows, columns=columns):
                yield batch.to_pandas()
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise DataError(f"{p}: cannot read ({exc})") from None
        return
    try:
        options: dict[str, Any] = {}
        if text_columns:
            text = set(text_columns)
            options = {
                "dtype": dict.fromkeys(text_columns, str),
                "keep_default_na": False,
                "na_values": {c: [""] if c in text else list(PANDAS_NA_TEXTS) for c in _file_columns(p)},
            }
        reader = pd.read_csv(
            p, sep=_sep(p), chunksize=chunk_rows, usecols=columns, low_memory=False, **options
        )
        yield from reader
    except ValueError as exc:  # usecols names a missing column, or a parse error
        raise DataError(f"{p}: {exc}") from None
    except (pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: cannot read ({exc})") from None


def read_table(
    path: str | Path, columns: list[str] | None = None, text_columns: list[str] | None = None
) -> Any:
    """Read a whole file into one DataFrame."""
    import pandas as pd

    chunks = list(iter_chunks(path, 1_000_000, columns, text_columns))
    if not chunks:
        raise DataError(f"{path}: the file has no rows")
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)


def count_rows(path: str | Path) -> int:
    """Data rows of a data path (all its shards), as a parser sees them (Parquet: from metadata; CSV:
    records after the header, so a quoted newline or a missing final newline does not change it)."""
    return sum(_count_file_rows(f) for f in data_files(path))


def _count_file_rows(path: Path) -> int:
    p = _check(path)
    if _kind(p) == "parquet":
        return int(_parquet(p).metadata.num_rows)
    import csv
    import gzip

    csv.field_size_limit(1 << 30)
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rt", newline="", encoding="utf-8") as fh:
            records = sum(1 for row in csv.reader(fh, delimiter=_sep(p)) if row)
    except (csv.Error, UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataError(f"{p}: cannot read ({exc})") from None
    return max(0, records - 1)
