"""Write edge_runtime/conformance/encoding-v1.json: the cases of ENCODING.md with the reference outputs.

The inputs of every case are written here by hand, section by section; the expected arrays come from
the reference encoder. Regenerate only on purpose (an encoding change is a new encoding version):

    .venv/bin/python tests/golden/regenerate_conformance.py
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.atomic import atomic_write_bytes
from masknet_edge.edge_runtime.candidates import top_indices as _top
from masknet_edge.edge_runtime.conformance import CONFORMANCE_FILE, FORMAT, encode_value
from masknet_edge.edge_runtime.encoder import FeatureEncoder
from masknet_edge.edge_runtime.errors import EncodeError
from masknet_edge.edge_runtime.spec import FeatureSpec, fit_vocabulary

NAN, INF = math.nan, math.inf


def cat(name: str, side: str = "item", **kw: Any) -> dict[str, Any]:
    if "vocabulary" not in kw and "oov_buckets" not in kw:
        kw.setdefault("num_buckets", 1000)
    return {"name": name, "kind": "categorical", "side": side, **kw}


def num(name: str, side: str = "item", **kw: Any) -> dict[str, Any]:
    return {"name": name, "kind": "numeric", "side": side, **kw}


def multi(name: str, side: str = "item", **kw: Any) -> dict[str, Any]:
    kw.setdefault("max_length", 3)
    if "vocabulary" not in kw and "oov_buckets" not in kw:
        kw.setdefault("num_buckets", 100)
    return {"name": name, "kind": "multi_categorical", "side": side, **kw}


def cross(name: str, fields: list[str], num_buckets: int = 97) -> dict[str, Any]:
    return {"name": name, "kind": "cross", "fields": fields, "num_buckets": num_buckets}


def spec(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"format_version": 1, "fields": list(fields)}


CASES: list[dict[str, Any]] = []


def encode(case_id: str, sections: list[str], spec_dict: dict, records: list[dict]) -> None:
    """An encode case; expected arrays or the error come from the reference encoder."""
    case = {"id": case_id, "sections": sections, "kind": "encode", "spec": spec_dict}
    case["records"] = encode_value(records)
    try:
        out = FeatureEncoder(FeatureSpec.from_dict(spec_dict)).encode(records)
        case["expected"] = {k: v.tolist() for k, v in out.items()}
    except EncodeError as exc:
        case["error"] = {"field": exc.field, "record": exc.record, "message": exc.detail}
    CASES.append(case)


def build() -> list[dict[str, Any]]:
    CASES.clear()
    # §1 inputs and outputs ------------------------------------------------------------------
    s1 = spec(
        cat("user", "context"),
        num("age", "context", mean=30.0, std=10.0),
        cat("item"),
        num("price", transform="log1p_standardize", mean=2.0, std=1.0),
        multi("tags"),
        cross("user_x_item", ["user", "item"]),
    )
    encode("1.1-extra-keys-ignored", ["1.1", "1.4"], s1, [{"user": "u1", "item": "i1", "colour": [1, 2]}])
    ctx = {"user": "u7", "age": 41}
    cands = [{"item": "i1", "price": 9.5, "tags": "a|b"}, {"item": "i2", "tags": ["c"]}, {}]
    out = FeatureEncoder(FeatureSpec.from_dict(s1)).encode([{**ctx, **c} for c in cands])
    CASES.append(
        {
            "id": "1.2-context-once-plus-candidates",
            "sections": ["1.2", "6.3"],
            "kind": "request",
            "spec": s1,
            "context": encode_value(ctx),
            "candidates": encode_value(cands),
            "expected": {k: v.tolist() for k, v in out.items()},
        }
    )
    encode(
        "1.3-source-column",
        ["1.3", "7.5"],
        spec(
            num("age", mean=30.0, std=10.0),
            num("age_bin", transform="bucketize", source="age", boundaries=[18, 65]),
        ),
        [{"age": 17}, {"age": 18}, {"age": 70}, {}],
    )
    encode("1.4-only-numeric", ["1.4"], spec(num("x", mean=0.0, std=1.0)), [{"x": 1.5}])
    encode("1.4-only-multi", ["1.4", "5.3"], spec(multi("t", max_length=2)), [{"t": "a"}])
    # §2 id layout ----------------------------------------------------------------------------
    s2 = spec(
        multi("genres", oov_buckets=2, vocabulary=["drama", "comedy"]),
        cat("city", oov_buckets=3, vocabulary=["paris", "oslo"]),
        num("age", transform="bucketize", boundaries=[20, 40]),
        cat("brand", num_buckets=5),
        cross("city_x_age", ["city", "age"], 11),
        multi("tags", num_buckets=7, max_length=2),
        num("price", mean=10.0, std=2.0),
    )
    encode(
        "2-offsets-and-sizes",
        ["2.1", "2.2", "2.3", "4.1", "5.3", "6.1"],
        s2,
        [
            {"genres": "drama|horror", "city": "oslo", "age": 20, "brand": "b", "tags": "x", "price": 11},
            {"genres": None, "city": "rome", "age": None, "brand": None, "tags": ["y", "z", "w"]},
            {},
        ],
    )
    # §3 canonical text -----------------------------------------------------------------------
    encode(
        "3.1-missing-values",
        ["3.1", "4.1"],
        spec(cat("c", num_buckets=50), cat("i", num_buckets=50, value_type="integer"), multi("m")),
        [{"c": None, "i": NAN, "m": ""}, {"c": "", "i": None}, {"c": NAN, "m": None}],
    )
    encode(
        "3.2-text-spellings",
        ["3.2", "4.1"],
        spec(cat("c", num_buckets=100_000)),
        [
            {"c": v}
            for v in [
                "01234",
                "NA",
                "é",
                " a",
                "A",
                True,
                False,
                7,
                -12,
                3.0,
                -0.0,
                1e16,
                0.25,
                1e-05,
                2.5e-07,
                123.5,
                0.0001,
                INF,
                -INF,
                b"bytes",
                "x|y",
            ]
        ],
    )
    encode("3.2-bad-utf8-bytes", ["3.2", "8"], spec(cat("c")), [{"c": "ok"}, {"c": b"\xff\xfe"}])
    encode("3.2-list-in-scalar", ["3.2", "8"], spec(cat("c")), [{"c": ["a"]}])
    encode(
        "3.3-integer-spellings",
        ["3.3", "4.1"],
        spec(cat("i", num_buckets=1000, value_type="integer")),
        [{"i": v} for v in ["2", "2.0", 2, 2.0, "+02", "2e0", "-0", "0", "1e3", "1E3", ".5e1", "9" * 30]],
    )
    for n, bad in enumerate(["2.5", " 2", "1_000", "0x10", "inf", "nan", "abc", True, 2.5]):
        encode(
            f"3.3-integer-error-{n}",
            ["3.3", "8"],
            spec(cat("i", value_type="integer")),
            [{"i": 1}, {"i": bad}],
        )
    encode(
        "3.4-boolean-spellings",
        ["3.4", "4.1"],
        spec(cat("b", num_buckets=1000, value_type="boolean")),
        [{"b": v} for v in [True, False, "true", "TRUE", "False", "1", "0", 1, 0, 1.0]],
    )
    for n, bad in enumerate(["yes", 2, "t", " true"]):
        encode(f"3.4-boolean-error-{n}", ["3.4", "8"], spec(cat("b", value_type="boolean")), [{"b": bad}])
    encode("3.5-lone-surrogate", ["3.5", "8"], spec(cat("c")), [{"c": "a"}, {"c": "x\ud800y"}])
    # §4 categorical ---------------------------------------------------------------------------
    encode(
        "4.1-vocabulary-then-oov-buckets",
        ["4.1"],
        spec(cat("c", oov_buckets=4, vocabulary=["b", "a", "z"]), cat("h", num_buckets=4)),
        [{"c": v, "h": v} for v in ["a", "b", "z", "q", "rome", "A"]],
    )
    encode("4.1-required-missing", ["4.1", "8"], spec(cat("c", required=True)), [{"c": "x"}, {}])
    for n, (counts, min_count, max_vocab) in enumerate(
        [({"b": 3, "a": 3, "c": 5, "d": 1, "e": 2}, 2, None), ({"é": 2, "e": 2, "Z": 2, "a": 2}, 1, 3)]
    ):
        CASES.append(
            {
                "id": f"4.2-vocabulary-order-{n}",
                "sections": ["4.2"],
                "kind": "vocabulary",
                "counts": counts,
                "min_count": min_count,
                "max_vocab": max_vocab,
                "expected": list(fit_vocabulary(counts, min_count, max_vocab)),
            }
        )
    # §5 multi-valued --------------------------------------------------------------------------
    encode(
        "5-items-skipping-and-truncation",
        ["5.1", "5.2", "5.3"],
        spec(multi("m", max_length=3, num_buckets=50)),
        [
            {"m": "a||b"},
            {"m": "|" * 20 + "a|b|c|d"},
            {"m": ["x", None, NAN, "", 3, 2.0]},
            {"m": b"p|q"},
            {"m": 7},
            {"m": ""},
            {},
        ],
    )
    encode(
        "5.2-typed-items",
        ["5.2", "3.3"],
        spec(multi("m", max_length=4, num_buckets=50, value_type="integer")),
        [{"m": "1|01|1.0|2"}, {"m": [3, "3", 3.0]}],
    )
    encode("5.2-typed-item-error", ["5.2", "8"], spec(multi("m", value_type="integer")), [{"m": "1|x"}])
    encode("5.2-list-in-items", ["5.2", "8"], spec(multi("m")), [{"m": [["a"]]}])
    encode("5.1-required-missing", ["5.1", "8"], spec(multi("m", required=True)), [{"m": "a"}, {"m": ""}])
    encode(
        "5.3-vocabulary-multi",
        ["5.3", "4.1"],
        spec(multi("m", oov_buckets=2, vocabulary=["a", "b"]), multi("n", num_buckets=3, separator=";")),
        [{"m": "b|zz|a", "n": "x;y"}],
    )
    encode(
        "3.1-empty-text-is-missing-in-every-value-type",
        ["3.1", "5.2"],
        spec(
            cat("t", num_buckets=50),
            cat("i", num_buckets=50, value_type="integer"),
            cat("b", num_buckets=50, value_type="boolean"),
            multi("mi", max_length=3, num_buckets=50, value_type="integer"),
            multi("mb", max_length=3, num_buckets=50, value_type="boolean"),
        ),
        [
            {"t": "", "i": "", "b": "", "mi": "1||2", "mb": "true|"},
            {"t": b"", "i": b"", "b": b"", "mi": ["", 3, ""], "mb": ["", "false"]},
            {"t": "x", "i": "7", "b": "0", "mi": "|", "mb": ""},
        ],
    )
    shared = spec(
        cat("user", "context", num_buckets=5),
        cat("item", oov_buckets=2, vocabulary=["a", "b", "c"]),
        multi("history", "context", max_length=3, shares="item", pooling="attention", num_buckets=None),
        multi("tags", num_buckets=4, max_length=2),
    )
    del shared["fields"][2]["num_buckets"]
    encode(
        "5.4-shared-history",
        ["5.4", "2.3", "5.1", "5.2", "1.5"],
        shared,
        [
            {"user": "u", "item": "b", "history": "", "tags": "x"},
            {"user": "u", "item": "c", "history": "b"},
            {"user": "u", "item": "a", "history": "c|b|a|zz|b"},
            {"user": "u", "item": "zz", "history": ["zz", "yy"]},
            {"item": "b"},
        ],
    )
    # §6 crosses ----------------------------------------------------------------------------------
    s6 = spec(
        cat("g", "context", oov_buckets=2, vocabulary=["F", "M"]),
        num("age", "context", transform="bucketize", boundaries=[25, 50]),
        cat("brand", num_buckets=10),
        cat("n", num_buckets=10, value_type="integer"),
        cross("g_x_brand", ["g", "brand"], 101),
        cross("brand_x_g", ["brand", "g"], 101),
        cross("age_x_brand", ["age", "brand"], 101),
        cross("age_x_n_x_g", ["age", "n", "g"], 1009),
    )
    encode(
        "6-crosses",
        ["6.1", "6.2", "6.3"],
        s6,
        [
            {"g": "F", "age": 30, "brand": "b1", "n": "2.0"},
            {"g": "X", "age": 25, "brand": "b1", "n": 2},
            {"g": None, "age": 80, "brand": "b2", "n": 3},
            {"g": "M", "brand": "b2", "n": 3},
        ],
    )
    # §7 numeric -----------------------------------------------------------------------------
    encode(
        "7.1-reading-numbers",
        ["7.1", "7.2", "7.3"],
        spec(num("x", transform="none", mean=0.0)),
        [
            {"x": v}
            for v in [
                1,
                2.5,
                True,
                False,
                " 2 ",
                "\t3\n",
                "1e3",
                "-.5",
                "+4.",
                "NA",
                "null",
                "",
                "nan",
                None,
                NAN,
            ]
        ],
    )
    for n, bad in enumerate(["1_000", "0x10", "1,5", "inf", "-Infinity", INF, "x" * 65, [1]]):
        encode(f"7.1-error-{n}", ["7.1", "8"], spec(num("x", transform="none")), [{"x": 0}, {"x": bad}])
    encode(
        "7.1-required-missing", ["7.1", "8"], spec(num("x", required=True, mean=0.0, std=1.0)), [{"x": "NA"}]
    )
    encode(
        "7.2-transforms-and-missing",
        ["7.2", "7.3", "7.4"],
        spec(
            num("s", mean=10.0, std=4.0),
            num("sd", mean=10.0, std=4.0, default=2.0),
            num("l", transform="log1p_standardize", mean=1.5, std=0.5),
            num("ld", transform="log1p_standardize", mean=1.5, std=0.5, default=-3.0),
            num("m", transform="minmax", min=5.0, max=15.0, mean=9.0),
            num("md", transform="minmax", min=5.0, max=15.0, mean=9.0, default=20.0),
            num("m0", transform="minmax", min=5.0, max=5.0, mean=5.0),
            num("n", transform="none", mean=7.0),
            num("nd", transform="none", mean=7.0, default=-1.0),
            num("n0", transform="none"),
        ),
        [
            {k: 12.3 for k in ("s", "sd", "l", "ld", "m", "md", "m0", "n", "nd", "n0")},
            {k: -4.0 for k in ("s", "sd", "l", "ld", "m", "md", "m0", "n", "nd", "n0")},
            {},
        ],
    )
    encode(
        "7.3-clip-and-float32",
        ["7.3"],
        spec(num("x", transform="none", clip=100.0, default=1000.0), num("y", transform="none", mean=0.0)),
        [{"x": 1e9, "y": 0.1}, {"x": -1e9, "y": 1 / 3}, {"y": 1e300}],
    )
    encode(
        "7.5-bucketize",
        ["7.5"],
        spec(
            num("b", transform="bucketize", boundaries=[0, 10, 10.5]),
            num("bd", transform="bucketize", boundaries=[0, 10], default=10),
        ),
        [{"b": v, "bd": v} for v in [-1, 0, 5, 10, 10.25, 10.5, 99, None]],
    )
    # §9 ranking ---------------------------------------------------------------------------------
    for n, (scores, k) in enumerate(
        [([0.5, 0.9, 0.5, 0.5, 0.9, 0.1, 0.5], 3), ([0.5, 0.9, 0.5, 0.5, 0.9, 0.1, 0.5], 4), ([0.2, 0.2], 5)]
    ):
        CASES.append(
            {
                "id": f"9.2-ties-{n}",
                "sections": ["9.2"],
                "kind": "rank",
                "scores": scores,
                "k": k,
                "expected": _top(np.asarray(scores, dtype=np.float32), k).tolist(),
            }
        )
    return CASES


def main() -> None:
    data = {
        "format": FORMAT,
        "encoding_version": 1,
        "about": "The cases of ENCODING.md, version 1; see edge_runtime/conformance.py for the format.",
        "cases": build(),
    }
    text = json.dumps(data, indent=1, ensure_ascii=True) + "\n"
    CONFORMANCE_FILE.parent.mkdir(exist_ok=True)
    atomic_write_bytes(CONFORMANCE_FILE, text.encode("ascii"))
    print(f"wrote {len(data['cases'])} cases to {CONFORMANCE_FILE}")


if __name__ == "__main__":
    main()
