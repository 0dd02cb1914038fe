"""The device runtime: loading verified bundles, scoring, ranking, catalogs, threads, damage."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import threading
import zipfile
from dataclasses import replace

import numpy as np
import pytest

from masknet_edge.edge_runtime.bundle import read_bundle
from masknet_edge.edge_runtime.errors import ArgumentError, BundleError, EncodeError
from masknet_edge.edge_runtime.manifest import Quantization
from masknet_edge.edge_runtime.ranker import Ranker
from tests.conftest import needs_tf

pytestmark = pytest.mark.slow


def _context_and_items(shop_data):
    import csv

    with (shop_data / "users.csv").open() as u, (shop_data / "items.csv").open() as i:
        return list(csv.DictReader(u)), list(csv.DictReader(i))


@pytest.fixture(scope="module")
def ranker(bundles):
    return Ranker.load(bundles["int8"])


def test_scores_equal_full_record_encoding(ranker, shop_data):
    users, items = _context_and_items(shop_data)
    ctx = users[0]
    scores = ranker.score(ctx, items)
    assert scores.shape == (len(items),) and scores.dtype == np.float32
    assert ((scores >= 0) & (scores <= 1)).all()
    full = ranker.score_inputs(ranker.encoder.encode([{**it, **ctx} for it in items]))
    np.testing.assert_array_equal(scores, full)
    # a dict of columns gives the same scores
    cols = {k: [it[k] for it in items] for k in items[0]}
    np.testing.assert_array_equal(ranker.score(ctx, cols), scores)


def test_rank_returns_top_k_sorted(ranker, shop_data):
    users, items = _context_and_items(shop_data)
    top = ranker.rank(users[1], items, k=5)
    scores = ranker.score(users[1], items)
    assert [s for _, s in top] == sorted(scores.tolist(), reverse=True)[:5]
    assert top[0][0] in items
    assert len(ranker.rank(users[1], items[:3], k=10)) == 3


@pytest.mark.parametrize("n", [1, 7, 1024, 1025, 4096])
def test_any_number_of_candidates(ranker, shop_data, n):
    users, items = _context_and_items(shop_data)
    cands = [items[i % len(items)] for i in range(n)]
    scores = ranker.score(users[0], cands)
    assert scores.shape == (n,)
    np.testing.assert_array_equal(
        scores[: len(items)][:n], ranker.score(users[0], cands[: min(n, len(items))])
    )


def test_catalog_ranking_equals_plain_ranking(ranker, shop_data):
    users, items = _context_and_items(shop_data)
    ranker.index_catalog(items)
    for user in users[:5]:
        cat = ranker.rank_catalog(user, k=10)
        plain = ranker.rank(user, items, k=10)
        assert [c["item_id"] for c, _ in cat] == [c["item_id"] for c, _ in plain]
        np.testing.assert_array_equal([s for _, s in cat], [s for _, s in plain])
    subset = [it["item_id"] for it in items[:10]]
    sub = ranker.rank_catalog(users[0], k=3, subset=subset)
    assert [c["item_id"] for c, _ in sub] == [c["item_id"] for c, _ in ranker.rank(users[0], items[:10], k=3)]
    with pytest.raises(EncodeError, match="not in the catalog"):
        ranker.rank_catalog(users[0], subset=["nope"])
    # A text is one id, never its characters; unhashable ids are no catalog ids.
    for bad in ("12", b"12", {"i1": 1}, 12):
        with pytest.raises(ArgumentError, match="list of catalog ids"):
            ranker.rank_catalog(users[0], subset=bad)
    with pytest.raises(EncodeError, match="not in the catalog"):
        ranker.rank_catalog(users[0], subset=[["i1"]])


def test_shared_ranker_from_8_threads_equals_serial(ranker, shop_data):
    users, items = _context_and_items(shop_data)
    expected = [ranker.score(u, items) for u in users[:16]]
    results: dict[int, list] = {}

    def work(t: int) -> None:
        results[t] = [ranker.score(u, items) for u in users[:16] for _ in range(5)][::5]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in range(8):
        for got, exp in zip(results[t], expected, strict=True):
            np.testing.assert_array_equal(got, exp)


def test_interpreters_are_pooled_and_bounded_whatever_the_number_of_threads(bundles, shop_data):
    users, items = _context_and_items(shop_data)
    pooled = Ranker.load(bundles["int8"], max_interpreters=2)
    expected = [pooled.score(u, items) for u in users[:4]]
    assert pooled.interpreters == 1  # serial use needs one
    barrier, results, errors = threading.Barrier(12), {}, []

    def work(t: int) -> None:
        try:
            barrier.wait()
            results[t] = [pooled.score(u, items) for u in users[:4] for _ in range(3)][::3]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors and len(results) == 12
    assert pooled.interpreters == 2  # 12 threads, at most 2 interpreters: the others waited
    for got in results.values():
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_array_equal(g, e)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ArgumentError, match="max_interpreters"):
            Ranker.load(bundles["int8"], max_interpreters=bad)


def test_a_pool_whose_interpreter_fails_to_start_frees_its_place():
    from masknet_edge.edge_runtime.interpreter import RunnerPool

    attempts = []

    def create():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("no memory")
        return object()

    pool = RunnerPool(create, size=1)
    with pytest.raises(RuntimeError, match="no memory"), pool.borrow():
        pass
    assert pool.created == 0
    with pool.borrow() as runner:  # the failed start did not keep the only place: no deadlock
        assert runner is not None and pool.created == 1


@pytest.mark.parametrize("mode", ["none", "dynamic", "int8"])
def test_verify_golden_vectors(bundles, mode):
    report = Ranker.load(bundles[mode]).verify()
    assert report.ok, str(report)
    assert report.records == len(read_bundle(bundles[mode]).golden["records"]) > 32


def test_verify_detects_a_changed_encoding(bundles, tmp_path):
    """Tamper with the golden file (and re-sign it): verify must report the mismatch."""
    from masknet_edge.convert.bundle_writer import write_bundle

    b = read_bundle(bundles["none"])
    golden = json.loads(json.dumps(b.golden))
    golden["encoded"]["cat_ids"][0][0] += 1
    golden["scores"][1] += 0.5
    out = tmp_path / "tampered.mnb"
    write_bundle(
        out, b.model, b.spec, golden, quantization=Quantization("none"), model_info={}, tensorflow_version="x"
    )
    report = Ranker.load(out).verify()
    assert not report.ok
    assert report.encode_mismatches == ["cat_ids: 1 values differ"]
    assert report.max_score_diff > 0.4


def test_bad_context_is_an_encode_error(ranker, shop_data):
    _, items = _context_and_items(shop_data)
    with pytest.raises(EncodeError, match="field 'age', record 0: cannot parse 'old'"):
        ranker.score({"age": "old"}, items)
    with pytest.raises(EncodeError, match="context must be a mapping"):
        ranker.score(["u1"], items)
    assert ranker.score({}, []).shape == (0,)


def test_loading_and_ranking_imports_no_tensorflow(bundles, shop_data):
    code = (
        "import sys, csv\n"
        "from masknet_edge.edge_runtime.ranker import Ranker\n"
        f"r = Ranker.load({str(bundles['int8'])!r})\n"
        f"with open({str(shop_data / 'items.csv')!r}) as fh: items = list(csv.DictReader(fh))\n"
        "r.rank({'user_id': 'u1', 'age': 30}, items, k=3)\n"
        "assert r.verify().ok\n"
        "heavy = {'tensorflow', 'keras', 'click'}\n"
        "above = ('masknet_edge.train', 'masknet_edge.convert', 'masknet_edge.cli')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(above))\n"
        "assert not bad, bad\n"
        "print(r.backend)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "litert"


# ------------------------------------------------------------------ damaged bundles
def _rewrite(src, dst, mutate):
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    mutate(members)
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_STORED) as zf:
        for n, d in members.items():
            zf.writestr(n, d)


def _manifest(members):
    return json.loads(members["manifest.json"])


def _set_manifest(members, m):
    members["manifest.json"] = json.dumps(m).encode()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m.pop("golden.json"), r"missing \['golden.json'\]"),
        (lambda m: m.update({"../evil": b"x"}), r"unexpected \['../evil'\]"),
        (
            lambda m: m.update({"model.tflite": m["model.tflite"][:-10] + b"0123456789"}),
            r"model.tflite fails its SHA-256",
        ),
        (
            lambda m: _set_manifest(m, {**_manifest(m), "format_version": 99}),
            r"bundle format 99 \(written by masknet-edge .*\) is newer than this runtime",
        ),
        (
            lambda m: _set_manifest(m, {**_manifest(m), "format": "other"}),
            r"does not describe a masknet-edge-bundle",
        ),
        (lambda m: m.update({"manifest.json": b"{"}), r"manifest.json is not valid JSON"),
    ],
    ids=["missing-part", "path-traversal", "bit-flip", "version", "foreign-manifest", "bad-json"],
)
def test_damaged_bundles_are_rejected_before_the_interpreter(bundles, tmp_path, mutate, message):
    bad = tmp_path / "bad.mnb"
    _rewrite(bundles["none"], bad, mutate)
    with pytest.raises(BundleError, match=message):
        Ranker.load(bad)


def test_truncated_and_foreign_files(bundles, tmp_path):
    data = bundles["none"].read_bytes()
    rng = np.random.default_rng(0)
    for cut in rng.integers(1, len(data) - 1, size=20).tolist():
        p = tmp_path / "cut.mnb"
        p.write_bytes(data[:cut])
        with pytest.raises(BundleError):
            Ranker.load(p)
    for i in rng.integers(0, len(data), size=30).tolist():
        flipped = bytearray(data)
        flipped[i] ^= 0x10
        p = tmp_path / "flip.mnb"
        p.write_bytes(bytes(flipped))
        try:
            Ranker.load(p)
        except BundleError:
            continue
        # a flip in bytes no check covers (zip padding, timestamps) may load: then it must still verify
        assert Ranker.load(p).verify().ok
    p = tmp_path / "foreign.mnb"
    p.write_bytes(b"\x00" * 100)
    with pytest.raises(BundleError, match="not a masknet-edge bundle"):
        Ranker.load(p)
    with pytest.raises(BundleError, match="cannot read bundle"):
        Ranker.load(tmp_path / "absent.mnb")


def test_spec_that_does_not_match_the_model(bundles, tmp_path):
    from masknet_edge.convert.bundle_writer import write_bundle
    from masknet_edge.edge_runtime.encoder import FeatureEncoder
    from masknet_edge.edge_runtime.spec import FeatureSpec

    b = read_bundle(bundles["none"])
    d = b.spec.to_dict()
    d["fields"] = [f for f in d["fields"] if f["name"] != "price"]
    other = FeatureSpec.from_dict(d)
    encoded = FeatureEncoder(other).encode(b.golden["records"])  # golden vectors true to the new spec
    golden = {**b.golden, "encoded": {k: v.tolist() for k, v in encoded.items()}}
    out = tmp_path / "mismatch.mnb"
    write_bundle(
        out,
        b.model,
        other,
        golden,
        quantization=Quantization("none"),
        model_info={},
        tensorflow_version="x",
    )
    with pytest.raises(BundleError, match="do not match the spec"):
        Ranker.load(out)


def test_compressed_member_zip_bomb_is_refused(bundles, tmp_path):
    with zipfile.ZipFile(bundles["none"]) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["golden.json"] = b" " * (100 << 20)
    bomb = tmp_path / "bomb.mnb"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    assert bomb.stat().st_size < 2 << 20
    with pytest.raises(BundleError, match="compressed"):
        Ranker.load(bomb)


def test_directory_is_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="is a directory"):
        Ranker.load(tmp_path)
    shutil.rmtree(tmp_path)


def test_public_api_exports_the_ranker():
    import masknet_edge

    assert masknet_edge.Ranker is Ranker
    assert {"FeatureSpec", "FeatureEncoder", "Ranker", "EncodeError", "BundleError"} <= set(
        masknet_edge.__all__
    )


def _with_spec(members, change):
    """Replace the bundle's spec (hashes and fingerprint made consistent again: a hand-made bundle)."""
    from masknet_edge.edge_runtime.spec import FeatureSpec

    spec = FeatureSpec.from_json(members["spec.json"])
    spec = spec.with_field(change(spec))
    members["spec.json"] = spec.to_json().encode()
    m = _manifest(members)
    m["spec_sha256"] = spec.fingerprint()
    m["parts"]["spec.json"] = {
        "sha256": hashlib.sha256(members["spec.json"]).hexdigest(),
        "size": len(members["spec.json"]),
    }
    _set_manifest(members, m)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: replace(f, vocabulary=(*f.vocabulary, "new_a", "new_b")), r"do not fit the model's"),
        (lambda f: replace(f, vocabulary=f.vocabulary[:-3]), r"table has more than the spec's"),
        (lambda f: replace(f, oov_buckets=f.oov_buckets + 5), r"do not fit the model's"),
    ],
    ids=["vocabulary-too-large", "vocabulary-too-small", "more-oov-buckets"],
)
@pytest.mark.parametrize("mode", ["none", "dynamic", "int8"])
def test_a_spec_whose_ids_do_not_fit_the_model_is_refused_at_load(bundles, tmp_path, change, message, mode):
    bad = tmp_path / "bad.mnb"
    _rewrite(bundles[mode], bad, lambda m: _with_spec(m, lambda s: change(s["item_id"])))
    with pytest.raises(BundleError, match=message):
        Ranker.load(bad)
    good = tmp_path / "same.mnb"  # the same rewrite without a change loads: the check is exact
    _rewrite(bundles[mode], good, lambda m: _with_spec(m, lambda s: s["item_id"]))
    assert Ranker.load(good).verify().ok


