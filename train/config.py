"""Typed, validated configurations of the model and of a training run."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from masknet_edge.edge_runtime.errors import MasknetError

#: The package name our Keras layers and optimizer are registered under (saved models name it).
KERAS_PACKAGE = "masknet_edge"
MODELS = ("sermasknet", "paramasknet", "dnn", "lr")
#: A MaskBlock's normalization: the paper's LayerNorm, or BatchNorm (an int8-friendly variant).
BLOCK_NORMS = ("layer", "batch")


class ConfigError(MasknetError, ValueError):
    """A model or training option is out of range."""


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ConfigError(f"{name} must be a finite number > 0. Received: {name}={value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture. Defaults follow the paper (k=10, 3 blocks, reduction ratio 2).

    Args:
        model: ``sermasknet``, ``paramasknet``, ``dnn`` or ``lr``. Defaults to ``sermasknet``.
        embedding_dim: k. Defaults to 10.
        num_blocks: MaskBlocks. Defaults to 3.
        block_units: width of each MaskBlock. Defaults to 400.
        reduction_ratio: of every instance-guided mask. Defaults to 2.0.
        mlp_units: ParaMaskNet's MLP after the blocks, and the DNN baseline's layers.
            Defaults to (400, 400).
        numeric_mode: ``vector`` (paper: ``e_j = v_j x_j``) or ``dense`` (concatenated values).
            Defaults to ``vector``.
        dropout: after each MaskBlock and each MLP layer, while training. Defaults to 0.
        embeddings_l2: L2 on looked-up embedding rows. Defaults to 0.
        ln_emb: apply LN-EMB (per-field LayerNorm) before the first MaskBlock(s), as the paper does.
            False feeds the raw embedding instead (an ablation). Defaults to True.
        block_norm: ``layer`` (the paper) or ``batch``: each MaskBlock normalizes with BatchNorm, a
            variant that is not the paper's MaskNet, for full-integer int8 (with ``ln_emb=False`` no
            LayerNorm is left). Defaults to ``layer``.
        unknown_rate: while training, the share of the values of vocabulary fields hidden behind
            their out-of-vocabulary id, so that the model learns what a value never seen in training
            (a new user, a new item) means; 0 leaves the out-of-vocabulary rows as initialized.
            Defaults to 0.
        attention_units: hidden widths of the target attention of each ``attention``-pooled history
            field (DIN's activation unit); on the device each is paid per candidate and event.
            Defaults to (16,): on MovieLens-100K split by time and by user (5 seeds each) it had the
            higher mean validation AUC than DIN's usual 64, at 1.31x the static request against 1.58x
            (BENCHMARKS.md, "The user's recent sequence").
    """

    model: str = "sermasknet"
    embedding_dim: int = 10
    num_blocks: int = 3
    block_units: int = 400
    reduction_ratio: float = 2.0
    mlp_units: tuple[int, ...] = (400, 400)
    numeric_mode: str = "vector"
    dropout: float = 0.0
    embeddings_l2: float = 0.0
    ln_emb: bool = True
    block_norm: str = "layer"
    attention_units: tuple[int, ...] = (16,)
    unknown_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"Expected model in {MODELS}. Received: model={self.model!r}")
        if self.block_norm not in BLOCK_NORMS:
            raise ConfigError(
                f"Expected block_norm in {BLOCK_NORMS}. Received: block_norm={self.block_norm!r}"
            )
        if self.numeric_mode not in ("vector", "dense"):
            raise ConfigError(
                f"Expected numeric_mode in ('vector', 'dense'). Received: {self.numeric_mode!r}"
            )
        for name in ("embedding_dim", "num_blocks", "block_units", "reduction_ratio"):
            _positive(name, getattr(self, name))
        object.__setattr__(self, "mlp_units", tuple(int(u) for u in self.mlp_units))
        for u in self.mlp_units:
            _positive("mlp_units", u)
        object.__setattr__(self, "attention_units", tuple(int(u) for u in self.attention_units))
        if not self.attention_units:
            raise ConfigError("attention_units needs at least one width")
        for u in self.attention_units:
            _positive("attention_units", u)
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1). Received: dropout={self.dropout!r}")
        if not 0 <= self.unknown_rate < 1:
            raise ConfigError(f"unknown_rate must be in [0, 1). Received: unknown_rate={self.unknown_rate!r}")
        if self.embeddings_l2 < 0:
            raise ConfigError(f"embeddings_l2 must be >= 0. Received: {self.embeddings_l2!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        d["mlp_units"] = list(self.mlp_units)
        d["attention_units"] = list(self.attention_units)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)


#: The batch size when none is given. Chosen on validation AUC (the ablation in BENCHMARKS.md, with
#: the embedding Adam fix): 256 is best on the mean over MovieLens-100K, Criteo-8k and Avazu-8k,
#: +0.0074 on MovieLens against 1024, for about half the examples/s.
DEFAULT_BATCH_SIZE = 256
#: How the default learning rate follows the batch size (:class:`TrainConfig` ``lr_scaling``).
LR_SCALINGS = ("sqrt", "linear", "none")


