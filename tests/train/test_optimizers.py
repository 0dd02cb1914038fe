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


def _adam_steps(opt: keras.optimizers.Optimizer, steps: int = 20) -> list[np.ndarray]:
    """``steps`` compiled updates of two variables with the same random gradients, the rate cut to a
    tenth halfway; the variables and the optimizer's moments after them."""
    import tensorflow as tf

    w = keras.Variable(np.arange(24, dtype="float32").reshape(6, 4) / 10)
    b = keras.Variable(np.zeros(4, "float32"))
    opt.build([w, b])
    rng = np.random.default_rng(1)

    @tf.function
    def step(gw: tf.Tensor, gb: tf.Tensor) -> None:
        opt.apply([gw, gb], [w, b])

    for i in range(steps):
        if i == steps // 2:  # reduce on plateau changes the rate between steps
            opt.learning_rate = opt.learning_rate * 0.1
        step(rng.standard_normal((6, 4)).astype("float32"), rng.standard_normal(4).astype("float32"))
    return [w.numpy(), b.numpy(), *(np.asarray(v.numpy()) for v in opt.variables[1:])]


def test_the_fused_update_is_keras_adams_update():
    """The fused kernel follows keras.optimizers.Adam's formula (to float rounding), moments included,
    also with the learning rate changed between steps (as reduce-on-plateau does)."""
    ours, theirs = EmbeddingAdam(learning_rate=0.05), keras.optimizers.Adam(learning_rate=0.05)
    a, b = _adam_steps(ours), _adam_steps(theirs)
    assert np.abs(a[0] - np.arange(24).reshape(6, 4) / 10).max() > 0.1  # the variables did move
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5)


def test_the_fused_update_is_one_op_per_variable():
    """Keras' Adam builds about 35 graph ops per variable; the fused update one kernel call each."""
    import tensorflow as tf

    variables = [keras.Variable(np.zeros((3, 2), "float32")) for _ in range(8)]
    opt = EmbeddingAdam(1e-3)
    opt.build(variables)
    graph = tf.function(lambda: opt.apply([tf.ones((3, 2))] * 8, variables)).get_concrete_function().graph
    kinds = [op.type for op in graph.get_operations()]
    assert kinds.count("ResourceApplyAdam") == 8
    assert len(kinds) < 8 * 10


MIRRORED_CHECK = """
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from masknet_edge.train.optimizers import EmbeddingAdam
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
x = np.random.default_rng(0).standard_normal((64, 5)).astype("float32")
y = (x[:, 0] > 0).astype("float32")
def run(optimizer):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=optimizer(0.05), loss="binary_crossentropy")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    return [[np.asarray(c) for c in strategy.experimental_local_results(v.value)]
            for v in model.weights + model.optimizer.variables[1:]]
ours, theirs = run(EmbeddingAdam), run(keras.optimizers.Adam)
assert all(np.array_equal(v[0], v[1]) for v in ours), "replicas differ"
print(max(float(np.abs(a[0] - b[0]).max()) for a, b in zip(ours, theirs)))
"""


@pytest.mark.slow
def test_the_fused_update_under_a_mirrored_strategy():
    """Each replica's copy of the weights and moments gets the same update, Keras' Adam's."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", MIRRORED_CHECK], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.split()[-1]) < 1e-5
