"""Target attention: DIN's activation unit by a numpy re-computation, padding that weighs zero, and a
history field that shares the candidate's ids and embedding rows through the whole model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from masknet_edge.edge_runtime.encoder import FeatureEncoder
from masknet_edge.edge_runtime.spec import FeatureSpec
from masknet_edge.train.layers import FeatureEmbedding
from masknet_edge.train.masknet import build_model
from masknet_edge.train.target_attention import TargetAttention

RNG = np.random.default_rng(0)


def _spec(**history) -> FeatureSpec:
    return FeatureSpec.from_dict(
        {
            "fields": [
                {"name": "user_id", "kind": "categorical", "side": "context", "num_buckets": 7},
                {"name": "item_id", "kind": "categorical", "side": "item", "vocabulary": ["a", "b", "c"]},
                {
                    "name": "history",
                    "kind": "multi_categorical",
                    "side": "context",
                    "max_length": 4,
                    "shares": "item_id",
                    "pooling": "attention",
                    **history,
                },
            ]
        }
    )


def test_the_activation_unit_is_din_s_with_zero_weight_on_padding():
    layer = TargetAttention(hidden_units=(6,), activation="sigmoid")
    q = RNG.normal(size=(3, 5)).astype("float32")
    h = RNG.normal(size=(3, 4, 5)).astype("float32")
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 0, 0]], "float32")
    pooled, weights = (np.asarray(t) for t in layer(q, h, mask, return_weights=True))
    wh, wq, wp, b1 = (np.asarray(v) for v in (layer.w_keys, layer.w_query, layer.w_product, layer.bias))
    w2, b2 = (np.asarray(v) for v in layer.score.weights)
    # DIN's unit on [h, c, h - c, h * c] with W = [W_h, W_c, 0, W_p]: the same function.
    w_din = np.concatenate([wh, wq, np.zeros_like(wh), wp])
    qq = np.broadcast_to(q[:, None, :], h.shape)
    x = np.concatenate([h, qq, h - qq, h * qq], -1)
    expected_w = ((1 / (1 + np.exp(-(x @ w_din + b1)))) @ w2 + b2)[..., 0] * mask
    np.testing.assert_allclose(weights, expected_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pooled, (h * expected_w[..., None]).sum(1), rtol=1e-5, atol=1e-6)
    assert (weights[mask == 0] == 0.0).all()  # exactly zero, not small
    # What padding holds cannot change the result.
    h2 = h.copy()
    h2[mask == 0] = 1e3
    np.testing.assert_array_equal(np.asarray(layer(q, h2, mask)), pooled)


def test_any_din_first_layer_folds_into_the_three_matrices():
    """[h, c, h - c, h * c] W = h (W1 + W3) + c (W2 - W3) + (h * c) W4, for any W."""
    k, units = 5, 7
    w = RNG.normal(size=(4 * k, units))
    h, c = RNG.normal(size=(9, k)), RNG.normal(size=(9, k))
    din = np.concatenate([h, c, h - c, h * c], -1) @ w
    w1, w2, w3, w4 = np.split(w, 4)
    np.testing.assert_allclose(din, h @ (w1 + w3) + c @ (w2 - w3) + (h * c) @ w4, rtol=1e-10)


def test_the_layer_round_trips_through_its_config():
    layer = TargetAttention(hidden_units=[8, 4], activation="relu", name="att")
    again = TargetAttention.from_config(layer.get_config())
    assert again.hidden_units == (8, 4) and again.activation == "relu"
    with pytest.raises(ValueError, match="hidden_units"):
        TargetAttention(hidden_units=[])


def test_the_history_uses_the_candidate_s_ids_and_rows():
    spec = _spec()
    assert spec.total_vocab == (1 + 7) + (1 + 1 + 3)  # user ids, item ids; the history adds no rows
    assert spec.vocab_offsets()["history"] == spec.vocab_offsets()["item_id"]
    enc = FeatureEncoder(spec).encode([{"user_id": "u", "item_id": "b", "history": "c|b|zz"}])
    item_b = enc["cat_ids"][0, 1]
    assert enc["history_ids"][0, 1] == item_b  # "b" in the history is "b" as a candidate
    assert enc["history_mask"][0].tolist() == [1.0, 1.0, 1.0, 0.0]
    layer = FeatureEmbedding(
        vocab_size=spec.total_vocab,
        embedding_dim=4,
        num_id_fields=2,
        multi_fields=["history"],
        multi_poolings=["attention"],
        multi_queries=[1],
    )
    out = np.asarray(layer(enc))
    assert out.shape == (1, 3, 4)
    table = np.asarray(layer.table)
    attention = layer.attentions["history"]
    expected = np.asarray(
        attention(table[enc["cat_ids"][:, 1]], table[enc["history_ids"]], enc["history_mask"])
    )
    np.testing.assert_allclose(out[:, 2], expected, rtol=1e-6)


def test_an_attention_model_saves_and_loads_safely(tmp_path):
    spec = _spec()
    model = build_model(spec)
    enc = FeatureEncoder(spec).encode(
        [{"user_id": "u", "item_id": i, "history": "a|c"} for i in ("a", "b", "c")] + [{"item_id": "a"}]
    )
    before = np.asarray(model.predict(enc, verbose=0))
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(again.predict(enc, verbose=0)), before, rtol=1e-6)
    assert len({round(float(s), 7) for s in before[:3, 0]}) == 3  # each candidate its own weights


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"shares": "user_id"}, "context-side"),
        ({"shares": "nope"}, "not a field"),
        ({"shares": None}, "set shares"),
        ({"num_buckets": 5}, "takes its id space from 'item_id'"),
    ],
)
def test_a_bad_history_field_is_named(changes, match):
    with pytest.raises(Exception, match=match) as info:
        _spec(**changes)
    assert "history" in str(info.value)


def test_a_shared_field_writes_no_id_space_of_its_own():
    spec = _spec()
    history = next(f for f in spec.to_dict()["fields"] if f["name"] == "history")
    assert history["shares"] == "item_id" and "vocabulary" not in history and "oov_buckets" not in history
    assert FeatureSpec.from_json(spec.to_json()) == spec