def default_learning_rate(model: str) -> float:
    """Adam's learning rate when none is given: 1e-2 for ``lr`` (a linear model needs larger steps;
    chosen on validation AUC, see the ablation in BENCHMARKS.md), else 1e-3."""
    return 1e-2 if model == "lr" else 1e-3


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation: Adam, with reduce-on-plateau and early stopping on validation AUC.

    Args:
        epochs: at most (early stopping usually ends sooner). Defaults to 20.
        batch_size: examples per step. Defaults to None: :data:`DEFAULT_BATCH_SIZE` (256).
        learning_rate: Adam's. Defaults to None: the model's own (:func:`default_learning_rate`),
            scaled to the batch by ``lr_scaling``.
        lr_scaling: how the default learning rate follows the batch size, from its value at
            :data:`DEFAULT_BATCH_SIZE`: ``"sqrt"`` (times ``sqrt(batch / 256)``, the usual rule for
            Adam), ``"linear"`` (times ``batch / 256``, Goyal et al. 2017's rule for SGD) or
            ``"none"``. An explicit ``learning_rate`` is used as given. Defaults to ``"sqrt"``.
        warmup_epochs: the learning rate rises linearly to its value over this many epochs (may be
            fractional); 0 for none. Defaults to 0.
        patience: epochs without a better validation AUC before stopping. Defaults to 2.
        lr_decay: the learning rate is multiplied by this after every epoch without a better
            validation AUC (reduce on plateau); 1 keeps it constant. Defaults to 0.1.
        min_learning_rate: the decay stops here. Defaults to 1e-6.
        restore_on_plateau: after an epoch without a better validation AUC, training goes on from the
            best weights so far (with the reduced learning rate) instead of the last ones. Chosen on
            validation AUC (never worse on 10 model/data pairs, see the ablation in BENCHMARKS.md).
            Defaults to True.
        seed: for weights, shuffling and sampling. Defaults to 0.
        chunk_rows: rows read per chunk when streaming. Defaults to 200,000.
        in_memory_rows: files up to this many rows are encoded once and kept in memory; larger ones
            are streamed. Defaults to 2,000,000.
        encoded_cache: a streamed file is encoded once into memory-mapped arrays on disk (about
            ``rows x (4 bytes per input value + 4)``; see :mod:`train.batches`), so later epochs
            skip parsing and encoding; False re-encodes every epoch and needs no disk. Defaults to True.
        cache_dir: where that cache is kept while the run trains (removed at the end). Defaults to
            None: the system's temporary folder.
        mixed_precision: compute in mixed precision, the variables in float32: ``mixed_float16`` on
            a GPU, ``mixed_bfloat16`` on a CPU (:func:`train.devices.mixed_policy`). Defaults to False.
        worker_timeout: multi-worker training: seconds a worker waits for the others at an
            all-reduce before it gives up, which also catches a worker that hangs without dying; it
            costs a waiting thread per all-reduce for that long (:mod:`train.multiworker`). Defaults
            to None: no timeout; a worker that dies is still noticed by TensorFlow's health check.
    """

    epochs: int = 20
    batch_size: int | None = None
    learning_rate: float | None = None
    lr_scaling: str = "sqrt"
    warmup_epochs: float = 0.0
    patience: int = 2
    lr_decay: float = 0.1
    min_learning_rate: float = 1e-6
    restore_on_plateau: bool = True
    seed: int = 0
    chunk_rows: int = 200_000
    in_memory_rows: int = 2_000_000
    encoded_cache: bool = True
    cache_dir: str | None = None
    mixed_precision: bool = False
    worker_timeout: float | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "patience", "chunk_rows"):
            _positive(name, getattr(self, name))
        if self.batch_size is not None:
            _positive("batch_size", self.batch_size)
        if self.learning_rate is not None:
            _positive("learning_rate", self.learning_rate)
        if self.lr_scaling not in LR_SCALINGS:
            raise ConfigError(f"lr_scaling must be one of {LR_SCALINGS}. Received: {self.lr_scaling!r}")
        if isinstance(self.warmup_epochs, bool) or not 0 <= self.warmup_epochs < math.inf:
            raise ConfigError(f"warmup_epochs must be a number >= 0. Received: {self.warmup_epochs!r}")
        if isinstance(self.lr_decay, bool) or not 0 < self.lr_decay <= 1:
            raise ConfigError(f"lr_decay must be in (0, 1]. Received: lr_decay={self.lr_decay!r}")
        _positive("min_learning_rate", self.min_learning_rate)
        if self.worker_timeout is not None:
            _positive("worker_timeout", self.worker_timeout)
        if self.in_memory_rows < 0:
            raise ConfigError(f"in_memory_rows must be >= 0. Received: {self.in_memory_rows!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def learning_rate_for(self, model: str, batch_size: int) -> float:
        """The learning rate a run uses: ``learning_rate`` as given, else the model's default scaled
        from :data:`DEFAULT_BATCH_SIZE` to ``batch_size`` by ``lr_scaling``."""
        if self.learning_rate is not None:
            return float(self.learning_rate)
        ratio = batch_size / DEFAULT_BATCH_SIZE
        factor = {"sqrt": math.sqrt(ratio), "linear": ratio, "none": 1.0}[self.lr_scaling]
        return default_learning_rate(model) * factor
