"""`make bench`: run every benchmark side by side in one run and rewrite BENCHMARKS.md / RELIABILITY.md.

Run: .venv/bin/python -m benchmarks.run_all [--only encoder,runtime,...]

A benchmark is a module ``benchmarks/bench_*.py`` that defines ``SECTION`` (its name for ``--only``),
``ORDER`` (its place in the run and in the document), ``run()`` (its figures, JSON-ready) and
``render(figures) -> list[str]`` (its Markdown section); ``DOCUMENT = "RELIABILITY.md"`` sends it to
that file instead, rendered by ``bench_reliability.render_document``. The runner discovers them: a new
benchmark needs no change here. (``bench_behaviour`` runs on its own and writes its section between
markers, which this runner keeps.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import pkgutil
import re
import time
import traceback
from types import ModuleType
from typing import Any

import benchmarks
from benchmarks.common import ROOT, machine
from masknet_edge.edge_runtime.atomic import atomic_write_bytes

RESULTS = ROOT / "benchmarks" / "results.json"
MAIN_DOCUMENT = "BENCHMARKS.md"


def discover() -> dict[str, ModuleType]:
    """``{section: module}`` of every benchmark module, in their ``ORDER``."""
    found = []
    for info in pkgutil.iter_modules(benchmarks.__path__):
        if info.name.startswith("bench_"):
            module = importlib.import_module(f"benchmarks.{info.name}")
            if hasattr(module, "SECTION"):
                found.append(module)
    found.sort(key=lambda m: m.ORDER)
    return {m.SECTION: m for m in found}


def _document(module: ModuleType) -> str:
    return getattr(module, "DOCUMENT", MAIN_DOCUMENT)


def _runs(meta: dict[str, Any]) -> str:
    """Which sections were measured in which run (a partial run keeps the other sections' figures)."""
    runs = meta.get("runs") or [
        {"date": meta["date"], "sections": meta.get("sections", []), "seconds": meta.get("seconds", 0)}
    ]
    parts = [
        f"{', '.join(r['sections'])} ({r['date']}, one run of {r['seconds']:.0f} s"
        + (f", {_cpu(r['machine'])}" if r.get("machine") else "")
        + ")"
        for r in runs
    ]
    return "Sections by run: " + "; ".join(parts) + "."


def _cpu(machine_line: str) -> str:
    """The CPU part of a :func:`benchmarks.common.machine` line (before the core count)."""
    return machine_line.split(", ")[0]


def run_of(meta: dict[str, Any], section: str) -> dict[str, Any]:
    """Date and machine line of the run that measured ``section`` (the host of this shared machine
    changes between sessions, and with it the interpreter's speed), else the latest run's."""
    for r in meta.get("runs") or []:
        if section in r["sections"] and r.get("machine"):
            return {"date": r["date"], "machine": r["machine"]}
    return {"date": meta["date"], "machine": meta["machine"]}


def render(
    results: dict[str, Any], meta: dict[str, Any], sections: dict[str, ModuleType] | None = None
) -> str:
    """BENCHMARKS.md from the results: a header, then each benchmark's own section in its order."""
    sections = discover() if sections is None else sections
    out = [
        "# Benchmarks",
        "",
        f"Latest run {meta['date']} on {meta['machine']}, with `make bench` "
        f"(`.venv/bin/python -m benchmarks.run_all`; one section: `--only NAME`). {_runs(meta)} "
        "Absolute times on this shared 2-core machine are noisy; comparisons are ratios measured side by "
        "side in the same process. Raw numbers: `benchmarks/results.json`.",
        "",
    ]
    for name, module in sections.items():
        if _document(module) == MAIN_DOCUMENT:
            out += module.render(results.get(name))
    out += ["## Reliability", "", "See [RELIABILITY.md](RELIABILITY.md).", ""]
    for k, v in results.items():
        if isinstance(v, str) and v.startswith("error"):
            out += [f"Section {k} failed: {v}", ""]
    return "\n".join(out)


def render_reliability(
    results: dict[str, Any], meta: dict[str, Any], sections: dict[str, ModuleType] | None = None
) -> str | None:
    """RELIABILITY.md, or None when its main section was not measured."""
    sections = discover() if sections is None else sections
    rel = sections.get("reliability")
    if rel is None or not isinstance(results.get("reliability"), dict):
        return None
    extra = [
        line
        for name, module in sections.items()
        if _document(module) == "RELIABILITY.md" and module is not rel
        for line in module.render(results.get(name))
    ]
    return rel.render_document(results["reliability"], {**meta, **run_of(meta, "reliability")}, extra)


STANDALONE = re.compile(r"<!-- ([a-z0-9-]+):begin -->.*?<!-- \1:end -->", re.DOTALL)


#: The hand-kept table of goals that opens BENCHMARKS.md (each row points to the section it comes from).
GOALS = "goals"


def keep_standalone(old: str, new: str) -> str:
    """Keep the sections that standalone benchmarks wrote between their markers (for example
    ``bench_behaviour --write``) when the runner rewrites the file: they go before the reliability
    section, in their old order; the goals table stays first, after the header."""
    found = [m for m in STANDALONE.finditer(old) if m.group(0) not in new]
    goals = [m.group(0) for m in found if m.group(1) == GOALS]
    kept = [m.group(0) for m in found if m.group(1) != GOALS]
    if kept:
        new = new.replace("## Reliability", "\n\n".join(kept) + "\n\n## Reliability", 1)
    if goals:
        header, _, rest = new.partition("\n## ")
        new = f"{header.rstrip()}\n\n{goals[0]}\n\n## {rest}" if rest else f"{new}\n\n{goals[0]}"
    return new


def measure(
    sections: dict[str, ModuleType],
    chosen: list[str],
    results: dict[str, Any],
    models: tuple[str, ...] = (),
    datasets: tuple[str, ...] = (),
) -> tuple[list[str], set[str]]:
    """Run the chosen sections into ``results``; returns this run's labels and the sections it replaced.

    Sections with ``PARTIAL = True`` (quality, peer) take ``models`` / ``datasets`` and keep their other
    rows. A section whose ``run()`` returns None measured nothing here (an optional tool is missing),
    and neither did a partial rerun that failed: their earlier figures stay, and this run does not
    claim them.
    """
    partial = bool(models or datasets)
    only = ", ".join([*datasets, *models])
    in_part = {s for s in chosen if partial and getattr(sections[s], "PARTIAL", False)}
    labels, replaced = [], set()
    for name in chosen:
        print(f"== {name}", flush=True)
        kw: dict[str, Any] = {}
        if name in in_part:
            kw = {"models": models} if models else {}
            if datasets:
                kw["datasets"] = datasets
        try:
            fresh = sections[name].run(**kw)
        except Exception:  # one failing section must not lose the others
            fresh = "error: " + traceback.format_exc(limit=3)
            print(fresh, flush=True)
        if fresh is None or (name in in_part and not isinstance(fresh, dict)):
            print(f"{name}: not measured here; its earlier figures stay", flush=True)
            continue
        if name in in_part:
            kept = results.get(name) if isinstance(results.get(name), dict) else {}
            results[name] = {**kept, **fresh}
            labels.append(f"{name} ({only} only)")
        else:
            results[name] = fresh
            labels.append(name)
            replaced.add(name)
    return labels, replaced


def main() -> None:
    """Run the chosen sections and rewrite the documents."""
    sections = discover()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default=",".join(sections), help="comma-separated sections")
    parser.add_argument(
        "--models",
        default="",
        help="quality, peer: rerun only these models (comma-separated), keeping the others",
    )
    parser.add_argument(
        "--data",
        default="",
        help="quality, peer: rerun only these data sets (comma-separated), keeping the others",
    )
    parser.add_argument(
        "--render", action="store_true", help="measure nothing: rewrite the documents from results.json"
    )
    args = parser.parse_args()
    if args.render:
        results = json.loads(RESULTS.read_text())
        _write_documents(results, results.pop("_meta"), sections)
        return
    models = tuple(m for m in args.models.split(",") if m)
    datasets = tuple(d for d in args.data.split(",") if d)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    chosen = [s for s in args.only.split(",") if s]
    unknown = [s for s in chosen if s not in sections]
    if unknown:
        parser.error(f"unknown section(s) {unknown}; expected some of {list(sections)}")
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous = results.pop("_meta", {})
    t0 = time.perf_counter()
    labels, replaced = measure(sections, chosen, results, models, datasets)
    if not labels:
        print("nothing was measured: results.json and the documents are unchanged", flush=True)
        return
    seconds = time.perf_counter() - t0
    today = dt.date.today().isoformat()
    # Earlier runs keep the sections this run did not measure (and, after a rerun of some models only,
    # the partial sections, whose other models they measured).
    runs = [
        {**r, "sections": [x for x in r["sections"] if x not in replaced]}
        for r in previous.get("runs")
        or (
            [{"date": previous["date"], "sections": previous["sections"], "seconds": previous["seconds"]}]
            if previous
            else []
        )
    ]
    here = machine()
    runs = [r for r in runs if r["sections"]] + [
        {"date": today, "sections": labels, "seconds": seconds, "machine": here}
    ]
    meta = {"date": today, "machine": here, "seconds": seconds, "sections": labels, "runs": runs}
    atomic_write_bytes(RESULTS, (json.dumps({**results, "_meta": meta}, indent=2) + "\n").encode())
    _write_documents(results, meta, sections)


def _write_documents(results: dict[str, Any], meta: dict[str, Any], sections: dict[str, ModuleType]) -> None:
    """Both documents, each written whole or not at all."""
    path = ROOT / MAIN_DOCUMENT
    text = keep_standalone(path.read_text() if path.exists() else "", render(results, meta, sections))
    atomic_write_bytes(path, text.encode())
    reliability = render_reliability(results, meta, sections)
    if reliability is not None:
        atomic_write_bytes(ROOT / "RELIABILITY.md", reliability.encode())
    print("wrote BENCHMARKS.md", flush=True)


if __name__ == "__main__":
    main()
