"""The embedded default data set: a synthetic shop whose clicks follow a known, planted model.

Users (age, gender, occupation, city, device), items (category, brand, price) and clicks drawn
from a documented click model, so the best achievable AUC is known and a trained model can be judged
against it.

The planted model (all tables drawn once from ``seed``)::

    age_group = bucket(age; 25, 35, 50)                      4 groups
    logit = bias
          + A[age_group, category]       ~ N(0, 1.0)         age-group x category affinity
          + G[gender, brand]             ~ N(0, 0.8)         gender x brand affinity
          + D[device, category]          ~ N(0, 0.3)         device x category affinity
          - S[age_group] * z(log price)  S = (0.9, 0.5, 0.2, 0.6)   price sensitivity
          + P[item]                      ~ N(0, 0.5)         item popularity
          + U[user]                      ~ N(0, 0.3)         user click propensity
    p_click = sigmoid(logit);  click ~ Bernoulli(p_click)

``occupation`` and ``city`` have no effect: they are noise features. The oracle AUC is the AUC of the
true ``p_click`` against the sampled clicks: no model can beat it in expectation.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.atomic import atomic_path

__all__ = ["ShopWorld", "ShopWorldConfig", "generate", "shop_spec_dict", "write_csvs", "write_sharded"]

CATEGORIES = ("electronics", "books", "fashion", "sports", "home", "beauty", "toys", "grocery")
DEVICES = ("ios", "android", "web")
GENDERS = ("F", "M")
AGE_BOUNDARIES = (25.0, 35.0, 50.0)
PRICE_SENSITIVITY = (0.9, 0.5, 0.2, 0.6)


@dataclass(frozen=True)
class ShopWorldConfig:
    """Size and seed of a generated shop.

    Args:
        num_users: Defaults to 2,000.
        num_items: Defaults to 400.
        num_brands: Defaults to 25.
        num_interactions: impressions (user, item, click). Defaults to 120,000.
        bias: intercept of the click logit (sets the click rate). Defaults to -1.0.
        seed: Defaults to 0.
    """

    num_users: int = 2_000
    num_items: int = 400
    num_brands: int = 25
    num_interactions: int = 120_000
    bias: float = -1.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("num_users", "num_items", "num_brands", "num_interactions"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1. Received: {name}={v!r}")


@dataclass
class ShopWorld:
    """Generated tables as dicts of numpy columns, plus the true click probability of each row."""

    users: dict[str, np.ndarray]
    items: dict[str, np.ndarray]
    interactions: dict[str, np.ndarray]
    config: ShopWorldConfig

    def split(self, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> tuple[dict, dict, dict]:
        """Seeded random train/valid/test split of the interactions."""
        n = len(self.interactions["click"])
        order = np.random.default_rng(self.config.seed + 1).permutation(n)
        a = int(fractions[0] * n)
        b = a + int(fractions[1] * n)
        parts = (order[:a], order[a:b], order[b:])
        return tuple({k: v[idx] for k, v in self.interactions.items()} for idx in parts)  # type: ignore[return-value]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class _Planted:
    """Users, items and the planted click model's tables: everything but the impressions."""

    users: dict[str, np.ndarray]
    items: dict[str, np.ndarray]
    cat_idx: np.ndarray
    a: np.ndarray
    g: np.ndarray
    d: np.ndarray
    pop: np.ndarray
    propensity: np.ndarray


def _planted(c: ShopWorldConfig, rng: np.random.Generator) -> _Planted:
    users = {
        "user_id": np.array([f"u{i}" for i in range(c.num_users)]),
        "age": rng.integers(18, 71, c.num_users),
        "gender": rng.choice(GENDERS, c.num_users),
        "occupation": rng.choice([f"occ_{i}" for i in range(10)], c.num_users),
        "city": rng.choice([f"city_{i}" for i in range(20)], c.num_users),
        "device": rng.choice(DEVICES, c.num_users, p=[0.45, 0.4, 0.15]),
    }
    cat_idx = rng.integers(0, len(CATEGORIES), c.num_items)
    base_price = np.exp(rng.normal(3.0, 0.6, len(CATEGORIES)))
    items = {
        "item_id": np.array([f"i{i}" for i in range(c.num_items)]),
        "category": np.array(CATEGORIES)[cat_idx],
        "brand": np.array([f"brand_{i}" for i in rng.integers(0, c.num_brands, c.num_items)]),
        "price": np.round(base_price[cat_idx] * np.exp(rng.normal(0, 0.5, c.num_items)), 2),
    }
    return _Planted(
        users=users,
        items=items,
        cat_idx=cat_idx,
        a=rng.normal(0, 1.0, (4, len(CATEGORIES))),
        g=rng.normal(0, 0.8, (2, c.num_brands)),
        d=rng.normal(0, 0.3, (len(DEVICES), len(CATEGORIES))),
        pop=rng.normal(0, 0.5, c.num_items),
        propensity=rng.normal(0, 0.3, c.num_users),
    )


