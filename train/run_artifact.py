"""A finished training run as one typed artifact: what ``masknet train`` writes into its run
directory, and the one way every later stage (resume, distillation, the frontier, conversion, checks)
reads it back.

    run/
      config.json    RunConfig: the architecture, the training settings, the data files and label
      spec.json      the fitted FeatureSpec
      model.keras    the best model (TrainedRun.keras_model)
      metrics.json   validation and test figures, how training went
      history.json   one entry per epoch

Every problem with these files is a :class:`RunDirError` that names the file. No TensorFlow at import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from masknet_edge.edge_runtime.errors import MasknetError, SpecError
from masknet_edge.edge_runtime.spec import FeatureSpec
from masknet_edge.train.config import ModelConfig, TrainConfig
from masknet_edge.train.io import DataError
from masknet_edge.train.rundir import RunDirError, write_json

__all__ = ["RunConfig", "RunDirError", "TrainInputs", "TrainedRun"]

CONFIG, SPEC, MODEL, METRICS = "config.json", "spec.json", "model.keras", "metrics.json"


@dataclass(frozen=True)
class TrainInputs:
    """Where the data is and which columns matter.

    Args:
        train: training file (CSV/TSV/Parquet).
        valid: validation file, for early stopping.
        test: optional test file, evaluated once at the end.
        label: label column (0/1). Defaults to the spec's label.
        oracle_column: optional column of true click probabilities (the generated shop world has
            one): its AUC is reported as the oracle next to the model's.
        teacher: optional run directory whose model teaches (distillation): the student trains on
            ``(1 - teacher_weight) * label + teacher_weight * teacher score`` with the teacher's own
            spec, so it is a drop-in replacement (same bundle inputs). Early stopping still uses
            the labels.
        teacher_weight: the teacher's share of the training target, in [0, 1]. Defaults to 0.5.
    """

    train: Path
    valid: Path
    test: Path | None = None
    label: str | None = None
    oracle_column: str | None = None
    teacher: Path | None = None
    teacher_weight: float = 0.5

    def __post_init__(self) -> None:
        w = self.teacher_weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w <= 1:
            raise DataError(f"teacher_weight must be in [0, 1]. Received: teacher_weight={w!r}")


def _optional_path(value: Any) -> Path | None:
    return Path(value) if value else None


@dataclass(frozen=True)
class RunConfig:
    """A run's ``config.json``: what it was started with, enough to resume it or train its student.

    Args:
        model: the architecture.
        train: the training settings.
        inputs: the data files (absolute paths) and the label column the run resolved.
        spec_sha256: the fitted spec's fingerprint.
    """

    model: ModelConfig
    train: TrainConfig
    inputs: TrainInputs
    spec_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON document, paths resolved to absolute ones."""
        inputs = self.inputs

        def absolute(p: Path | None) -> str | None:
            return str(Path(p).resolve()) if p else None

        return {
            "model": self.model.to_dict(),
            "train": self.train.to_dict(),
            "data": {
                "train": absolute(inputs.train),
                "valid": absolute(inputs.valid),
                "test": absolute(inputs.test),
                "label": inputs.label,
                "oracle_column": inputs.oracle_column,
                "teacher": absolute(inputs.teacher),
                "teacher_weight": inputs.teacher_weight,
            },
            "spec_sha256": self.spec_sha256,
        }

    @classmethod
    def from_dict(cls, saved: Any, source: Path | str = CONFIG) -> RunConfig:
        """The document of :meth:`to_dict`; anything else is a RunDirError naming ``source``."""
        try:
            data = saved["data"]
            inputs = TrainInputs(
                train=Path(data["train"]),
                valid=Path(data["valid"]),
                test=_optional_path(data.get("test")),
                label=data.get("label"),
                oracle_column=data.get("oracle_column"),
                teacher=_optional_path(data.get("teacher")),
                teacher_weight=data.get("teacher_weight", 0.5),
            )
            return cls(
                model=ModelConfig.from_dict(saved["model"]),
                train=TrainConfig(**{k: v for k, v in saved["train"].items() if k != "extra"}),
                inputs=inputs,
                spec_sha256=saved.get("spec_sha256"),
            )
        except (ValueError, KeyError, TypeError, AttributeError, MasknetError) as exc:
            raise RunDirError(
                f"{source}: damaged, not a run's configuration ({type(exc).__name__}: {exc}); "
                "train the run again or restore the file"
            ) from None

    @classmethod
    def read(cls, run: Path | str) -> RunConfig:
        """``run/config.json``; an absent or damaged file is a RunDirError naming it."""
        path = Path(run) / CONFIG
        if not path.is_file():
            raise RunDirError(f"{path}: no such file; is {run} a 'masknet train' run directory?")
        return cls.from_dict(_json_object(path), path)

    def write(self, run: Path) -> None:
        """Write ``run/config.json`` atomically."""
        write_json(Path(run) / CONFIG, self.to_dict())


@dataclass(frozen=True)
class TrainedRun:
    """A finished run directory, read: its configuration, fitted spec and metrics; the model is
    loaded on demand (it needs TensorFlow)."""

    path: Path
    config: RunConfig
    spec: FeatureSpec
    metrics: dict[str, Any] | None = None

    @classmethod
    def read(cls, run: Path | str) -> TrainedRun:
        """Open ``run``; a missing, unfinished or damaged run is a RunDirError naming what is wrong."""
        run = Path(run)
        if not run.is_dir():
            raise RunDirError(f"{run}: no such run directory")
        for name in (MODEL, SPEC):
            if not (run / name).is_file():
                raise RunDirError(f"{run}: no {name}; is this a finished 'masknet train' run directory?")
        try:
            spec = FeatureSpec.load(run / SPEC)
        except SpecError as exc:
            raise RunDirError(f"{run}: {exc}") from None
        config = RunConfig.read(run)
        metrics = _json_object(run / METRICS) if (run / METRICS).is_file() else None
        return cls(path=run, config=config, spec=spec, metrics=metrics)

    @property
    def model_path(self) -> Path:
        """The best model's file."""
        return self.path / MODEL

    @property
    def label(self) -> str | None:
        """The run's label column."""
        return self.config.inputs.label or self.spec.label

    @property
    def train_file(self) -> Path | None:
        """The file the run was trained on, if it still exists (conversion calibrates on it)."""
        p = self.config.inputs.train
        return p if p.is_file() else None

    def keras_model(self) -> Any:
        """The best model, loaded with ``safe_mode=True`` (no code runs from the file)."""
        import keras

        import masknet_edge.train.layers  # noqa: F401 - registers the custom layers for loading

        try:
            return keras.saving.load_model(self.model_path, safe_mode=True, compile=False)
        except Exception as exc:  # Keras raises many types for a damaged file
            raise RunDirError(
                f"{self.model_path}: cannot load the model ({type(exc).__name__}: {exc})"
            ) from None


def _json_object(path: Path) -> dict[str, Any]:
    """A run's JSON file as a dict; a damaged one is a RunDirError naming it."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).splitlines()[0]
        raise RunDirError(f"{path}: damaged ({problem}); train the run again or restore the file") from None
    if not isinstance(data, dict):
        raise RunDirError(
            f"{path}: damaged (expected a JSON object); train the run again or restore the file"
        )
    return data
