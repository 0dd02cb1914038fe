"""Where a training epoch's time goes, and examples/s per model and per data path (CPU).

MovieLens-100K fixed split (80,000 training rows), today's newcomer spec, all in one process:

1. **Profile** (SerMaskNet, each batch size): the parts of an epoch measured one by one: reading the
   CSV, encoding it (cold encoder, then warm), the in-memory ``tf.data`` pipeline alone, the bare
   compiled training step (forward + backward, then + the optimizer) on one fixed batch times the
   steps of an epoch, and the whole ``model.fit`` epoch (median of epochs 2-3). The bare step is the
   floor the framework sets for this model; ``fit`` minus it is what the loop around it costs.
2. **Per model**: examples/s of ``masknet train`` (``train_run``) in memory, default batch.
3. **Streamed vs in memory**: the same file trained in memory, streamed from the
   encoded cache, and streamed re-encoding every epoch (``--no-encoded-cache``), alternated; with a
   small SerMaskNet and large batches, so that reading and encoding are a large share of an epoch.

With ``MASKNET_TORCH_PYTHON`` set to a Python that has PyTorch, the same-shaped SerMaskNet step is
also timed in PyTorch (the reference library's framework) on this machine, in the same run.

Run: .venv/bin/python -m benchmarks.bench_throughput
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ROOT, fixed_batch_step, fixed_splits, newcomer_spec, table, train_examples_per_s
from masknet_edge.train.config import MODELS

#: Its section in ``make bench`` (``run_all --only throughput``) and the place of its table in BENCHMARKS.md.
SECTION, ORDER = "throughput", 72

BATCHES = (256, 1024)
#: The data-path comparison trains a small SerMaskNet with large batches, where reading and encoding
#: are a large share of an epoch (with the default model they are about 2 %: see the profile).
SMALL = {"num_blocks": 2, "block_units": 32}
TORCH_SCRIPT = ROOT / "benchmarks" / "torch_reference_step.py"


def _best(f: Any, repeats: int = 3, n: int = 20) -> float:
    """Seconds per call of ``f`` (best of ``repeats`` means over ``n`` calls, after a warm-up)."""
    f()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            r = f()
        np.asarray(r)  # wait for the last call
        out.append((time.perf_counter() - t) / n)
    return min(out)


def _fit_epoch_seconds(fitted: Any, ds: Any, steps_per_execution: int, epochs: int = 3) -> float:
    import keras

    from masknet_edge.train.masknet import build_model
    from masknet_edge.train.optimizers import EmbeddingAdam

    keras.utils.set_random_seed(0)
    model = build_model(fitted)
    model.compile(
        optimizer=EmbeddingAdam(1e-3),
        loss=keras.losses.BinaryCrossentropy(),
        steps_per_execution=steps_per_execution,
    )

    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            times.append(time.perf_counter() - self.t)

    model.fit(ds, epochs=epochs, verbose=0, callbacks=[Timer()])
    return float(np.median(times[1:]))


def _profile(train_csv: Path, spec_path: Path, batch: int) -> dict[str, float]:
    """Seconds per epoch of each part, for one batch size."""
    import keras

    from masknet_edge.edge_runtime.encoder import FeatureEncoder
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.batches import in_memory_dataset, load_encoded
    from masknet_edge.train.fit import fit_spec
    from masknet_edge.train.io import iter_chunks
    from masknet_edge.train.pipeline import STEPS_PER_EXECUTION

    spec = FeatureSpec.load(spec_path)
    text = list(spec.text_columns)
    t = time.perf_counter()
    frames = list(iter_chunks(train_csv, 200_000, text_columns=text))
    read = time.perf_counter() - t
    fitted = fit_spec(spec, iter(frames))
    encoder = FeatureEncoder(fitted, cache_size=1 << 20)
    t = time.perf_counter()
    for df in frames:
        encoder.encode(df)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    for df in frames:
        encoder.encode(df)
    warm = time.perf_counter() - t
    x, y, _ = load_encoded(train_csv, encoder, "label", 200_000)
    rows = len(y)
    steps = -(-rows // batch)
    ds = in_memory_dataset(x, y, batch, seed=0)
    for _ in ds:  # warm-up epoch
        pass
    t = time.perf_counter()
    for _ in ds:
        pass
    pipeline = time.perf_counter() - t

    keras.utils.set_random_seed(0)
    grads = fixed_batch_step(fitted, x, y, batch, apply=False)
    step = fixed_batch_step(fitted, x, y, batch)

    fwd_bwd = _best(lambda: grads()[-1]) * steps
    bare = _best(step) * steps
    fit_1 = _fit_epoch_seconds(fitted, ds, 1)
    fit = _fit_epoch_seconds(fitted, ds, STEPS_PER_EXECUTION)
    return {
        "rows": rows,
        "batch": batch,
        "read_csv": read,
        "encode_cold": cold,
        "encode_warm": warm,
        "tf_data_pipeline": pipeline,
        "forward_backward": fwd_bwd,
        "bare_step": bare,
        "fit_epoch_1": fit_1,
        "fit_epoch": fit,
        "steps_per_execution": STEPS_PER_EXECUTION,
    }


def _train_eps(
    folder: Path, spec_path: Path, out: Path, model: str, model_kw: dict | None = None, **train_kw: Any
) -> float:
    """Examples/s of ``train_run`` (rows / median seconds of epochs 2-3)."""
    from masknet_edge.train.config import ModelConfig

    return train_examples_per_s(
        folder, spec_path, out, ModelConfig(model=model, **(model_kw or {})), **train_kw
    )[0]


def _torch_step() -> dict[str, float] | None:
    python = os.environ.get("MASKNET_TORCH_PYTHON")
    if not python:
        return None
    out = subprocess.run([python, str(TORCH_SCRIPT)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(rounds: int = 3) -> dict[str, Any] | str:
    """The profile per batch size, examples/s per model, and streamed vs in-memory examples/s."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory(prefix="masknet-throughput-") as t:
        splits = fixed_splits(Path(t) / "splits")
        if isinstance(splits, str):
            return splits
        folder = splits["movielens"]
        spec_path = newcomer_spec(folder / "train.csv", Path(t) / "spec.json")
        profile = [_profile(folder / "train.csv", spec_path, b) for b in BATCHES]
        print(profile, flush=True)
        per_model = {m: _train_eps(folder, spec_path, Path(t) / "run", m) for m in MODELS}
        print(per_model, flush=True)
        paths = {
            "in memory": {},
            "streamed, encoded cache": {"in_memory_rows": 0, "chunk_rows": 20_000},
            "streamed, re-encoded every epoch": {
                "in_memory_rows": 0,
                "chunk_rows": 20_000,
                "encoded_cache": False,
            },
        }
        streamed: dict[str, list[float]] = {k: [] for k in paths}
        for _ in range(rounds):
            for label, kw in paths.items():
                streamed[label].append(
                    _train_eps(folder, spec_path, Path(t) / "run", "sermasknet", SMALL, batch_size=4096, **kw)
                )
                print(label, round(streamed[label][-1]), flush=True)
    return {
        "profile": profile,
        "per_model": per_model,
        "streamed": {k: float(np.median(v)) for k, v in streamed.items()},
        "torch": _torch_step(),
    }


