"""Adam for embedding tables: the gradient of a row is the sum over its occurrences in the batch.

Keras 3 on TensorFlow hands an embedding lookup's gradient to the optimizer as ``tf.IndexedSlices``
with one slice per occurrence. ``keras.optimizers.Adam`` squares those slices one by one before they
are summed, so a row that occurs ``c`` times in a batch gets a second moment of ``sum(g_i**2)``
instead of ``(sum g_i)**2``: for a value that is in every row of a batch of 256, Adam's step is up
to 16 times what Adam prescribes (measured: a row seen 4 times with equal gradients moved 0.2, not
0.1, after one step of learning rate 0.1). PyTorch's dense embedding gradients, and so the reference
library FuxiCTR, do not have this. Summing the occurrences first (a dense gradient) gives Adam's
exact update; Keras' Adam already updates its moments densely, so this costs one table-sized add.
"""

from __future__ import annotations

from typing import Any

import keras

from masknet_edge.train.config import KERAS_PACKAGE as PACKAGE

__all__ = ["EmbeddingAdam"]


@keras.saving.register_keras_serializable(package=PACKAGE)
class EmbeddingAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` whose sparse (per-occurrence) gradients are summed per row first.

    Args:
        warmup_steps: the learning rate rises linearly from ``1 / warmup_steps`` of its value to all
            of it over the first ``warmup_steps`` steps (Goyal et al. 2017's warm-up for large
            batches); 0 starts at full rate. Setting ``learning_rate`` later (the reduce-on-plateau
            of :mod:`train.epochs`) changes the value the warm-up rises to. Defaults to 0.
        **kwargs: ``keras.optimizers.Adam``'s.

    >>> opt = EmbeddingAdam(learning_rate=1e-3, warmup_steps=100)
    """

    def __init__(self, *args: Any, warmup_steps: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"Expected warmup_steps >= 0. Received: warmup_steps={warmup_steps!r}")
        self.warmup_steps = warmup_steps

    def _get_current_learning_rate(self) -> Any:
        rate = super()._get_current_learning_rate()
        if not self.warmup_steps:
            return rate
        done = keras.ops.cast(self._iterations + 1, "float32") / float(self.warmup_steps)
        return rate * keras.ops.minimum(done, 1.0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "warmup_steps": self.warmup_steps}

    def apply(self, grads: list[Any], trainable_variables: list[Any] | None = None) -> Any:
        """Densify ``tf.IndexedSlices`` gradients (duplicates summed), then apply Adam."""
        dense = []
        for g in grads:
            if type(g).__name__ == "IndexedSlices":  # the TensorFlow backend only; others are dense
                import tensorflow as tf

                g = tf.convert_to_tensor(g)
            dense.append(g)
        return super().apply(dense, trainable_variables)
