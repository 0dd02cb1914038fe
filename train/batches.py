"""Encoded training data: a whole file in memory, a file streamed chunk by chunk, and the encoded cache.

A file too large to keep in memory is encoded once, chunk by chunk, into an :class:`EncodedCache`:
one memory-mapped ``.npy`` file per model input plus the training targets, on disk. Every epoch then
reads those arrays back (the operating system pages them in and out), so epochs 2..n cost the
training step and a copy, not parsing and hashing again, and memory stays at about one block of
rows whatever the file's size. Rows are shuffled in blocks of ``chunk_rows``: the blocks in a new
random order each epoch, the rows within a block permuted.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.atomic import owned_temp_dir
from masknet_edge.edge_runtime.encoder import FeatureEncoder
from masknet_edge.edge_runtime.errors import EncodeError
from masknet_edge.edge_runtime.spec import FeatureSpec
from masknet_edge.train.config import TrainConfig
from masknet_edge.train.io import DataError, iter_chunks

log = logging.getLogger("masknet.train")

__all__ = [
    "EncodedCache",
    "checked_chunks",
    "encode_chunk",
    "in_memory_dataset",
    "labels",
    "load_encoded",
    "stream_batches",
    "streamed_dataset",
]

#: A training target: ``target(inputs, labels) -> targets`` (labels, or labels mixed with a teacher's scores).
Target = Callable[[dict[str, np.ndarray], np.ndarray], np.ndarray]
Batch = tuple[dict[str, np.ndarray], np.ndarray]


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def labels(df: Any, label: str, path: Path, first_row: int) -> np.ndarray:
    """The chunk's label column as float32 0/1; any other value is a DataError naming file and row."""
    import pandas as pd

    y = df[label].to_numpy()
    yf = pd.to_numeric(df[label], errors="coerce").to_numpy(dtype=np.float64)  # a bad value is NaN
    bad = ~np.isin(yf, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path}: row {first_row + i + 1}: label {label!r} must be 0 or 1, got {_plain(y[i])!r}"
        )
    return yf.astype(np.float32)


def encode_chunk(encoder: FeatureEncoder, df: Any, path: Path, first_row: int) -> dict[str, np.ndarray]:
    """The chunk's model inputs; a value the encoder rejects is a DataError naming file and row."""
    try:
        return encoder.encode(df)
    except EncodeError as exc:
        row = "" if exc.record is None else f"row {first_row + exc.record + 1}: "
        raise DataError(f"{path}: {row}{exc}") from None


def checked_chunks(
    path: Path, spec: FeatureSpec, label: str, chunk_rows: int, rows: list[int] | None = None
) -> Iterator[Any]:
    """The file's chunks, each with its labels checked (0/1) before it is used; ``rows[0]`` counts
    the rows read (as the parser sees them), so the pass that fits the spec also counts the file."""
    first = 0
    for df in iter_chunks(path, chunk_rows, text_columns=list(spec.text_columns)):
        labels(df, label, path, first)
        first += len(df)
        if rows is not None:
            rows[0] = first
        yield df


def load_encoded(
    path: Path, encoder: FeatureEncoder, label: str, chunk_rows: int, extra: str | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray | None]:
    """Encode a whole file: ``(inputs, labels, extra column or None)``."""
    xs, ys, es = [], [], []
    first = 0
    for df in iter_chunks(path, chunk_rows, text_columns=list(encoder.spec.text_columns)):
        ys.append(labels(df, label, path, first))
        xs.append(encode_chunk(encoder, df, path, first))
        if extra and extra in df.columns:
            es.append(df[extra].to_numpy(dtype=np.float64))
        first += len(df)
    if not xs:
        raise DataError(f"{path}: the file has no rows")
    inputs = {k: np.concatenate([x[k] for x in xs]) for k in xs[0]}
    return inputs, np.concatenate(ys), (np.concatenate(es) if es else None)


