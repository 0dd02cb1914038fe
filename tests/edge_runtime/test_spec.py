"""Spec validation, JSON round trip, layout of ids and inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from masknet_edge.edge_runtime.errors import SpecError
from masknet_edge.edge_runtime.spec import CategoricalField, FeatureSpec, NumericField

GOLDEN_SPEC = Path(__file__).parents[1] / "golden" / "shop_spec.json"


def shop_dict() -> dict:
    return {
        "format_version": 1,
        "label": "click",
        "fields": [
            {"name": "user_id", "kind": "categorical", "side": "context", "num_buckets": 1000},
            {
                "name": "age",
                "kind": "numeric",
                "side": "context",
                "transform": "standardize",
                "mean": 35.0,
                "std": 10.0,
            },
            {
                "name": "age_group",
                "kind": "numeric",
                "side": "context",
                "transform": "bucketize",
                "boundaries": [25, 35, 50],
            },
            {"name": "gender", "kind": "categorical", "side": "context", "num_buckets": 4},
            {"name": "item_id", "kind": "categorical", "side": "item", "num_buckets": 500, "required": True},
            {"name": "category", "kind": "categorical", "side": "item", "num_buckets": 50},
            {
                "name": "price",
                "kind": "numeric",
                "side": "item",
                "transform": "log1p_standardize",
                "mean": 3.0,
                "std": 1.0,
                "default": 20.0,
            },
            {
                "name": "tags",
                "kind": "multi_categorical",
                "side": "item",
                "num_buckets": 100,
                "max_length": 4,
            },
            {
                "name": "age_x_category",
                "kind": "cross",
                "fields": ["age_group", "category"],
                "num_buckets": 200,
            },
            {"name": "user_x_gender", "kind": "cross", "fields": ["user_id", "gender"], "num_buckets": 30},
        ],
    }


def test_round_trip_and_golden_file():
    spec = FeatureSpec.from_dict(shop_dict())
    assert FeatureSpec.from_json(spec.to_json()) == spec
    # The on-disk format is pinned: a change to it must be made on purpose (regenerate and review).
    assert json.loads(spec.to_json()) == json.loads(GOLDEN_SPEC.read_text())
    assert FeatureSpec.load(GOLDEN_SPEC).fingerprint() == spec.fingerprint()


def test_layout_offsets_and_signature():
    spec = FeatureSpec.from_dict(shop_dict())
    assert [f.name for f in spec.id_fields] == [
        "user_id",
        "age_group",
        "gender",
        "item_id",
        "category",
        "age_x_category",
        "user_x_gender",
    ]
    assert spec.vocab_sizes() == {
        "user_id": 1001,
        "age_group": 5,
        "gender": 5,
        "item_id": 501,
        "category": 51,
        "age_x_category": 201,
        "user_x_gender": 31,
        "tags": 101,
    }
    offsets = spec.vocab_offsets()
    assert (
        offsets["user_id"] == 0 and offsets["age_group"] == 1001 and offsets["tags"] == spec.total_vocab - 101
    )
    assert [(i.name, i.dtype, i.shape) for i in spec.input_signature()] == [
        ("cat_ids", "int32", (7,)),
        ("num_values", "float32", (2,)),
        ("tags_ids", "int32", (4,)),
        ("tags_mask", "float32", (4,)),
    ]
    assert spec.side_of("age_x_category") == "item"
    assert spec.side_of("user_x_gender") == "context"
    assert spec.columns_of_side("context") == ("user_id", "age", "age_group", "gender")


def _with(mutate) -> dict:
    d = shop_dict()
    mutate(d)
    return d


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["fields"][0].update(kind="embedding"),
            r"'user_id': unknown kind.*Received: kind='embedding'",
        ),
        (lambda d: d["fields"][0].update(num_buckets=0), r"'user_id': num_buckets must be an integer >= 1"),
        (lambda d: d["fields"][0].update(num_buckets=True), r"'user_id': num_buckets"),
        (lambda d: d["fields"][3].update(name="user_id"), r"'user_id': duplicate field name"),
        (
            lambda d: d["fields"][8].update(fields=["age_group", "colour"]),
            r"'age_x_category': crosses unknown field 'colour'",
        ),
        (
            lambda d: d["fields"][8].update(fields=["age", "category"]),
            r"'age_x_category': can only cross.*'age' is numeric",
        ),
        (lambda d: d["fields"][8].update(fields=["category"]), r"at least 2 fields"),
        (lambda d: d["fields"][0].update(side="user"), r"side must be one of"),
        (lambda d: d["fields"][1].update(transform="log"), r"'age': transform must be one of"),
        (lambda d: d["fields"][1].update(std=0.0), r"'age': std must be > 0"),
        (lambda d: d["fields"][1].update(mean=float("nan")), r"'age': mean must be a finite number"),
        (
            lambda d: d["fields"][2].update(boundaries=[3, 2]),
            r"'age_group': boundaries must be strictly increasing",
        ),
        (lambda d: d["fields"][7].update(max_length=0), r"'tags': max_length"),
        (lambda d: d["fields"][7].update(pooling="max"), r"'tags': pooling must be one of"),
        (lambda d: d["fields"][7].update(separator=""), r"'tags': separator"),
        (lambda d: d["fields"][0].update(colour="red"), r"'user_id': unknown keys \['colour'\]"),
        (lambda d: d["fields"][0].pop("num_buckets"), r"'user_id': needs num_buckets"),
        (lambda d: d["fields"][0].update(name="user id"), r"field name must match"),
        (lambda d: d.update(format_version=2), r"unsupported spec format_version 2"),
        (lambda d: d.update(label="age"), r"'age': the label column cannot also be a feature"),
        (lambda d: d.update(fields=[]), r"at least one field"),
        (lambda d: d.update(extra=1), r"unknown spec keys \['extra'\]"),
    ],
)
def test_invalid_specs_name_the_field_and_problem(mutate, message):
    with pytest.raises(SpecError, match=message):
        FeatureSpec.from_dict(_with(mutate))


def test_load_errors_name_the_file(tmp_path):
    p = tmp_path / "spec.json"
    p.write_text("{not json")
    with pytest.raises(SpecError, match=r"spec.json: spec is not valid JSON"):
        FeatureSpec.load(p)
    with pytest.raises(SpecError, match=r"cannot read spec file .*missing.json"):
        FeatureSpec.load(tmp_path / "missing.json")


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    spec = FeatureSpec.from_dict(shop_dict())
    spec.save(tmp_path / "spec.json")
    assert [p.name for p in tmp_path.iterdir()] == ["spec.json"]
    assert FeatureSpec.load(tmp_path / "spec.json") == spec


def test_unfitted_spec_is_reported():
    spec = FeatureSpec((NumericField("x", "item"), CategoricalField("c", "item", 3)))
    assert not spec.is_fitted
    assert spec.unfitted_fields() == ("x",)
