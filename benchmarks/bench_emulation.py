"""The same ranking on arm64 (issue #32): rankings on the emulated device against this machine's.

    python -m benchmarks.bench_emulation [--users 200] [--write]   (needs `make emulation` first)

For MovieLens-100K (the fixed splits, when ``../shared/data`` is present) and the shop world: a
SerMaskNet trained for 3 epochs (MovieLens: the newcomer spec of ``spec infer``; the shop: its own), converted to float,
dynamic and int8 bundles. Each of ``--users`` test users gets one request of 100 candidates (the
first 100 distinct items of the test file), scored here and on the emulated arm64 device
(``ports/emulation/device_check.py`` under ``build/emulation/arm64``, LiteRT as pip installs it
there). Per bundle: the largest score difference, the per-user top-10 overlap (mean and lowest),
Kendall's tau of the two score lists (mean and lowest), and the golden records on arm64. Only
agreement is measured: speed under emulation means nothing.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_behaviour import _masknet
from benchmarks.common import ROOT, fixed_splits, machine, table, write_marked_section

BEGIN, END = "<!-- emulation:begin -->", "<!-- emulation:end -->"
SYSROOT = ROOT / "build" / "emulation" / "arm64"
CHECK = ROOT / "ports" / "emulation" / "device_check.py"
MODES = ("none", "dynamic", "int8")


def _requests(test_csv: Path, user: str, context: list[str], users: int) -> list[dict[str, Any]]:
    """One request per test user: the user's context fields and the first 100 distinct items."""
    with test_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    items, seen = [], set()
    not_items = ("label", "click", "true_ctr", user, "timestamp", "split")
    item_fields = [c for c in rows[0] if c not in context and c not in not_items]
    for r in rows:
        key = tuple(r[c] for c in item_fields)
        if key not in seen:
            seen.add(key)
            items.append({c: r[c] for c in item_fields})
        if len(items) == 100:
            break
    out, done = [], set()
    for r in rows:
        if r[user] not in done and len(out) < users:
            done.add(r[user])
            out.append({"context": {c: r[c] for c in context}, "candidates": items})
    return out


def _bundles(folder: Path, work: Path, context: list[str], spec: Path | None) -> dict[str, Path]:
    """A short SerMaskNet run (on ``spec``, or the newcomer spec when None) and its bundles."""
    if spec is None:
        spec = work / "spec.json"
        _masknet("spec", "infer", str(folder / "train.csv"), "--label", "label", "--context", ",".join(context),
                 "--ignore", "timestamp", "--out", str(spec))  # fmt: skip
    run = work / "run"
    _masknet("train", "--spec", str(spec), "--train", str(folder / "train.csv"), "--valid",
             str(folder / "valid.csv"), "--epochs", "3", "--out", str(run))  # fmt: skip
    out = {}
    for mode in MODES:
        out[mode] = work / f"{mode}.mnb"
        _masknet("convert", str(run), "--quantize", mode, "--out", str(out[mode]))
    return out


