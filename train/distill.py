"""Distillation: a smaller student trained on a teacher run's scores and the labels.

The student reads the teacher's fitted spec, so its bundle is a drop-in replacement for the
teacher's (the same inputs, the same encoder); the training target is
``(1 - teacher_weight) * label + teacher_weight * teacher score`` (see
:class:`train.pipeline.TrainInputs`). Early stopping still looks at the labels.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from train.config import ModelConfig, TrainConfig

__all__ = [
    "STUDENT_DEFAULTS",
    "Target",
    "distill_run",
    "load_teacher",
    "student_config",
    "teacher_report",
    "teacher_spec",
]

#: What a student changes of its teacher's architecture unless told otherwise: one narrow block.
STUDENT_DEFAULTS: dict[str, Any] = {"num_blocks": 1, "block_units": 128, "mlp_units": (128,)}


def student_config(teacher_run: str | Path, **changes: Any) -> ModelConfig:
    """The teacher's model configuration with :data:`STUDENT_DEFAULTS` and ``changes`` applied
    (``None`` values keep the teacher's). Regularisation and ablation switches are the defaults'."""
    from train.pipeline import saved_config

    teacher, _, _ = saved_config(Path(teacher_run) / "config.json")
    chosen = {**STUDENT_DEFAULTS, **{k: v for k, v in changes.items() if v is not None}}
    base = ModelConfig(
        model=teacher.model,
        embedding_dim=teacher.embedding_dim,
        reduction_ratio=teacher.reduction_ratio,
        numeric_mode=teacher.numeric_mode,
    )
    return dataclasses.replace(base, **chosen)


def distill_run(
    teacher_run: str | Path,
    out: str | Path,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    *,
    teacher_weight: float = 0.5,
    train: Path | None = None,
    valid: Path | None = None,
    test: Path | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Train a student of ``teacher_run`` into the run directory ``out``; returns its metrics (with
    a ``teacher`` entry when there is a test file). Data files default to the teacher's."""
    from train.pipeline import TrainInputs, saved_config, train_run

    teacher_run = Path(teacher_run)
    _, _, taught = saved_config(teacher_run / "config.json")
    inputs = TrainInputs(
        train or taught.train,
        valid or taught.valid,
        test or taught.test,
        label=taught.label,
        teacher=teacher_run,
        teacher_weight=teacher_weight,
    )
    return train_run(
        inputs,
        None,  # type: ignore[arg-type]  (the teacher's spec is used)
        Path(out),
        model_config or student_config(teacher_run),
        train_config or TrainConfig(),
        overwrite=overwrite,
        progress=progress,
    )


def teacher_spec(run: Path) -> Any:
    """The fitted spec of a teacher run (a RunDirError when ``run`` is not a finished run)."""
    from edge_runtime.spec import FeatureSpec
    from train.rundir import RunDirError

    run = Path(run)
    if not (run / "model.keras").is_file() or not (run / "spec.json").is_file():
        raise RunDirError(f"{run}: not a finished run directory (model.keras and spec.json); train it first")
    return FeatureSpec.load(run / "spec.json")


def load_teacher(run: Path) -> Any:
    """The teacher's model (Keras, ``safe_mode=True``)."""
    import keras

    import train.layers  # noqa: F401  (registers the custom layers for loading)

    return keras.saving.load_model(Path(run) / "model.keras", safe_mode=True)


class Target:
    """Training targets: the labels, mixed with a teacher's scores when one is given."""

    def __init__(self, teacher: Any, weight: float) -> None:
        self.teacher, self.weight = teacher, float(weight)

    def __call__(self, x: dict[str, np.ndarray], y: np.ndarray) -> np.ndarray:
        if self.teacher is None or self.weight == 0:
            return y
        scores = self.teacher.predict(x, batch_size=4096, verbose=0).ravel().astype(np.float32)
        return ((1 - self.weight) * y + self.weight * scores).astype(np.float32)


def teacher_report(
    teacher: Any, inputs: Any, x: dict[str, np.ndarray], y: np.ndarray, student: np.ndarray
) -> dict[str, Any]:
    """The teacher's test AUC next to the student's, and how alike their scores rank."""
    from train import metrics

    scores = teacher.predict(x, batch_size=4096, verbose=0).ravel()
    return {
        "run": str(Path(inputs.teacher).resolve()),
        "weight": inputs.teacher_weight,
        "test_auc": metrics.auc(y, scores),
        "test_spearman_with_student": metrics.spearman(scores, student),
        "params": int(teacher.count_params()),
    }
