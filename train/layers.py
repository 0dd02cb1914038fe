"""MaskNet building blocks as Keras 3 layers (Wang, She, Zhang 2021, arXiv:2102.07619).

Each layer is one concept: :class:`~train.embedding.FeatureEmbedding` (field embeddings from encoder
ids and numerics, in its own module and re-exported here), :class:`FieldLayerNorm` (LN-EMB, Eq. 8),
:class:`InstanceGuidedMask` (Eq. 1-2), :class:`MaskBlock` (Eq. 9-11). All are serializable, so
models save and load as ``.keras`` with ``safe_mode=True``.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from masknet_edge.train import optimizers as _optimizers  # noqa: F401 - a saved model.keras also names its optimizer
from masknet_edge.train.config import BLOCK_NORMS
from masknet_edge.train.config import KERAS_PACKAGE as PACKAGE
from masknet_edge.train.embedding import FeatureEmbedding
from masknet_edge.train.initializers import check_initializer, fresh_initializer, serialize_initializer

__all__ = ["FeatureEmbedding", "FieldLayerNorm", "InstanceGuidedMask", "MaskBlock", "PooledSum"]


@keras.saving.register_keras_serializable(package=PACKAGE)
class FieldLayerNorm(keras.layers.Layer):
    """LN-EMB (paper Eq. 8): LayerNorm over each field's own k-vector, with per-field scale and shift.

    ``LN_EMB(V_emb) = concat(LN(e_1), ..., LN(e_f))`` where ``LN(e) = gamma_j * (e - mu_e) / sigma_e
    + beta_j`` and ``mu_e, sigma_e`` are taken over the k entries of field ``j`` only (not over the
    whole concatenation).

    Args:
        epsilon: added to the variance. Defaults to 1e-5.

    Input shape:
        ``[batch, fields, k]``.

    Output shape:
        ``[batch, fields, k]``.

    >>> import numpy as np
    >>> out = FieldLayerNorm()(np.array([[[1.0, 3.0], [10.0, 10.0]]], "float32"))
    >>> np.round(np.asarray(out), 3).tolist()
    [[[-1.0, 1.0], [0.0, 0.0]]]
    """

    def __init__(self, epsilon: float = 1e-5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape: Any) -> None:
        fields, k = int(input_shape[-2]), int(input_shape[-1])
        self.gamma = self.add_weight(name="gamma", shape=(fields, k), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(fields, k), initializer="zeros")

    def call(self, inputs: Any) -> Any:
        # statistics in float32 even under mixed precision (as keras.layers.LayerNormalization):
        # a float16 variance of k small numbers loses most of its digits
        x = ops.cast(inputs, "float32")
        mean = ops.mean(x, axis=-1, keepdims=True)
        var = ops.mean(ops.square(x - mean), axis=-1, keepdims=True)
        y = (x - mean) * ops.rsqrt(var + self.epsilon) * ops.cast(self.gamma, "float32")
        return ops.cast(y + ops.cast(self.beta, "float32"), self.compute_dtype)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class InstanceGuidedMask(keras.layers.Layer):
    """Instance-guided mask (paper Eq. 1-2): ``V_mask = W2 · ReLU(W1 · V_emb + b1) + b2``.

    ``V_emb`` is the raw (not normalised) flattened embedding of the instance. The aggregation layer
    is ``reduction_ratio × output_dim`` wide; the projection layer is ``output_dim`` wide (the width of
    what is masked). No sigmoid: the mask multiplies element-wise as is.

    Args:
        output_dim: width of the masked tensor. None lets the owning :class:`MaskBlock` set it from
            the width of what it masks, before building.
        reduction_ratio: aggregation width / projection width. Defaults to 2.0.
        kernel_initializer: of ``W1`` and ``W2``. Defaults to ``"glorot_uniform"``.
        bias_initializer: of ``b1`` and ``b2``. Defaults to ``"zeros"``.

    Input shape:
        ``[batch, d]``: the flattened raw embedding ``V_emb``.

    Output shape:
        ``[batch, output_dim]``.

    >>> import numpy as np
    >>> tuple(InstanceGuidedMask(output_dim=3)(np.ones((2, 5), "float32")).shape)
    (2, 3)
    """

    def __init__(
        self,
        output_dim: int | None,
        reduction_ratio: float = 2.0,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if output_dim is not None and output_dim < 1:
            raise ValueError(f"Expected output_dim >= 1. Received: output_dim={output_dim}")
        if reduction_ratio <= 0:
            raise ValueError(f"Expected reduction_ratio > 0. Received: reduction_ratio={reduction_ratio}")
        self.output_dim = None if output_dim is None else int(output_dim)
        self.reduction_ratio = float(reduction_ratio)
        self.kernel_initializer = check_initializer("kernel_initializer", kernel_initializer)
        self.bias_initializer = check_initializer("bias_initializer", bias_initializer)

    @property
    def aggregation_dim(self) -> int:
        """Width of the aggregation layer: ``reduction_ratio × output_dim`` (Eq. 1)."""
        if self.output_dim is None:
            raise ValueError(
                "Expected output_dim to be set before the mask is built. Received: output_dim=None"
            )
        return max(1, int(round(self.reduction_ratio * self.output_dim)))

    def build(self, input_shape: Any) -> None:
        d, agg = int(input_shape[-1]), self.aggregation_dim
        self.w1 = self.add_weight(
            name="aggregation_kernel", shape=(d, agg), initializer=fresh_initializer(self.kernel_initializer)
        )
        self.b1 = self.add_weight(
            name="aggregation_bias", shape=(agg,), initializer=fresh_initializer(self.bias_initializer)
        )
        self.w2 = self.add_weight(
            name="projection_kernel",
            shape=(agg, self.output_dim),
            initializer=fresh_initializer(self.kernel_initializer),
        )
        self.b2 = self.add_weight(
            name="projection_bias",
            shape=(self.output_dim,),
            initializer=fresh_initializer(self.bias_initializer),
        )

    def call(self, v_emb: Any) -> Any:
        hidden = ops.relu(ops.matmul(v_emb, self.w1) + self.b1)
        return ops.matmul(hidden, self.w2) + self.b2

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (*input_shape[:-1], self.output_dim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "output_dim": self.output_dim,
            "reduction_ratio": self.reduction_ratio,
            "kernel_initializer": serialize_initializer(self.kernel_initializer),
            "bias_initializer": serialize_initializer(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskBlock(keras.layers.Layer):
    """MaskBlock (paper Eq. 9-11): ``ReLU(LN(W_i (V_mask ⊙ V_in)))``, with its own instance-guided mask.

    Called as ``block([v_emb, v_in])``: ``v_emb`` is the raw flattened embedding that guides the
    mask; ``v_in`` is LN-EMB(V_emb) flattened for a block on the feature embedding, or the previous
    block's output. The hidden layer has no bias (the LayerNorm shift takes its place).

    Args:
        units: output width of the block.
        reduction_ratio: of the block's mask. Defaults to 2.0.
        epsilon: of the LayerNorm. Defaults to 1e-5.
        dropout: rate applied to the block's output while training. Defaults to 0.
        kernel_initializer: of the hidden layer ``W_i`` and of the mask's kernels. Defaults to
            ``"glorot_uniform"``.
        norm: ``"layer"`` (the paper's LayerNorm) or ``"batch"``: BatchNormalization, a variant that is
            not the paper's MaskNet. At inference it is a fixed scale and shift, which full-integer
            int8 runs without LayerNorm's int8 MEAN/RSQRT (``benchmarks/bench_int8_path.py``).
            Defaults to ``"layer"``.

    Input shape:
        A list ``[v_emb, v_in]``: ``[batch, d_emb]`` and ``[batch, d_in]``.

    Output shape:
        ``[batch, units]``.

    >>> import numpy as np
    >>> tuple(MaskBlock(units=4)([np.ones((2, 6), "float32"), np.ones((2, 3), "float32")]).shape)
    (2, 4)
    """

    def __init__(
        self,
        units: int,
        reduction_ratio: float = 2.0,
        epsilon: float = 1e-5,
        dropout: float = 0.0,
        kernel_initializer: Any = "glorot_uniform",
        norm: str = "layer",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if units < 1:
            raise ValueError(f"Expected units >= 1. Received: units={units}")
        if norm not in BLOCK_NORMS:
            raise ValueError(f"Expected norm in {BLOCK_NORMS}. Received: norm={norm!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"Expected dropout in [0, 1). Received: dropout={dropout}")
        self.units = int(units)
        self.reduction_ratio = float(reduction_ratio)
        self.epsilon = float(epsilon)
        self.dropout = float(dropout)
        self.kernel_initializer = check_initializer("kernel_initializer", kernel_initializer)
        # The mask's width is the width of what it masks, known when the block is built.
        self.mask = InstanceGuidedMask(
            None, self.reduction_ratio, kernel_initializer=kernel_initializer, name="mask"
        )
        self.norm_kind = norm
        if norm == "layer":
            self.norm = keras.layers.LayerNormalization(epsilon=self.epsilon, name="norm")
        else:
            self.norm = keras.layers.BatchNormalization(epsilon=self.epsilon, name="norm")
        self.drop = keras.layers.Dropout(self.dropout) if self.dropout else None

    def build(self, input_shape: Any) -> None:
        emb_shape, in_shape = input_shape
        d_in = int(in_shape[-1])
        self.mask.output_dim = d_in
        self.mask.build(emb_shape)
        self.kernel = self.add_weight(
            name="kernel", shape=(d_in, self.units), initializer=fresh_initializer(self.kernel_initializer)
        )
        self.norm.build((None, self.units))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        v_emb, v_in = inputs
        masked = self.mask(v_emb) * v_in
        out = ops.relu(self.norm(ops.matmul(masked, self.kernel), training=training))
        return self.drop(out, training=training) if self.drop is not None else out

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (input_shape[1][0], self.units)

    def get_config(self) -> dict[str, Any]:
        config = {
            "units": self.units,
            "reduction_ratio": self.reduction_ratio,
            "epsilon": self.epsilon,
            "dropout": self.dropout,
            "kernel_initializer": serialize_initializer(self.kernel_initializer),
            "norm": self.norm_kind,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PooledSum(keras.layers.Layer):
    """Sum over the field axis and a bias: the logit of logistic regression on k=1 embeddings.

    Input shape:
        ``[batch, fields, 1]``.

    Output shape:
        ``[batch, 1]``.

    >>> import numpy as np
    >>> np.asarray(PooledSum()(np.ones((2, 3, 1), "float32"))).tolist()
    [[3.0], [3.0]]
    """

    def build(self, input_shape: Any) -> None:
        self.bias = self.add_weight(name="bias", shape=(1,), initializer="zeros")

    def call(self, inputs: Any) -> Any:
        return ops.sum(inputs, axis=1) + self.bias

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (input_shape[0], 1)
