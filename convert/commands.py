"""``masknet convert`` and ``masknet check``."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import click

from convert.converter import QUANT_MODES
from edge_runtime.clitools import emit_json, guarded, interruptible, json_option, stderr_is_terminal

#: The ops of a LayerNorm (and of LN-EMB) in a converted graph: numerically delicate in int8.
LAYERNORM_OPS = ("ADD", "MEAN", "MUL", "RSQRT", "SQUARED_DIFFERENCE", "SUB")


@functools.cache
def tflite_op_types() -> frozenset[str]:
    """The names of TFLite's builtin operators (the schema TensorFlow converts to)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tensorflow.lite.python import schema_py_generated as schema

    return frozenset(k for k in vars(schema.BuiltinOperator) if k.isupper())


def keep_float_ops(text: str) -> tuple[str, ...]:
    """Parse ``--keep-float``: ``layernorm``, ``none`` or comma-separated TFLite op types."""
    ops: list[str] = []
    for item in (o.strip() for o in text.split(",")):
        if not item or item.lower() == "none":
            continue
        if item.lower() == "layernorm":
            ops.extend(LAYERNORM_OPS)
        elif item.upper() in tflite_op_types():
            ops.append(item.upper())
        else:
            raise click.BadParameter(
                f"{item!r} is not a TFLite op type (e.g. MEAN, RSQRT, FULLY_CONNECTED; or 'layernorm')",
                param_hint="--keep-float",
            )
    return tuple(sorted(set(ops)))


