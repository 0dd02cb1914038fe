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
from pathlib import Path
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.spec import FeatureSpec
from masknet_edge.train import metrics
from masknet_edge.train.batches import load_encoded
from masknet_edge.train.config import ModelConfig, TrainConfig
from masknet_edge.train.devices import (
    cpu_has_bfloat16,
    device_summary,
    leave_a_core_for_input,
    mixed_policy,
    split_cpu,
    strategy_for,
)
from masknet_edge.train.plan import RunPlan, check_schedule, plan_run
from masknet_edge.train.run_artifact import RunConfig, TrainedRun, TrainInputs
from masknet_edge.train.run_data import RunData, training_data
from masknet_edge.train.rundir import RunDirError, copy_atomic, plot_history, run_dir, write_json
from masknet_edge.train.teacher import teacher_report

log = logging.getLogger("masknet.train")

#: Training steps per call into the compiled graph: fewer round trips through Python. Measured
#: side by side (MovieLens SerMaskNet, batch 256, CPU): 16 steps per call ran an epoch 10 % faster
#: than 1, as fast as a bare loop of compiled steps (``benchmarks/bench_throughput.py``).
STEPS_PER_EXECUTION = 16

__all__ = ["RunConfig", "RunDirError", "TrainInputs", "TrainedRun", "load_encoded", "train_run"]