def test_top_k_breaks_ties_by_candidate_order():
    from masknet_edge.edge_runtime.candidates import top_indices as _top

    scores = np.array([0.5, 0.9, 0.5, 0.5, 0.9, 0.1, 0.5], dtype=np.float32)
    assert _top(scores, 3).tolist() == [1, 4, 0]
    assert _top(scores, 4).tolist() == [1, 4, 0, 2]
    assert _top(scores, 7).tolist() == [1, 4, 0, 2, 3, 6, 5]
    rng = np.random.default_rng(0)
    for _ in range(200):  # quantized scores: few distinct values, many ties
        s = rng.integers(0, 5, rng.integers(1, 60)).astype(np.float32) / 4
        k = int(rng.integers(1, len(s) + 1))
        assert _top(s, k).tolist() == np.argsort(-s, kind="stable")[:k].tolist()


def test_catalog_with_a_required_context_field(bundles, shop_data, tmp_path):
    import csv

    path = tmp_path / "required.mnb"
    _rewrite(bundles["none"], path, lambda m: _with_spec(m, lambda s: replace(s["user_id"], required=True)))
    ranker = Ranker.load(path)
    with (shop_data / "items.csv").open() as fh:
        items = list(csv.DictReader(fh))
    ranker.index_catalog(items)  # encodes no context: a required context field is no obstacle
    user = {"user_id": "u1", "age": 30, "gender": "F", "device": "ios"}
    assert ranker.rank_catalog(user, k=5) == ranker.rank(user, items, k=5)
    with pytest.raises(EncodeError, match="field 'user_id', record 0: required field is missing"):
        ranker.rank_catalog({"age": 30}, k=5)


