"""BundleStore: a serving ranker switches bundles between requests, and a bad bundle never serves."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from masknet_edge.edge_runtime.errors import ArgumentError, BundleError, SignatureError
from masknet_edge.edge_runtime.ranker import Ranker
from masknet_edge.edge_runtime.store import BundleStore
from tests.bundle_edits import rewrite_members as _edit

CONTEXT = {"user_id": "u1", "age": 30}


def _created(at: str):
    def change(members: dict[str, bytes]) -> None:
        manifest = json.loads(members["manifest.json"])
        manifest["created"] = at
        members["manifest.json"] = json.dumps(manifest).encode()

    return change


def _bad_golden(members: dict[str, bytes]) -> None:
    golden = json.loads(members["golden.json"])
    golden["scores"] = [min(1.0, s + 0.25) for s in golden["scores"]]
    members["golden.json"] = json.dumps(golden).encode()


@pytest.fixture
def versions(bundles, tmp_path) -> dict[str, Path]:
    """v1 (float) and v2 (int8, converted a day later), and two candidates that must never serve."""
    v1 = _edit(shutil.copy(bundles["none"], tmp_path / "v1.mnb"), _created("2026-01-01T00:00:00+00:00"))
    v2 = _edit(shutil.copy(bundles["int8"], tmp_path / "v2.mnb"), _created("2026-01-02T00:00:00+00:00"))
    bad = _edit(shutil.copy(v2, tmp_path / "bad-golden.mnb"), _bad_golden)
    cut = tmp_path / "truncated.mnb"
    cut.write_bytes(v2.read_bytes()[: v2.stat().st_size // 2])
    return {"v1": v1, "v2": v2, "bad": bad, "cut": cut}


@pytest.fixture
def items(shop_data) -> list[dict]:
    import csv

    with (shop_data / "items.csv").open() as fh:
        return list(csv.DictReader(fh))[:20]


def test_swap_serves_the_new_bundle_and_rollback_the_old(versions, items):
    store = BundleStore(versions["v1"])
    first = store.score(CONTEXT, items)
    np.testing.assert_array_equal(first, Ranker.load(versions["v1"]).score(CONTEXT, items))
    store.swap(versions["v2"])
    assert store.path == versions["v2"] and store.previous.bundle.path == versions["v1"]
    np.testing.assert_array_equal(
        store.score(CONTEXT, items), Ranker.load(versions["v2"]).score(CONTEXT, items)
    )
    store.rollback()
    np.testing.assert_array_equal(store.score(CONTEXT, items), first)
    assert store.rank(CONTEXT, items, k=3) == Ranker.load(versions["v1"]).rank(CONTEXT, items, k=3)


@pytest.mark.parametrize(("candidate", "message"), [("bad", "golden records fail"), ("cut", "truncated")])
def test_a_failing_candidate_never_serves(versions, items, candidate, message):
    store = BundleStore(versions["v1"])
    before = store.active
    with pytest.raises(BundleError, match=message):
        store.swap(versions[candidate])
    assert store.active is before and store.previous is None


def test_an_older_bundle_is_a_downgrade_refused_unless_asked_for(versions):
    store = BundleStore(versions["v2"])
    with pytest.raises(BundleError, match="downgrade"):
        store.swap(versions["v1"])
    assert store.path == versions["v2"]
    store.swap(versions["v1"], allow_downgrade=True)
    assert store.path == versions["v1"]


def test_rollback_without_a_swap_is_refused(versions):
    with pytest.raises(BundleError, match="nothing was swapped"):
        BundleStore(versions["v1"]).rollback()
    with pytest.raises(ArgumentError):
        BundleStore(versions["v1"], revoked_keys=["k.pub"])


def test_with_trusted_keys_an_unsigned_candidate_never_serves(versions, tmp_path):
    pytest.importorskip("cryptography")
    from masknet_edge.edge_runtime.signing import generate_key, sign_bundle

    key, public = generate_key(tmp_path / "release.pem")
    sign_bundle(versions["v1"], key)
    store = BundleStore(versions["v1"], trusted_keys=[public])
    with pytest.raises(SignatureError, match="no signature"):
        store.swap(versions["v2"])
    sign_bundle(versions["v2"], key)
    assert store.swap(versions["v2"]).bundle.signed_by


def test_threads_scoring_through_swaps_see_exactly_one_model_per_request(versions, items):
    """4 threads, 800 requests, 20 swaps (a third of them failing candidates): no errors, every
    result is exactly one model's scores, and no failed candidate ever serves. The benchmark
    ``bench_swaps`` runs the full-size version (8 threads, 10,000 requests, 100 swaps)."""
    expected = {name: Ranker.load(versions[name]).score(CONTEXT, items) for name in ("v1", "v2")}
    assert not np.allclose(expected["v1"], expected["v2"], atol=1e-6)
    store = BundleStore(versions["v1"])
    errors: list[BaseException] = []
    seen = {"v1": 0, "v2": 0, "mixed": 0}
    lock = threading.Lock()

    def serve(requests: int) -> None:
        try:
            for _ in range(requests):
                got = store.score(CONTEXT, items)
                which = [n for n, e in expected.items() if np.array_equal(got, e)]
                with lock:
                    seen[which[0] if len(which) == 1 else "mixed"] += 1
        except BaseException as exc:  # noqa: BLE001 - any error is the finding
            errors.append(exc)

    threads = [threading.Thread(target=serve, args=(200,)) for _ in range(4)]
    for t in threads:
        t.start()
    refused = 0
    for i in range(20):
        name = ("v2", "bad", "v1", "cut", "v2", "v1")[i % 6]
        try:
            store.swap(versions[name], allow_downgrade=True)
        except BundleError:
            refused += 1
        assert store.path in (versions["v1"], versions["v2"])
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert seen["mixed"] == 0 and seen["v1"] + seen["v2"] == 800, seen
    assert refused == 7


def test_the_manifest_time_orders_versions_with_and_without_a_zone(versions, tmp_path):
    naive = _edit(shutil.copy(versions["v2"], tmp_path / "naive.mnb"), _created("2026-01-03T00:00:00"))
    store = BundleStore(versions["v2"])
    store.swap(naive)
    assert store.path == naive
    bad = _edit(shutil.copy(versions["v2"], tmp_path / "when.mnb"), _created("yesterday"))
    with pytest.raises(BundleError, match="is not a time"):
        store.swap(bad)