def _sample_rows(path: Path, spec: Any, rows: int, seed: int) -> Any:
    """A seeded uniform sample of ``rows`` rows from the first 200,000 of a file."""
    from train.io import iter_chunks

    df = next(iter(iter_chunks(path, 200_000, text_columns=list(spec.text_columns))), None)
    if df is None or not len(df):
        raise click.ClickException(f"{path}: no rows to calibrate on")
    return df.sample(n=min(rows, len(df)), random_state=seed).reset_index(drop=True)


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
) -> dict[str, Any]:
    """Convert a run into a bundle at ``out``; returns the manifest.

    ``out`` is checked before the conversion starts: it may not be an input or lie inside the run
    directory, and an existing file is replaced only with ``overwrite``.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from convert.bundle_writer import json_safe_records, make_golden, write_bundle
    from convert.converter import convert_model
    from convert.run import RunError, load_run
    from edge_runtime.conformance import edge_case_records
    from edge_runtime.encoder import FeatureEncoder
    from edge_runtime.outputs import check_output

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
    need = mode in ("int8", "int16x8")
    if need:  # calibrating on defaults for absent columns would be silently wrong
        from train.io import file_columns

        absent = [c for c in spec.input_columns if c not in file_columns(source)]
        if absent:
            raise RunError(
                f"{source}: calibration rows lack the spec's columns {absent}; "
                "give --calibration-data with rows like the training data"
            )
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
    quant_info: dict[str, Any] = {
        "float_ops": result.float_ops,
        "calibration_rows": result.calibration_rows,
        "weights": "per-tensor" if per_tensor else "per-channel",
    }
    if result.layer_errors:
        quant_info["layer_errors"] = result.layer_errors
    model_info = {
        "architecture": run.config.get("model", {}),
        "run": str(Path(run_dir).resolve()),
        "float_params": int(run.model.count_params()),
    }
    if "data" in run.config:
        model_info["label"] = run.config["data"].get("label")
    if run.metrics is not None:
        model_info["training_metrics"] = run.metrics
    return write_bundle(
        out,
        result.tflite,
        spec,
        golden,
        mode=mode,
        model_info=model_info,
        quantization_info=quant_info,
        tensorflow_version=tf.__version__,
    )


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--quantize", "mode", type=click.Choice(QUANT_MODES), default="dynamic", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Bundle file to write.")
@click.option(
    "--calibration-rows",
    type=click.IntRange(16),
    default=1000,
    show_default=True,
    help="Training rows used to calibrate int8/int16x8.",
)
@click.option(
    "--calibration-data",
    type=click.Path(path_type=Path),
    help="Calibration rows (defaults to the run's training file).",
)
@click.option(
    "--keep-float",
    default="layernorm",
    show_default=True,
    help="int8: TFLite op types kept in float, comma-separated; 'layernorm' = the LayerNorm ops, "
    "'none' = full integer.",
)
@click.option(
    "--per-tensor",
    is_flag=True,
    help="Per-tensor weight scales: runs on older runtimes (tflite-runtime 2.14), slightly less exact.",
)
@click.option("--golden-rows", type=click.IntRange(1, 1000), default=32, show_default=True)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@json_option
@guarded
def convert(
    run_dir: Path,
    mode: str,
    out: Path,
    calibration_rows: int,
    calibration_data: Path | None,
    keep_float: str,
    per_tensor: bool,
    golden_rows: int,
    seed: int,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Convert a trained run into a device bundle (model + spec + manifest + golden vectors).

    \b
    Example:
      masknet convert runs/shop --quantize int8 --out shop-int8.mnb
    """
    ops = keep_float_ops(keep_float) if mode == "int8" else ()
    manifest = interruptible(
        convert_run,
        run_dir,
        mode,
        out,
        calibration_rows,
        ops,
        golden_rows,
        seed,
        calibration_data,
        progress=not as_json and stderr_is_terminal(),  # bars only on a terminal
        per_tensor=per_tensor,
        overwrite=overwrite,
    )
    if as_json:
        emit_json({"bundle": str(out), "size": out.stat().st_size, "manifest": manifest})
        return
    size = manifest["parts"]["model.tflite"]["size"]
    click.echo(
        f"wrote {out} ({mode}, model {size / 1024:.1f} KiB, {manifest['golden_records']} golden records)"
    )


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "--reference", type=click.Path(path_type=Path), required=True, help="The run directory (float model)."
)
@click.option("--data", type=click.Path(path_type=Path), required=True, help="Held-out rows (CSV/Parquet).")
@click.option(
    "--group-by", default="", help="Columns that define a ranking context (default: the spec's context)."
)
@click.option("--k", type=click.IntRange(1), default=10, show_default=True)
@click.option(
    "--slate-size",
    type=click.IntRange(2),
    default=50,
    show_default=True,
    help="Without context columns: rank fixed-size slates of consecutive rows.",
)
@click.option("--max-rows", type=click.IntRange(1), help="Use only the first N rows.")
@click.option("--max-auc-drop", type=float, default=0.002, show_default=True)
@click.option("--min-topk-overlap", type=float, default=0.95, show_default=True)
@click.option("--min-ndcg", type=float, default=0.98, show_default=True)
@click.option("--min-spearman", type=float, default=0.98, show_default=True)
@click.option("--max-mean-abs-diff", type=float, help="Limit on the mean |score difference|.")
@click.option("--plot", type=click.Path(path_type=Path), help="PNG of the score scatter and error histogram.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --plot file.")
@json_option
@guarded
def check(
    bundle: Path,
    reference: Path,
    data: Path,
    group_by: str,
    k: int,
    slate_size: int,
    max_rows: int | None,
    max_auc_drop: float,
    min_topk_overlap: float,
    min_ndcg: float,
    min_spearman: float,
    max_mean_abs_diff: float | None,
    plot: Path | None,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Measure what quantization cost against the float model; exit 1 when a threshold is violated.

    \b
    Example:
      masknet check shop-int8.mnb --reference runs/shop --data data/shop/test.csv --plot check.png
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from convert.check import Thresholds, check_bundle, format_report, plot_report
    from edge_runtime.outputs import check_output

    if plot:
        check_output(plot, [bundle, reference, data], overwrite=overwrite, option="--plot")
    thresholds = Thresholds(max_auc_drop, min_topk_overlap, min_ndcg, min_spearman, max_mean_abs_diff)
    groups = [c for c in group_by.split(",") if c] or None
    report = check_bundle(
        bundle,
        reference,
        data,
        group_by=groups,
        k=k,
        slate_size=slate_size,
        max_rows=max_rows,
        thresholds=thresholds,
    )
    if plot:
        plot_report(report, plot)
    scores = report.pop("_scores")
    del scores
    if as_json:
        emit_json(report)
    else:
        click.echo(format_report(report))
    if not report["passed"]:
        raise SystemExit(1)
