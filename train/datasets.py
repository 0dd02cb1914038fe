"""Loaders and presets for the public CTR formats: MovieLens, Criteo (Kaggle TSV), Avazu (Kaggle CSV).

``prepare(name, source, out_dir)`` writes ``train.csv``, ``valid.csv``, ``test.csv`` and a ready
``spec.json`` that ``masknet train`` takes as is.

- MovieLens: GroupLens ``u.data`` (+ ``u.user``/``u.item``), ``ratings.dat`` (+ ``users.dat``/
  ``movies.dat``) or RecBole atomic files (``*.inter``/``*.user``/``*.item``). Label: rating >= 4.
  Seeded 8:1:1 random split. Genres are a multi-valued field.
- Criteo: Kaggle TSV without header (label, I1-I13, C1-C26); ``train``/``dev``/``test`` files are
  used as given, or one file is split 8:1:1.
- Avazu: Kaggle CSV; files without a header take the header of the first file. ``hour`` becomes hour
  of day and day of week.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.atomic import atomic_path
from masknet_edge.edge_runtime.outputs import check_output, staged_dir
from masknet_edge.edge_runtime.spec import FeatureSpec
from masknet_edge.train.io import DataError

__all__ = ["DATASETS", "load_avazu", "load_criteo", "load_movielens", "prepare"]

DATASETS = ("movielens", "criteo", "avazu")
CRITEO_NUM = [f"I{i}" for i in range(1, 14)]
CRITEO_CAT = [f"C{i}" for i in range(1, 27)]


def _split(df: Any, seed: int) -> tuple[Any, Any, Any]:
    order = np.random.default_rng(seed).permutation(len(df))
    a, b = int(0.8 * len(df)), int(0.9 * len(df))
    return tuple(df.iloc[idx].reset_index(drop=True) for idx in (order[:a], order[a:b], order[b:]))


def _find(src: Path, *patterns: str) -> Path | None:
    for pattern in patterns:
        hits = sorted(src.glob(pattern))
        if hits:
            return hits[0]
    return None


def _vocab(train_column: Any) -> dict[str, int]:
    """Vocabulary keys for a categorical column (exact ids for values seen twice in training)."""
    from masknet_edge.train.infer import vocabulary_keys

    return vocabulary_keys(train_column.value_counts(), min_count=2)


#: The 19 genre flags of GroupLens' ``u.item``, in file order.
ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)


def load_movielens(src: str | Path, seed: int = 0) -> tuple[tuple[Any, Any, Any], dict]:
    """Load MovieLens (RecBole atomic, GroupLens 100K or 1M) -> ((train, valid, test), spec dict)."""
    src = Path(src)
    if _find(src, "*.inter") is not None:
        ratings, users, items = _movielens_atomic(src)
    elif (src / "u.data").is_file():
        ratings, users, items = _movielens_100k(src)
    elif (src / "ratings.dat").is_file():
        ratings, users, items = _movielens_1m(src)
    else:
        raise DataError(f"{src}: no MovieLens files found (*.inter, u.data or ratings.dat)")
    df = ratings
    if users is not None:
        df = df.merge(users, on="user_id", how="left")
    if items is not None:
        keep = [c for c in ("item_id", "release_year", "genres") if c in items.columns]
        df = df.merge(items[keep], on="item_id", how="left")
    df["label"] = (_ratings(df["rating"], src) >= 4).astype(int)
    df = df.drop(columns=["rating", "timestamp"])
    parts = _split(df, seed)
    return parts, {"format_version": 1, "label": "label", "fields": _movielens_fields(df, parts[0])}


def _movielens_atomic(src: Path) -> tuple[Any, Any, Any]:
    """Ratings, users and items of RecBole's atomic files (``*.inter``, ``*.user``, ``*.item``)."""
    import pandas as pd

    def atomic(p: Path) -> Any:
        df = pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False, quoting=3)
        return df.rename(columns={c: c.split(":")[0] for c in df.columns})

    ratings = atomic(_find(src, "*.inter"))
    users_p, items_p = _find(src, "*.user"), _find(src, "*.item")
    users = atomic(users_p) if users_p else None
    items = atomic(items_p) if items_p else None
    if items is not None:
        items = items.rename(columns={"class": "genres"})
        items["genres"] = items["genres"].str.replace(" ", "|")
    return ratings, users, items


