"""Reading a training run directory (model, fitted spec, configuration) for conversion and checks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from masknet_edge.edge_runtime.errors import MasknetError, SpecError
from masknet_edge.edge_runtime.spec import FeatureSpec

__all__ = ["RunArtifacts", "RunError", "load_run"]


class RunError(MasknetError):
    """A run directory is missing, incomplete or inconsistent."""


@dataclass
class RunArtifacts:
    """What a conversion needs from a run directory."""

    path: Path
    model: Any
    spec: FeatureSpec
    config: dict[str, Any]
    metrics: dict[str, Any] | None = None

    @property
    def train_file(self) -> Path | None:
        """The training file the run was trained on (for calibration), if it still exists."""
        p = self.config.get("data", {}).get("train")
        return Path(p) if p and Path(p).is_file() else None

    @property
    def label(self) -> str | None:
        """The run's label column."""
        return self.config.get("data", {}).get("label") or self.spec.label


def load_run(run_dir: str | Path) -> RunArtifacts:
    """Load the model (``safe_mode=True``) and spec of a run; check that they agree."""
    run = Path(run_dir)
    if not run.is_dir():
        raise RunError(f"{run}: no such run directory")
    model_path, spec_path, config_path = run / "model.keras", run / "spec.json", run / "config.json"
    for p in (model_path, spec_path):
        if not p.is_file():
            raise RunError(f"{run}: no {p.name}; is this a finished 'masknet train' run directory?")
    try:
        spec = FeatureSpec.load(spec_path)
    except SpecError as exc:
        raise RunError(f"{run}: {exc}") from None
    config = _json_object(config_path) or {}
    metrics = _json_object(run / "metrics.json")
    import keras

    import masknet_edge.train.layers  # noqa: F401 - registers the custom layers for deserialization

    try:
        model = _in_float32(keras.saving.load_model(model_path, safe_mode=True, compile=False))
    except Exception as exc:  # Keras raises many types for a damaged file
        raise RunError(f"{model_path}: cannot load the model ({type(exc).__name__}: {exc})") from None
    expected = {i.name: (i.dtype, (None, *i.shape)) for i in spec.input_signature()}
    got = {t.name.split(":")[0]: (str(t.dtype), tuple(t.shape)) for t in model.inputs}
    if expected != got:
        raise RunError(f"{run}: spec.json does not match the model's inputs: spec {expected}, model {got}")
    return RunArtifacts(path=run, model=model, spec=spec, config=config, metrics=metrics)


def _json_object(path: Path) -> dict[str, Any] | None:
    """A run's JSON file as a dict (None when absent); a damaged one is a RunError naming it."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).splitlines()[0]
        raise RunError(f"{path}: damaged ({problem}); train the run again or restore the file") from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: damaged (expected a JSON object); train the run again or restore the file")
    if path.name == "config.json" and not isinstance(data.get("data", {}), dict):
        raise RunError(f"{path}: damaged ('data' is not an object); train the run again or restore the file")
    return data


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
