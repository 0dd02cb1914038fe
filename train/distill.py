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

from masknet_edge.train.config import ModelConfig, TrainConfig

__all__ = ["STUDENT_DEFAULTS", "distill_run", "student_config"]

#: What a student changes of its teacher's architecture unless told otherwise: one narrow block.
STUDENT_DEFAULTS: dict[str, Any] = {"num_blocks": 1, "block_units": 128, "mlp_units": (128,)}


def student_config(teacher_run: str | Path, **changes: Any) -> ModelConfig:
    """The teacher's model configuration with :data:`STUDENT_DEFAULTS` and ``changes`` applied
    (``None`` values keep the teacher's). Regularisation and ablation switches are the defaults'."""
    from masknet_edge.train.run_artifact import RunConfig

    teacher = RunConfig.read(teacher_run).model
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
    from masknet_edge.train.pipeline import RunConfig, TrainInputs, train_run

    teacher_run = Path(teacher_run)
    taught = RunConfig.read(teacher_run).inputs
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
