"""The teacher of a distilled run: its spec, its model, the mixed training target, its report.

The training loop (:mod:`train.pipeline`) reads these when a run has a teacher; the ``distill``
command itself (:mod:`train.distill`) starts such runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Target", "load_teacher", "teacher_report", "teacher_spec"]


def teacher_spec(run: Path) -> Any:
    """The fitted spec of a teacher run (a RunDirError when ``run`` is not a finished run)."""
    from masknet_edge.train.run_artifact import TrainedRun

    return TrainedRun.read(run).spec


def load_teacher(run: Path) -> Any:
    """The teacher's model (Keras, ``safe_mode=True``)."""
    from masknet_edge.train.run_artifact import TrainedRun

    return TrainedRun.read(run).keras_model()


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
    from masknet_edge.train import metrics

    scores = teacher.predict(x, batch_size=4096, verbose=0).ravel()
    return {
        "run": str(Path(inputs.teacher).resolve()),
        "weight": inputs.teacher_weight,
        "test_auc": metrics.auc(y, scores),
        "test_spearman_with_student": metrics.spearman(scores, student),
        "params": int(teacher.count_params()),
    }
