"""Multi-worker training on ``tf.distribute.MultiWorkerMirroredStrategy``, one process per worker.

Keras 3's ``model.fit`` cannot feed this strategy (keras-team/keras#20585: its distributed batches
reach the model as ``PerReplica`` values), so the workers train in a loop of their own: each worker
reads its own shards (file-level sharding, :func:`train.io.worker_shards`), takes ``global batch /
workers`` rows per step, and ``strategy.run`` all-reduces the gradients, so every worker holds the
same weights after every step. After each epoch every worker scores the (whole) validation file with
those weights, so all take the same early-stopping decisions; only the chief writes the run
directory (the others keep their checkpoints in a temporary folder).

A worker that dies stops the others at their next all-reduce: TensorFlow's health check (the
coordination service) notices the lost process and fails the collective, and the survivors end with
a :class:`WorkerLostError`; ``--resume`` on every worker continues from the last finished epoch.

Collectives carry no timeout unless ``--worker-timeout`` asks for one (it also catches a worker that
hangs without dying). TensorFlow keeps one waiting thread per timed collective for the whole timeout,
so a worker holds about (collectives per second x timeout) threads: measured on 2 cores, ~70 threads/s
per worker, so 300 s meant ~18,000 threads per worker, and a 20M-row two-worker run hit the
machine's thread limit (32,768) and aborted (``std::system_error``); a 20 s timeout stayed at ~1,400.

Imported only when training starts (it imports TensorFlow).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from masknet_edge.edge_runtime.atomic import owned_temp_dir
from masknet_edge.edge_runtime.errors import MasknetError

__all__ = [
    "ClusterRole",
    "WorkerLostError",
    "cluster_role",
    "make_strategy",
    "predict_in_batches",
    "shard_batches",
    "steps_per_epoch",
    "train_epochs",
    "worker_batches",
    "worker_dir",
]


class WorkerLostError(MasknetError, RuntimeError):
    """Another worker stopped answering (killed, crashed or unreachable)."""


@dataclass(frozen=True)
class ClusterRole:
    """This process's place in the cluster of ``TF_CONFIG``."""

    index: int
    count: int
    chief: bool


def local_cluster(workers: int) -> list[str]:
    """The ``TF_CONFIG`` of each of ``workers`` workers on this machine, on free ports (tests,
    benchmarks, trying multi-worker training on one host)."""
    socks = [socket.socket() for _ in range(workers)]
    for s in socks:
        s.bind(("localhost", 0))
    hosts = [f"localhost:{s.getsockname()[1]}" for s in socks]
    for s in socks:
        s.close()
    return [
        json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})
        for i in range(workers)
    ]


def cluster_role(environ: dict[str, str] | None = None) -> ClusterRole:
    """Read ``TF_CONFIG``: workers (and an optional chief) and this task. Errors name what is wrong."""
    text = (environ if environ is not None else os.environ).get("TF_CONFIG")
    if not text:
        raise MasknetError("multi-worker training needs TF_CONFIG describing the cluster on every worker")
    expected = '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}'
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        if not isinstance(cluster, dict) or not isinstance(task, dict):
            raise TypeError("'cluster' and 'task' must be objects")
        for role in ("chief", "worker"):
            hosts = cluster.get(role, [])
            if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
                raise TypeError(f"cluster {role!r} must be a list of 'host:port' texts, not {hosts!r:.60}")
        workers = list(cluster.get("chief", [])) + list(cluster.get("worker", []))
        kind, index = task["type"], task["index"]
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"task 'index' must be an integer, not {index!r:.40}")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise MasknetError(
            f"TF_CONFIG is not a cluster description ({type(exc).__name__}: {exc}); expected {expected}"
        ) from None
    if kind not in ("chief", "worker"):
        raise MasknetError(f"TF_CONFIG task type {kind!r}: only 'chief' and 'worker' tasks train")
    position = index if kind == "chief" else index + len(cluster.get("chief", []))
    if not 0 <= position < len(workers):
        raise MasknetError(f"TF_CONFIG task {kind} {index} is not in the cluster ({len(workers)} workers)")
    chief = kind == "chief" or (not cluster.get("chief") and index == 0)
    return ClusterRole(index=position, count=len(workers), chief=chief)


