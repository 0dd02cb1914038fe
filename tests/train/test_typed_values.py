"""Any value, any source, one id: CSV, Parquet, list of dicts, dict of columns and DataFrames agree."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from masknet_edge.edge_runtime.encoder import FeatureEncoder
from masknet_edge.edge_runtime.errors import EncodeError
from masknet_edge.edge_runtime.spec import FeatureSpec
from masknet_edge.train.fit import fit_spec
from masknet_edge.train.io import DataError, iter_chunks

SPEC = {
    "label": "y",
    "fields": [
        {"name": "code", "kind": "categorical", "side": "context", "num_buckets": 97},  # text
        {"name": "city", "kind": "categorical", "side": "context", "min_count": 1, "value_type": "integer"},
        {"name": "flag", "kind": "categorical", "side": "item", "num_buckets": 5, "value_type": "boolean"},
        {"name": "shop", "kind": "categorical", "side": "item", "min_count": 2, "oov_buckets": 3},
        {"name": "tags", "kind": "multi_categorical", "side": "item", "max_length": 3, "num_buckets": 31},
        {"name": "price", "kind": "numeric", "side": "item"},
        {"name": "city_x_flag", "kind": "cross", "fields": ["city", "flag"], "num_buckets": 50},
    ],
}
TEXTS = ["01234", "NA", "null", "None", "nan", "é", "a b", "1e3", "2.0", "TRUE", "x|y", "#N/A", "0"]


def _rows(n: int, seed: int = 0) -> list[dict]:
    """Native Python values, one dict per row; None where a value is missing."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        miss = rng.random(6) < 0.1
        rows.append(
            {
                "code": None if miss[0] else str(rng.choice(TEXTS)) + ("" if i % 3 else str(i % 50)),
                "city": None if miss[1] else int(rng.integers(-5, 3000)),
                "flag": None if miss[2] else bool(rng.integers(0, 2)),
                "shop": None if miss[3] else f"s{int(rng.zipf(1.5)) % 500}",
                "tags": None if miss[4] else "|".join(rng.choice(["a", "b", "NA", "01"], rng.integers(1, 5))),
                "price": None if miss[5] else float(np.round(rng.exponential(20), 2)),
                "y": int(rng.integers(0, 2)),
            }
        )
    return rows


def _small_spec() -> FeatureSpec:
    return fit_spec(
        FeatureSpec.from_dict(SPEC), [pd.DataFrame({"city": ["2"], "shop": ["s"], "price": [1.0]})]
    )


def _file_frame(path) -> pd.DataFrame:
    spec = FeatureSpec.from_dict(SPEC)
    return pd.concat(list(iter_chunks(path, 4000, text_columns=list(spec.text_columns))), ignore_index=True)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    rows = _rows(10_000)
    frame = pd.DataFrame(rows)
    tmp = tmp_path_factory.mktemp("typed")
    frame.to_csv(tmp / "rows.csv", index=False)  # bools as True/False, cities with None as 2.0
    frame.to_parquet(tmp / "rows.parquet")  # native types: int with nulls -> float, bool -> object
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    return {
        "csv": _file_frame(tmp / "rows.csv"),
        "parquet": _file_frame(tmp / "rows.parquet"),
        "list of dicts": [{k: v for k, v in r.items() if v is not None} for r in rows],
        "dict of columns": columns,
        "numpy columns": {k: np.array(v, dtype=object) for k, v in columns.items()},
        "dataframe": frame,
        "strings from an app": [{k: (None if v is None else str(v)) for k, v in r.items()} for r in rows],
    }


def test_every_source_gives_identical_arrays(sources):
    spec = fit_spec(FeatureSpec.from_dict(SPEC), [sources["csv"]])
    assert spec.is_fitted and "NA" not in (spec["city"].vocabulary or ())
    assert fit_spec(FeatureSpec.from_dict(SPEC), [sources["parquet"]]) == spec
    reference = FeatureEncoder(spec).encode(sources["list of dicts"])
    assert len(reference["cat_ids"]) == 10_000
    for name, data in sources.items():
        got = FeatureEncoder(spec).encode(data)
        for key, want in reference.items():
            diff = (
                int((got[key] != want).any(axis=-1).sum())
                if key != "num_values"
                else int((~np.isclose(got[key], want, equal_nan=True)).any(axis=-1).sum())
            )
            assert diff == 0, f"{name}: {diff} rows of {key} differ from the list of dicts"


@pytest.mark.parametrize(
    ("field", "spellings"),
    [
        ("city", ["2", "2.0", 2, 2.0, np.int64(2), np.float32(2.0), "+2", "2e0", "02"]),
        ("flag", ["True", "true", "TRUE", True, np.bool_(True), 1, "1", 1.0]),
        ("code", ["01234"]),
    ],
)
def test_spellings_of_one_value_share_one_id(field, spellings):
    spec = _small_spec()
    enc = FeatureEncoder(spec)
    col = spec.id_fields.index(spec[field])
    ids = {int(enc.encode([{field: v}])["cat_ids"][0, col]) for v in spellings}
    assert len(ids) == 1
    if field == "code":  # text keeps its leading zero: "01234" and 1234 differ
        assert int(enc.encode([{"code": 1234}])["cat_ids"][0, col]) not in ids


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("city", "abc", "field 'city', record 0: expected an integer, got 'abc'"),
        ("city", 2.5, "expected an integer, got '2.5'"),
        ("city", True, "expected an integer, got the boolean True"),
        ("city", " 2", "expected an integer"),
        ("flag", "yes", "field 'flag', record 0: expected a boolean"),
        ("flag", 2, "expected a boolean"),
    ],
)
def test_a_value_that_is_not_of_the_type_is_an_error(field, value, message):
    spec = _small_spec()
    with pytest.raises(EncodeError, match=message):
        FeatureEncoder(spec).encode([{field: value}])


def test_fitting_names_the_row_of_a_bad_value():
    frame = pd.DataFrame({"city": ["1", "2", "two", "3"], "shop": ["s"] * 4, "price": [1.0] * 4})
    with pytest.raises(DataError, match="row 3: field 'city': expected an integer, got 'two'"):
        fit_spec(FeatureSpec.from_dict(SPEC), [frame])


def test_empty_text_is_missing_everywhere():
    spec = _small_spec()
    enc = FeatureEncoder(spec)
    a = enc.encode([{"code": "", "shop": ""}])["cat_ids"][0]
    b = enc.encode([{"code": None, "shop": math.nan}])["cat_ids"][0]
    assert (a == b).all()


def test_empty_cells_and_empty_texts_agree_in_every_value_type(tmp_path):
    """An app that sends "" for an integer or boolean field gets what the same empty CSV cell trained
    as: missing (ENCODING §3.1), in every value type and list item."""
    spec = _small_spec()
    enc = FeatureEncoder(spec)
    typed = [{"code": "", "city": "", "flag": "", "shop": "", "tags": "a||b|", "price": 2.0}]
    missing = [{"code": None, "city": None, "flag": None, "shop": None, "tags": ["a", "b"], "price": 2.0}]
    path = tmp_path / "rows.csv"
    path.write_text("code,city,flag,shop,tags,price\n,,,,a||b|,2.0\n")
    from_csv = next(iter(iter_chunks(path, 10, text_columns=list(spec.text_columns))))
    arrays = [enc.encode(rows) for rows in (typed, missing, from_csv)]
    for name in arrays[0]:
        assert (arrays[0][name] == arrays[1][name]).all() and (arrays[0][name] == arrays[2][name]).all(), name