def _evaluate(model: Any, x: dict[str, np.ndarray], y: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    from masknet_edge.train.epochs import predict_scores

    p = predict_scores(model, x)
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
    with contextlib.ExitStack() as cleanup:
        return _train(plan, cleanup, distribute=distribute, cpu_devices=cpu_devices, progress=progress)


def _train(
    plan: RunPlan, cleanup: contextlib.ExitStack, *, distribute: str, cpu_devices: int, progress: bool
) -> dict[str, Any]:
    """Execute a checked plan: the data, the run directory, the model, its epochs and the results."""
    resume = plan.resume
    out, model_config, train_config = plan.out, plan.model_config, plan.train_config
    role, helper, replacing = plan.role, plan.helper, plan.replacing

    import keras

    from masknet_edge.train.epochs import EpochCallback

    worker_strategy = _prepare_process(plan, cleanup, distribute, cpu_devices)

    data = training_data(plan, cleanup)
    fitted, n_train, x_valid, y_valid = data.spec, data.rows, data.x_valid, data.y_valid
    batch_size = plan.batch_size
    steps = data.steps_per_epoch or math.ceil(n_train / batch_size)
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
            plan.run_config(fitted.fingerprint()).write(out)

        learning_rate = train_config.learning_rate_for(model_config.model, batch_size)
        strategy = worker_strategy if role is not None else strategy_for(distribute, cpu_devices)
        replicas = strategy.num_replicas_in_sync
        log.info("distribution: %s with %d replica(s)", type(strategy).__name__, replicas)
        with strategy.scope():
            model, state = _model_and_state(plan, fitted, ckpt, learning_rate, warmup_steps, distribute)

        predict = None
        if role is not None:
            from masknet_edge.train.multiworker import predict_in_batches

            def predict(x: dict[str, np.ndarray]) -> np.ndarray:
                return predict_in_batches(model, x)

        callback = EpochCallback(
            out, x_valid, y_valid, train_config, state, steps if progress else 0, predict=predict
        )
        if state["epoch"] < train_config.epochs and state["wait"] < train_config.patience:
            _fit(model, data, plan, strategy, callback, state["epoch"])
        state = callback.state
        if role is None and replicas == 1:  # the trained model, its compiled predict function reused
            callback.restore_best()
            best = model
        else:  # a plain model: scored outside the distribution strategy
            best = keras.saving.load_model(ckpt / "best.keras", safe_mode=True)
        copy_atomic(ckpt / "best.keras", out / "model.keras")
        result = _results(plan, data, best, state, replicas)
        write_json(out / "metrics.json", result)
        write_json(out / "history.json", state["history"])
        plot_history(state["history"], out / "training_curve.png")
    if role is not None:  # after the chief's run directory is in place
        from masknet_edge.train.multiworker import leave_together

        leave_together(strategy)
    return result


def _prepare_process(plan: RunPlan, cleanup: contextlib.ExitStack, distribute: str, cpu_devices: int) -> Any:
    """TensorFlow's process state for the run: the multi-worker strategy (first, before any other
    TensorFlow work; None for a single process), CPU replicas, the seed and, for this run only, the
    mixed-precision policy (the process's own comes back after it)."""
    import keras

    train_config = plan.train_config
    worker_strategy = None
    if plan.role is not None:
        from masknet_edge.train.multiworker import make_strategy

        worker_strategy = make_strategy(train_config.worker_timeout)
    threads = leave_a_core_for_input()
    if distribute != "none" and cpu_devices > 1:
        split_cpu(cpu_devices)
    keras.utils.set_random_seed(train_config.seed)
    if train_config.mixed_precision:
        cleanup.callback(keras.mixed_precision.set_global_policy, keras.mixed_precision.global_policy())
        policy = mixed_policy()
        keras.mixed_precision.set_global_policy(policy)
        if policy == "mixed_bfloat16" and not cpu_has_bfloat16():
            log.warning(
                "--mixed-precision on a CPU without bfloat16 units (AMX or AVX-512 BF16): bfloat16 is "
                "emulated there and slower than float32; leave --mixed-precision off on this host"
            )
    ops = f", {threads} op thread{'s' * (threads != 1)} (one core left to the input)" if threads else ""
    log.info("training on %s%s", device_summary(), ops)
    return worker_strategy


def _model_and_state(
    plan: RunPlan, fitted: FeatureSpec, ckpt: Path, learning_rate: float, warmup_steps: int, distribute: str
) -> tuple[Any, dict[str, Any]]:
    """The model to train and the run's state: a resumed run's last checkpoint, else a new compiled
    model (call inside the distribution strategy's scope)."""
    import keras

    from masknet_edge.train.masknet import build_model
    from masknet_edge.train.optimizers import EmbeddingAdam

    if plan.resume:
        model = keras.saving.load_model(ckpt / "last.keras", safe_mode=True)
        state = json.loads((ckpt / "state.json").read_text())
    else:
        model = build_model(fitted, plan.model_config)
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
    return model, state


def _fit(model: Any, data: RunData, plan: RunPlan, strategy: Any, callback: Any, first_epoch: int) -> None:
    """The epochs from ``first_epoch`` on: Keras' ``fit``, or the multi-worker loop of ours."""
    train_config = plan.train_config
    if plan.role is not None:
        from masknet_edge.train.multiworker import train_epochs

        workers = data.workers
        train_epochs(
            model,
            strategy,
            workers.batches,
            workers.signature,
            plan.batch_size,
            workers.steps,
            callback,
            first_epoch,
            train_config.epochs,
            train_config.patience,
        )
        return
    model.fit(
        data.dataset,
        epochs=train_config.epochs,
        initial_epoch=first_epoch,
        callbacks=[callback],
        verbose=0,  # progress, when asked for, is the callback's bar on stderr
        shuffle=False,  # the dataset is shuffled by tf.data (in memory) or per chunk (streamed)
        steps_per_epoch=data.steps_per_epoch,
    )


def _results(plan: RunPlan, data: RunData, best: Any, state: dict[str, Any], replicas: int) -> dict[str, Any]:
    """``metrics.json``: the best model on the validation and test files, and how training went."""
    inputs, label, train_config, teacher = plan.inputs, plan.label, plan.train_config, data.teacher
    result: dict[str, Any] = {
        "model": plan.model_config.model,
        "batch_size": plan.batch_size,
        "device": device_summary(),
        "precision": best.dtype_policy.name,  # float32, or the mixed policy of --mixed-precision
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