def _movielens_100k(src: Path) -> tuple[Any, Any, Any]:
    """Ratings, users and items of GroupLens' 100K files (``u.data``, ``u.user``, ``u.item``)."""
    import pandas as pd

    ratings = pd.read_csv(
        src / "u.data", sep="\t", names=["user_id", "item_id", "rating", "timestamp"], dtype=str
    )
    users = None
    if (src / "u.user").is_file():
        names = ["user_id", "age", "gender", "occupation", "zip_code"]
        users = pd.read_csv(src / "u.user", sep="|", names=names, dtype=str)
    items = None
    if (src / "u.item").is_file():
        raw = pd.read_csv(src / "u.item", sep="|", header=None, encoding="latin-1", dtype=str)
        flags = raw.iloc[:, 5:24].astype(int).to_numpy()
        items = pd.DataFrame(
            {
                "item_id": raw[0],
                "release_year": raw[2].str[-4:].fillna(""),
                "genres": [
                    "|".join(g for g, f in zip(ML100K_GENRES, row, strict=True) if f) for row in flags
                ],
            }
        )
    return ratings, users, items


def _movielens_1m(src: Path) -> tuple[Any, Any, Any]:
    """Ratings, users and items of GroupLens' 1M files (``ratings.dat``, ``users.dat``, ``movies.dat``)."""
    import pandas as pd

    def dat(name: str, columns: list[str], **kw: Any) -> Any:
        return pd.read_csv(src / name, sep="::", engine="python", names=columns, dtype=str, **kw)

    ratings = dat("ratings.dat", ["user_id", "item_id", "rating", "timestamp"])
    users = None
    if (src / "users.dat").is_file():
        users = dat("users.dat", ["user_id", "gender", "age", "occupation", "zip_code"])
    items = None
    if (src / "movies.dat").is_file():
        items = dat("movies.dat", ["item_id", "title", "genres"], encoding="latin-1")
        items["release_year"] = items["title"].str.extract(r"\((\d{4})\)\s*$")[0].fillna("")
        items = items.drop(columns=["title"])
    return ratings, users, items


def _movielens_fields(df: Any, train: Any) -> list[dict]:
    """The spec's fields: every categorical (age too: 61 codes, as FuxiCTR's recipe) with a
    vocabulary fitted on ``train``; the user's columns on the context side."""
    fields: list[dict] = []
    for col in ("user_id", "age", "gender", "occupation", "zip_code"):
        if col in df.columns:
            fields.append({"name": col, "kind": "categorical", "side": "context", **_vocab(train[col])})
    for col in ("item_id", "release_year"):
        if col in df.columns:
            fields.append({"name": col, "kind": "categorical", "side": "item", **_vocab(train[col])})
    if "genres" in df.columns:
        genres = train["genres"].fillna("").str.split("|").explode()
        fields.append(
            {
                "name": "genres",
                "kind": "multi_categorical",
                "side": "item",
                "max_length": 6,
                "separator": "|",
                "pooling": "mean",
                **_vocab(genres[genres != ""]),
            }
        )
    return fields


def _ratings(column: Any, src: Path) -> Any:
    """The rating column as numbers; a missing or non-numeric rating is a DataError naming the row."""
    import pandas as pd

    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna().to_numpy().nonzero()[0]
    if len(bad):
        got = column.iloc[bad[0]]
        raise DataError(
            f"{src}: rating of data row {bad[0] + 1} is {'missing' if pd.isna(got) else repr(got)}; "
            "expected a number (MovieLens: user, item, rating, timestamp)"
        )
    return values


def _check_layout(path: Path, sep: str, fields: int, what: str) -> None:
    """The first line of ``path`` has ``fields`` columns, or the file is not ``what``."""
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    with path.open("rb") as fh:
        first = fh.readline(1 << 20).rstrip(b"\r\n")
    got = len(first.split(sep.encode()))
    if got != fields:
        raise DataError(f"{path}: not {what}: its first line has {got} fields, not {fields}")


def _criteo_frame(path: Path) -> Any:
    import pandas as pd

    names = ["label", *CRITEO_NUM, *CRITEO_CAT]
    _check_layout(path, "\t", len(names), "a Criteo file (label, I1-I13, C1-C26, tab-separated, no header)")
    return pd.read_csv(path, sep="\t", header=None, names=names, dtype={c: str for c in CRITEO_CAT})


