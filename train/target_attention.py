"""Target attention: a history of ids pooled by its likeness to the candidate (DIN, Zhou et al. 2018).

A mean over the user's last k items cannot say whether *this* candidate resembles what the user has
just been doing; DIN's activation unit can. Each event ``h_i`` of the history gets the weight
``w_i = MLP([h_i, c, h_i - c, h_i * c])`` from the candidate's embedding ``c``, with no softmax (the
sum keeps how much of the history speaks for the candidate), and the history is pooled as
``sum_i w_i * mask_i * h_i``. Padding weighs exactly zero.

The unit's first layer is linear in its input, so the difference term folds into the other two:
``[h, c, h - c, h * c] W = h W_h + c W_c + (h * c) W_p`` with ``W_h = W_1 + W_3`` and ``W_c = W_2 - W_3``.
This layer learns ``W_h, W_c, W_p`` directly: the same functions. On the device every candidate
meets every event, so the order of the arithmetic matters: ``c W_c`` is computed once per candidate,
and ``h W_h + (h * c) W_p = h (W_h + diag(c) W_p)`` with one ``[k, H]`` matrix per candidate, so a
(candidate, event) pair costs one ``k x H`` product where DIN's form costs four.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from masknet_edge.train.config import KERAS_PACKAGE as PACKAGE

__all__ = ["TargetAttention"]


@keras.saving.register_keras_serializable(package=PACKAGE)
class TargetAttention(keras.layers.Layer):
    """DIN's activation unit: pool a masked sequence of embeddings by a query embedding.

    Args:
        hidden_units: widths of the activation unit's hidden layers. Defaults to ``(64,)``.
        activation: of the hidden layers (a ``keras.activations`` name). Defaults to ``"sigmoid"``,
            the choice of DIN's public implementations.

    Input shape:
        ``query`` ``[batch, k]`` (the candidate), ``keys`` ``[batch, length, k]`` (the history, most
        recent first), ``mask`` ``[batch, length]`` (1.0 for events, 0.0 for padding).

    Output shape:
        ``[batch, k]``; with ``return_weights=True`` also the weights ``[batch, length]`` (0 on
        padding).

    >>> import numpy as np
    >>> layer = TargetAttention(hidden_units=(8,))
    >>> q, h = np.ones((2, 4), "float32"), np.ones((2, 3, 4), "float32")
    >>> pooled, w = layer(q, h, np.array([[1, 1, 0], [0, 0, 0]], "float32"), return_weights=True)
    >>> tuple(pooled.shape), np.asarray(w)[:, 2].tolist(), np.asarray(w)[1].tolist()
    ((2, 4), [0.0, 0.0], [0.0, 0.0, 0.0])
    """

    def __init__(
        self, hidden_units: tuple[int, ...] | list[int] = (64,), activation: str = "sigmoid", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        units = tuple(int(u) for u in hidden_units)
        if not units or min(units) < 1:
            raise ValueError(f"Expected hidden_units of widths >= 1. Received: hidden_units={hidden_units!r}")
        self.hidden_units = units
        self.activation = activation
        self._activation = keras.activations.get(activation)
        self.hidden = [
            keras.layers.Dense(u, activation=activation, name=f"hidden_{i}")
            for i, u in enumerate(units[1:], 1)
        ]
        self.score = keras.layers.Dense(1, name="score")

    def build(self, query_shape: Any, keys_shape: Any = None, mask_shape: Any = None) -> None:
        k, first = int(query_shape[-1]), self.hidden_units[0]

        # DIN's first layer is Glorot-uniform over 4k inputs: each block has variance 2 / (4k + H), and
        # W_h, W_c (sums of two blocks) twice that. VarianceScaling(fan_avg) gives scale / ((k + H) / 2).
        def init(blocks: int) -> Any:
            scale = blocks * (k + first) / (4 * k + first)
            return keras.initializers.VarianceScaling(scale, mode="fan_avg", distribution="uniform")

        self.w_keys = self.add_weight(name="w_keys", shape=(k, first), initializer=init(2))
        self.w_query = self.add_weight(name="w_query", shape=(k, first), initializer=init(2))
        self.w_product = self.add_weight(name="w_product", shape=(k, first), initializer=init(1))
        self.bias = self.add_weight(name="bias", shape=(first,), initializer="zeros")
        width = first
        for dense in self.hidden:
            dense.build((None, None, width))
            width = dense.units
        self.score.build((None, None, width))

    def call(self, query: Any, keys: Any, mask: Any, return_weights: bool = False) -> Any:
        per_query = ops.matmul(query, self.w_query) + self.bias  # [B, H]: once per candidate
        # h W_h + (h * c) W_p = h (W_h + diag(c) W_p): one [k, H] matrix per candidate, then one
        # product per (candidate, event) pair instead of two.
        per_candidate = self.w_keys + ops.expand_dims(query, -1) * self.w_product  # [B, k, H]
        x = ops.matmul(keys, per_candidate)  # [B, L, H]
        x = self._activation(x + ops.expand_dims(per_query, 1))
        for dense in self.hidden:
            x = dense(x)
        weights = ops.squeeze(self.score(x), -1) * ops.cast(mask, x.dtype)  # [B, L], 0 on padding
        pooled = ops.sum(keys * ops.expand_dims(weights, -1), axis=1)
        return (pooled, weights) if return_weights else pooled

    def compute_output_shape(self, query_shape: Any, keys_shape: Any = None, mask_shape: Any = None) -> Any:
        return tuple(query_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "hidden_units": list(self.hidden_units),
            "activation": self.activation,
        }
