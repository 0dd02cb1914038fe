"""Converting a training run into a device bundle: the library behind ``masknet convert`` (and the demo
and benchmarks), with no command-line code. TensorFlow is imported when a conversion starts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from masknet_edge.convert.modes import QuantMode
from masknet_edge.convert.run import RunError
from masknet_edge.edge_runtime.manifest import Manifest, Quantization

__all__ = ["LAYERNORM_OPS", "POOLING_OPS", "convert_run"]

#: The ops of a LayerNorm (and of LN-EMB) in a converted graph: numerically delicate in int8.
LAYERNORM_OPS = ("ADD", "MEAN", "MUL", "RSQRT", "SQUARED_DIFFERENCE", "SUB")
#: The division of a mean-pooled multi-valued field by its count: in int8 it lost the most of any op
#: of a MovieLens model with genres and histories (rmse 13x its quantization step; BENCHMARKS.md).
POOLING_OPS = ("DIV",)


def _without_paths(metrics: dict[str, Any]) -> dict[str, Any]:
    """Training metrics as a bundle ships them: a teacher run named by its folder, not its path."""
    out = dict(metrics)
    teacher = out.get("teacher")
    if isinstance(teacher, dict) and isinstance(teacher.get("run"), str):
        out["teacher"] = {**teacher, "run": Path(teacher["run"]).name}
    return out


def _sample_rows(path: Path, spec: Any, rows: int, seed: int) -> Any:
    """A seeded uniform sample of ``rows`` rows from the first 200,000 of a file."""
    from masknet_edge.train.io import iter_chunks

    df = next(iter(iter_chunks(path, 200_000, text_columns=list(spec.text_columns))), None)
    if df is None or not len(df):
        raise RunError(f"{path}: no rows to calibrate on")
    return df.sample(n=min(rows, len(df)), random_state=seed).reset_index(drop=True)


def _check_calibration_columns(source: Path, spec: Any) -> None:
    """Calibration rows must hold every input column of the spec."""
    from masknet_edge.train.io import file_columns

    absent = [c for c in spec.input_columns if c not in file_columns(source)]
    if absent:
        raise RunError(
            f"{source}: calibration rows lack the spec's columns {absent}; "
            "give --calibration-data with rows like the training data"
        )


def _model_info(run: Any, run_dir: Path) -> dict[str, Any]:
    """The manifest's account of the model. It travels to every device: the run's folder name, never
    the workstation's paths."""
    info = {
        "architecture": run.run.config.model.to_dict(),
        "run": Path(run_dir).resolve().name,
        "float_params": int(run.model.count_params()),
        "label": run.run.config.inputs.label,
    }
    if run.run.metrics is not None:
        info["training_metrics"] = _without_paths(run.run.metrics)
    return info


def convert_run(
    run_dir: Path,
    mode: str,
    out: Path,
    calibration_rows: int = 1000,
    keep_float: tuple[str, ...] = (),
    golden_rows: int = 32,
    seed: int = 0,
    calibration_data: Path | None = None,
    progress: bool = True,
    per_tensor: bool = False,
    overwrite: bool = False,
) -> Manifest:
    """Convert a run into a bundle at ``out``; returns the manifest.

    ``out`` is checked before the conversion starts: it may not be an input or lie inside the run
    directory, and an existing file is replaced only with ``overwrite``.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from masknet_edge.convert.bundle_writer import json_safe_records, make_golden, write_bundle
    from masknet_edge.convert.converter import convert_model
    from masknet_edge.convert.run import load_run
    from masknet_edge.edge_runtime.conformance import edge_case_records
    from masknet_edge.edge_runtime.encoder import FeatureEncoder
    from masknet_edge.edge_runtime.outputs import check_output

    out = Path(out)
    if out.is_dir():
        raise RunError(f"cannot write {out}: it is a folder; give a file name such as model.mnb")
    check_output(out, [run_dir, calibration_data], overwrite=overwrite)  # before the long conversion
    run = load_run(run_dir)
    source = calibration_data or run.train_file
    if source is None:
        raise RunError(
            f"{run_dir}: its training file is gone; "
            "pass --calibration-data FILE with rows like the training data"
        )
    spec = run.spec
    encoder = FeatureEncoder(spec)
    need = QuantMode(mode).calibrated
    if need:  # calibrating on defaults for absent columns would be silently wrong
        _check_calibration_columns(source, spec)
    calib = _sample_rows(source, spec, calibration_rows, seed) if need else None
    sample = encoder.encode(calib) if calib is not None else None
    result = convert_model(
        run.model, spec, mode, sample, keep_float, progress=progress, per_tensor=per_tensor
    )
    golden_df = _sample_rows(source, spec, golden_rows, seed + 1)
    records = json_safe_records(golden_df, list(spec.input_columns))
    # Training rows, then one edge case per rule a field follows (missing, typed, boundary, ...).
    records += edge_case_records(spec, records[0]) if records else []
    golden = make_golden(spec, records, result.tflite, mode)
    quantization = Quantization(
        mode=QuantMode(mode).value,
        float_ops=tuple(result.float_ops),
        calibration_rows=result.calibration_rows,
        weights="per-tensor" if per_tensor else "per-channel",
        layer_errors=tuple(result.layer_errors),
    )
    return write_bundle(
        out,
        result.tflite,
        spec,
        golden,
        quantization=quantization,
        model_info=_model_info(run, run_dir),
        tensorflow_version=tf.__version__,
        replace=overwrite,  # without --overwrite, a bundle another process wrote meanwhile is kept
    )
