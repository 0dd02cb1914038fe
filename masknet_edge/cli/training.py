"""``masknet train`` and ``masknet distill``: the training commands.

``spec`` and ``data`` are in :mod:`cli.data`. TensorFlow is imported inside the command bodies
only.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from click.core import ParameterSource

from masknet_edge.cli.tools import emit_json, guarded, json_option, stderr_is_terminal
from masknet_edge.train.config import (  # no TensorFlow: plain dataclasses
    LR_SCALINGS,
    MODELS,
    ModelConfig,
    TrainConfig,
)
from masknet_edge.train.distill import STUDENT_DEFAULTS as _S

# The defaults of the options are the configs' own, so the CLI and the Python API cannot drift.
_M, _T = ModelConfig(), TrainConfig()


def _units(text: str, option: str) -> tuple[int, ...]:
    """Comma-separated layer widths, or a usage error naming the option."""
    try:
        return tuple(int(u) for u in text.split(",") if u.strip())
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated integers, got {text!r}", param_hint=option
        ) from None


def _quiet_tf() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


#: Options a resumed run accepts: where it is, how long it may run, how it runs and prints.
RESUME_OPTIONS = {"out", "resume", "epochs", "distribute", "cpu_devices", "worker_timeout", "as_json"}


@click.command()
@click.option(
    "--train",
    "train_path",
    type=click.Path(path_type=Path),
    help="Training file (CSV/Parquet). Required unless --resume.",
)
@click.option(
    "--valid",
    "valid_path",
    type=click.Path(path_type=Path),
    help="Validation file. Required unless --resume.",
)
@click.option(
    "--test", "test_path", type=click.Path(path_type=Path), help="Test file, evaluated once at the end."
)
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(path_type=Path),
    help="Feature spec JSON (required unless --resume).",
)
@click.option("--model", type=click.Choice(MODELS), default=_M.model, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run directory to write.")
@click.option("--label", help="Label column (0/1). Defaults to the spec's label.")
@click.option("--oracle-column", help="Column of true click probabilities, reported as the oracle AUC.")
@click.option("--epochs", type=click.IntRange(1), default=_T.epochs, show_default=True, help="At most.")
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=None,
    help="Examples per step. Default: 256 (chosen on validation AUC; see BENCHMARKS.md).",
)
@click.option(
    "--learning-rate",
    type=click.FloatRange(min=0, min_open=True),
    default=_T.learning_rate,
    help="Adam's learning rate. Default: the model's (1e-3; lr: 1e-2) at batch 256, scaled to "
    "--batch-size by --lr-scaling.",
)
@click.option(
    "--lr-scaling",
    type=click.Choice(LR_SCALINGS),
    default=_T.lr_scaling,
    show_default=True,
    help="How the default learning rate follows --batch-size: x sqrt(batch / 256), x batch / 256, or not.",
)
@click.option(
    "--warmup-epochs",
    type=click.FloatRange(min=0),
    default=_T.warmup_epochs,
    show_default=True,
    help="The learning rate rises linearly to its value over this many epochs (fractions allowed).",
)
@click.option(
    "--patience",
    type=click.IntRange(1),
    default=_T.patience,
    show_default=True,
    help="Early stopping: epochs without a better validation AUC.",
)
@click.option(
    "--lr-decay",
    type=click.FloatRange(0, 1, min_open=True),
    default=_T.lr_decay,
    show_default=True,
    help="Learning rate x this after each epoch without a better validation AUC (1 = constant).",
)
@click.option(
    "--restore-on-plateau/--no-restore-on-plateau",
    default=_T.restore_on_plateau,
    show_default=True,
    help="After an epoch without a better validation AUC, go on from the best weights so far.",
)
@click.option("--embedding-dim", type=click.IntRange(1), default=_M.embedding_dim, show_default=True)
@click.option("--blocks", "num_blocks", type=click.IntRange(1), default=_M.num_blocks, show_default=True)
@click.option("--block-units", type=click.IntRange(1), default=_M.block_units, show_default=True)
@click.option(
    "--reduction-ratio",
    type=click.FloatRange(min=0, min_open=True),
    default=_M.reduction_ratio,
    show_default=True,
)
@click.option(
    "--mlp",
    "mlp_units",
    default=",".join(map(str, _M.mlp_units)),
    show_default=True,
    help="ParaMaskNet/DNN MLP widths.",
)
@click.option(
    "--attention-units",
    default=",".join(map(str, _M.attention_units)),
    show_default=True,
    help="Hidden widths of the target attention of attention-pooled history fields.",
)
@click.option(
    "--unknown-rate",
    type=click.FloatRange(0, 1, max_open=True),
    default=_M.unknown_rate,
    show_default=True,
    help="While training, hide this share of the values of vocabulary fields behind their "
    "out-of-vocabulary id, so the model learns what a new user or item means.",
)
@click.option("--numeric-mode", type=click.Choice(["vector", "dense"]), default="vector", show_default=True)
@click.option(
    "--ln-emb/--no-ln-emb",
    default=True,
    show_default=True,
    help="Per-field LayerNorm of the embedding before the blocks (the paper); off = ablation.",
)
@click.option(
    "--block-norm",
    type=click.Choice(["layer", "batch"]),
    default="layer",
    show_default=True,
    help="layer: the paper's MaskBlock. batch: BatchNorm in each block, a variant for full-integer int8 "
    "(use with --no-ln-emb; not the paper's MaskNet).",
)
@click.option(
    "--embeddings-l2",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="L2 weight on looked-up embedding rows.",
)
@click.option(
    "--dropout",
    type=click.FloatRange(0, 1, max_open=True),
    default=_M.dropout,
    show_default=True,
    help="Dropout after each MaskBlock and MLP layer.",
)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=_T.seed, show_default=True)
@click.option("--chunk-rows", type=click.IntRange(1), default=_T.chunk_rows, show_default=True)
@click.option(
    "--in-memory-rows",
    type=click.IntRange(0),
    default=_T.in_memory_rows,
    show_default=True,
    help="Larger training files are streamed chunk by chunk (bounded memory).",
)
@click.option(
    "--encoded-cache/--no-encoded-cache",
    default=_T.encoded_cache,
    show_default=True,
    help="Streamed files: encode once into memory-mapped arrays on disk (later epochs skip encoding).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the encoded cache lives while training.  [default: the system's temporary folder]",
)
@click.option("--mixed-precision", is_flag=True, help="Train in mixed_float16 (GPUs).")
@click.option(
    "--distribute",
    type=click.Choice(["none", "mirrored", "multiworker"]),
    default="none",
    show_default=True,
    help="tf.distribute strategy (multiworker reads TF_CONFIG).",
)
@click.option(
    "--cpu-devices",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="With --distribute mirrored and no GPU: split the CPU into N replicas.",
)
@click.option(
    "--worker-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=_T.worker_timeout,
    help="With --distribute multiworker: seconds an all-reduce waits for the other workers before giving "
    "up (also catches a hung worker; costs a thread per all-reduce for that long). Default: none, a dead "
    "worker is noticed by TensorFlow's health check.",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last finished epoch.")
@click.option("--overwrite", is_flag=True, help="Replace an existing run directory.")
@json_option
@guarded
def train(
    train_path: Path,
    valid_path: Path,
    test_path: Path | None,
    spec_path: Path | None,
    model: str,
    out: Path,
    label: str | None,
    oracle_column: str | None,
    epochs: int,
    batch_size: int | None,
    learning_rate: float | None,
    lr_scaling: str,
    warmup_epochs: float,
    patience: int,
    lr_decay: float,
    restore_on_plateau: bool,
    embedding_dim: int,
    num_blocks: int,
    block_units: int,
    reduction_ratio: float,
    mlp_units: str,
    attention_units: str,
    unknown_rate: float,
    numeric_mode: str,
    ln_emb: bool,
    block_norm: str,
    embeddings_l2: float,
    dropout: float,
    seed: int,
    chunk_rows: int,
    in_memory_rows: int,
    encoded_cache: bool,
    cache_dir: Path | None,
    mixed_precision: bool,
    distribute: str,
    cpu_devices: int,
    worker_timeout: float | None,
    resume: bool,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Train a model from data files into a run directory.

    \b
    Example:
      masknet train --train train.csv --valid valid.csv --test test.csv \\
          --spec spec.json --model sermasknet --out runs/shop
    """
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.config import ConfigError

    if distribute == "multiworker" and "TF_CONFIG" not in os.environ:
        raise click.UsageError(
            "--distribute multiworker needs TF_CONFIG describing the cluster on every worker"
        )
    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite exclude each other")
    ctx = click.get_current_context()
    if resume:
        # A resumed run continues as it was configured; only how long and how it runs can change.
        changed = [
            p.opts[0]
            for p in ctx.command.params
            if p.name not in RESUME_OPTIONS
            and ctx.get_parameter_source(p.name) == ParameterSource.COMMANDLINE
        ]
        if changed:
            raise click.UsageError(
                f"--resume continues the run in --out as it was configured; {', '.join(changed)} cannot "
                "change it (drop them, or start a new run with --overwrite)"
            )
    else:
        for name, value in (("--train", train_path), ("--valid", valid_path), ("--spec", spec_path)):
            if value is None:
                raise click.UsageError(f"{name} is required (unless --resume)")
    mlp, attention = _units(mlp_units, "--mlp"), _units(attention_units, "--attention-units")
    model_config = ModelConfig(
        model=model,
        embedding_dim=embedding_dim,
        num_blocks=num_blocks,
        block_units=block_units,
        reduction_ratio=reduction_ratio,
        mlp_units=mlp,
        attention_units=attention,
        unknown_rate=unknown_rate,
        numeric_mode=numeric_mode,
        ln_emb=ln_emb,
        block_norm=block_norm,
        embeddings_l2=embeddings_l2,
        dropout=dropout,
    )
    try:
        train_config = TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            lr_scaling=lr_scaling,
            warmup_epochs=warmup_epochs,
            patience=patience,
            lr_decay=lr_decay,
            restore_on_plateau=restore_on_plateau,
            seed=seed,
            chunk_rows=chunk_rows,
            in_memory_rows=in_memory_rows,
            encoded_cache=encoded_cache,
            cache_dir=str(cache_dir) if cache_dir else None,
            mixed_precision=mixed_precision,
            worker_timeout=worker_timeout,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    from masknet_edge.edge_runtime.outputs import check_output

    check_output(out, [spec_path], overwrite=True)  # existing runs: see --overwrite / --resume
    spec = FeatureSpec.load(spec_path) if spec_path else None
    _quiet_tf()
    from masknet_edge.train.pipeline import TrainInputs, train_run

    inputs = TrainInputs(train_path, valid_path, test_path, label=label, oracle_column=oracle_column)
    explicit_epochs = ctx.get_parameter_source("epochs") == ParameterSource.COMMANDLINE
    result = train_run(
        inputs,
        spec,
        out,
        model_config,
        train_config,  # type: ignore[arg-type]
        resume=resume,
        resume_epochs=epochs if resume and explicit_epochs else None,
        resume_worker_timeout=worker_timeout if resume else None,
        overwrite=overwrite,
        distribute=distribute,
        cpu_devices=cpu_devices,
        progress=not as_json and stderr_is_terminal(),  # bars only on a terminal
    )
    if as_json:
        emit_json(result)
        return
    click.echo(f"run directory: {out}")
    for split in ("valid", "test"):
        if result.get(split):
            m = result[split]
            oracle = f"   (oracle AUC {m['oracle_auc']:.4f})" if "oracle_auc" in m else ""
            click.echo(f"{split:5s}  AUC {m['auc']:.4f}  logloss {m['logloss']:.4f}{oracle}")


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
    _quiet_tf()
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
