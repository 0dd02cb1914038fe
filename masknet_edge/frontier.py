"""The AUC / latency / size frontier of a teacher run: distilled students in every quantization mode,
measured side by side, and the best bundle within a device budget.

:func:`frontier_run` trains each student of a grid (:func:`train.distill.distill_run`), converts the
teacher and every student in each mode, then measures all bundles side by side: test AUC, the
top-10 overlap with the teacher's float bundle per slate of ``candidates`` test rows, single-thread
invoke and whole-request latency at ``candidates`` (timed in a fresh process that holds only the
runtime, as on a device: :mod:`convert.latency`), and bundle size. It writes ``frontier.json``,
``frontier.md`` and ``frontier.png`` (AUC against request latency, marker area = bundle size, the
Pareto set ringed) into its folder. Finished students and bundles are kept, so a stopped run
resumes where it was (``resume=True``); the measurements are always taken anew, side by side.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.atomic import atomic_path, atomic_write_bytes
from masknet_edge.edge_runtime.errors import ArgumentError

__all__ = ["DEFAULT_GRID", "FrontierPoint", "FrontierResult", "frontier_run", "pareto"]

#: Students tried by default: (name, changes to the teacher's architecture).
DEFAULT_GRID: tuple[tuple[str, dict[str, Any]], ...] = (
    ("ser-1x32", {"model": "sermasknet", "num_blocks": 1, "block_units": 32}),
    ("ser-1x64", {"model": "sermasknet", "num_blocks": 1, "block_units": 64}),
    ("ser-1x128", {"model": "sermasknet", "num_blocks": 1, "block_units": 128}),
    ("ser-2x128", {"model": "sermasknet", "num_blocks": 2, "block_units": 128}),
    ("para-2x32", {"model": "paramasknet", "num_blocks": 2, "block_units": 32, "mlp_units": (64,)}),
)


@dataclass
class FrontierPoint:
    """One bundle's measurements."""

    name: str
    model: str
    mode: str
    bundle: str
    bundle_kib: float
    params: int
    test_auc: float
    topk_overlap: float
    invoke_ms: float
    request_ms: float
    pareto: bool = False
    fits: bool = False


@dataclass
class FrontierResult:
    """All points, the budget, and the chosen bundle (None when none fits)."""

    points: list[FrontierPoint]
    budget_ms: float
    budget_kib: float
    candidates: int
    best: str | None
    teacher_auc: float
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {**asdict(self), "points": [asdict(p) for p in self.points]}


def pareto(points: Sequence[FrontierPoint]) -> list[bool]:
    """Which points no other point beats: as fast or faster, as good or better, one of them strictly."""
    flags = []
    for p in points:
        beaten = any(
            q.request_ms <= p.request_ms
            and q.test_auc >= p.test_auc
            and (q.request_ms < p.request_ms or q.test_auc > p.test_auc)
            for q in points
        )
        flags.append(not beaten)
    return flags