def make_strategy(timeout_s: float | None) -> Any:
    """The strategy; create it before any other TensorFlow work of the process. ``timeout_s``:
    seconds an all-reduce waits before giving up (None: no timeout; see the module's note on threads)."""
    options = tf.distribute.experimental.CommunicationOptions(
        timeout_seconds=None if timeout_s is None else float(timeout_s)
    )
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def leave_together(strategy: Any) -> None:
    """All workers meet here (one tiny all-reduce) before their processes end.

    A worker whose process has ended stops answering TensorFlow's coordination service, and the
    workers still running then fail their calls to it (seen in a two-worker run on 4M rows: the
    worker still evaluating logged "Failed to send RPC to coordination service ... the leader task
    was preempted/died" after the chief had exited). So no worker leaves while another still works.
    """
    one = strategy.run(lambda: tf.constant(1.0))
    strategy.reduce(tf.distribute.ReduceOp.SUM, one, axis=None)


def predict_in_batches(model: Any, x: dict[str, np.ndarray], batch: int = 4096) -> np.ndarray:
    """Scores of ``x`` from the model called directly (no distributed predict)."""
    n = len(next(iter(x.values())))
    out = [
        np.asarray(model({k: v[s : s + batch] for k, v in x.items()}, training=False)).ravel()
        for s in range(0, n, batch)
    ]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def train_epochs(
    model: Any,
    strategy: Any,
    batches: Iterator[tuple[dict[str, np.ndarray], np.ndarray]],
    signature: tuple[dict[str, Any], Any],
    global_batch: int,
    steps: int,
    callback: Any,
    first_epoch: int,
    epochs: int,
    patience: int,
) -> None:
    """Train from ``first_epoch`` to ``epochs`` (or until the callback's patience runs out): ``steps``
    all-reduced steps per epoch from this worker's ``batches`` of ``global_batch / workers`` rows."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    ds = tf.data.Dataset.from_generator(lambda: batches, output_signature=signature).with_options(options)
    iterator = iter(strategy.experimental_distribute_dataset(ds))
    loss_fn = tf.keras.losses.BinaryCrossentropy(reduction="none")

    @tf.function
    def step(iterator: Any) -> Any:
        # next() inside the graph: the workers' check that each still has a batch is then part of the
        # step, not an eager all-reduce of its own before every step
        def replica(x: Any, y: Any) -> Any:
            with tf.GradientTape() as tape:
                p = model(x, training=True)
                per_row = loss_fn(tf.reshape(y, (-1, 1)), tf.reshape(p, (-1, 1)))
                loss = tf.nn.compute_average_loss(per_row, global_batch_size=global_batch)
            grads = tape.gradient(loss, model.trainable_variables)
            model.optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return loss

        return strategy.reduce("SUM", strategy.run(replica, args=next(iterator)), axis=None)

    callback.set_model(model)
    for epoch in range(first_epoch, epochs):
        callback.on_epoch_begin(epoch)
        total, lost = 0.0, ""
        try:
            for i in range(steps):
                total += float(step(iterator))
                callback.on_train_batch_end(i)
        except tf.errors.OpError as exc:
            lost = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        if lost:
            # raised outside the handler so the failed call's frames (TensorFlow's collective state)
            # are released now, not torn down at interpreter exit when their pipes are already closed
            raise WorkerLostError(
                f"a worker stopped answering during epoch {epoch + 1} ({lost}); start every worker again "
                "with --resume to continue from the last finished epoch"
            )
        callback.on_epoch_end(epoch, {"loss": total / max(steps, 1)})
        if callback.state["wait"] >= patience:
            break


def shard_batches(
    passes: Callable[[], Iterator[tuple[dict[str, np.ndarray], np.ndarray]]], local_batch: int, seed: int
) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
    """Endless batches of ``local_batch`` rows: pass after pass over this worker's encoded chunks
    (``passes()`` yields one pass), each chunk shuffled; a chunk's last partial batch is dropped."""
    rng = np.random.default_rng(seed)
    while True:
        for x, y in passes():
            order = rng.permutation(len(y))
            for s in range(0, len(order) - local_batch + 1, local_batch):
                idx = order[s : s + local_batch]
                yield {k: v[idx] for k, v in x.items()}, y[idx]


