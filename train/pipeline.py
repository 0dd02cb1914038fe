"""The training pipeline: data files -> fitted spec -> encoded batches -> trained model -> run directory.

A run directory holds::

    model.keras            the best model (by validation AUC), loads with safe_mode=True
    spec.json              the spec fitted on the training file (what the device must use)
    config.json            model / training configuration and data paths
    metrics.json           {"valid": {"auc", "logloss", ...}, "test": {...}, ...}
    history.json           per-epoch loss and validation AUC / logloss
    training_curve.png     the same, as a picture
    checkpoints/last.keras the model after the last finished epoch (with optimizer state)
    checkpoints/state.json epoch, best AUC, patience counter, history: what --resume needs

Every file is written to a temporary name and renamed, so a killed run never leaves a torn file.

:func:`train_run` is one transaction: :func:`train.plan.plan_run` checks everything and decides
(without TensorFlow), then this module executes the plan (resume, the swap of a replaced run); its
parts live elsewhere (:mod:`train.batches` the data, :mod:`train.epochs` the per-epoch work,
:mod:`train.rundir` the directory, :mod:`train.multiworker`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.encoder import FeatureEncoder
from masknet_edge.edge_runtime.spec import FeatureSpec
from masknet_edge.train import metrics
from masknet_edge.train.batches import checked_chunks, in_memory_dataset, load_encoded, streamed_dataset
from masknet_edge.train.config import ModelConfig, TrainConfig
from masknet_edge.train.devices import device_summary, split_cpu, strategy_for
from masknet_edge.train.fit import fit_spec
from masknet_edge.train.io import DataError, count_rows
from masknet_edge.train.plan import (
    RunPlan,
    TrainInputs,
    check_schedule,
    config_document,
    plan_run,
    saved_config,
)
from masknet_edge.train.rundir import RunDirError, plot_history, run_dir, save_model_atomic, write_json
from masknet_edge.train.teacher import Target, load_teacher, teacher_report

log = logging.getLogger("masknet.train")

#: Training steps per call into the compiled graph: fewer round trips through Python. Measured
#: side by side (MovieLens SerMaskNet, batch 256, CPU): 16 steps per call ran an epoch 10 % faster
#: than 1, as fast as a bare loop of compiled steps (``benchmarks/bench_throughput.py``).
STEPS_PER_EXECUTION = 16

__all__ = ["RunDirError", "TrainInputs", "load_encoded", "saved_config", "train_run"]


def _evaluate(model: Any, x: dict[str, np.ndarray], y: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    p = model.predict(x, batch_size=4096, verbose=0).ravel()
    return {
        "auc": metrics.auc(y, p),
        "logloss": metrics.logloss(y, p),
        "rows": int(len(y)),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
        "mean_score": float(p.mean()) if len(p) else float("nan"),
    }, p


def train_run(
    inputs: TrainInputs,
    spec: FeatureSpec,
    out: Path,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    *,
    resume: bool = False,
    resume_epochs: int | None = None,
    resume_worker_timeout: float | None = None,
    overwrite: bool = False,
    distribute: str = "none",
    cpu_devices: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a model and write a run directory; returns the metrics dict.

    Everything that can be checked before training is checked first (files, columns, labels, run
    directory), so bad input fails fast and leaves the run directory untouched. ``resume`` continues
    the run in ``out`` as it was configured (the other arguments are ignored), for at most
    ``resume_epochs`` epochs in all when given, and with ``resume_worker_timeout`` (multi-worker
    collectives) when given. What the run needs only while it trains (the
    encoded cache of a streamed file) is removed when it returns or fails.
    """
    with contextlib.ExitStack() as cleanup:
        return _train(
            inputs,
            spec,
            out,
            model_config,
            train_config,
            cleanup,
            resume=resume,
            resume_epochs=resume_epochs,
            resume_worker_timeout=resume_worker_timeout,
            overwrite=overwrite,
            distribute=distribute,
            cpu_devices=cpu_devices,
            progress=progress,
        )


