"""EmbeddingAdam: Adam's exact step for repeated rows, and its learning-rate warm-up."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from masknet_edge.train.optimizers import EmbeddingAdam  # noqa: E402


def _table_step(opt: EmbeddingAdam, ids: list[int]) -> np.ndarray:
    table = keras.Variable(np.zeros((4, 1), "float32"))
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.gather(table, ids))  # every occurrence has gradient 1
    opt.apply([tape.gradient(loss, table)], [table])
    return np.asarray(table.numpy())[:, 0]


def test_a_row_seen_several_times_moves_by_adams_step_not_more():
    moved = _table_step(EmbeddingAdam(learning_rate=0.1), [1, 1, 1, 1, 2])
    assert moved[1] == pytest.approx(-0.1, rel=1e-3) and moved[2] == pytest.approx(-0.1, rel=1e-3)
    assert moved[0] == 0.0


def test_warmup_rises_linearly_then_holds_and_follows_a_new_rate():
    opt = EmbeddingAdam(learning_rate=0.1, warmup_steps=4)
    table = keras.Variable(np.zeros((2, 1), "float32"))
    rates = []
    for _ in range(6):
        rates.append(float(opt.learning_rate))
        opt.apply([keras.ops.ones((2, 1))], [table])
    assert rates == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1])
    opt.learning_rate = 0.01  # reduce on plateau sets the value the warm-up rises to
    assert float(opt.learning_rate) == pytest.approx(0.01)
    again = EmbeddingAdam.from_config(opt.get_config())
    assert again.warmup_steps == 4
    with pytest.raises(ValueError, match="warmup_steps"):
        EmbeddingAdam(warmup_steps=-1)