def load_criteo(src: str | Path, seed: int = 0) -> tuple[tuple[Any, Any, Any], dict]:
    """Load Criteo (Kaggle TSV, no header) -> ((train, valid, test), spec dict)."""
    src = Path(src)
    train = _find(src, "train.tsv", "train.txt") if src.is_dir() else src
    if train is None:
        raise DataError(f"{src}: no Criteo train.tsv / train.txt found")
    dev, test = (_find(src, "dev.tsv", "valid.tsv"), _find(src, "test.tsv")) if src.is_dir() else (None, None)
    if dev and test:
        parts = (_criteo_frame(train), _criteo_frame(dev), _criteo_frame(test))
    else:
        parts = _split(_criteo_frame(train), seed)
    fields = [
        {"name": c, "kind": "numeric", "side": "item", "transform": "log1p_standardize"} for c in CRITEO_NUM
    ]
    fields += [{"name": c, "kind": "categorical", "side": "item", **_vocab(parts[0][c])} for c in CRITEO_CAT]
    return parts, {"format_version": 1, "label": "label", "fields": fields}


def load_avazu(src: str | Path, seed: int = 0) -> tuple[tuple[Any, Any, Any], dict]:
    """Load Avazu (Kaggle CSV) -> ((train, valid, test), spec dict)."""
    import pandas as pd

    src = Path(src)
    train = _find(src, "train.csv", "train.txt") if src.is_dir() else src
    if train is None:
        raise DataError(f"{src}: no Avazu train.csv found")
    if train.stat().st_size == 0:
        raise DataError(f"{train}: the file is empty")
    head = pd.read_csv(train, nrows=0).columns.tolist()
    if "click" not in head:
        raise DataError(f"{train}: expected the Kaggle header with a 'click' column")

    def read(p: Path) -> Any:
        with p.open() as fh:
            first = fh.readline()
        has_header = first.startswith("id,") or "click" in first.split(",")
        return pd.read_csv(p, dtype=str, header=0 if has_header else None, names=None if has_header else head)

    dev, test = (_find(src, "dev.csv", "valid.csv"), _find(src, "test.csv")) if src.is_dir() else (None, None)
    parts = (read(train), read(dev), read(test)) if dev and test else _split(read(train), seed)
    out = []
    for df in parts:
        df = df.drop(columns=["id"]).rename(columns={"click": "label"})
        hour = df["hour"].astype(int)
        days = pd.to_datetime((hour // 100).astype(str), format="%y%m%d")
        df["hour"] = (hour % 100).astype(str)
        df["weekday"] = days.dt.day_of_week.astype(str)
        df["label"] = df["label"].astype(int)
        out.append(df)
    cats = [c for c in out[0].columns if c != "label"]
    fields = [{"name": c, "kind": "categorical", "side": "item", **_vocab(out[0][c])} for c in cats]
    return tuple(out), {"format_version": 1, "label": "label", "fields": fields}  # type: ignore[return-value]


def prepare(
    name: str, source: str | Path, out_dir: str | Path, seed: int = 0, *, overwrite: bool = False
) -> dict[str, Path]:
    """Load a public data set and write train/valid/test CSVs and a spec into ``out_dir``.

    ``out_dir`` may not be or hold ``source``, and an existing one is replaced only with
    ``overwrite``; the folder appears complete or not at all.
    """
    loaders = {"movielens": load_movielens, "criteo": load_criteo, "avazu": load_avazu}
    if name not in loaders:
        raise DataError(f"Expected a data set in {DATASETS}. Received: {name!r}")
    if not Path(source).exists():
        raise DataError(f"{source}: no such file or folder")
    out = check_output(out_dir, [source], overwrite=overwrite)
    import pandas as pd

    try:
        (train, valid, test), spec_dict = loaders[name](source, seed)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{source}: not a readable {name} data set ({str(exc).splitlines()[0]})") from None
    for split, df in (("train", train), ("valid", valid), ("test", test)):
        if not len(df):
            raise DataError(f"{source}: too few rows for an 8:1:1 split (the {split} split is empty)")
        labels = set(pd.unique(df["label"]))
        if not labels <= {0, 1}:
            raise DataError(f"{source}: labels must be 0 or 1, found {sorted(map(str, labels))[:5]}")
    spec = FeatureSpec.from_dict(spec_dict)
    with staged_dir(out, overwrite=overwrite) as staging:
        for split, df in (("train", train), ("valid", valid), ("test", test)):
            with atomic_path(staging / f"{split}.csv", suffix=".csv") as tmp:
                df.to_csv(tmp, index=False)
        spec.save(staging / "spec.json")
    paths = {split: out / f"{split}.csv" for split in ("train", "valid", "test")}
    return {**paths, "spec": out / "spec.json"}