def _train(
    inputs: TrainInputs,
    spec: FeatureSpec,
    out: Path,
    model_config: ModelConfig | None,
    train_config: TrainConfig | None,
    cleanup: contextlib.ExitStack,
    *,
    resume: bool,
    resume_epochs: int | None,
    resume_worker_timeout: float | None,
    overwrite: bool,
    distribute: str,
    cpu_devices: int,
    progress: bool,
) -> dict[str, Any]:
    plan = plan_run(
        inputs,
        spec,
        out,
        model_config,
        train_config,
        resume=resume,
        resume_epochs=resume_epochs,
        resume_worker_timeout=resume_worker_timeout,
        overwrite=overwrite,
        distribute=distribute,
        cpu_devices=cpu_devices,
    )
    out, model_config, train_config = plan.out, plan.model_config, plan.train_config
    role, helper, replacing = plan.role, plan.helper, plan.replacing

    import keras

    from masknet_edge.train.epochs import EpochCallback
    from masknet_edge.train.masknet import build_model
    from masknet_edge.train.optimizers import EmbeddingAdam

    if role is not None:  # before any other TensorFlow work of this process
        from masknet_edge.train.multiworker import make_strategy

        worker_strategy = make_strategy(train_config.worker_timeout)
    if distribute != "none" and cpu_devices > 1:
        split_cpu(cpu_devices)

    keras.utils.set_random_seed(train_config.seed)
    if train_config.mixed_precision:  # for this run only: the process's policy comes back after it
        cleanup.callback(keras.mixed_precision.set_global_policy, keras.mixed_precision.global_policy())
        keras.mixed_precision.set_global_policy("mixed_float16")
    log.info("training on %s", device_summary())

    data = _training_data(plan, cleanup)
    fitted, n_train, x_valid, y_valid = data.spec, data.rows, data.x_valid, data.y_valid
    ds, workers, steps_per_epoch, batch_size = (
        data.dataset,
        data.workers,
        data.steps_per_epoch,
        plan.batch_size,
    )
    steps = steps_per_epoch or math.ceil(n_train / batch_size)
    warmup_steps = check_schedule(train_config, batch_size, n_train, steps)

    # The run directory is created only now that the input is known to be good. A run it replaces
    # stays whole until the new one has finished (trained beside it, then swapped in).
    if helper:
        from masknet_edge.train.multiworker import worker_dir
    with worker_dir(out, resume) if helper else run_dir(out, resume=resume, replace=replacing) as out:
        ckpt = out / "checkpoints"
        ckpt.mkdir(exist_ok=True)
        if not resume:
            fitted.save(out / "spec.json")
        # a resumed run records its new epoch limit and worker timeout
        if plan.rewrite_config:
            write_json(out / "config.json", config_document(plan, fitted.fingerprint()))

        learning_rate = train_config.learning_rate_for(model_config.model, batch_size)
        strategy = worker_strategy if role is not None else strategy_for(distribute, cpu_devices)
        replicas = strategy.num_replicas_in_sync
        log.info("distribution: %s with %d replica(s)", type(strategy).__name__, replicas)
        with strategy.scope():
            if resume:
                model = keras.saving.load_model(ckpt / "last.keras", safe_mode=True)
                state = json.loads((ckpt / "state.json").read_text())
            else:
                model = build_model(fitted, model_config)
                model.compile(
                    optimizer=EmbeddingAdam(learning_rate, warmup_steps=warmup_steps),
                    loss=keras.losses.BinaryCrossentropy(),
                    # Keras 3's multi-step loop fails under MirroredStrategy (measured: an
                    # InvalidArgumentError in its while loop on two CPU replicas): one step there.
                    steps_per_execution=STEPS_PER_EXECUTION if distribute == "none" else 1,
                )
                state = {
                    "epoch": 0,
                    "best_auc": None,
                    "best_epoch": None,
                    "wait": 0,
                    "history": [],
                    "train_seconds": 0.0,
                    "learning_rate": learning_rate,
                }
            # The decayed learning rate of the last finished epoch (a run's history may lack it).
            model.optimizer.learning_rate = state.setdefault("learning_rate", learning_rate)

        predict = None
        if role is not None:
            from masknet_edge.train.multiworker import predict_in_batches

            def predict(x: dict[str, np.ndarray]) -> np.ndarray:
                return predict_in_batches(model, x)

        callback = EpochCallback(
            out, x_valid, y_valid, train_config, state, steps if progress else 0, predict=predict
        )
        if (
            role is not None
            and state["epoch"] < train_config.epochs
            and state["wait"] < train_config.patience
        ):
            from masknet_edge.train.multiworker import train_epochs

            train_epochs(
                model,
                strategy,
                workers.batches,
                workers.signature,
                batch_size,
                workers.steps,
                callback,
                state["epoch"],
                train_config.epochs,
                train_config.patience,
            )
        elif state["epoch"] < train_config.epochs and state["wait"] < train_config.patience:
            model.fit(
                ds,
                epochs=train_config.epochs,
                initial_epoch=state["epoch"],
                callbacks=[callback],
                verbose=0,  # progress, when asked for, is the callback's bar on stderr
                shuffle=False,  # the dataset is shuffled by tf.data (in memory) or per chunk (streamed)
                steps_per_epoch=steps_per_epoch,
            )
        state = callback.state
        best = keras.saving.load_model(ckpt / "best.keras", safe_mode=True)
        save_model_atomic(best, out / "model.keras")
        result = _results(plan, data, best, state, int(strategy.num_replicas_in_sync))
        write_json(out / "metrics.json", result)
        write_json(out / "history.json", state["history"])
        plot_history(state["history"], out / "training_curve.png")
    if role is not None:  # after the chief's run directory is in place
        from masknet_edge.train.multiworker import leave_together

        leave_together(strategy)
    return result


@dataclass
class _Data:
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


def _training_data(plan: RunPlan, cleanup: contextlib.ExitStack) -> _Data:
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

    return _Data(
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


def _results(plan: RunPlan, data: _Data, best: Any, state: dict[str, Any], replicas: int) -> dict[str, Any]:
    """``metrics.json``: the best model on the validation and test files, and how training went."""
    inputs, label, train_config, teacher = plan.inputs, plan.label, plan.train_config, data.teacher
    result: dict[str, Any] = {
        "model": plan.model_config.model,
        "batch_size": plan.batch_size,
        "device": device_summary(),
        "train_mode": data.mode,
        "encoded_cache_mib": data.cache_mib,
        "replicas": replicas,
    }
    result["valid"], _ = _evaluate(best, data.x_valid, data.y_valid)
    result["test"] = None  # stable keys: null without a test file
    if inputs.test:
        x_test, y_test, oracle = load_encoded(
            inputs.test, data.encoder, label, train_config.chunk_rows, extra=inputs.oracle_column
        )
        result["test"], p_test = _evaluate(best, x_test, y_test)
        if teacher is not None:
            result["teacher"] = teacher_report(teacher, inputs, x_test, y_test, p_test)
        if oracle is not None:
            result["test"]["oracle_auc"] = metrics.auc(y_test, oracle)
            result["test"]["oracle_logloss"] = metrics.logloss(y_test, oracle)
    result.update(
        epochs_trained=state["epoch"],
        best_epoch=state["best_epoch"],
        train_rows=data.rows,
        train_seconds=round(state["train_seconds"], 3),
        train_examples_per_s=round(data.rows * state["epoch"] / max(state["train_seconds"], 1e-9), 1),
        params=int(best.count_params()),
    )
    return result
