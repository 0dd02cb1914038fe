"""A training epoch against the bare compiled step, side by side: what ``fit`` adds to the model's cost.

    python -m benchmarks.bench_epoch [--rounds 10] [--batch 256] [--op-threads N] [--write]

MovieLens-100K's fixed split, the newcomer spec, SerMaskNet, with the op threads ``masknet train``
sets on a CPU (``train/devices.py``). In one process, alternated round by round so that machine load
hits all alike: one ``model.fit`` epoch over the in-memory pipeline as training builds it
(``train/batches.py``), the same with tf.data's autotuner on (its default), and the bare step, one
compiled training step (forward, backward, EmbeddingAdam) on a fixed batch called once per step of an
epoch: the floor the framework sets for this model. The first epoch of each, which traces the graph,
is not counted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    fixed_batch_step,
    fixed_splits,
    machine,
    newcomer_spec,
    table,
    write_marked_section,
)

BEGIN, END = "<!-- epoch-vs-step:begin -->", "<!-- epoch-vs-step:end -->"
GOAL = 1.05
FIT, AUTOTUNED, BARE = "`fit` epoch, as training runs it", "`fit` epoch, tf.data autotuner on", "bare step"


def _setup(folder: Path, work: Path, batch: int) -> dict[str, Any]:
    """The encoded training rows, both pipelines, two compiled models and the bare step."""
    import keras
    import numpy as np

    import masknet_edge.train.batches as batches
    from masknet_edge.edge_runtime.encoder import FeatureEncoder
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.fit import fit_spec
    from masknet_edge.train.io import iter_chunks
    from masknet_edge.train.masknet import build_model
    from masknet_edge.train.optimizers import EmbeddingAdam
    from masknet_edge.train.pipeline import STEPS_PER_EXECUTION

    csv = folder / "train.csv"
    spec = FeatureSpec.load(newcomer_spec(csv, work / "spec.json"))
    fitted = fit_spec(spec, iter_chunks(csv, 200_000, text_columns=list(spec.text_columns)))
    x, y, _ = batches.load_encoded(csv, FeatureEncoder(fitted, cache_size=1 << 20), "label", 200_000)
    steps = -(-len(y) // batch)
    autotuned = batches.in_memory_dataset(x, y, batch, seed=0).with_options(_autotune_on())
    keras.utils.set_random_seed(0)

    def compiled() -> Any:
        model = build_model(fitted)
        model.compile(
            optimizer=EmbeddingAdam(1e-3),
            loss=keras.losses.BinaryCrossentropy(),
            steps_per_execution=STEPS_PER_EXECUTION,
        )
        return model

    step = fixed_batch_step(fitted, x, y, batch)

    def bare_epoch() -> None:
        for _ in range(steps):
            last = step()
        np.asarray(last)

    fits = {
        FIT: (compiled(), batches.in_memory_dataset(x, y, batch, seed=0)),
        AUTOTUNED: (compiled(), autotuned),
    }
    return {"rows": len(y), "steps": steps, "fits": fits, "bare_epoch": bare_epoch}


def _autotune_on() -> Any:
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = True
    return options


def run(rounds: int, batch: int, op_threads: int | None = None) -> dict[str, Any]:
    """Seconds per epoch of each way, per round; ``op_threads`` replaces training's choice (it must be
    set before TensorFlow starts: one setting per process)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if op_threads is not None:
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(op_threads)
    from masknet_edge.train.devices import leave_a_core_for_input

    threads = leave_a_core_for_input()
    with tempfile.TemporaryDirectory(prefix="masknet-epoch-") as tmp:
        splits = fixed_splits(Path(tmp) / "splits")
        if isinstance(splits, str):
            return {"skipped": splits}
        parts = _setup(splits["movielens"], Path(tmp), batch)
        ways = {
            name: (lambda m=m, d=d: m.fit(d, epochs=1, verbose=0)) for name, (m, d) in parts["fits"].items()
        }
        ways[BARE] = parts["bare_epoch"]
        for way in ways.values():  # traces each graph
            way()
        seconds: dict[str, list[float]] = {name: [] for name in ways}
        for r in range(rounds):
            for name, way in ways.items():
                started = time.perf_counter()
                way()
                seconds[name].append(time.perf_counter() - started)
            print(r, {k: round(v[-1], 2) for k, v in seconds.items()}, flush=True)
    return {"batch": batch, "rows": parts["rows"], "op_threads": threads or op_threads, "seconds": seconds}


def section(result: dict[str, Any], command: str, wall: float) -> str:
    """The Markdown section."""
    lines = [BEGIN, "### A training epoch against the bare step (`benchmarks/bench_epoch.py`)", ""]
    lines += [f"`{command}`, {wall:.0f} s; {machine()}.", ""]
    lines += [" ".join(__doc__.split("\n\n")[2].split()), ""]
    if "skipped" in result:
        return "\n".join([*lines, f"Skipped: {result['skipped']}", "", END])
    seconds = result["seconds"]
    bare = statistics.median(seconds[BARE])
    rows = []
    for name, values in seconds.items():
        median = statistics.median(values)
        ratio = median / bare
        status = "" if name == BARE else ("met" if ratio <= GOAL else "**not met**")
        rows.append([name, " ".join(f"{v:.2f}" for v in values), f"{median:.2f}", f"{ratio:.3f}", status])
    lines += [
        f"Batch {result['batch']}, {result['rows']:,} rows, op threads: {result['op_threads'] or 'default'}.",
        "",
        table(["way", "seconds per epoch, by round", "median", "/ bare step", f"goal <= {GOAL}"], rows),
        "",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    """Measure; print the section, or write it into BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--op-threads", type=int, help="TensorFlow's op threads instead of training's choice")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    result = run(args.rounds, args.batch, args.op_threads)
    command = f"python -m benchmarks.bench_epoch --rounds {args.rounds} --batch {args.batch}"
    command += f" --op-threads {args.op_threads}" if args.op_threads else ""
    text = section(result, command, time.perf_counter() - started)
    print(text)
    if args.write:
        write_marked_section(ROOT / "BENCHMARKS.md", BEGIN, END, text, before="<!-- suite:begin -->")


if __name__ == "__main__":
    main()
