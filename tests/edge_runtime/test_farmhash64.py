"""The pure-Python FarmHash Fingerprint64 equals the compiled binding and TensorFlow's buckets."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from masknet_edge.edge_runtime.farmhash64 import fingerprint64

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "golden" / "hash_vectors.json").read_text())


def test_it_reproduces_tensorflows_buckets_of_the_stored_vectors():
    """Every stored string in every bucket count, as TensorFlow 2.21 hashed them."""
    for case in VECTORS["cases"]:
        got = [fingerprint64(s) % case["num_buckets"] for s in VECTORS["strings"]]
        assert got == case["strings"], case["num_buckets"]


def test_it_equals_the_binding_in_every_length_class():
    """0-16, 17-32, 33-64 bytes and the 64-byte block loop (65 to 4,000 bytes), multi-byte UTF-8."""
    farmhash = pytest.importorskip("farmhash", reason="the compiled binding (Linux x86-64 wheels) is absent")
    rng = random.Random(0)
    lengths = [*range(0, 200), 255, 256, 257, 1000, 4000]
    for n in lengths:
        for _ in range(5):
            text = "".join(rng.choice("az09 é€😀\x00") for _ in range(n))
            assert fingerprint64(text) == farmhash.fingerprint64(text), (n, text)
    assert fingerprint64(b"\xff\xfe") == fingerprint64(b"\xff\xfe")  # bytes are hashed as they are
