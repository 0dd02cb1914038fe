"""Reliability figures: hostile inputs, damaged bundles, a concurrency soak (counts for RELIABILITY.md).

Hostile inputs are drawn from a seeded generator (wrong types, missing/extra fields, NaN/inf, huge
and non-UTF-8 strings, empty lists, containers); the only exception allowed is EncodeError, and every
score must be finite and in [0, 1]. Damaged bundles: random truncations and bit flips of a real
bundle, plus the structural cases (missing part, path traversal, wrong version, foreign file,
mismatched spec, zip bomb); each must be rejected with BundleError before the interpreter runs, or
(a flip in bytes no check covers) load and still pass its golden vectors.

Run: .venv/bin/python -m benchmarks.bench_reliability
"""

from __future__ import annotations

import csv
import os
import random
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

#: Its section in ``make bench`` (``run_all --only reliability``); its figures go into RELIABILITY.md.
SECTION, ORDER, DOCUMENT = "reliability", 90, "RELIABILITY.md"

FIELDS = ["user_id", "age", "gender", "occupation", "city", "device", "item_id", "category", "brand", "price"]


def _hostile(rng: random.Random) -> Any:
    choice = rng.randrange(14)
    return [
        None,
        True,
        rng.randint(-(10**30), 10**30),
        float("nan"),
        float("inf"),
        -float("inf"),
        rng.random() * 1e308,
        "",
        "x" * rng.randint(1, 100_000),
        bytes([rng.randrange(256) for _ in range(5)]),
        "\udcff",
        [1, 2],
        {"a": 1},
        str(rng.randint(0, 100)),
    ][choice]


def _benign(rng: random.Random) -> Any:
    return [f"v{rng.randint(0, 50)}", rng.randint(0, 90), rng.random() * 100, str(rng.randint(0, 9))][
        rng.randrange(4)
    ]


def _record(rng: random.Random) -> dict[str, Any]:
    """A record whose fields are mostly plausible, each hostile with probability 1/8."""
    rec = {f: (_hostile(rng) if rng.random() < 0.125 else _benign(rng)) for f in FIELDS if rng.random() < 0.8}
    if rng.random() < 0.2:
        rec["extra_field"] = _hostile(rng)
    return rec