def _kendall(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def agreement(bundles: dict[str, Path], requests: list[dict[str, Any]], work: Path) -> dict[str, Any]:
    """Scores here and on the emulated arm64 device, compared per bundle."""
    from masknet_edge.edge_runtime.ranker import Ranker

    spec = importlib.util.spec_from_file_location("device_check", CHECK)
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    request_file = work / "requests.json"
    request_file.write_text(json.dumps(requests))
    env = {**os.environ, "PYTHONPATH": f"{SYSROOT / 'site'}", "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run(
        [str(SYSROOT / "qemu" / "qemu-aarch64"), "-L", str(SYSROOT / "root"),
         str(SYSROOT / "root" / "usr" / "bin" / "python3.11"), str(CHECK), str(request_file),
         *map(str, bundles.values())],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    arm = json.loads(run.stdout.strip().splitlines()[-1])
    out = {"litert": arm["litert"], "conformance_failures": len(arm["conformance"]["failures"]), "modes": {}}
    for mode, path in bundles.items():
        here = Ranker.load(path)
        got = arm["bundles"][str(path)]
        overlaps, taus, diff = [], [], 0.0
        for request, theirs in zip(requests, got["scores"], strict=True):
            ours = here.score(*check.request_for(here, request))
            theirs = np.asarray(theirs, dtype=np.float32)
            diff = max(diff, float(np.max(np.abs(ours - theirs))))
            top = [set(np.argsort(-s, kind="stable")[:10].tolist()) for s in (ours, theirs)]
            overlaps.append(len(top[0] & top[1]) / 10)
            taus.append(_kendall(ours, theirs))
        out["modes"][mode] = {
            "verify_ok": got["verify_ok"],
            "golden_diff": got["max_score_diff"],
            "tolerance": got["tolerance"],
            "max_diff": diff,
            "overlap_mean": float(np.mean(overlaps)),
            "overlap_min": float(np.min(overlaps)),
            "tau_mean": float(np.mean(taus)),
            "tau_min": float(np.min(taus)),
        }
    return out


def run(users: int = 200) -> dict[str, Any]:
    """Both data sets; JSON-ready."""
    if not (SYSROOT / "qemu" / "qemu-aarch64").exists():
        raise SystemExit("no emulated arm64 device: run `make emulation` first")
    out: dict[str, Any] = {"users": users}
    with tempfile.TemporaryDirectory(prefix="bench-emulation-") as tmp:
        work = Path(tmp)
        _masknet("data", "shop", "--out", str(work / "shop"))
        shop_context = ["user_id", "age", "gender", "occupation", "city", "device"]
        sets = {"shop": (work / "shop", "user_id", shop_context, work / "shop" / "spec.json")}
        splits = fixed_splits(work / "splits")
        if isinstance(splits, dict):
            ml_context = ["user_id", "age", "gender", "occupation", "zip_code"]
            sets["movielens"] = (splits["movielens"], "user_id", ml_context, None)
        for name, (folder, user, context, spec) in sets.items():
            (work / f"{name}-work").mkdir(exist_ok=True)
            bundles = _bundles(folder, work / f"{name}-work", context, spec)
            requests = _requests(folder / "test.csv", user, context, users)
            out[name] = agreement(bundles, requests, work / f"{name}-work")
    return out


def section(figures: dict[str, Any], seconds: float) -> str:
    """The BENCHMARKS.md section."""
    rows = []
    for name in ("movielens", "shop"):
        if name not in figures:
            continue
        for mode, m in figures[name]["modes"].items():
            rows.append([
                name, mode, "yes" if m["verify_ok"] else "**no**", f"{m['golden_diff']:.2g} / {m['tolerance']:g}",
                f"{m['max_diff']:.2g}", f"{m['overlap_mean']:.3f} ({m['overlap_min']:.1f})",
                f"{m['tau_mean']:.4f} ({m['tau_min']:.4f})",
            ])  # fmt: skip
    litert = {figures[n]["litert"] for n in ("movielens", "shop") if n in figures}
    return "\n".join(
        [
            BEGIN,
            "### The same ranking on arm64 (`benchmarks/bench_emulation.py`)",
            "",
            f"`make emulation && python -m benchmarks.bench_emulation --write`, {seconds:.0f} s; {machine()}. "
            f"Emulated arm64 device: Debian bookworm's Python 3.11, LiteRT {', '.join(sorted(litert))} and the "
            "pure-Python FarmHash as pip installs them there, run by qemu 10.0 (`ports/emulation/sysroot.sh`); "
            "this machine: LiteRT 2.3.0 and the FarmHash binding. A SerMaskNet of each data set (`train --epochs 3`; "
            f"MovieLens on the spec of `spec infer`, the shop world on its own) in each mode; {figures['users']} test users, one request of 100 candidates each. "
            "Agreement only: speed under emulation means nothing.",
            "",
            table(
                [
                    "data",
                    "mode",
                    "golden records on arm64",
                    "golden max diff / tolerance",
                    "max score diff",
                    "top-10 overlap, mean (lowest)",
                    "Kendall tau, mean (lowest)",
                ],
                rows,
            ),  # fmt: skip
            "",
            END,
        ]
    )


def main() -> None:
    """Command line: run, print or write the section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    figures = run(args.users)
    text = section(figures, time.perf_counter() - start)
    if args.write:
        write_marked_section(
            ROOT / "BENCHMARKS.md", BEGIN, END, text, before="<!-- behaviour-movielens:begin -->"
        )
    print(text)


if __name__ == "__main__":
    main()