def _test_frame(path: Path, spec: Any, rows: int) -> Any:
    from masknet_edge.train.io import iter_chunks

    frames = []
    taken = 0
    for df in iter_chunks(path, min(rows, 200_000), text_columns=list(spec.text_columns)):
        frames.append(df.iloc[: rows - taken])
        taken += len(frames[-1])
        if taken >= rows:
            break
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def _claim(out: Path, teacher_run: Path) -> None:
    """Record which teacher ``out`` distils (its model's SHA-256); a resumed frontier of another
    teacher is refused instead of mixing the two teachers' students and bundles."""
    model = teacher_run / "model.keras"
    digest = hashlib.sha256(model.read_bytes()).hexdigest() if model.is_file() else ""
    mine = {"teacher": str(teacher_run.resolve()), "model_sha256": digest}
    marker = out / "teacher.json"
    if marker.is_file():
        try:
            theirs = json.loads(marker.read_text())
        except (OSError, ValueError):
            theirs = {}
        if theirs.get("model_sha256") != digest:
            raise ArgumentError(
                f"{out} holds the frontier of another teacher ({theirs.get('teacher', 'unknown')}); "
                "resume it with that teacher, or choose a new --out"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(marker, (json.dumps(mine, indent=2) + "\n").encode())


def _check_test_labels(path: Path, label: str | None, rows: int) -> None:
    """The bundles are compared by test AUC: the first ``rows`` test rows must hold both classes."""
    from masknet_edge.train.io import iter_chunks

    seen: set[float] = set()
    taken = 0
    for df in iter_chunks(path, min(rows, 200_000), columns=[label] if label else None):
        values = df[label].to_numpy(dtype=np.float64)[: rows - taken] if label else np.array([])
        seen.update(np.unique(values[np.isfinite(values)]).tolist())
        taken += len(values)
        if taken >= rows or len(seen) > 1:
            break
    if len(seen) < 2:
        raise ArgumentError(
            f"{path}: the test rows hold {taken} labels of one class ({sorted(seen)}): no AUC can rank the "
            "bundles; give the teacher a test file with clicks and non-clicks"
        )


def _records(df: Any) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
        for r in df.to_dict("records")
    ]


def frontier_run(
    teacher_run: str | Path,
    out: str | Path,
    *,
    budget_ms: float,
    budget_kib: float,
    candidates: int = 200,
    modes: Sequence[str] = ("none", "dynamic"),
    grid: Sequence[tuple[str, dict[str, Any]]] | None = None,
    test_rows: int = 20_000,
    repeats: int = 50,
    resume: bool = False,
    epochs: int = 20,
    log: Callable[[str], None] = print,
) -> FrontierResult:
    """Distil, convert and measure; see the module docstring. ``out`` is a folder of this command's
    own (students/, bundles/, frontier.*); an existing one is refused unless ``resume``. ``grid``:
    (name, architecture changes) per student; defaults to :data:`DEFAULT_GRID`."""
    from masknet_edge.train.run_artifact import RunConfig

    teacher_run, out = Path(teacher_run), Path(out)
    grid = DEFAULT_GRID if grid is None else grid
    _check_arguments(budget_ms, budget_kib, candidates, modes)
    taught = RunConfig.read(teacher_run).inputs
    if taught.test is None:
        raise ArgumentError(f"{teacher_run}: the teacher was trained without --test; the frontier needs one")
    _check_test_labels(Path(taught.test), taught.label, test_rows)
    if out.exists() and any(out.iterdir()) and not resume:
        raise ArgumentError(
            f"{out} exists and is not empty: pass --resume to continue it, or choose a new --out"
        )
    _claim(out, teacher_run)
    (out / "students").mkdir(parents=True, exist_ok=True)
    (out / "bundles").mkdir(exist_ok=True)
    runs = _students(teacher_run, out, grid, epochs, log)
    bundles = _bundles(teacher_run, out, runs, modes, log)
    log(f"measuring {len(bundles)} bundles side by side")
    points, teacher_auc = _measure(out, runs, bundles, taught, test_rows, candidates, repeats)
    for p, flag in zip(points, pareto(points), strict=True):
        p.pareto = flag
        p.fits = p.request_ms <= budget_ms and p.bundle_kib <= budget_kib
    fitting = [p for p in points if p.fits and math.isfinite(p.test_auc)]
    best = max(fitting, key=lambda p: (p.test_auc, -p.request_ms)) if fitting else None
    result = FrontierResult(
        points=points,
        budget_ms=float(budget_ms),
        budget_kib=float(budget_kib),
        candidates=candidates,
        best=best.bundle if best else None,
        teacher_auc=teacher_auc,
    )
    result.files = {k: str(out / f"frontier.{k}") for k in ("json", "md", "png")}
    atomic_write_bytes(out / "frontier.json", (json.dumps(result.to_dict(), indent=2) + "\n").encode())
    atomic_write_bytes(out / "frontier.md", render_table(result).encode())
    plot(result, out / "frontier.png")
    return result