def steps_per_epoch(rows_per_worker: list[list[int]], chunk_rows: int, local_batch: int) -> int:
    """Steps every worker can take in one pass: the fewest full batches any worker's shards give
    (``rows_per_worker[w]``: the row counts of worker w's shards, read chunk by chunk)."""

    def batches(rows: int) -> int:
        full, rest = divmod(rows, chunk_rows)
        return full * (chunk_rows // local_batch) + rest // local_batch

    return min(sum(batches(r) for r in shards) for shards in rows_per_worker)


@dataclass
class WorkerData:
    """This worker's shards, the steps per epoch all workers share, its batches and their signature."""

    shards: list[Path]
    steps: int
    batches: Iterator[tuple[dict[str, np.ndarray], np.ndarray]]
    signature: tuple[dict[str, Any], Any]


def worker_batches(
    train: Path,
    role: ClusterRole,
    spec: Any,
    encoder: Any,
    label: str,
    target: Callable[[dict[str, np.ndarray], np.ndarray], np.ndarray],
    cfg: Any,
    batch_size: int,
) -> WorkerData:
    """This worker's shards as endless batches of ``batch_size / workers`` rows, and the steps every
    worker can take per epoch. Its shards are read once first, so a bad value stops it before training."""
    from masknet_edge.train.batches import encode_chunk, labels
    from masknet_edge.train.io import DataError, count_rows, data_files, iter_chunks, worker_shards

    if batch_size % role.count:
        raise DataError(
            f"the batch size {batch_size} (global, all workers) must divide by the {role.count} workers"
        )
    local = batch_size // role.count
    files = data_files(train)
    mine = worker_shards(files, role.index, role.count)
    rows = [[count_rows(f) for f in worker_shards(files, w, role.count)] for w in range(role.count)]
    steps = steps_per_epoch(rows, cfg.chunk_rows, local)
    if steps == 0:
        raise DataError(
            f"{train}: some worker's shards hold fewer than {local} rows (one batch of {batch_size} / "
            f"{role.count} workers); use fewer workers, a smaller batch, or larger shards"
        )

    def one_pass() -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
        for path in mine:
            first = 0
            for df in iter_chunks(path, cfg.chunk_rows, text_columns=list(spec.text_columns)):
                x = encode_chunk(encoder, df, path, first)
                yield x, target(x, labels(df, label, path, first))
                first += len(df)

    for _ in one_pass():  # bad values are found now, not in the middle of the cluster's training
        pass
    signature = (
        {
            i.name: tf.TensorSpec((local, *i.shape), tf.as_dtype(i.dtype), name=i.name)
            for i in spec.input_signature()
        },
        tf.TensorSpec((local,), tf.float32),
    )
    return WorkerData(mine, steps, shard_batches(one_pass, local, cfg.seed + role.index), signature)


@contextlib.contextmanager
def worker_dir(out: Path, resume: bool) -> Iterator[Path]:
    """A helper worker's own run folder (temporary): the chief alone writes ``out``. Resuming, it
    starts from the chief's last checkpoint. A killed worker's folder is removed by the next run
    (:func:`edge_runtime.atomic.owned_temp_dir`)."""
    work = owned_temp_dir("masknet-worker")
    try:
        if resume:
            shutil.copytree(out / "checkpoints", work / "checkpoints")
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