def make_bundle(tmp: Path) -> tuple[Path, Path]:
    """A small trained shop model and its int8 bundle."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from masknet_edge.convert.conversion import convert_run
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.config import ModelConfig, TrainConfig
    from masknet_edge.train.pipeline import TrainInputs, train_run
    from masknet_edge.train.shopworld import ShopWorldConfig, generate, shop_spec_dict, write_csvs

    paths = write_csvs(
        generate(ShopWorldConfig(num_users=300, num_items=80, num_interactions=6000)), tmp / "d"
    )
    run = tmp / "run"
    train_run(
        TrainInputs(paths["train"], paths["valid"]),
        FeatureSpec.from_dict(shop_spec_dict(300, 80)),
        run,
        ModelConfig(block_units=16, embedding_dim=4),
        TrainConfig(epochs=1),
        progress=False,
    )
    bundle = tmp / "shop-int8.mnb"
    convert_run(run, "int8", bundle, progress=False)
    return bundle, paths["items"]


def fuzz(bundle: Path, cases: int, seed: int = 0) -> dict[str, int]:
    """Hostile requests into Ranker.score; counts outcomes; raises on anything undocumented."""
    from masknet_edge.edge_runtime.errors import EncodeError
    from masknet_edge.edge_runtime.ranker import Ranker

    ranker = Ranker.load(bundle)
    rng = random.Random(seed)
    counts = {"cases": 0, "scored": 0, "encode_error": 0, "candidates_scored": 0}
    for _ in range(cases):
        ctx = _record(rng)
        cands = [_record(rng) for _ in range(rng.randint(0, 8))]
        counts["cases"] += 1
        try:
            s = ranker.score(ctx, cands)
        except EncodeError as exc:
            if exc.field is not None and exc.field not in FIELDS:
                raise AssertionError(f"error names an unknown field: {exc}") from None
            counts["encode_error"] += 1
            continue
        if not (np.isfinite(s).all() and (s >= 0).all() and (s <= 1).all()):
            raise AssertionError(f"bad scores {s}")
        counts["scored"] += 1
        counts["candidates_scored"] += len(cands)
    return counts


def damage(bundle: Path, tmp: Path, trials: int, seed: int = 0) -> dict[str, int]:
    """Truncations and bit flips: rejected before the interpreter, or loaded and still verified."""
    from masknet_edge.edge_runtime.errors import BundleError
    from masknet_edge.edge_runtime.ranker import Ranker

    data = bundle.read_bytes()
    rng = np.random.default_rng(seed)
    counts = {
        "truncated": 0,
        "truncated_rejected": 0,
        "flipped": 0,
        "flipped_rejected": 0,
        "flipped_loaded_and_verified": 0,
    }
    p = tmp / "damaged.mnb"
    for _ in range(trials):
        p.write_bytes(data[: int(rng.integers(0, len(data)))])
        counts["truncated"] += 1
        try:
            Ranker.load(p)
        except BundleError:
            counts["truncated_rejected"] += 1
        b = bytearray(data)
        b[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
        p.write_bytes(bytes(b))
        counts["flipped"] += 1
        try:
            r = Ranker.load(p)
        except BundleError:
            counts["flipped_rejected"] += 1
            continue
        if not r.verify().ok:
            raise AssertionError("a damaged bundle loaded and failed its golden vectors")
        counts["flipped_loaded_and_verified"] += 1
    return counts


def soak(bundle: Path, items_csv: Path, threads: int = 8, requests: int = 1000) -> dict[str, Any]:
    """One Ranker shared by threads; results vs serial; RSS before/after 10,000 more requests."""
    from masknet_edge.edge_runtime.ranker import Ranker

    ranker = Ranker.load(bundle)
    with items_csv.open() as fh:
        items = list(csv.DictReader(fh))[:20]
    users = [
        {"user_id": f"u{i}", "age": 20 + i % 50, "gender": "FM"[i % 2], "device": "ios"} for i in range(50)
    ]
    expected = [ranker.score(u, items) for u in users]
    mismatches = []

    def work(t: int) -> None:
        for r in range(requests):
            j = (r * 7 + t) % len(users)
            if not np.array_equal(ranker.score(users[j], items), expected[j]):
                mismatches.append((t, r))

    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()

    def rss() -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    before = rss()
    for r in range(10_000):
        ranker.score(users[r % len(users)], items)
    after = rss()
    return {
        "threads": threads,
        "requests": threads * requests,
        "mismatches": len(mismatches),
        "rss_before_mb": before,
        "rss_after_10k_mb": after,
    }


def run(cases: int = 20_000, trials: int = 500) -> dict[str, Any]:
    """All reliability figures."""
    with tempfile.TemporaryDirectory(prefix="masknet-rel-") as t:
        tmp = Path(t)
        bundle, items = make_bundle(tmp)
        return {
            "fuzz": fuzz(bundle, cases),
            "damage": damage(bundle, tmp, trials),
            "soak": soak(bundle, items),
        }


def render_document(rel: dict[str, Any], meta: dict[str, Any], hostile_lines: list[str]) -> str:
    """RELIABILITY.md from this section's figures (and the hostile-input suites' lines, when measured)."""
    f, d, s = rel["fuzz"], rel["damage"], rel["soak"]
    return "\n".join(
        [
            "# Reliability",
            "",
            f"Measured {meta['date']} with `make bench` (`benchmarks/bench_reliability.py`) on {meta['machine']}. "
            "The same properties are tested in CI with fewer cases (`tests/test_reliability.py`, "
            "`tests/edge_runtime/test_ranker.py`, `tests/test_cli.py`).",
            "",
            "## Hostile input into `Ranker.score`",
            "",
            f"{f['cases']:,} seeded random requests (a context and 0-8 candidates; each field plausible or, with "
            "probability 1/8, hostile: wrong types, None, NaN, ±inf, 1e308, huge ints, 100,000-character strings, "
            "non-UTF-8 bytes, lone surrogates, lists, dicts; extra fields). Outcomes: "
            f"{f['scored']:,} scored ({f['candidates_scored']:,} candidates, every score finite and in [0, 1]), "
            f"{f['encode_error']:,} refused with an `EncodeError` naming the field and record, **0 other exceptions**.",
            "",
            "## Damaged bundles",
            "",
            f"{d['truncated']:,} random truncations: {d['truncated_rejected']:,} rejected with `BundleError`. "
            f"{d['flipped']:,} random single-bit flips: {d['flipped_rejected']:,} rejected with `BundleError`, "
            f"{d['flipped_loaded_and_verified']:,} loaded (the flip hit bytes no check covers, e.g. ZIP timestamps) "
            "and still passed their golden vectors. Structural cases (missing part, `../` member, wrong format "
            "version, foreign file, spec that does not match the model, compressed member / zip bomb) are rejected "
            "in `tests/edge_runtime/test_ranker.py`. The interpreter never sees a rejected file.",
            "",
            "## Concurrency soak",
            "",
            f"One `Ranker` shared by {s['threads']} threads, {s['requests']:,} requests in all: "
            f"{s['mismatches']} results differ from the serial run. RSS before / after 10,000 more requests: "
            f"{s['rss_before_mb']:.1f} MB / {s['rss_after_10k_mb']:.1f} MB (this process also holds TensorFlow, "
            "loaded to train the bundle under test).",
            "",
            "## Crashes",
            "",
            "- A training run killed with SIGKILL after its first finished epoch resumes with `--resume` and ends "
            "with every epoch recorded once (`tests/train/test_pipeline.py::test_killed_run_resumes_from_last_finished_epoch`).",
            "- A conversion killed at several points leaves no file at the output path; only a hidden "
            "`.NAME.PID.*.partial` temp file can remain, and the next write of that path clears it "
            "(`tests/test_reliability.py`, `tests/test_interrupts.py`).",
            "- A second `masknet train` into an existing run directory refuses unless `--overwrite` or `--resume`.",
            "- Every command given malformed input, missing files or a bad bundle answers with one `Error:` line and "
            "exit code 2 (`tests/test_cli.py`, `tests/convert/test_convert.py`).",
            "",
            "## No code execution from artifacts",
            "",
            "No pickle anywhere (a test scans the sources); Keras models load with `safe_mode=True`; bundle JSON "
            "members have size limits; a test patches `pickle`, `marshal`, `eval`, `exec` and `compile` to fail while "
            "a bundle is loaded and verified, and checks that loading imports nothing but the interpreter.",
            "",
            *hostile_lines,
        ]
    )


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