def steady_options() -> Any:
    """``tf.data`` options for the training pipelines: tf.data's autotuner off.

    Both pipelines have fixed buffers (``prefetch(2)``), so the autotuner has nothing to tune, but its
    background work still shares the cores with training: on a 2-core host with one op thread, 7 of
    10 ``fit`` epochs stalled at 5.11 s where the same compiled step in a loop took 3.8 s; with the
    autotuner off the median epoch was 0.99x the loop (``benchmarks/bench_epoch.py``)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def in_memory_dataset(x: dict[str, np.ndarray], y: np.ndarray, batch: int, seed: int) -> Any:
    """A ``tf.data.Dataset`` of shuffled ``(inputs, targets)`` batches of arrays held in memory.

    Each epoch shuffles row indices and gathers a batch at a time: one op per batch instead of
    per-row slicing, shuffling and re-batching (measured 2-4x less pipeline time per epoch, see
    ``benchmarks/bench_throughput.py``).
    """
    import tensorflow as tf

    xt = {k: tf.constant(v) for k, v in x.items()}
    yt = tf.constant(y)
    return (
        tf.data.Dataset.range(len(y))
        .shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
        .batch(batch)
        .map(lambda i: ({k: tf.gather(v, i) for k, v in xt.items()}, tf.gather(yt, i)))
        .prefetch(2)
        .with_options(steady_options())
    )


def stream_batches(
    path: Path, encoder: FeatureEncoder, label: str, chunk_rows: int, batch: int, seed: int, target: Target
) -> Callable[[], Iterator[Batch]]:
    """Shuffled batches of the file, read and encoded again chunk by chunk on every call (epoch)."""
    epoch = [0]

    def gen() -> Iterator[Batch]:
        rng = np.random.default_rng(seed + epoch[0])
        epoch[0] += 1
        first = 0
        for df in iter_chunks(path, chunk_rows, text_columns=list(encoder.spec.text_columns)):
            x = encode_chunk(encoder, df, path, first)
            y = target(x, labels(df, label, path, first))
            order = rng.permutation(len(y))
            for s in range(0, len(order), batch):
                idx = order[s : s + batch]
                yield {k: v[idx] for k, v in x.items()}, y[idx]
            first += len(df)

    return gen


def _row_bytes(spec: FeatureSpec) -> int:
    """Bytes one encoded row takes in the cache (its inputs and its float32 target)."""
    return 4 + sum(
        int(np.prod(i.shape, dtype=np.int64)) * np.dtype(i.dtype).itemsize for i in spec.input_signature()
    )


class _Column:
    """One ``.npy`` file of the cache, read a block of rows at a time with plain file reads (not a
    memory map: pages read stay in the operating system's cache, not in the process's RSS)."""

    def __init__(self, path: Path, mode: str = "rb") -> None:
        self.path = path
        self.file = open(path, mode)  # noqa: SIM115 - kept open for the cache's life, closed by close()
        fmt = np.lib.format
        version = fmt.read_magic(self.file)
        header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        self.shape, fortran, self.dtype = header(self.file)
        if fortran:
            raise DataError(f"{path}: expected a C-ordered array")
        self.offset = self.file.tell()
        self.row_items = int(np.prod(self.shape[1:], dtype=np.int64))

    @classmethod
    def create(cls, path: Path, dtype: Any, shape: tuple[int, ...]) -> _Column:
        """A new file of ``shape`` (its rows are filled by :meth:`write`)."""
        fmt, dtype = np.lib.format, np.dtype(dtype)
        with open(path, "wb") as f:
            header = {"descr": fmt.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
            fmt.write_array_header_1_0(f, header)
            f.truncate(
                f.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            )  # sparse until written
        return cls(path, "r+b")

    def write(self, start: int, values: np.ndarray) -> None:
        """Rows ``start:start + len(values)`` (plain writes: nothing stays mapped in memory)."""
        self.file.seek(self.offset + start * self.row_items * self.dtype.itemsize)
        self.file.write(np.ascontiguousarray(values, dtype=self.dtype).tobytes())

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as a new array."""
        self.file.seek(self.offset + start * self.row_items * self.dtype.itemsize)
        flat = np.fromfile(self.file, dtype=self.dtype, count=(stop - start) * self.row_items)
        return flat.reshape((stop - start, *self.shape[1:]))


