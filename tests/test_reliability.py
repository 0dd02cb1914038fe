"""Hardening: hostile input into the encoder and the Ranker, concurrency, killed conversions.

The fuzz tests use hypothesis: arbitrary JSON-like contexts and candidates (wrong types, missing and
extra fields, NaN/inf, huge and non-UTF-8 strings, empty lists). The only exception allowed is
EncodeError naming a field; scores are always finite and in [0, 1].
"""

from __future__ import annotations

import math
import os
import sys
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from masknet_edge.edge_runtime.errors import EncodeError
from masknet_edge.edge_runtime.ranker import Ranker
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

FIELDS = ["user_id", "age", "gender", "occupation", "city", "device", "item_id", "category", "brand", "price"]
FUZZ_CASES = int(os.environ.get("MASKNET_FUZZ_CASES", "400"))

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(min_size=5000, max_size=20000, alphabet="ab"),
    st.binary(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.sampled_from(["", "nan", "inf", "-1e309", "1e309", "\udcff", "42", "F", "ios"]),
)
records = st.dictionaries(st.sampled_from([*FIELDS, "extra", ""]), values, max_size=12)


@pytest.fixture(scope="module")
def ranker(bundles):
    return Ranker.load(bundles["int8"])


def _check_outcome(fn, n):
    try:
        scores = fn()
    except EncodeError as exc:
        assert exc.field is not None or "mapping" in str(exc) or "must be" in str(exc), str(exc)
        if exc.field is not None:
            assert exc.field in FIELDS, str(exc)
        return
    assert scores.shape == (n,)
    assert np.isfinite(scores).all() and (scores >= 0).all() and (scores <= 1).all()


@settings(
    max_examples=FUZZ_CASES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(context=records, candidates=st.lists(records, max_size=6))
def test_fuzz_score_only_documented_errors_and_valid_scores(ranker, context, candidates):
    _check_outcome(lambda: ranker.score(context, candidates), len(candidates))


@settings(
    max_examples=max(FUZZ_CASES // 4, 20),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(context=records, candidates=st.lists(records, max_size=6), k=st.integers(min_value=1, max_value=8))
def test_fuzz_rank(ranker, context, candidates, k):
    try:
        top = ranker.rank(context, candidates, k=k)
    except EncodeError as exc:
        assert exc.field is None or exc.field in FIELDS
        return
    assert len(top) == min(k, len(candidates))
    assert all(0 <= s <= 1 and math.isfinite(s) for _, s in top)
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True)


def test_hundred_thousand_candidates(ranker, shop_data):
    import csv

    with (shop_data / "items.csv").open() as fh:
        items = list(csv.DictReader(fh))
    cands = [items[i % len(items)] for i in range(100_000)]
    scores = ranker.score({"user_id": "u3", "age": 40}, cands)
    assert scores.shape == (100_000,) and np.isfinite(scores).all()
    np.testing.assert_array_equal(scores[: len(items)], scores[len(items) : 2 * len(items)])


def test_soak_8_threads_1000_requests_each_equal_serial_and_memory_flat(ranker, shop_data):
    import csv

    from benchmarks.common import peak_rss_mb

    with (shop_data / "users.csv").open() as u, (shop_data / "items.csv").open() as i:
        users, items = list(csv.DictReader(u)), list(csv.DictReader(i))[:20]
    expected = {j: ranker.score(users[j % len(users)], items) for j in range(50)}
    errors: list[str] = []

    def work(t: int) -> None:
        for r in range(1000):
            j = (r * 7 + t) % 50
            got = ranker.score(users[j % len(users)], items)
            if not np.array_equal(got, expected[j]):
                errors.append(f"thread {t} request {r}")

    def rss_now() -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[:5]
    before = rss_now()
    for r in range(10_000):
        ranker.score(users[r % len(users)], items)
    after = rss_now()
    assert after - before < 20, f"RSS grew from {before:.1f} to {after:.1f} MB over 10,000 requests"
    assert peak_rss_mb() > 0


def test_loading_a_bundle_executes_nothing_but_the_interpreter(bundles, monkeypatch):
    import builtins
    import marshal
    import pickle

    import masknet_edge.edge_runtime.interpreter as interp

    interp.load_interpreter_class()  # the interpreter module itself may be imported first

    def forbidden(*args, **kwargs):
        raise AssertionError("code-executing deserialization while loading a bundle")

    before = set(sys.modules)
    for mod, name in (
        (pickle, "loads"),
        (pickle, "load"),
        (marshal, "loads"),
        (builtins, "eval"),
        (builtins, "exec"),
        (builtins, "compile"),
    ):
        monkeypatch.setattr(mod, name, forbidden)
    ranker = Ranker.load(bundles["int8"])
    assert ranker.verify().ok
    monkeypatch.undo()
    new = {m.split(".")[0] for m in set(sys.modules) - before}
    assert new <= {"ai_edge_litert"}, new


def test_no_pickle_and_keras_loads_are_safe():
    sources = [
        p
        for d in ("masknet_edge", "edge_runtime", "train", "convert", "benchmarks")
        for p in (ROOT / d).rglob("*.py")
    ]
    for path in sources:
        text = path.read_text()
        assert "import pickle" not in text and "pickle.load" not in text, path
        assert "allow_pickle=True" not in text, path
        for line in text.splitlines():
            if "load_model(" in line and "def " not in line:
                assert "safe_mode=True" in line, f"{path}: {line.strip()}"