def render(result: Any) -> list[str]:
    """This benchmark's section of BENCHMARKS.md (none when it was not measured)."""
    if not isinstance(result, dict):
        return []
    parts = [
        ("read_csv", "read the CSV (pandas)"),
        ("encode_cold", "encode, cold encoder (epoch 1 of a streamed run)"),
        ("encode_warm", "encode, warm encoder (later epochs, streamed without the cache)"),
        ("tf_data_pipeline", "in-memory `tf.data` pipeline alone"),
        ("forward_backward", "bare step: forward + backward"),
        ("bare_step", "bare step: + optimizer (EmbeddingAdam)"),
        ("fit_epoch_1", "`model.fit` epoch, 1 step per call into the graph"),
        ("fit_epoch", "`model.fit` epoch as training runs it (`STEPS_PER_EXECUTION` steps per call)"),
    ]
    prof = result["profile"]
    rows = [
        [label, *[f"{p[key]:.2f} s ({p['rows'] / p[key]:,.0f} rows/s)" for p in prof]] for key, label in parts
    ]
    out = [
        "## Where a training epoch's time goes (`benchmarks/bench_throughput.py`)",
        "",
        f"MovieLens-100K fixed split ({prof[0]['rows']:,} training rows), newcomer spec, SerMaskNet (3 blocks of 400), CPU, "
        "one process: each part of an epoch timed on its own, seconds per epoch. The bare step is one compiled "
        "training step on a fixed batch (best of 3 x 20 calls) times the steps of an epoch: the floor the framework "
        "sets for this model.",
        "",
        table(["part", *[f"batch {p['batch']}" for p in prof]], rows),
        "",
        "Share of the `fit` epoch that is not the bare step (the loop around it: pipeline, Keras, callbacks): "
        + ", ".join(f"batch {p['batch']}: {1 - p['bare_step'] / p['fit_epoch']:.0%}" for p in prof)
        + ".",
        "",
    ]
    torch = result.get("torch")
    if torch:
        out += [
            "The same-shaped SerMaskNet training step in PyTorch "
            f"{torch['version']} ({torch['threads']} threads) on this machine, in the same run: "
            + ", ".join(f"batch {b}: {torch[str(b)]:,.0f} examples/s" for b in BATCHES)
            + "; TensorFlow's bare step above: "
            + ", ".join(f"batch {p['batch']}: {p['rows'] / p['bare_step']:,.0f}" for p in prof)
            + ".",
            "",
        ]
    out += [
        "`masknet train` examples/s per model (in memory, default batch, median of epochs 2-3):",
        "",
        table(["model", "examples/s"], [[m, v] for m, v in result["per_model"].items()]),
        "",
        "A small SerMaskNet (2 blocks of 32, batch 4,096: reading and encoding are a large share of its epoch), "
        "the same file three ways, alternated, median of 3 rounds; streamed with `--in-memory-rows 0 "
        "--chunk-rows 20000`:",
        "",
        table(
            ["data path", "examples/s", "/ in memory"],
            [[k, v, v / result["streamed"]["in memory"]] for k, v in result["streamed"].items()],
        ),
        "",
    ]
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
