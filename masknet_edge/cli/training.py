"""``masknet train``: train a model from data files into a run directory.

``distill`` is in :mod:`cli.distillation`, ``spec`` and ``data`` in :mod:`cli.data`. TensorFlow is
imported inside the command bodies only.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
from click.core import ParameterSource

from masknet_edge.cli.tools import emit_json, guarded, import_tensorflow, json_option, stderr_is_terminal
from masknet_edge.train.config import (  # no TensorFlow: plain dataclasses
    LR_SCALINGS,
    MODELS,
    ModelConfig,
    TrainConfig,
)

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
@click.option(
    "--mixed-precision",
    is_flag=True,
    help="Compute in float16 on a GPU, in bfloat16 on a CPU (faster where the CPU has bfloat16 units: "
    "AMX, AVX-512 BF16); weights, embedding tables and scores stay float32.",
)
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
def train(**options: Any) -> None:
    """Train a model from data files into a run directory.

    \b
    Example:
      masknet train --train train.csv --valid valid.csv --test test.csv \\
          --spec spec.json --model sermasknet --out runs/shop
    """
    from masknet_edge.edge_runtime.outputs import check_output
    from masknet_edge.edge_runtime.spec import FeatureSpec

    o = SimpleNamespace(**options)
    ctx = click.get_current_context()
    _check_train_options(ctx, o)
    model_config, train_config = _configs(o)
    check_output(o.out, [o.spec_path], overwrite=True)  # existing runs: see --overwrite / --resume
    spec = FeatureSpec.load(o.spec_path) if o.spec_path else None
    import_tensorflow()
    from masknet_edge.train.pipeline import TrainInputs, train_run

    inputs = TrainInputs(
        o.train_path, o.valid_path, o.test_path, label=o.label, oracle_column=o.oracle_column
    )
    explicit_epochs = ctx.get_parameter_source("epochs") == ParameterSource.COMMANDLINE
    result = train_run(
        inputs,
        spec,
        o.out,
        model_config,
        train_config,
        resume=o.resume,
        resume_epochs=o.epochs if o.resume and explicit_epochs else None,
        resume_worker_timeout=o.worker_timeout if o.resume else None,
        overwrite=o.overwrite,
        distribute=o.distribute,
        cpu_devices=o.cpu_devices,
        progress=not o.as_json and stderr_is_terminal(),  # bars only on a terminal
    )
    if o.as_json:
        emit_json(result)
        return
    click.echo(f"run directory: {o.out}")
    for split in ("valid", "test"):
        if result.get(split):
            m = result[split]
            oracle = f"   (oracle AUC {m['oracle_auc']:.4f})" if "oracle_auc" in m else ""
            click.echo(f"{split:5s}  AUC {m['auc']:.4f}  logloss {m['logloss']:.4f}{oracle}")


def _check_train_options(ctx: click.Context, o: SimpleNamespace) -> None:
    """Options that exclude or require each other; a resumed run's settings stay as they were."""
    if o.distribute == "multiworker" and "TF_CONFIG" not in os.environ:
        raise click.UsageError(
            "--distribute multiworker needs TF_CONFIG describing the cluster on every worker"
        )
    if o.resume and o.overwrite:
        raise click.UsageError("--resume and --overwrite exclude each other")
    if o.resume:
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
        return
    for name, value in (("--train", o.train_path), ("--valid", o.valid_path), ("--spec", o.spec_path)):
        if value is None:
            raise click.UsageError(f"{name} is required (unless --resume)")


def _configs(o: SimpleNamespace) -> tuple[ModelConfig, TrainConfig]:
    """The model and training settings of ``masknet train``'s options; a bad one is a usage error."""
    from masknet_edge.train.config import ConfigError

    try:
        model_config = ModelConfig(
            model=o.model,
            embedding_dim=o.embedding_dim,
            num_blocks=o.num_blocks,
            block_units=o.block_units,
            reduction_ratio=o.reduction_ratio,
            mlp_units=_units(o.mlp_units, "--mlp"),
            attention_units=_units(o.attention_units, "--attention-units"),
            unknown_rate=o.unknown_rate,
            numeric_mode=o.numeric_mode,
            ln_emb=o.ln_emb,
            block_norm=o.block_norm,
            embeddings_l2=o.embeddings_l2,
            dropout=o.dropout,
        )
        train_config = TrainConfig(
            epochs=o.epochs,
            batch_size=o.batch_size,
            learning_rate=o.learning_rate,
            lr_scaling=o.lr_scaling,
            warmup_epochs=o.warmup_epochs,
            patience=o.patience,
            lr_decay=o.lr_decay,
            restore_on_plateau=o.restore_on_plateau,
            seed=o.seed,
            chunk_rows=o.chunk_rows,
            in_memory_rows=o.in_memory_rows,
            encoded_cache=o.encoded_cache,
            cache_dir=str(o.cache_dir) if o.cache_dir else None,
            mixed_precision=o.mixed_precision,
            worker_timeout=o.worker_timeout,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    return model_config, train_config
