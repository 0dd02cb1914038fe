"""``masknet distill``: train a smaller student on a teacher run's scores and the labels.

TensorFlow is imported inside the command body only.
"""

from __future__ import annotations

from pathlib import Path

import click

from masknet_edge.cli.tools import emit_json, guarded, import_tensorflow, json_option, stderr_is_terminal
from masknet_edge.train.config import MODELS, TrainConfig  # no TensorFlow: plain dataclasses
from masknet_edge.train.distill import STUDENT_DEFAULTS as _S

_T = TrainConfig()


@click.command()
@click.argument("teacher_run", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run directory of the student.")
@click.option("--model", type=click.Choice(MODELS), help="Student model. Default: the teacher's.")
@click.option("--embedding-dim", type=click.IntRange(1), help="Student k. Default: the teacher's.")
@click.option("--blocks", "num_blocks", type=click.IntRange(1), default=_S["num_blocks"], show_default=True)
@click.option("--block-units", type=click.IntRange(1), default=_S["block_units"], show_default=True)
@click.option(
    "--reduction-ratio", type=click.FloatRange(min=0, min_open=True), help="Default: the teacher's."
)
@click.option(
    "--mlp",
    "mlp_units",
    default=",".join(map(str, _S["mlp_units"])),
    show_default=True,
    help="ParaMaskNet/DNN MLP widths.",
)
@click.option(
    "--teacher-weight",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="The teacher's share of the training target (the labels have the rest).",
)
@click.option("--train", "train_path", type=click.Path(path_type=Path), help="Default: the teacher's.")
@click.option("--valid", "valid_path", type=click.Path(path_type=Path), help="Default: the teacher's.")
@click.option("--test", "test_path", type=click.Path(path_type=Path), help="Default: the teacher's.")
@click.option("--epochs", type=click.IntRange(1), default=_T.epochs, show_default=True, help="At most.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=_T.seed, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing run directory.")
@json_option
@guarded
def distill(
    teacher_run: Path,
    out: Path,
    model: str | None,
    embedding_dim: int | None,
    num_blocks: int,
    block_units: int,
    reduction_ratio: float | None,
    mlp_units: str,
    teacher_weight: float,
    train_path: Path | None,
    valid_path: Path | None,
    test_path: Path | None,
    epochs: int,
    seed: int,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Train a smaller student on a teacher run's scores and the labels.

    The student uses the teacher's spec, so its bundle is a drop-in replacement (same inputs); data
    files and the label default to the teacher's. Metrics report both test AUCs.

    \b
    Example:
      masknet distill runs/ml --blocks 1 --block-units 64 --out runs/ml-small
    """
    from masknet_edge.train.config import ConfigError
    from masknet_edge.train.distill import distill_run, student_config

    try:
        mlp = tuple(int(u) for u in mlp_units.split(",") if u.strip())
        model_config = student_config(
            teacher_run,
            model=model,
            embedding_dim=embedding_dim,
            num_blocks=num_blocks,
            block_units=block_units,
            reduction_ratio=reduction_ratio,
            mlp_units=mlp,
        )
        train_config = TrainConfig(epochs=epochs, seed=seed)
    except ValueError as exc:  # ConfigError, or --mlp not integers
        raise click.UsageError(str(exc) if isinstance(exc, ConfigError) else f"--mlp: {exc}") from None
    import_tensorflow()
    result = distill_run(
        teacher_run,
        out,
        model_config,
        train_config,
        teacher_weight=teacher_weight,
        train=train_path,
        valid=valid_path,
        test=test_path,
        overwrite=overwrite,
        progress=not as_json and stderr_is_terminal(),
    )
    if as_json:
        emit_json(result)
        return
    click.echo(f"run directory: {out}  ({result['params']:,} parameters)")
    t = result.get("teacher")
    if result.get("test") and t:
        click.echo(
            f"test AUC: student {result['test']['auc']:.4f}, teacher {t['test_auc']:.4f} "
            f"({t['params']:,} parameters); Spearman of their scores {t['test_spearman_with_student']:.4f}"
        )
