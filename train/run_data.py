"""What a training run trains and validates on: the fitted spec, the encoded validation file and the
training batches (in memory, streamed through an encoded cache, or this worker's shards)."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.encoder import FeatureEncoder
from masknet_edge.edge_runtime.spec import FeatureSpec
from masknet_edge.train.batches import checked_chunks, in_memory_dataset, load_encoded, streamed_dataset
from masknet_edge.train.fit import fit_spec
from masknet_edge.train.io import DataError, count_rows
from masknet_edge.train.plan import RunPlan
from masknet_edge.train.teacher import Target, load_teacher

__all__ = ["RunData", "training_data"]

log = logging.getLogger("masknet.train")


@dataclass
class RunData:
    """What a run trains and validates on, encoded."""

    spec: FeatureSpec  # fitted
    rows: int
    encoder: FeatureEncoder
    teacher: Any
    x_valid: dict[str, np.ndarray]
    y_valid: np.ndarray
    mode: str
    dataset: Any = None
    workers: Any = None
    steps_per_epoch: int | None = None
    cache_mib: float | None = None  # the encoded cache of a streamed file, when one is made


def training_data(plan: RunPlan, cleanup: contextlib.ExitStack) -> RunData:
    """Fit the spec (unless fitted), encode the validation file and make the training batches:
    in memory, streamed through an encoded cache, or this worker's shards."""
    inputs, label, train_config, role = plan.inputs, plan.label, plan.train_config, plan.role
    spec, batch_size = plan.spec, plan.batch_size
    if not plan.spec_fitted:
        counted = [0]
        chunks = checked_chunks(inputs.train, spec, label, train_config.chunk_rows, counted)
        fitted = fit_spec(spec, chunks, seed=train_config.seed)  # reads every chunk
        n_train = counted[0]
    else:  # a resumed run, or a student: the spec is fitted already
        fitted, n_train = spec, count_rows(inputs.train)
    teacher = load_teacher(inputs.teacher) if inputs.teacher else None
    target = Target(teacher, inputs.teacher_weight)
    encoder = FeatureEncoder(fitted, cache_size=1 << 20)  # training files repeat many distinct ids
    t0 = time.perf_counter()
    x_valid, y_valid, _ = load_encoded(inputs.valid, encoder, label, train_config.chunk_rows)
    if n_train == 0:
        raise DataError(f"{inputs.train}: the file has no rows")
    cache_mib = ds = workers = None
    if role is not None:
        from masknet_edge.train.multiworker import worker_batches

        workers = worker_batches(inputs.train, role, fitted, encoder, label, target, train_config, batch_size)
        mode = f"multi-worker ({role.count} workers, {len(workers.shards)} shard(s) here)"
        steps_per_epoch = workers.steps
    elif n_train <= train_config.in_memory_rows:
        x_train, y_train, _ = load_encoded(inputs.train, encoder, label, train_config.chunk_rows)
        y_train = target(x_train, y_train)
        ds = in_memory_dataset(x_train, y_train, batch_size, train_config.seed)
        mode = "in-memory"
        steps_per_epoch = None
    else:
        ds, steps_per_epoch, cache_mib = streamed_dataset(
            inputs.train, encoder, label, n_train, batch_size, target, train_config, cleanup
        )
        mode = "streamed"
    log.info(
        "train rows: %d (%s), valid rows: %d, encoded in %.1fs",
        n_train,
        mode,
        len(y_valid),
        time.perf_counter() - t0,
    )

    return RunData(
        spec=fitted,
        rows=n_train,
        encoder=encoder,
        teacher=teacher,
        x_valid=x_valid,
        y_valid=y_valid,
        mode=mode,
        dataset=ds,
        workers=workers,
        steps_per_epoch=steps_per_epoch,
        cache_mib=cache_mib,
    )
