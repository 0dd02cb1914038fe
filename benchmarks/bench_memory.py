"""Training memory does not grow with the file: 1M vs 5M generated rows, streamed chunk by chunk.

Each size trains one epoch of a small SerMaskNet in a fresh process with ``in_memory_rows=0``
(streaming), ``chunk_rows=100,000``, batch 4096; peak RSS is the process's VmHWM.

Run: .venv/bin/python -m benchmarks.bench_memory
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import run_subprocess_json, table

#: Its section in ``make bench`` (``run_all --only memory``) and the place of its table in BENCHMARKS.md.
SECTION, ORDER = "memory", 50

SIZES = (1_000_000, 5_000_000)


def _write_world(path: Path, rows: int) -> None:
    from train.shopworld import ShopWorldConfig, generate, write_csvs

    world = generate(ShopWorldConfig(num_users=20_000, num_items=2_000, num_interactions=rows, seed=7))
    write_csvs(world, path)


def run(sizes: tuple[int, ...] = SIZES) -> list[dict[str, Any]]:
    """Peak RSS and throughput of a streamed epoch for each size."""
    out = []
    with tempfile.TemporaryDirectory(prefix="masknet-mem-") as t:
        for rows in sizes:
            d = Path(t) / f"w{rows}"
            _write_world(d, rows)
            code = f"""
import json
from pathlib import Path
from benchmarks.common import peak_rss_mb
from edge_runtime.spec import FeatureSpec
from train.config import ModelConfig, TrainConfig
from train.pipeline import TrainInputs, train_run
from train.shopworld import shop_spec_dict

d = Path({str(d)!r})
spec = FeatureSpec.from_dict(shop_spec_dict(20000, 2000))
cfg = TrainConfig(epochs=1, batch_size=4096, in_memory_rows=0, chunk_rows=100_000)
m = train_run(TrainInputs(d / "train.csv", d / "valid.csv"), spec, d / "run",
              ModelConfig(block_units=32, num_blocks=2), cfg, progress=False)
print(json.dumps({{"rows": m["train_rows"], "mode": m["train_mode"], "peak_rss_mb": peak_rss_mb(),
                  "examples_per_s": m["train_examples_per_s"], "valid_auc": m["valid"]["auc"]}}))
"""
            r = run_subprocess_json(code)
            r["file_mb"] = (d / "train.csv").stat().st_size / 2**20
            out.append(r)
            print(r, flush=True)
    return out


def render(result: Any) -> list[str]:
    """This benchmark's section of BENCHMARKS.md (none when it was not measured)."""
    out: list[str] = []
    if isinstance(result, list):
        out += [
            "## Training memory when streaming (`benchmarks/bench_memory.py`)",
            "",
            "Generated shop rows, one epoch, `in_memory_rows=0`, `chunk_rows=100,000`, batch 4096, small SerMaskNet, "
            "each size in a fresh process.",
            "",
            table(
                ["rows", "CSV MB", "peak RSS MB", "examples / s"],
                [[x["rows"], x["file_mb"], x["peak_rss_mb"], x["examples_per_s"]] for x in result],
            ),
            "",
        ]
        if len(result) >= 2:
            out += [
                f"Peak RSS ratio {result[-1]['rows'] // result[0]['rows']}x rows: "
                f"{result[-1]['peak_rss_mb'] / result[0]['peak_rss_mb']:.2f}x.",
                "",
            ]
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
