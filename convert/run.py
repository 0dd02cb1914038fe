"""A training run as conversion sees it: the run's typed artifact (:class:`TrainedRun`) with its
best model loaded for the device, in float32. Conversion reaches training only through it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from masknet_edge.train.run_artifact import RunDirError, TrainedRun

__all__ = ["RunArtifacts", "RunError", "load_run"]

#: The error of a run directory that is missing, incomplete or inconsistent: the run artifact's own.
RunError = RunDirError


@dataclass(frozen=True)
class RunArtifacts:
    """What a conversion needs from a run directory: the run and its model, in float32."""

    run: TrainedRun
    model: Any

    @property
    def spec(self) -> Any:
        """The run's fitted spec."""
        return self.run.spec

    @property
    def train_file(self) -> Path | None:
        """The training file the run was trained on (for calibration), if it still exists."""
        return self.run.train_file

    @property
    def label(self) -> str | None:
        """The run's label column."""
        return self.run.label


def load_run(run_dir: str | Path) -> RunArtifacts:
    """Read a run and load its model (``safe_mode=True``); check that the spec and model agree."""
    run = TrainedRun.read(run_dir)
    model = _in_float32(run.keras_model())
    expected = {i.name: (i.dtype, (None, *i.shape)) for i in run.spec.input_signature()}
    got = {t.name.split(":")[0]: (str(t.dtype), tuple(t.shape)) for t in model.inputs}
    if expected != got:
        raise RunError(
            f"{run.path}: spec.json does not match the model's inputs: spec {expected}, model {got}"
        )
    return RunArtifacts(run=run, model=model)


def _in_float32(model: Any) -> Any:
    """The model with every layer computing in float32: a run trained with mixed precision saves
    its layers' ``mixed_float16`` policies, which the device's float model must not inherit (its
    variables are float32 already, so the weights carry over unchanged)."""
    import keras

    def float32(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("class_name") == "DTypePolicy" and node.get("config", {}).get("name") != "float32":
                return {**node, "config": {**node["config"], "name": "float32"}}
            return {k: float32(v) for k, v in node.items()}
        if isinstance(node, list):
            return [float32(v) for v in node]
        return node

    config = model.get_config()
    converted = float32(config)
    if converted == config:
        return model
    rebuilt = keras.Model.from_config(converted)
    rebuilt.set_weights(model.get_weights())
    return rebuilt
