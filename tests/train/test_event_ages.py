"""Fields along a history: each event's age bucket (``last_ages``) enters the event's vector in the
attention, position by position; exact buckets, the spec's checks, the layer's arithmetic, and a
model that converts to TFLite builtins in every mode."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from masknet_edge.edge_runtime.behaviour import BehaviourState, age_bucket
from masknet_edge.edge_runtime.encoder import FeatureEncoder
from masknet_edge.edge_runtime.errors import SpecError
from masknet_edge.edge_runtime.spec import FeatureSpec


def _spec_dict(ages: dict | None = None, feature: dict | None = None) -> dict:
    return {
        "label": "click",
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
            },
            {
                "name": "ages",
                "kind": "multi_categorical",
                "side": "context",
                "max_length": 4,
                "num_buckets": 32,
                "value_type": "integer",
                "along": "history",
                **(ages or {}),
            },
        ],
        "behaviour": {
            "events": {"click": {"keep_last": 10}},
            "features": [
                {"name": "history", "type": "last_values", "event": "click", "of": "item_id", "k": 4},
                {
                    "name": "ages",
                    "type": "last_ages",
                    "event": "click",
                    "of": "item_id",
                    "k": 4,
                    **(feature or {}),
                },
            ],
        },
    }


def test_age_buckets_are_exact_binary_exponents():
    assert [age_bucket(a) for a in (0.0, 0.99, 1.0, 2.0, 3.0, 1022.0, 1023.0)] == [0, 0, 1, 1, 2, 9, 10]
    assert [age_bucket(2.0**n - 1) for n in range(1, 60)] == list(range(1, 60))  # 2^n - 1: bucket n
    assert age_bucket(-5.0) == 0  # an event later than the request
    assert age_bucket(float("inf")) == age_bucket(sys.float_info.max) == 1023


def test_ages_list_the_history_s_events_in_its_order():
    spec = FeatureSpec.from_dict(_spec_dict())
    state = BehaviourState(spec)
    for ts, item in ((0.0, "a"), (90.0, None), (99.0, "b"), (100.0, "c"), (2000.0, "a")):
        state.add("click", {"item_id": item}, ts)
    got = state.context_values(1000.0)
    # the last 4 events: 90 s (no item: skipped by both), 99 s, 100 s, 2000 s (later than now: age 0)
    assert got["history"] == ["a", "c", "b"]
    assert got["ages"] == ["0", str(age_bucket(900.0)), str(age_bucket(901.0))] == ["0", "9", "9"]


@pytest.mark.parametrize(
    ("ages", "feature", "match"),
    [
        ({"along": "user_id"}, None, "not an attention-pooled history"),
        ({"along": "nope"}, None, "not a field of the spec"),
        ({"along": "ages"}, None, "another"),
        ({"max_length": 3}, None, "max_length"),
        (
            {"pooling": "attention", "shares": "item_id", "num_buckets": None, "value_type": None},
            None,
            "not pooled on its own",
        ),
        (None, {"k": 3}, "same events"),
        (None, {"event": "click", "of": "user_id"}, "same events"),
    ],
)
def test_a_bad_field_along_a_history_is_named(ages, feature, match):
    d = _spec_dict(ages, feature)
    d["fields"][-1] = {k: v for k, v in d["fields"][-1].items() if v is not None}
    with pytest.raises(SpecError, match=match) as info:
        FeatureSpec.from_dict(d)
    assert "ages" in str(info.value)


def test_a_field_along_a_history_of_the_log_must_come_from_the_log():
    d = _spec_dict()
    d["behaviour"]["features"] = d["behaviour"]["features"][:1]  # the ages would come from the app
    with pytest.raises(SpecError, match="'ages'.*computes from its log"):
        FeatureSpec.from_dict(d)


def test_along_round_trips_and_encodes_as_any_multi_valued_field():
    spec = FeatureSpec.from_dict(_spec_dict())
    assert FeatureSpec.from_json(spec.to_json()) == spec
    assert next(f for f in spec.to_dict()["fields"] if f["name"] == "ages")["along"] == "history"
    enc = FeatureEncoder(spec).encode([{"item_id": "b", "history": ["c", "a"], "ages": ["3", "12"]}])
    assert enc["ages_mask"][0].tolist() == enc["history_mask"][0].tolist() == [1.0, 1.0, 0.0, 0.0]


def test_the_layer_adds_each_event_s_age_to_its_vector():
    pytest.importorskip("tensorflow")
    from masknet_edge.train.layers import FeatureEmbedding

    spec = FeatureSpec.from_dict(_spec_dict())
    rows = [{"user_id": "u", "item_id": "b", "history": ["c", "a", "b"], "ages": ["1", "5", "20"]}]
    enc = FeatureEncoder(spec).encode(rows)
    layer = FeatureEmbedding(
        vocab_size=spec.total_vocab,
        embedding_dim=4,
        num_id_fields=2,
        multi_fields=["history", "ages"],
        multi_poolings=["attention", "mean"],
        multi_queries=[1, -1],
        multi_along=[-1, 0],
    )
    out = np.asarray(layer(enc))
    assert out.shape == (1, 3, 4) and layer.num_fields == 3  # the ages are no field of their own
    table = np.asarray(layer.table)
    keys = table[enc["history_ids"]] + table[enc["ages_ids"]]
    expected = layer.attentions["history"](table[enc["cat_ids"][:, 1]], keys, enc["history_mask"])
    np.testing.assert_allclose(out[:, 2], np.asarray(expected), rtol=1e-6)
    older = FeatureEncoder(spec).encode([{**rows[0], "ages": ["9", "9", "20"]}])
    assert not np.allclose(np.asarray(layer(older))[:, 2], out[:, 2])  # the ages change the pooling
    np.testing.assert_allclose(np.asarray(layer(older))[:, :2], out[:, :2])
    again = FeatureEmbedding.from_config(layer.get_config())
    assert again.multi_along == (-1, 0)
    with pytest.raises(ValueError, match="multi_along"):
        FeatureEmbedding(
            vocab_size=20,
            num_id_fields=2,
            multi_fields=["h", "a"],
            multi_poolings=["mean", "mean"],
            multi_along=[-1, 0],
        )


@pytest.mark.slow
def test_a_model_with_event_ages_converts_to_builtins_in_every_mode():
    pytest.importorskip("tensorflow")
    from ai_edge_litert.interpreter import Interpreter

    from masknet_edge.convert.converter import convert_model
    from masknet_edge.train.config import ModelConfig
    from masknet_edge.train.masknet import build_model

    spec = FeatureSpec.from_dict(_spec_dict())
    model = build_model(spec, ModelConfig(embedding_dim=4, block_units=8, num_blocks=1))
    rng = np.random.default_rng(0)
    rows = [
        {
            "user_id": f"u{rng.integers(5)}",
            "item_id": "abc"[rng.integers(3)],
            "history": ["abc"[i] for i in rng.integers(3, size=rng.integers(5))],
        }
        for _ in range(64)
    ]
    for r in rows:
        r["ages"] = [str(int(a)) for a in rng.integers(20, size=len(r["history"]))]
    sample = FeatureEncoder(spec).encode(rows)
    keras_scores = np.asarray(model.predict(sample, verbose=0))
    for mode in ("none", "dynamic", "int8"):
        result = convert_model(model, spec, mode, sample=sample, progress=False)
        interpreter = Interpreter(model_content=result.tflite)
        ops = {d["op_name"] for d in interpreter._get_ops_details()}
        assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], (mode, ops)
        if mode == "none":
            runner = interpreter.get_signature_runner()
            got = runner(**{k: v for k, v in sample.items()})
            np.testing.assert_allclose(next(iter(got.values())), keras_scores, atol=1e-5)


def _with_categories(k: int = 4) -> dict:
    """The test spec with each event's category along the history, in the category field's id space;
    the category feature reads the last ``k`` events."""
    d = _spec_dict()
    d["fields"].insert(2, {"name": "category", "kind": "categorical", "side": "item", "num_buckets": 5})
    d["fields"].append(
        {"name": "cats", "kind": "multi_categorical", "side": "context", "max_length": 4}
        | {"shares": "category", "along": "history"}
    )
    d["behaviour"]["features"].append(
        {"name": "cats", "type": "last_values", "event": "click", "of": "category", "k": k}
    )
    return d


def test_a_history_and_the_fields_along_it_list_the_same_events():
    spec = FeatureSpec.from_dict(_with_categories())
    state = BehaviourState(spec)
    for ts, item in (
        (1.0, {"item_id": "a", "category": "x"}),
        (2.0, {"item_id": "b"}),
        (3.0, {"category": "y"}),
    ):
        state.add("click", item, ts)
    state.add("click", {"item_id": "c", "category": "z"}, 7.0)
    got = state.context_values(10.0)
    assert (got["history"], got["cats"], got["ages"]) == (["c", "a"], ["z", "x"], ["2", "3"])
    with pytest.raises(SpecError, match="'cats'.*same events"):
        FeatureSpec.from_dict(_with_categories(k=3))


def test_a_field_along_a_history_that_shares_an_item_field_joins_the_query():
    pytest.importorskip("tensorflow")
    from masknet_edge.train.masknet import build_model

    spec = FeatureSpec.from_dict(_with_categories())
    model = build_model(spec)
    layer = model.get_layer("embedding")
    names = [f.name for f in spec.id_fields]
    assert layer.multi_fields == ("history", "ages", "cats")
    assert layer.multi_queries == (names.index("item_id"), -1, names.index("category"))
    assert layer.multi_along == (-1, 0, 0)
    rows = [{"item_id": "b", "category": "x", "history": ["c", "a"], "ages": ["1", "4"], "cats": ["x", "y"]}]
    enc = FeatureEncoder(spec).encode(rows)
    out = np.asarray(layer(enc))
    table = np.asarray(layer.table)
    ids = enc["cat_ids"][:, [names.index("item_id"), names.index("category")]]
    query = table[ids[:, 0]] + table[ids[:, 1]]
    keys = table[enc["history_ids"]] + table[enc["ages_ids"]] + table[enc["cats_ids"]]
    expected = layer.attentions["history"](query, keys, enc["history_mask"])
    np.testing.assert_allclose(out[:, len(names)], np.asarray(expected), rtol=1e-5)