def _impressions(c: ShopWorldConfig, w: _Planted, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """``n`` impressions (user, item, click, true_ctr) drawn from the planted model."""
    users, items = w.users, w.items
    sens = np.array(PRICE_SENSITIVITY)
    u = rng.integers(0, c.num_users, n)
    it = rng.integers(0, c.num_items, n)
    age_group = np.searchsorted(AGE_BOUNDARIES, users["age"][u], side="right")
    gender = (users["gender"][u] == "M").astype(int)
    brand = np.array([int(b.split("_")[1]) for b in items["brand"]])[it]
    log_price = np.log(items["price"])
    zprice = (log_price - log_price.mean()) / log_price.std()
    logit = (
        c.bias
        + w.a[age_group, w.cat_idx[it]]
        + w.g[gender, brand]
        + w.d[_device_index(users["device"][u]), w.cat_idx[it]]
        - sens[age_group] * zprice[it]
        + w.pop[it]
        + w.propensity[u]
    )
    p = _sigmoid(logit)
    click = (rng.random(n) < p).astype(np.int64)
    inter = {k: v[u] for k, v in users.items()}
    inter.update({k: v[it] for k, v in items.items()})
    inter["click"] = click
    inter["true_ctr"] = np.round(p, 6)
    return inter


def generate(config: ShopWorldConfig | None = None) -> ShopWorld:
    """Generate users, items and impressions with clicks drawn from the planted model (in memory;
    :func:`write_sharded` writes worlds of any size)."""
    c = config or ShopWorldConfig()
    rng = np.random.default_rng(c.seed)
    w = _planted(c, rng)
    return ShopWorld(
        users=w.users, items=w.items, interactions=_impressions(c, w, rng, c.num_interactions), config=c
    )


def _device_index(devices: np.ndarray) -> np.ndarray:
    lookup = {name: i for i, name in enumerate(DEVICES)}
    return np.array([lookup[x] for x in devices.tolist()], dtype=int)


def shop_spec_dict(num_users: int = 2_000, num_items: int = 400) -> dict:
    """The feature spec the demo uses: the tutorial's features plus its crossed features.

    Users, items, categories, brands, genders and devices get vocabularies fitted on the training
    file (exact ids; users and items unseen in training spread over a few hash buckets, sized from
    ``num_users`` and ``num_items``); occupation and city, the noise features, are hashed.
    """
    return {
        "format_version": 1,
        "label": "click",
        "fields": [
            {
                "name": "user_id",
                "kind": "categorical",
                "side": "context",
                "min_count": 1,
                "oov_buckets": max(1, num_users // 50),
            },
            {"name": "age", "kind": "numeric", "side": "context", "transform": "standardize"},
            {
                "name": "age_bucket",
                "kind": "numeric",
                "side": "context",
                "transform": "bucketize",
                "source": "age",
                "boundaries": list(AGE_BOUNDARIES),
            },
            {"name": "gender", "kind": "categorical", "side": "context", "min_count": 1},
            {"name": "occupation", "kind": "categorical", "side": "context", "num_buckets": 32},
            {"name": "city", "kind": "categorical", "side": "context", "num_buckets": 64},
            {"name": "device", "kind": "categorical", "side": "context", "min_count": 1},
            {
                "name": "item_id",
                "kind": "categorical",
                "side": "item",
                "min_count": 1,
                "oov_buckets": max(1, num_items // 50),
            },
            {"name": "category", "kind": "categorical", "side": "item", "min_count": 1},
            {"name": "brand", "kind": "categorical", "side": "item", "min_count": 1},
            {"name": "price", "kind": "numeric", "side": "item", "transform": "log1p_standardize"},
            {
                "name": "age_x_category",
                "kind": "cross",
                "fields": ["age_bucket", "category"],
                "num_buckets": 256,
            },
            {"name": "gender_x_brand", "kind": "cross", "fields": ["gender", "brand"], "num_buckets": 512},
            {
                "name": "device_x_category",
                "kind": "cross",
                "fields": ["device", "category"],
                "num_buckets": 128,
            },
        ],
    }


def write_csvs(world: ShopWorld, out_dir: str | Path, file_format: str = "csv") -> dict[str, Path]:
    """Write users, items and the train/valid/test split (8:1:1) into ``out_dir``; returns the paths.

    ``file_format``: ``csv`` or ``parquet``. Sharded worlds of any size: :func:`write_sharded`.
    """
    import pandas as pd

    if file_format not in ("csv", "parquet"):
        raise ValueError(f"Expected file_format 'csv' or 'parquet'. Received: {file_format!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = {"users": world.users, "items": world.items}
    tables.update(zip(("train", "valid", "test"), world.split(), strict=True))
    paths = {}
    for name, table in tables.items():
        paths[name] = out / f"{name}.{file_format}"
        with atomic_path(paths[name], suffix=paths[name].suffix) as tmp:
            _write_frame(pd.DataFrame(table), tmp, file_format)
    return paths


def write_sharded(
    config: ShopWorldConfig, out_dir: str | Path, shards: int, file_format: str = "parquet"
) -> dict[str, Path]:
    """Write a world of any size shard by shard: memory holds one shard's impressions at a time.

    The users, items and planted model are those of :func:`generate` with the same seed; the
    impressions are drawn per shard (shard ``i`` from the seed sequence ``(seed, 1, i)``) and each
    row goes to train / valid / test with probabilities 0.8 / 0.1 / 0.1. So the world is the same
    world, but the draw of its impressions differs from the single-file one of the same seed. Train
    is ``out_dir/train/part-NNNNN.<format>`` (one file per shard); valid and test are single files
    appended to shard by shard. Every file is written to a temporary name and renamed.
    """
    import pandas as pd

    if file_format not in ("csv", "parquet"):
        raise ValueError(f"Expected file_format 'csv' or 'parquet'. Received: {file_format!r}")
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= config.num_interactions:
        raise ValueError(f"Expected shards to be an integer in [1, interactions]. Received: {shards!r}")
    out = Path(out_dir)
    (out / "train").mkdir(parents=True, exist_ok=True)
    w = _planted(config, np.random.default_rng(config.seed))
    paths = {name: out / f"{name}.{file_format}" for name in ("users", "items", "valid", "test")}
    paths["train"] = out / "train"
    for name, table in (("users", w.users), ("items", w.items)):
        with atomic_path(paths[name], suffix=paths[name].suffix) as tmp:
            _write_frame(pd.DataFrame(table), tmp, file_format)
    bounds = np.linspace(0, config.num_interactions, shards + 1).astype(np.int64)
    with contextlib.ExitStack() as stack:
        appenders = {
            name: stack.enter_context(_Appender(paths[name], file_format)) for name in ("valid", "test")
        }
        for i in range(shards):
            rng = np.random.default_rng([config.seed, 1, i])
            frame = pd.DataFrame(_impressions(config, w, rng, int(bounds[i + 1] - bounds[i])))
            part = rng.random(len(frame))
            shard = out / "train" / f"part-{i:05d}.{file_format}"
            with atomic_path(shard, suffix=shard.suffix) as tmp:
                _write_frame(frame[part < 0.8], tmp, file_format)
            appenders["valid"].append(frame[(part >= 0.8) & (part < 0.9)], like=frame)
            appenders["test"].append(frame[part >= 0.9], like=frame)
    return paths


def _write_frame(frame: Any, path: Path, file_format: str) -> None:
    if file_format == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)


class _Appender:
    """One CSV or Parquet file written frame by frame into a temporary name, renamed when done."""

    def __init__(self, path: Path, file_format: str) -> None:
        self.path, self.file_format = path, file_format
        self._stack = contextlib.ExitStack()
        self._writer: Any = None

    def __enter__(self) -> _Appender:
        self._tmp = self._stack.enter_context(atomic_path(self.path, suffix=self.path.suffix))
        return self

    def append(self, frame: Any, like: Any) -> None:
        """Add the frame's rows (possibly none); ``like``, a frame of the same columns with rows,
        sets the columns and their types."""
        if self.file_format == "csv":
            frame.to_csv(self._tmp, index=False, mode="a", header=self._writer is None)
            self._writer = True
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:
            self._schema = pa.Schema.from_pandas(like, preserve_index=False)
            self._writer = self._stack.enter_context(pq.ParquetWriter(str(self._tmp), self._schema))
        self._writer.write_table(pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False))

    def __exit__(self, *exc: Any) -> None:
        self._stack.__exit__(*exc)