@needs_tf
@pytest.mark.parametrize("head", ["logits", "two-columns"])
def test_a_model_that_does_not_output_one_probability_is_refused(bundles, shop_run, tmp_path, head):
    """A model without its final sigmoid, or with two output columns, must not rank with exit 0."""
    import keras

    from masknet_edge.convert.bundle_writer import write_bundle
    from masknet_edge.convert.converter import convert_model

    b = read_bundle(bundles["none"])
    model = keras.saving.load_model(shop_run / "model.keras", safe_mode=True)
    if head == "logits":  # the probability turned back into its logit: the sigmoid undone
        out = keras.layers.Lambda(lambda p: keras.ops.log(p) - keras.ops.log(1.0 - p))(model.output)
    else:
        out = keras.layers.Concatenate()([model.output, model.output])
    tflite = convert_model(keras.Model(model.inputs, out), b.spec, "none", progress=False).tflite
    path = tmp_path / f"{head}.mnb"
    write_bundle(
        path,
        tflite,
        b.spec,
        b.golden,
        quantization=Quantization("none"),
        model_info={},
        tensorflow_version="x",
    )
    match = "outside \\[0, 1\\].*logits" if head == "logits" else "one output of shape \\[batch, 1\\]"
    with pytest.raises(BundleError, match=match):
        Ranker.load(path)


def test_a_member_that_appears_twice_is_named(bundles, tmp_path):
    """The message names the repeated member (the sets of missing and unexpected names are empty)."""
    import warnings

    with zipfile.ZipFile(bundles["none"]) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    out = tmp_path / "twice.mnb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name it is told to write
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
            zf.writestr("spec.json", members["spec.json"])
    with pytest.raises(BundleError, match="member 'spec.json' appears 2 times"):
        Ranker.load(out)
