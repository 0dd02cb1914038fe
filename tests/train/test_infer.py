"""``spec infer`` on data shaped like real logs: integer ids, counts, timestamps, leaks, huge id spaces."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from masknet_edge.cli.main import main
from masknet_edge.train.infer import collision_share, infer_spec_report


@pytest.fixture
def log_csv(tmp_path):
    rng = np.random.default_rng(0)
    n = 4000
    click = rng.integers(0, 2, n)
    df = pd.DataFrame(
        {
            "user": rng.integers(1, 300, n),  # integer ids without an "id" in the name
            "city": rng.integers(1000, 1060, n) * 7,
            "paid": rng.normal(50, 10, n).round(2),  # "paid", "valid", "bid" are no id tokens
            "valid": np.exp(rng.normal(0, 1.5, n)).astype(int),
            "bid": np.exp(rng.normal(1, 1.5, n)).astype(int),
            "itemId": rng.integers(1, 5000, n),
            "ts": 1_700_000_000 + rng.permutation(n) * 13,
            "genres": rng.choice(["a|b", "b", "c|a|d"], n),
            "is_new": rng.choice([True, False], n),
            "pctr": np.clip(0.5 + 0.3 * (click - 0.5) + rng.normal(0, 0.15, n), 0, 1).round(4),  # calibrated
            "rating": click * 3 + rng.integers(1, 3, n),  # 1-2 -> no click, 4-5 -> click
            "click": click,
        }
    )
    path = tmp_path / "log.csv"
    df.to_csv(path, index=False)
    return path


def test_kinds_follow_value_shape_not_names(log_csv):
    spec, reports = infer_spec_report(log_csv, "click", context=["user", "city"])
    by = {r.name: r for r in reports}
    f = {x.name: x for x in spec.fields}
    assert f["user"].kind == "categorical" and f["user"].side == "context" and f["user"].uses_vocabulary
    assert f["city"].kind == "categorical", by["city"].reason
    assert "integer codes" in by["city"].reason
    assert f["itemId"].kind == "categorical" and "id token" in by["itemId"].reason
    assert f["paid"].kind == "numeric" and "fractional" in by["paid"].reason
    for name in ("valid", "bid"):
        assert f[name].kind == "numeric" and f[name].transform == "log1p_standardize", by[name].reason
        assert "counts" in by[name].reason
    assert f["ts"].kind == "numeric" and "nearly unique" in by["ts"].reason
    assert f["genres"].kind == "multi_categorical" and f["genres"].separator == "|"
    assert f["is_new"].kind == "categorical"


def test_a_long_tail_with_small_negatives_is_logged_a_two_sided_one_is_not(tmp_path):
    """Criteo's I2: 10 % of values in -2..-1 beside a tail in the thousands. log1p(max(x, 0)) reads the
    negatives as 0, which is harmless for I2 and wrong for a column that is as negative as positive."""
    rng = np.random.default_rng(1)
    n = 3000
    i2 = np.where(rng.random(n) < 0.1, -rng.integers(1, 4, n), np.exp(rng.normal(1, 2, n)).astype(int))
    balance = np.where(rng.random(n) < 0.5, -1, 1) * np.exp(rng.normal(5, 2, n)).round(2)
    pd.DataFrame({"i2": i2, "balance": balance, "click": rng.integers(0, 2, n)}).to_csv(
        tmp_path / "d.csv", index=False
    )
    spec, reports = infer_spec_report(tmp_path / "d.csv", "click")
    f = {x.name: x for x in spec.fields}
    by = {r.name: r for r in reports}
    assert f["i2"].transform == "log1p_standardize", by["i2"].reason
    assert "count as 0" in by["i2"].reason and "down to -3" in by["i2"].reason
    assert f["balance"].transform == "standardize", by["balance"].reason
    assert "not logged" in by["balance"].reason


def test_label_leaks_are_left_out_and_flagged(log_csv):
    spec, reports = infer_spec_report(log_csv, "click")
    leaks = {r.name for r in reports if r.leak}
    assert leaks == {"pctr", "rating"}
    assert not leaks & set(spec.names)


def test_huge_id_spaces_are_hashed_with_their_collision_share(tmp_path):
    n = 3000
    pd.DataFrame({"device_ip": [f"ip{i}" for i in range(n)], "y": [0, 1] * (n // 2)}).to_csv(
        tmp_path / "d.csv", index=False
    )
    spec, reports = infer_spec_report(tmp_path / "d.csv", "y", min_count=1, max_vocab=1000)
    f = spec["device_ip"]
    assert not f.uses_vocabulary and f.num_buckets == 20 * n
    assert reports[0].collisions == pytest.approx(collision_share(n, 20 * n))
    assert "4.9% of values collide" in reports[0].decision


def test_collision_share_matches_a_simulation():
    rng = np.random.default_rng(0)
    n, b = 5000, 10_000
    buckets = rng.integers(0, b, n)
    counts = np.bincount(buckets, minlength=b)
    simulated = (counts[buckets] > 1).mean()
    assert collision_share(n, b) == pytest.approx(simulated, abs=0.02)
    assert collision_share(n, 2 * n) == pytest.approx(0.39, abs=0.01)


def test_cli_prints_why_for_every_column(log_csv, tmp_path):
    out = tmp_path / "spec.json"
    res = CliRunner().invoke(main, ["spec", "infer", str(log_csv), "--label", "click", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for name in ("user", "city", "paid", "ts", "pctr", "rating"):
        assert name in res.output
    assert res.output.count("why:") == 11
    assert "left out as possible label leaks: pctr, rating" in res.output
    res = CliRunner().invoke(
        main, ["spec", "infer", str(log_csv), "--label", "click", "--out", str(out), "--json", "--overwrite"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert {c["name"] for c in data["columns"] if c["leak"]} == {"pctr", "rating"}


def _ratings(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "user_id": rng.integers(0, 20, n),
            "item_id": rng.integers(0, 60, n),
            "genre": rng.choice(["drama", "comedy"], n),
            "ts": np.sort(rng.integers(0, 10**6, n)),
            "label": rng.integers(0, 2, n),
        }
    )
    path = tmp_path / "ratings.csv"
    frame.to_csv(path, index=False)
    return path


def test_spec_infer_proposes_attended_histories_from_an_impression_log(tmp_path):
    path, out = _ratings(tmp_path), tmp_path / "spec.json"
    args = ["spec", "infer", str(path), "--label", "label", "--sequence", "item_id"]
    res = CliRunner().invoke(main, [*args, "--user", "user_id", "--time", "ts", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    spec = json.loads(out.read_text())
    fields = {f["name"]: f for f in spec["fields"]}
    assert "ts" not in fields and fields["user_id"]["side"] == "context"
    history = fields["recent_clicked_item_id"]
    assert (
        history["shares"] == "item_id" and history["pooling"] == "attention" and history["max_length"] == 25
    )
    assert {f["name"] for f in spec["behaviour"]["features"]} >= {"recent_shown_item_id", "recent_clicks"}
    reasons = {c["name"]: c["reason"] for c in json.loads(res.output)["columns"]}
    assert "attention" in reasons["recent_clicked_item_id"]
    rates = [f for f in spec["behaviour"]["features"] if f["type"] == "rate"]
    assert [(f["name"], f["event"], f["per"], f["k"]) for f in rates] == [
        ("click_rate_10", "click", "expose", 10),
        ("click_rate_50", "click", "expose", 50),
    ]
    assert fields["click_rate_10"]["kind"] == "numeric" and fields["click_rate_10"]["side"] == "context"
    # the log keeps what the longest rate reads, more than a history shows
    assert spec["behaviour"]["events"] == {"click": {"keep_last": 50}, "expose": {"keep_last": 50}}
    assert "rate" in reasons["click_rate_50"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sequence", "item_id", "--behaviour", "b.json"], "not both"),
        (["--time", "ts"], "goes with --sequence"),
        (["--context", "user_id", "--item", "user_id"], "both by --context and by --item"),
        (["--user", "person"], "'person'"),
        (["--item", "colour"], "'colour'"),
        (["--sequence", "genre_x"], "genre_x"),
    ],
)
def test_spec_infer_sequence_options_are_checked(tmp_path, extra, message):
    path, out = _ratings(tmp_path), tmp_path / "spec.json"
    (tmp_path / "b.json").write_text("{}")
    extra = [str(tmp_path / e) if e == "b.json" else e for e in extra]
    res = CliRunner().invoke(
        main, ["spec", "infer", str(path), "--label", "label", "--out", str(out), *extra]
    )
    assert res.exit_code == 2 and message in res.output and not out.exists()


@pytest.mark.parametrize(
    ("header", "message"),
    [("age,age,label", "repeated column names ['age']"), ("age,,label", "column 2 has no name")],
)
def test_a_header_with_repeated_or_empty_names_is_named_as_written(tmp_path, header, message):
    """pandas would rename them 'age.1' and 'Unnamed: 1', names the user never wrote."""
    path, out = tmp_path / "d.csv", tmp_path / "spec.json"
    path.write_text(header + "\n1,2,0\n3,4,1\n")
    res = CliRunner().invoke(main, ["spec", "infer", str(path), "--label", "label", "--out", str(out)])
    assert res.exit_code == 2 and message in res.output and "line 1" in res.output, res.output
    assert not out.exists()


def _first_appearance(values: np.ndarray) -> np.ndarray:
    codes: dict[int, int] = {}
    return np.array([codes.setdefault(int(v), len(codes)) for v in values])


def test_codes_numbered_by_first_appearance_are_categorical_and_counts_stay_numeric(tmp_path):
    rng = np.random.default_rng(3)
    n = 8000
    df = pd.DataFrame(
        {
            # a one-hot export: the most frequent values get the smallest numbers, as a count's would
            "shop": _first_appearance(rng.zipf(1.3, n)),
            "brand": _first_appearance(rng.integers(0, 300, n)),
            "visits": rng.geometric(0.1, n) - 1,
            "clicks": rng.negative_binomial(1, 0.05, n),
            "row": np.arange(n),  # unique per row: dense, but every value once
            "y": rng.integers(0, 2, n),
        }
    )
    assert df["shop"].value_counts().index[0] == 0  # the trap: code 0 is the most frequent
    df.to_csv(tmp_path / "d.csv", index=False)
    spec, reports = infer_spec_report(tmp_path / "d.csv", "y")
    kinds = {f.name: f.kind for f in spec.fields}
    by = {r.name: r.reason for r in reports}
    assert kinds["shop"] == kinds["brand"] == "categorical", by
    assert "first" not in by["shop"] and "roughness" in by["shop"]
    assert kinds["visits"] == kinds["clicks"] == "numeric", by
    assert "counts" in by["visits"] and "counts" in by["clicks"]
    assert kinds["row"] == "numeric" and "nearly unique" in by["row"]


def test_frequency_roughness_is_zero_for_flat_and_smooth_low_and_shuffled_high():
    from masknet_edge.train.numeric_kinds import frequency_roughness

    sizes = np.arange(50.0)
    smooth = np.round(1000 * np.exp(-sizes / 10)) + 1
    assert frequency_roughness(sizes, np.full(50, 7)) == 0.0
    assert frequency_roughness(sizes, smooth) < 0.1
    shuffled = np.random.default_rng(0).permutation(smooth)
    assert frequency_roughness(sizes, shuffled) > 0.7
    assert frequency_roughness(sizes[::-1], smooth[::-1]) == frequency_roughness(sizes, smooth)  # by size


@pytest.fixture
def user_log(tmp_path):
    rng = np.random.default_rng(5)
    n = 3000
    users = rng.integers(0, 150, n)
    items = rng.integers(0, 200, n)
    frame = pd.DataFrame(
        {
            "member": users,
            "age": (users * 7919 % 60) + 15,  # one age, gender, city per user
            "gender": np.where(users % 3, "F", "M"),
            "city": [f"c{u % 40}" for u in users],
            "item": items,
            "brand": [f"b{i % 25}" for i in items],  # per item, not per user
            "hour": rng.integers(0, 24, n),  # per request
            "label": rng.integers(0, 2, n),
        }
    )
    frame.loc[frame.index[0], "city"] = "moved"  # one user whose value changed: still the user's
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    return path


def _sides(path, **kw):
    spec, reports = infer_spec_report(path, "label", **kw)
    return {f.name for f in spec.fields if f.side == "context"}, {r.name: r.reason for r in reports}


def test_columns_constant_within_each_user_are_proposed_as_the_context_side(user_log):
    context, why = _sides(user_log, user="member")
    assert context == {"member", "age", "gender", "city"}
    assert "constant within each member" in why["age"] and "--item age" in why["age"]
    assert "context side" not in why["brand"] and "context side" not in why["hour"]
    # overrides: --item keeps a column per candidate, --context adds one
    context, _ = _sides(user_log, user="member", item=["gender"], context=["hour"])
    assert context == {"member", "age", "city", "hour"}
    # the user column named by --item: nothing is proposed
    assert _sides(user_log, user="member", item=["member"])[0] == set()


def test_the_user_column_is_found_by_its_name(tmp_path, user_log):
    frame = pd.read_csv(user_log).rename(columns={"member": "user_id", "age": "user_age"})
    frame.to_csv(tmp_path / "named.csv", index=False)
    assert _sides(tmp_path / "named.csv")[0] == {"user_id", "user_age", "gender", "city"}
    assert _sides(user_log)[0] == {"member", "age", "gender", "city"}  # "member" is a user token too
    out = tmp_path / "spec.json"
    frame.rename(columns={"user_id": "who"}).to_csv(tmp_path / "anon.csv", index=False)
    res = CliRunner().invoke(
        main, ["spec", "infer", str(tmp_path / "anon.csv"), "--label", "label", "--out", str(out)]
    )
    assert res.exit_code == 0 and "no user column found" in res.output and "--user NAME" in res.output
