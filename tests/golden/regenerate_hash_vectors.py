"""Regenerate ``hash_vectors.json`` with TensorFlow. Run only on purpose, then review the diff:

    .venv/bin/python tests/golden/regenerate_hash_vectors.py

The file pins FarmHash Fingerprint64 buckets as TensorFlow computes them, so the encoder is checked
against TensorFlow on every platform without TensorFlow installed.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import tensorflow as tf

OUT = Path(__file__).with_name("hash_vectors.json")
BUCKETS = [1, 2, 7, 10, 1000, 65536, 1_000_003, 2**31 - 1]


def _strings() -> list[str]:
    rng = random.Random(20211)
    fixed = [
        "",
        " ",
        "a",
        "A",
        "0",
        "-1",
        "user_42",
        "Paris",
        "São Paulo",
        "東京",
        "ñandú",
        "emoji 🙂",
        "Action|Sci-Fi",
        "\t\n",
        "null",
        "NaN",
        "true",
        "x" * 31,
        "y" * 64,
        "z" * 255,
        "long " * 200,
    ]
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_-|:/ éü中文🙂"
    rand = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(60)]
    return fixed + rand


def main() -> None:
    strings = _strings()
    ints = [0, 1, -1, 7, 42, 1000, 123456789, -987654321, 2**31 - 1, 2**62, -(2**63)]
    cases = []
    for b in BUCKETS:
        cases.append(
            {
                "num_buckets": b,
                "strings": tf.strings.to_hash_bucket_fast(strings, b).numpy().tolist(),
                # keras.layers.Hashing hashes integers as their decimal text.
                "ints": tf.keras.layers.Hashing(b)(np.array(ints, dtype=np.int64)).numpy().tolist()
                if b > 1
                else [0] * len(ints),
            }
        )
    rng = random.Random(7)
    a = [rng.choice(strings[:30]) for _ in range(40)]
    c = [str(rng.randint(-5, 500)) for _ in range(40)]
    d = [rng.choice(["M", "F", "", "東京"]) for _ in range(40)]
    crosses = []
    for b in (1, 10, 1000, 2**20):
        for cols in ([a, c], [a, c, d]):
            # Build the sparse tensors explicitly: tf.sparse.from_dense would drop "" cells.
            sparse = [
                tf.SparseTensor(
                    indices=[[i, 0] for i in range(len(col))], values=col, dense_shape=[len(col), 1]
                )
                for col in cols
            ]
            out = tf.sparse.to_dense(tf.sparse.cross_hashed(sparse, num_buckets=b)).numpy().ravel().tolist()
            crosses.append({"num_buckets": b, "columns": cols, "buckets": out})
    doc = {
        "about": "FarmHash Fingerprint64 buckets computed by TensorFlow "
        + tf.__version__
        + " (to_hash_bucket_fast, keras Hashing, sparse.cross_hashed). Regenerate with "
        "tests/golden/regenerate_hash_vectors.py.",
        "strings": strings,
        "ints": ints,
        "cases": cases,
        "crosses": crosses,
    }
    OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
