"""``masknet convert`` and ``masknet check``."""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

import click

from masknet_edge.cli.tools import emit_json, guarded, interruptible, json_option, stderr_is_terminal
from masknet_edge.convert.conversion import LAYERNORM_OPS, POOLING_OPS, convert_run
from masknet_edge.convert.modes import QUANT_MODES


@functools.cache
def tflite_op_types() -> frozenset[str]:
    """The names of TFLite's builtin operators (the schema TensorFlow converts to)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tensorflow.lite.python import schema_py_generated as schema

    return frozenset(k for k in vars(schema.BuiltinOperator) if k.isupper())


class _GateLimit(click.ParamType):
    """A gate's limit: a number, or ``inf`` / ``-inf`` to switch the gate off; never ``nan``, which
    passes every bundle (every comparison with it is false)."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number; a gate needs a limit (inf switches it off)", param, ctx)
        return number


GATE = _GateLimit()


def keep_float_ops(text: str) -> tuple[str, ...]:
    """Parse ``--keep-float``: ``layernorm``, ``pooling``, ``none`` or comma-separated TFLite op types."""
    ops: list[str] = []
    for item in (o.strip() for o in text.split(",")):
        if not item or item.lower() == "none":
            continue
        if item.lower() == "layernorm":
            ops.extend(LAYERNORM_OPS)
        elif item.lower() == "pooling":
            ops.extend(POOLING_OPS)
        elif item.upper() in tflite_op_types():
            ops.append(item.upper())
        else:
            raise click.BadParameter(
                f"{item!r} is not a TFLite op type (e.g. MEAN, RSQRT, FULLY_CONNECTED; or 'layernorm', "
                "'pooling')",
                param_hint="--keep-float",
            )
    return tuple(sorted(set(ops)))


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
    default="layernorm,pooling",
    show_default=True,
    help="int8: TFLite op types kept in float, comma-separated; 'layernorm' = the LayerNorm ops, "
    "'pooling' = the division of mean-pooled multi-valued fields, 'none' = full integer.",
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
        emit_json({"bundle": str(out), "size": out.stat().st_size, "manifest": manifest.to_dict()})
        return
    size = manifest.parts["model.tflite"]["size"]
    click.echo(f"wrote {out} ({mode}, model {size / 1024:.1f} KiB, {manifest.golden_records} golden records)")


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
@click.option("--max-auc-drop", type=GATE, default=0.002, show_default=True)
@click.option("--min-topk-overlap", type=GATE, default=0.95, show_default=True)
@click.option("--min-ndcg", type=GATE, default=0.98, show_default=True)
@click.option("--min-spearman", type=GATE, default=0.98, show_default=True)
@click.option("--max-mean-abs-diff", type=GATE, help="Limit on the mean |score difference|.")
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
    from masknet_edge.convert.check import Thresholds, check_bundle, format_report, plot_report
    from masknet_edge.edge_runtime.outputs import check_output

    if plot:
        check_output(plot, [bundle, reference, data], overwrite=overwrite, option="--plot")
    thresholds = Thresholds(max_auc_drop, min_topk_overlap, min_ndcg, min_spearman, max_mean_abs_diff)
    groups = [c for c in group_by.split(",") if c] or None

    def measure() -> Any:  # TensorFlow's import and both models' scoring: in a worker, for Ctrl-C
        result = check_bundle(
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
            plot_report(result, plot)
        return result

    report = interruptible(measure).report
    if as_json:
        emit_json(report)
    else:
        click.echo(format_report(report))
    if not report["passed"]:
        raise SystemExit(1)


@click.command()
@click.argument("teacher_run", type=click.Path(path_type=Path))
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Folder for students, bundles, report."
)
@click.option("--budget-ms", type=click.FloatRange(min=0, min_open=True), required=True, help="Per request.")
@click.option("--budget-kb", "budget_kib", type=click.FloatRange(min=0, min_open=True), required=True)
@click.option("--candidates", type=click.IntRange(1), default=200, show_default=True)
@click.option("--modes", default="none,dynamic", show_default=True, help="Quantization modes to convert to.")
@click.option("--epochs", type=click.IntRange(1), default=20, show_default=True, help="Per student, at most.")
@click.option("--test-rows", type=click.IntRange(1), default=20_000, show_default=True)
@click.option("--resume", is_flag=True, help="Continue a stopped frontier in --out (finished work is kept).")
@json_option
@guarded
def frontier(
    teacher_run: Path,
    out: Path,
    budget_ms: float,
    budget_kib: float,
    candidates: int,
    modes: str,
    epochs: int,
    test_rows: int,
    resume: bool,
    as_json: bool,
) -> None:
    """Distil a grid of students, convert each, and find the best bundle within a device budget.

    Writes OUT/frontier.md, .json and .png (AUC against latency, size as marker area, Pareto set
    ringed); exit 1 when no bundle fits the budget.

    \b
    Example:
      masknet frontier runs/ml --budget-ms 5 --budget-kb 2048 --candidates 200 --out frontier/ml
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from masknet_edge.edge_runtime.outputs import check_output
    from masknet_edge.frontier import frontier_run

    check_output(out, [teacher_run], overwrite=True)  # never the teacher, never inside it
    chosen = tuple(m.strip() for m in modes.split(",") if m.strip())
    bad = [m for m in chosen if m not in QUANT_MODES]
    if bad or not chosen:
        raise click.BadParameter(
            f"expected modes among {list(QUANT_MODES)}, got {modes!r}", param_hint="--modes"
        )
    result = interruptible(
        frontier_run,
        teacher_run,
        out,
        budget_ms=budget_ms,
        budget_kib=budget_kib,
        candidates=candidates,
        modes=chosen,
        test_rows=test_rows,
        resume=resume,
        epochs=epochs,
        log=(lambda m: None) if as_json else (lambda m: click.echo(m, err=True)),
    )
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo((out / "frontier.md").read_text())
    if result.best is None:
        raise SystemExit(1)