class EncodedCache:
    """A training file encoded once into ``.npy`` columns (one per model input, plus ``target.npy``)
    in a folder of its own, read back a block of rows at a time; :meth:`close` deletes it.

    >>> cache = EncodedCache.build(path, encoder, "label", 200_000, rows, target)  # doctest: +SKIP
    >>> for x, y in cache.batches(256, seed=0)(): ...  # doctest: +SKIP
    """

    def __init__(self, folder: Path, names: list[str], rows: int, block_rows: int) -> None:
        self.folder = folder
        self.columns = {n: _Column(folder / f"{n}.npy") for n in names}
        self.target = _Column(folder / "target.npy")
        self.rows = rows
        self.block_rows = block_rows

    @property
    def nbytes(self) -> int:
        """Bytes on disk (the arrays, without the ``.npy`` headers)."""
        cols = [*self.columns.values(), self.target]
        return int(sum(self.rows * c.row_items * c.dtype.itemsize for c in cols))

    def read(self, start: int, stop: int) -> Batch:
        """Rows ``start:stop``: ``(inputs, targets)``."""
        return {n: c.read(start, stop) for n, c in self.columns.items()}, self.target.read(start, stop)

    @classmethod
    def build(
        cls,
        path: Path,
        encoder: FeatureEncoder,
        label: str,
        chunk_rows: int,
        rows: int,
        target: Target,
        parent: Path | str | None = None,
    ) -> EncodedCache:
        """Encode ``path`` (``rows`` rows) chunk by chunk into a new folder under ``parent`` (the
        system's temporary folder when None). A bad value is a DataError naming file and row; the
        folder is removed when anything fails, and when there is not enough free disk for it."""
        parent = Path(parent) if parent is not None else Path(tempfile.gettempdir())
        if not parent.is_dir():
            raise DataError(
                f"{parent}: no such folder for the encoded cache; create it or choose another --cache-dir"
            )
        need = rows * _row_bytes(encoder.spec)
        free = shutil.disk_usage(parent).free
        if need > free:
            raise DataError(
                f"{parent}: the encoded cache needs {need / 2**20:,.0f} MiB, only "
                f"{free / 2**20:,.0f} MiB are free; choose a larger --cache-dir "
                "or pass --no-encoded-cache (re-encode every epoch)"
            )
        folder = owned_temp_dir("masknet-encoded", parent)  # also removes what killed runs left
        columns: dict[str, _Column] = {}
        try:
            columns["target.npy"] = _Column.create(folder / "target.npy", np.float32, (rows,))
            first = 0
            for df in iter_chunks(path, chunk_rows, text_columns=list(encoder.spec.text_columns)):
                if first + len(df) > rows:
                    raise DataError(f"{path}: the file grew while it was read (more than {rows} rows)")
                x = encode_chunk(encoder, df, path, first)
                columns["target.npy"].write(first, target(x, labels(df, label, path, first)))
                for name, values in x.items():
                    if name not in columns:
                        columns[name] = _Column.create(
                            folder / f"{name}.npy", values.dtype, (rows, *values.shape[1:])
                        )
                    columns[name].write(first, values)
                first += len(df)
            if first != rows:
                raise DataError(
                    f"{path}: expected {rows} rows, read {first} (the file changed while it was read)"
                )
            for c in columns.values():
                c.file.close()
            return cls(folder, [n for n in columns if n != "target.npy"], rows, chunk_rows)
        except BaseException:
            for c in columns.values():
                c.file.close()
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def batches(self, batch: int, seed: int) -> Callable[[], Iterator[Batch]]:
        """A generator function: each call is one epoch of shuffled batches (blocks of ``block_rows``
        rows in a random order, rows permuted within each block; a new order every epoch)."""
        epoch = [0]

        def gen() -> Iterator[Batch]:
            rng = np.random.default_rng(seed + epoch[0])
            epoch[0] += 1
            for start in rng.permutation(np.arange(0, self.rows, self.block_rows)):
                block, y = self.read(int(start), min(int(start) + self.block_rows, self.rows))
                order = rng.permutation(len(y))
                for s in range(0, len(order), batch):
                    idx = order[s : s + batch]
                    yield {k: v[idx] for k, v in block.items()}, y[idx]

        return gen

    def close(self) -> None:
        """Close and delete the cache's files."""
        for c in [*self.columns.values(), self.target]:
            c.file.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> EncodedCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def streamed_dataset(
    path: Path,
    encoder: FeatureEncoder,
    label: str,
    rows: int,
    batch: int,
    target: Target,
    config: TrainConfig,
    cleanup: contextlib.ExitStack,
) -> tuple[Any, int, float | None]:
    """A repeating ``tf.data.Dataset`` of shuffled batches of a file too large for memory, the steps
    of one pass, and the size of its encoded cache in MiB (None without one).

    With ``config.encoded_cache`` the file is encoded once now into an :class:`EncodedCache` (which
    ``cleanup`` removes); otherwise every epoch re-encodes it, and one pass now finds a bad value
    before training starts.
    """
    import tensorflow as tf

    cache_mib = None
    if config.encoded_cache:
        cache = EncodedCache.build(path, encoder, label, config.chunk_rows, rows, target, config.cache_dir)
        cleanup.callback(cache.close)
        gen = cache.batches(batch, config.seed)
        cache_mib = round(cache.nbytes / 2**20, 1)
        log.info("encoded cache: %s (%.1f MiB)", cache.folder, cache_mib)
    else:
        gen = stream_batches(path, encoder, label, config.chunk_rows, batch, config.seed, target)
        first = 0
        for df in iter_chunks(path, config.chunk_rows, text_columns=list(encoder.spec.text_columns)):
            encode_chunk(encoder, df, path, first)
            first += len(df)
    sig = {
        i.name: tf.TensorSpec((None, *i.shape), tf.as_dtype(i.dtype), name=i.name)
        for i in encoder.spec.input_signature()
    }
    ds = (
        tf.data.Dataset.from_generator(gen, output_signature=(sig, tf.TensorSpec((None,), tf.float32)))
        .repeat()
        .prefetch(2)
        .with_options(steady_options())
    )
    # Batches per pass: each block of chunk_rows rows is batched separately.
    full, rest = divmod(rows, config.chunk_rows)
    return ds, full * math.ceil(config.chunk_rows / batch) + math.ceil(rest / batch), cache_mib
