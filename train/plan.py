"""What a training run will do, decided and checked before anything is trained or written.

:func:`plan_run` reads the arguments of ``masknet train`` (or a run directory to resume), checks
every input that can be checked without TensorFlow (files, columns, label, batch against replicas,
the run directory and what it may replace) and returns a :class:`RunPlan`; :mod:`train.pipeline`
executes it. A bad input fails here, in seconds, and leaves the run directory untouched.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from masknet_edge.edge_runtime.outputs import check_output
from masknet_edge.edge_runtime.spec import FeatureSpec
from masknet_edge.train.config import DEFAULT_BATCH_SIZE, ConfigError, ModelConfig, TrainConfig
from masknet_edge.train.io import DataError, file_columns
from masknet_edge.train.run_artifact import RunConfig, TrainInputs
from masknet_edge.train.rundir import RunDirError, is_run_dir
from masknet_edge.train.teacher import teacher_spec

__all__ = ["RunPlan", "TrainInputs", "check_schedule", "plan_run"]


def _check_columns(path: Path, spec: FeatureSpec, label: str) -> None:
    cols = set(file_columns(path))
    needed = [*spec.input_columns, label]
    missing = [c for c in needed if c not in cols]
    if missing:
        raise DataError(
            f"{path}: missing columns {missing} that the spec needs; the file has {sorted(cols)[:30]}"
        )


@dataclass(frozen=True)
class RunPlan:
    """A checked training run: what to train on, how, and where it goes.

    Args:
        out: the run directory.
        inputs: the data files and columns (a resumed run's own).
        spec: the spec to fit (a student's: its teacher's; a resumed run's: its fitted one).
        model_config: the architecture.
        train_config: the training settings.
        label: the label column.
        batch_size: rows per step.
        resume: continue the run in ``out``.
        rewrite_config: write ``config.json`` (a new run, or a resumed one with new limits).
        replacing: an existing run in ``out`` is replaced when the new one has finished.
        role: this process's multi-worker role, None when not multi-worker.
        spec_fitted: the spec is fitted already (a resumed run, a student): no fitting pass.
    """

    out: Path
    inputs: TrainInputs
    spec: FeatureSpec
    model_config: ModelConfig
    train_config: TrainConfig
    label: str
    batch_size: int
    resume: bool
    rewrite_config: bool
    replacing: bool
    role: Any
    spec_fitted: bool

    @property
    def helper(self) -> bool:
        """A multi-worker process that is not the chief: it writes nothing into ``out``."""
        return self.role is not None and not self.role.chief

    def run_config(self, spec_sha256: str) -> RunConfig:
        """What the run's ``config.json`` records: the resolved label with the data files."""
        inputs = dataclasses.replace(self.inputs, label=self.label)
        return RunConfig(self.model_config, self.train_config, inputs, spec_sha256)


def plan_run(
    inputs: TrainInputs,
    spec: FeatureSpec,
    out: Path,
    model_config: ModelConfig | None,
    train_config: TrainConfig | None,
    *,
    resume: bool,
    resume_epochs: int | None,
    resume_worker_timeout: float | None,
    overwrite: bool,
    distribute: str,
    cpu_devices: int,
) -> RunPlan:
    """Check a training run's arguments and decide what it does (see :func:`train.pipeline.train_run`)."""
    out = Path(out)
    model_config = model_config or ModelConfig()
    train_config = train_config or TrainConfig()
    if resume:
        if not (out / "checkpoints" / "state.json").is_file():
            raise RunDirError(
                f"{out}: nothing to resume (no checkpoints/state.json); start a new run instead"
            )
        spec = FeatureSpec.load(out / "spec.json")
        saved = RunConfig.read(out)
        model_config, train_config, inputs = saved.model, saved.train, saved.inputs
        if resume_epochs is not None:
            train_config = dataclasses.replace(train_config, epochs=resume_epochs)
        if resume_worker_timeout is not None:
            train_config = dataclasses.replace(train_config, worker_timeout=resume_worker_timeout)
    label = inputs.label or spec.label
    if not label:
        raise DataError("no label column: set 'label' in the spec or pass --label")
    batch = train_config.batch_size or DEFAULT_BATCH_SIZE
    if distribute != "none" and cpu_devices > batch:  # a replica without rows fails inside TensorFlow
        raise ConfigError(
            f"--cpu-devices {cpu_devices} is more than the batch of {batch} rows: every device needs "
            "rows of each batch; raise --batch-size or lower --cpu-devices"
        )
    role = None
    if distribute == "multiworker":
        from masknet_edge.train.multiworker import cluster_role

        role = cluster_role()
    helper = role is not None and not role.chief
    replacing = _check_out(out, inputs, resume=resume, overwrite=overwrite, helper=helper)
    spec_of_teacher = teacher_spec(inputs.teacher) if inputs.teacher else None
    if spec_of_teacher is not None and not resume:
        spec = spec_of_teacher  # the student reads exactly the teacher's inputs
    for path in _files(inputs):
        _check_columns(path, spec, label)
    return RunPlan(
        out=out,
        inputs=inputs,
        spec=spec,
        model_config=model_config,
        train_config=train_config,
        label=label,
        batch_size=batch,
        resume=resume,
        rewrite_config=not resume or resume_epochs is not None or resume_worker_timeout is not None,
        replacing=replacing,
        role=role,
        spec_fitted=resume or spec_of_teacher is not None,
    )


def check_schedule(train_config: TrainConfig, batch_size: int, rows: int, steps_per_epoch: int) -> int:
    """Refuse a batch or warm-up that cannot work, before any training; returns the warm-up's steps.

    Raises:
        ConfigError: a batch larger than the training rows, or a warm-up longer than the run.
    """
    if batch_size > rows:
        raise ConfigError(
            f"--batch-size {batch_size} is more than the {rows:,} training rows: every epoch would be one "
            "short batch; lower --batch-size"
        )
    warmup = train_config.warmup_epochs
    if warmup > train_config.epochs:
        raise ConfigError(
            f"--warmup-epochs {warmup:g} is longer than the run (--epochs {train_config.epochs}): the "
            "learning rate would never reach its value; lower --warmup-epochs or raise --epochs"
        )
    return math.ceil(warmup * steps_per_epoch)


def _files(inputs: TrainInputs) -> list[Path]:
    return [inputs.train, inputs.valid] + ([inputs.test] if inputs.test else [])


def _check_out(out: Path, inputs: TrainInputs, *, resume: bool, overwrite: bool, helper: bool) -> bool:
    """Check the run directory against the inputs; True when an existing run will be replaced."""
    occupied = out.exists() and (not out.is_dir() or any(out.iterdir())) and not helper
    if not resume and not overwrite and occupied:
        raise RunDirError(
            f"{out}: the run directory already exists and is not empty; "
            "pass --overwrite to replace it or --resume to continue it"
        )
    teachers = [inputs.teacher] if inputs.teacher else []
    check_output(out, _files(inputs) + teachers, overwrite=True)  # never an input, never inside or around one
    replacing = overwrite and occupied
    if replacing and not (out.is_dir() and is_run_dir(out)):
        raise RunDirError(
            f"{out} is not a run directory (no config.json and model.keras or checkpoints/): "
            "--overwrite replaces only runs; choose a new --out"
        )
    return replacing
