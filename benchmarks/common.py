"""Helpers shared by the benchmarks: machine description, reference models, formatting."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from masknet_edge.cli.device import peak_rss_mb  # noqa: F401 - re-exported for the benchmarks

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def machine() -> str:
    """One line: CPU, cores, Python and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        info = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        info = []
    for line in info:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    # The vector extensions decide the interpreter's speed, and this shared machine's host changes
    # between sessions: the Criteo-shaped dynamic-int8 invoke took 1.5 ms on 2026-11-29 and 7.7 ms
    # on 2026-11-30 (an avx2-only host), the same code and model configuration.
    flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    simd = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni") if f in flags]
    if simd:
        cpu += f" ({' '.join(simd)})"
    versions = []
    for mod in ("numpy", "tensorflow", "keras", "ai_edge_litert"):
        try:
            m = __import__(mod)
            versions.append(f"{mod} {getattr(m, '__version__', '?')}")
        except ImportError:
            continue
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, " + ", ".join(versions)


def met(flag: bool) -> str:
    """A goal's verdict cell: ``met`` or a bold ``not met``."""
    return "met" if flag else "**not met**"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            if v != v:
                return "n/a"
            return f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def criteo_reference_spec() -> dict[str, Any]:
    """The paper's Criteo shape: 13 log1p-standardized numerics and 26 hashed categoricals (item side,
    plus none on the context side: Criteo rows carry no user id)."""
    fields: list[dict[str, Any]] = [
        {"name": f"I{i}", "kind": "numeric", "side": "item", "transform": "log1p_standardize"}
        for i in range(1, 14)
    ]
    fields += [
        {"name": f"C{i}", "kind": "categorical", "side": "item", "num_buckets": 10_000} for i in range(1, 27)
    ]
    return {"format_version": 1, "label": "label", "fields": fields}


def synthetic_criteo_csv(path: Path, rows: int, seed: int = 0) -> Path:
    """Criteo-shaped rows with a planted signal (used when ../shared/data is absent, and for sizes)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    logit = np.full(rows, -1.3)
    for i in range(1, 14):
        x = np.floor(np.exp(rng.normal(1.0, 1.5, rows)))
        cols[f"I{i}"] = x
        if i <= 3:
            logit += 0.2 * (np.log1p(x) - 1.0)
    for i in range(1, 27):
        v = rng.zipf(1.3, rows) % 5000
        cols[f"C{i}"] = [f"{i:02d}{x:06x}" for x in v]
        if i <= 4:
            logit += np.where(v % 7 == 0, 0.8, -0.1)
    cols["label"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    pd.DataFrame(cols)[["label", *[f"I{i}" for i in range(1, 14)], *[f"C{i}" for i in range(1, 27)]]].to_csv(
        path, index=False
    )
    return path


def run_subprocess_json(code: str, env: dict[str, str] | None = None) -> Any:
    """Run Python code in a fresh interpreter; it prints one JSON object last."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


SPLITS_SCRIPT = ROOT.parent / "shared" / "eval" / "make_splits.py"
#: The fixed splits of ``../shared/eval/make_splits.py`` (PEER.md's figures are on these files).
SPLIT_NAMES = {"movielens": "movielens-100k", "criteo": "criteo-8k", "avazu": "avazu-8k"}


def fixed_splits(out: Path) -> dict[str, Path] | str:
    """Write the fixed 8:1:1 splits into ``out``; returns ``{data set: folder}``, or why it cannot."""
    if not SPLITS_SCRIPT.is_file() or not SHARED.is_dir():
        return f"skipped: {SPLITS_SCRIPT} or {SHARED} not found"
    subprocess.run([sys.executable, str(SPLITS_SCRIPT), str(out)], check=True, capture_output=True)
    return {name: out / folder for name, folder in SPLIT_NAMES.items()}


def newcomer_spec(train_csv: Path, out: Path, **infer_kw: Any) -> Path:
    """The spec a new user gets: ``masknet spec infer`` with its defaults (label column ``label``)."""
    from masknet_edge.train.infer import infer_spec_report

    spec, _ = infer_spec_report(train_csv, "label", **infer_kw)
    spec.save(out)
    return out


def train_examples_per_s(
    folder: Path, spec_path: Path, out: Path, model_config: Any = None, **train_kw: Any
) -> tuple[float, dict[str, Any]]:
    """Train ``folder``'s train.csv (valid.csv for early stopping) with ``train_run`` for 3 epochs;
    returns examples/s (rows / median seconds of epochs 2-3: epoch 1 also traces the graph) and the
    run's metrics."""
    from masknet_edge.edge_runtime.spec import FeatureSpec
    from masknet_edge.train.config import TrainConfig
    from masknet_edge.train.pipeline import TrainInputs, train_run

    m = train_run(
        TrainInputs(folder / "train.csv", folder / "valid.csv"),
        FeatureSpec.load(spec_path),
        out,
        model_config,
        TrainConfig(**{"epochs": 3, "patience": 3, **train_kw}),
        overwrite=True,
        progress=False,
    )
    history = json.loads((out / "history.json").read_text())
    return m["train_rows"] / float(np.median([h["seconds"] for h in history[1:]])), m


def fixed_batch_step(
    fitted: Any, x: dict[str, np.ndarray], y: np.ndarray, batch: int, apply: bool = True
) -> Any:
    """One compiled training step of a new model of ``fitted`` on the first ``batch`` rows, as a
    ``tf.function`` to call repeatedly: forward, backward and EmbeddingAdam's update (``apply``), or
    forward and backward only, returning the gradients. The floor the framework sets for the model."""
    import keras
    import tensorflow as tf

    from masknet_edge.train.masknet import build_model
    from masknet_edge.train.optimizers import EmbeddingAdam

    model = build_model(fitted)
    optimizer = EmbeddingAdam(1e-3)
    optimizer.build(model.trainable_variables)
    loss = keras.losses.BinaryCrossentropy()
    xb = {k: tf.constant(v[:batch]) for k, v in x.items()}
    yb = tf.constant(y[:batch])[:, None]

    @tf.function
    def step() -> Any:
        with tf.GradientTape() as tape:
            value = loss(yb, model(xb, training=True))
        gradients = tape.gradient(value, model.trainable_variables)
        if not apply:
            return gradients
        optimizer.apply(gradients, model.trainable_variables)
        return value

    return step


def write_marked_section(path: Path, begin: str, end: str, section: str, before: str) -> None:
    """Put ``section`` (which starts with ``begin`` and ends with ``end``) into the Markdown file at
    ``path``: in place of the text between the markers, or before the line ``before`` the first
    time (at the end when there is no such line). The file is replaced atomically (``make bench``
    keeps such standalone sections)."""
    from masknet_edge.edge_runtime.atomic import atomic_write_bytes

    text = path.read_text()
    if begin in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end) :]
    elif before in text:
        text = text.replace(before, section + "\n\n" + before, 1)
    else:  # no anchor: the section goes last rather than nowhere
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    atomic_write_bytes(path, text.encode())