def _check_arguments(budget_ms: float, budget_kib: float, candidates: int, modes: Sequence[str]) -> None:
    from masknet_edge.convert.modes import QUANT_MODES

    for name, value in (("budget_ms", budget_ms), ("budget_kib", budget_kib), ("candidates", candidates)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ArgumentError(f"Expected {name} > 0. Received: {name}={value!r}")
    bad = [m for m in modes if m not in QUANT_MODES]
    if bad or not modes:
        raise ArgumentError(f"Expected modes among {list(QUANT_MODES)}. Received: {list(modes)}")


def _students(
    teacher_run: Path,
    out: Path,
    grid: Sequence[tuple[str, dict[str, Any]]],
    epochs: int,
    log: Callable[[str], None],
) -> dict[str, Path]:
    """The teacher's run and each student's, distilled unless an earlier call finished it."""
    from masknet_edge.train.config import TrainConfig
    from masknet_edge.train.distill import distill_run, student_config

    runs = {"teacher": teacher_run}
    for i, (name, changes) in enumerate(grid, 1):
        run = out / "students" / name
        runs[name] = run
        if (run / "metrics.json").is_file():
            log(f"[{i}/{len(grid)}] student {name}: done before, kept")
            continue
        log(f"[{i}/{len(grid)}] student {name}: distilling")
        distill_run(
            teacher_run,
            run,
            student_config(teacher_run, **changes),
            TrainConfig(epochs=epochs),
            overwrite=True,
        )
    return runs


def _bundles(
    teacher_run: Path, out: Path, runs: dict[str, Path], modes: Sequence[str], log: Callable[[str], None]
) -> dict[tuple[str, str], Path]:
    """Every run in every mode as a bundle (kept from an earlier call when there), and the teacher's
    float bundle, the reference of the scores."""
    from masknet_edge.convert.conversion import convert_run

    bundles: dict[tuple[str, str], Path] = {}
    for name, run in runs.items():
        for mode in modes:
            path = out / "bundles" / f"{name}-{mode}.mnb"
            bundles[name, mode] = path
            if not path.is_file():  # written whole or not at all
                log(f"converting {name} ({mode})")
                convert_run(run, mode, path, progress=False)
    reference = out / "bundles" / "teacher-none.mnb"
    if ("teacher", "none") not in bundles and not reference.is_file():
        convert_run(teacher_run, "none", reference, progress=False)
    return bundles


def _measure(
    out: Path,
    runs: dict[str, Path],
    bundles: dict[tuple[str, str], Path],
    taught: Any,
    test_rows: int,
    candidates: int,
    repeats: int,
) -> tuple[list[FrontierPoint], float]:
    """Each bundle's test AUC, top-10 overlap with the teacher and request time; the teacher's AUC."""
    from masknet_edge.convert.latency import time_bundles_fresh
    from masknet_edge.edge_runtime.ranker import Ranker
    from masknet_edge.train import metrics
    from masknet_edge.train.run_artifact import TrainedRun

    rankers = {key: Ranker.load(path) for key, path in bundles.items()}
    ref_ranker = rankers.get(("teacher", "none")) or Ranker.load(out / "bundles" / "teacher-none.mnb")
    spec = ref_ranker.spec
    df = _test_frame(taught.test, spec, test_rows)
    labels = df[taught.label or spec.label].to_numpy(dtype=np.float64)
    encoded = ref_ranker.encoder.encode(df)  # every bundle reads the same inputs (the teacher's spec)
    ref_scores = ref_ranker.score_inputs(encoded)
    slates = [slice(s, s + candidates) for s in range(0, len(df) - candidates + 1, candidates)] or [
        slice(0, len(df))
    ]
    rows = _records(df.head(candidates))
    context = {c: rows[0].get(c) for c in spec.columns_of_side("context")}
    items = [{c: r.get(c) for c in spec.columns_of_side("item")} for r in rows]
    # timed as a device runs them: in a fresh process without this one's training state, the
    # bundles alternated so that every one sees the same machine state
    names = {key: f"{key[0]}-{key[1]}" for key in rankers}
    timing = time_bundles_fresh({names[key]: str(bundles[key]) for key in rankers}, context, items, repeats)
    trained_runs = {name: TrainedRun.read(path) for name, path in runs.items()}  # each read once
    points = []
    for (name, mode), r in rankers.items():
        scores = r.score_inputs(encoded)
        trained = trained_runs[name]
        points.append(
            FrontierPoint(
                name=name,
                model=trained.config.model.model,
                mode=mode,
                bundle=str(bundles[name, mode]),
                bundle_kib=bundles[name, mode].stat().st_size / 1024,
                params=int((trained.metrics or {}).get("params", 0)),
                test_auc=metrics.auc(labels, scores),
                topk_overlap=float(
                    np.mean([metrics.topk_overlap(ref_scores[s], scores[s], 10) for s in slates])
                ),
                invoke_ms=timing["invoke_ms"][names[name, mode]],
                request_ms=timing["request_ms"][names[name, mode]],
            )
        )
    return points, metrics.auc(labels, ref_scores)


def render_table(result: FrontierResult) -> str:
    """The frontier as a Markdown table, best first by AUC."""
    head = (
        f"Budget: {result.budget_ms:g} ms per request of {result.candidates} candidates, "
        f"{result.budget_kib:g} KiB. Teacher (float) test AUC {result.teacher_auc:.4f}.\n\n"
        "| bundle | mode | params | bundle KiB | test AUC | top-10 overlap | invoke ms | request ms "
        "| Pareto | fits |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {p.name} | {p.mode} | {p.params:,} | {p.bundle_kib:.0f} | {p.test_auc:.4f} "
        f"| {p.topk_overlap:.3f} | {p.invoke_ms:.3f} | {p.request_ms:.3f} "
        f"| {'yes' if p.pareto else ''} | {'yes' if p.fits else ''} |"
        for p in sorted(result.points, key=lambda p: -p.test_auc)
    ]
    tail = f"\n\nBest within the budget: {result.best or 'none fits'}.\n"
    return head + "\n".join(lines) + tail


def plot(result: FrontierResult, path: Path) -> None:
    """AUC against request latency; marker area = bundle size; Pareto points ringed; budget dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colors = {"none": "tab:blue", "dynamic": "tab:orange", "int8": "tab:green", "float16": "tab:purple"}
    sizes = np.array([p.bundle_kib for p in result.points])
    area = 30 + 400 * sizes / max(sizes.max(), 1.0)
    for p, a in zip(result.points, area, strict=True):
        ax.scatter(p.request_ms, p.test_auc, s=a, color=colors.get(p.mode, "tab:gray"), alpha=0.6)
        if p.pareto:
            ax.scatter(
                p.request_ms, p.test_auc, s=a + 60, facecolors="none", edgecolors="black", linewidths=1.5
            )
        ax.annotate(
            f"{p.name} {p.mode}",
            (p.request_ms, p.test_auc),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
    ax.axvline(result.budget_ms, linestyle="--", color="gray")
    ax.axhline(result.teacher_auc, linestyle=":", color="gray")
    ax.set_xlabel(f"whole request, {result.candidates} candidates, 1 thread (ms, p50)")
    ax.set_ylabel("test AUC")
    handles = [
        plt.Line2D([], [], marker="o", linestyle="", color=c, label=m)
        for m, c in colors.items()
        if any(p.mode == m for p in result.points)
    ]
    handles.append(
        plt.Line2D([], [], marker="o", linestyle="", markerfacecolor="none", color="black", label="Pareto")
    )
    ax.legend(handles=handles, title="mode (area = size)", fontsize=8)
    ax.set_title("AUC / latency / size frontier (dashed: latency budget; dotted: teacher AUC)")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
