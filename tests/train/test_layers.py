"""Each MaskNet piece against a small numpy re-computation of the paper's equations."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from masknet_edge.edge_runtime.encoder import FeatureEncoder
from masknet_edge.edge_runtime.spec import FeatureSpec
from masknet_edge.train.config import ConfigError, ModelConfig
from masknet_edge.train.layers import FeatureEmbedding, FieldLayerNorm, InstanceGuidedMask, MaskBlock
from masknet_edge.train.masknet import build_model
from tests.edge_runtime.test_spec import shop_dict

RNG = np.random.default_rng(0)


def np_layernorm(x, gamma, beta, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def test_field_layer_norm_normalises_each_field_separately():
    x = RNG.normal(size=(4, 3, 5)).astype("float32")
    x[:, 1] *= 100.0  # one field on a very different scale
    layer = FieldLayerNorm(epsilon=1e-5)
    y = np.asarray(layer(x))
    assert layer.gamma.shape == (3, 5)
    np.testing.assert_allclose(y, np_layernorm(x, 1.0, 0.0, 1e-5), rtol=1e-4, atol=1e-5)
    # per field: zero mean, unit variance over k; not over the whole concatenation
    np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.var(-1), 1.0, rtol=1e-3)
    whole = np_layernorm(x.reshape(4, 15), 1.0, 0.0, 1e-5).reshape(4, 3, 5)
    assert not np.allclose(y, whole, atol=1e-2)


def test_field_layer_norm_uses_per_field_scale():
    x = RNG.normal(size=(2, 3, 4)).astype("float32")
    layer = FieldLayerNorm()
    layer.build(x.shape)
    gamma = RNG.normal(size=(3, 4)).astype("float32")
    beta = RNG.normal(size=(3, 4)).astype("float32")
    layer.set_weights([gamma, beta])
    np.testing.assert_allclose(np.asarray(layer(x)), np_layernorm(x, gamma, beta, 1e-5), rtol=1e-4, atol=1e-5)


def test_instance_guided_mask_equation_and_widths():
    v = RNG.normal(size=(3, 6)).astype("float32")
    mask = InstanceGuidedMask(output_dim=4, reduction_ratio=2.0)
    out = np.asarray(mask(v))
    w1, b1, w2, b2 = (np.asarray(w) for w in mask.weights)
    assert w1.shape == (6, 8) and w2.shape == (8, 4)  # aggregation = 2 x projection width
    np.testing.assert_allclose(out, np.maximum(v @ w1 + b1, 0) @ w2 + b2, rtol=1e-5, atol=1e-6)
    assert (out < 0).any()  # no sigmoid: the mask is not squashed into (0, 1)


def test_mask_block_equation():
    v_emb = RNG.normal(size=(3, 6)).astype("float32")
    v_in = RNG.normal(size=(3, 5)).astype("float32")
    block = MaskBlock(units=7, reduction_ratio=2.0)
    out = np.asarray(block([v_emb, v_in]))
    w1, b1, w2, b2 = (np.asarray(w) for w in block.mask.weights)
    mask = np.maximum(v_emb @ w1 + b1, 0) @ w2 + b2
    assert mask.shape == (3, 5) and w1.shape == (6, 10)  # mask guided by v_emb, masks v_in's width
    kernel = np.asarray(block.kernel)
    gamma, beta = (np.asarray(w) for w in block.norm.weights)
    expected = np.maximum(np_layernorm((mask * v_in) @ kernel, gamma, beta, 1e-5), 0)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    # hidden layer has no bias: kernel, then the mask's four weights and LayerNorm's two
    assert len(block.weights) == 1 + 4 + 2


def test_feature_embedding_lookup_pooling_and_value_scaled_numerics():
    layer = FeatureEmbedding(
        vocab_size=20,
        embedding_dim=3,
        num_id_fields=2,
        num_numeric=2,
        multi_fields=["tags", "hist"],
        multi_poolings=["mean", "sum"],
    )
    inputs = {
        "cat_ids": np.array([[1, 5], [0, 19]], "int32"),
        "num_values": np.array([[2.0, -1.0], [0.5, 0.0]], "float32"),
        "tags_ids": np.array([[2, 3, 0], [4, 0, 0]], "int32"),
        "tags_mask": np.array([[1, 1, 0], [0, 0, 0]], "float32"),
        "hist_ids": np.array([[6, 7], [8, 9]], "int32"),
        "hist_mask": np.array([[1, 1], [1, 0]], "float32"),
    }
    out = np.asarray(layer(inputs))
    table = np.asarray(layer.table)
    vec = np.asarray(layer.numeric_vectors)
    assert out.shape == (2, 6, 3)
    np.testing.assert_allclose(out[:, :2], table[inputs["cat_ids"]], rtol=1e-6)
    np.testing.assert_allclose(out[0, 2], (table[2] + table[3]) / 2, rtol=1e-6)
    np.testing.assert_allclose(out[1, 2], 0.0)  # an empty mean-pooled field is the zero vector
    np.testing.assert_allclose(out[0, 3], table[6] + table[7], rtol=1e-6)
    np.testing.assert_allclose(out[1, 3], table[8], rtol=1e-6)
    np.testing.assert_allclose(out[:, 4:], inputs["num_values"][..., None] * vec[None], rtol=1e-6)


SPEC = FeatureSpec.from_dict(shop_dict())
SMALL = {"block_units": 16, "mlp_units": (8,), "embedding_dim": 4}


def _batch(n=32, spec=SPEC):
    rng = np.random.default_rng(1)
    recs = [
        {
            "user_id": int(rng.integers(50)),
            "age": float(rng.integers(18, 70)),
            "age_group": float(rng.integers(18, 70)),
            "gender": str(rng.choice(["M", "F"])),
            "item_id": int(rng.integers(100)),
            "category": int(rng.integers(9)),
            "price": float(rng.uniform(1, 100)),
            "tags": "a|b" if i % 2 else "c",
        }
        for i in range(n)
    ]
    return FeatureEncoder(spec).encode(recs)


@pytest.mark.parametrize(
    ("model", "variant"),
    [("sermasknet", {}), ("paramasknet", {}), ("dnn", {}), ("lr", {}),
     ("sermasknet", {"block_norm": "batch", "ln_emb": False})],
)  # fmt: skip
def test_save_load_round_trip_is_exact(model, variant, tmp_path):
    m = build_model(SPEC, ModelConfig(model=model, **SMALL, **variant))
    x = _batch()
    p = m.predict(x, verbose=0)
    assert p.shape == (32, 1) and ((p > 0) & (p < 1)).all()
    m.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), p)
    assert all(i.shape[0] is None for i in m.inputs)


def test_serial_stacks_blocks_and_parallel_uses_every_block():
    ser = build_model(SPEC, ModelConfig(model="sermasknet", num_blocks=3, **SMALL))
    blocks = [layer for layer in ser.layers if isinstance(layer, MaskBlock)]
    assert len(blocks) == 3
    # block i+1 masks the previous block's output: its kernel is units x units
    assert blocks[1].kernel.shape == (16, 16)
    para = build_model(SPEC, ModelConfig(model="paramasknet", num_blocks=3, **SMALL))
    x = _batch()
    base = para.predict(x, verbose=0)
    for i in range(3):
        block = para.get_layer(f"mask_block_{i}")
        saved = [w.numpy() for w in block.weights]
        block.kernel.assign(np.zeros_like(saved[0]))
        changed = para.predict(x, verbose=0)
        block.set_weights(saved)
        assert not np.allclose(changed, base), f"mask_block_{i} does not reach the output"
    # every block has its own mask parameters: changing one block's mask leaves the others as they were
    masks = [para.get_layer(f"mask_block_{i}").mask.w1 for i in range(3)]
    before = [m.numpy().copy() for m in masks]
    masks[0].assign(np.zeros_like(before[0]))
    assert not np.array_equal(masks[0].numpy(), before[0])
    for m, b in zip(masks[1:], before[1:], strict=True):
        np.testing.assert_array_equal(m.numpy(), b)


def test_mask_is_guided_by_raw_embedding_not_layer_norm():
    m = build_model(SPEC, ModelConfig(model="sermasknet", num_blocks=1, **SMALL))
    block = m.get_layer("mask_block_0")
    emb_out = m.get_layer("v_emb").output
    assert block._inbound_nodes[0].input_tensors[0] is emb_out


def test_block_dropout_only_acts_in_training(tmp_path):
    m = build_model(SPEC, ModelConfig(model="sermasknet", dropout=0.5, **SMALL))
    x = _batch()
    p = m.predict(x, verbose=0)
    np.testing.assert_array_equal(p, m.predict(x, verbose=0))
    assert m.get_layer("mask_block_0").get_config()["dropout"] == 0.5
    trained = np.asarray(m(x, training=True))
    assert not np.allclose(trained, p)
    m.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(
        keras.saving.load_model(tmp_path / "m.keras", safe_mode=True).predict(x, verbose=0), p
    )


def test_the_docstring_examples_run():
    import doctest

    from masknet_edge.train import layers

    result = doctest.testmod(layers)
    assert result.attempted >= 5 and result.failed == 0


def test_initializers_and_regularizers_are_arguments_that_round_trip():
    import keras

    from masknet_edge.train.layers import FeatureEmbedding, MaskBlock

    emb = FeatureEmbedding(
        10, 4, num_id_fields=1, embeddings_initializer="zeros", embeddings_regularizer="l2"
    )
    again = FeatureEmbedding.from_config(emb.get_config())
    again.build({})
    assert float(np.abs(again.table.numpy()).max()) == 0.0
    assert isinstance(again.embeddings_regularizer, keras.regularizers.L2)
    old = FeatureEmbedding(10, 4, num_id_fields=1, embeddings_regularizer_l2=0.5)  # runs saved before
    assert old.embeddings_regularizer.l2 == 0.5
    block = MaskBlock(3, kernel_initializer="ones")
    block.build([(None, 5), (None, 2)])
    assert float(block.kernel.numpy().min()) == 1.0 and float(block.mask.w1.numpy().min()) == 1.0
    assert MaskBlock.from_config(block.get_config()).get_config()["kernel_initializer"] == "ones"
    seeded = MaskBlock(3, kernel_initializer=keras.initializers.GlorotUniform(seed=1))
    seeded.build([(None, 5), (None, 2)])
    config = MaskBlock.from_config(seeded.get_config()).get_config()["kernel_initializer"]
    assert config["class_name"] == "GlorotUniform" and config["config"]["seed"] == 1
    with pytest.raises(ValueError, match="Expected kernel_initializer .* Received: kernel_initializer=3"):
        MaskBlock(3, kernel_initializer=3)


def test_the_batch_norm_variant_normalizes_per_batch_in_training_and_is_fixed_after():
    block = MaskBlock(units=4, norm="batch")
    v_emb = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    v_in = np.random.default_rng(1).normal(size=(64, 3)).astype("float32")
    trained = np.asarray(block([v_emb, v_in], training=True))
    # a training call normalizes over the batch: one row's output depends on the other rows
    alone = np.asarray(block([v_emb[:8], v_in[:8]], training=True))
    assert not np.allclose(alone, trained[:8])
    # at inference it is a fixed affine map: rows are scored independently
    served = np.asarray(block([v_emb, v_in], training=False))
    np.testing.assert_allclose(
        np.asarray(block([v_emb[:8], v_in[:8]], training=False)), served[:8], rtol=1e-6
    )
    assert block.get_config()["norm"] == "batch"
    with pytest.raises(ValueError, match="Expected norm in"):
        MaskBlock(units=4, norm="group")
    with pytest.raises(ConfigError, match="block_norm"):
        ModelConfig(block_norm="group")


def test_unknown_rate_hides_present_vocabulary_values_behind_their_oov_ids_in_training_only(tmp_path):
    layer = FeatureEmbedding(
        vocab_size=40,
        embedding_dim=4,
        num_id_fields=3,
        unknown_rate=0.25,
        unknown_buckets=[[11, 2], [-1, 0], [31, 1]],  # field 0: ids 11-12; field 1 never; field 2: id 31
        seed=3,
    )
    n = 4000
    ids = np.stack([np.full(n, 15), np.full(n, 25), np.where(np.arange(n) % 2 == 0, 30, 35)], 1)
    hidden = np.asarray(layer._hide(keras.ops.convert_to_tensor(ids.astype("int32"))))
    share = (hidden[:, 0] != 15).mean()
    assert 0.22 < share < 0.28 and set(np.unique(hidden[:, 0])) == {11, 12, 15}
    assert (hidden[:, 1] == 25).all()  # a column without out-of-vocabulary ids is never hidden
    missing = ids[:, 2] == 30  # local id 0 (offset 30): a missing value stays missing
    assert (hidden[missing, 2] == 30).all() and set(np.unique(hidden[~missing, 2])) == {31, 35}
    x = {"cat_ids": ids.astype("int32")}
    plain = np.asarray(layer(x))
    table = np.asarray(layer.table)
    np.testing.assert_array_equal(plain, table[ids])  # inference: the ids as they are
    assert not np.allclose(np.asarray(layer(x, training=True)), table[ids])


def test_unknown_rate_reaches_the_vocabulary_fields_of_a_model_and_round_trips(tmp_path):
    from masknet_edge.train.masknet import unknown_buckets

    d = shop_dict()
    d["fields"][0] = {"name": "user_id", "kind": "categorical", "side": "context", "oov_buckets": 3}
    d["fields"][0]["vocabulary"] = [str(i) for i in range(20)]
    spec = FeatureSpec.from_dict(d)
    offsets = spec.vocab_offsets()
    got = dict(zip([f.name for f in spec.id_fields], unknown_buckets(spec), strict=True))
    for f in spec.id_fields:
        vocabulary = f.kind == "categorical" and (f.vocabulary is not None or f.min_count is not None)
        assert got[f.name] == ([offsets[f.name] + 1, f.oov_buckets] if vocabulary else [-1, 0]), f.name
    assert got["user_id"] == [offsets["user_id"] + 1, 3] and got["item_id"] == [-1, 0]
    m = build_model(spec, ModelConfig(unknown_rate=0.5, **SMALL))
    assert m.get_layer("embedding").get_config()["unknown_rate"] == 0.5
    x = _batch(spec=spec)
    p = m.predict(x, verbose=0)
    m.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(
        keras.saving.load_model(tmp_path / "m.keras", safe_mode=True).predict(x, verbose=0), p
    )
    with pytest.raises(ConfigError, match="unknown_rate"):
        ModelConfig(unknown_rate=1.0)
