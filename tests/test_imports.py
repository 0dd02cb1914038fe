"""The packages' imports run one way: no module reaches, at any depth, back to itself, and the floors
are kept: the runtime imports nothing above it, and only the command line imports click."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Installed package -> its folder in the repository (pyproject.toml's package-dir).
PACKAGES = {
    "masknet_edge": "masknet_edge",
    "masknet_edge.cli": "masknet_edge/cli",
    "masknet_edge.edge_runtime": "edge_runtime",
    "masknet_edge.train": "train",
    "masknet_edge.convert": "convert",
}
RUNTIME = "masknet_edge.edge_runtime."


def _modules() -> dict[str, Path]:
    return {
        f"{p}.{f.stem}": f
        for p, d in PACKAGES.items()
        for f in (ROOT / d).glob("*.py")
        if f.stem != "__init__"
    }


def _imported(path: Path) -> set[str]:
    """Every module name that ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return found


def _imports() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    modules = _modules()
    return {
        name: {m for m in _imported(path) if m in modules and m != name} for name, path in modules.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep, [*path, dep])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_no_import_cycles_between_the_project_modules():
    graph = _imports()
    assert len(graph) > 40 and graph["masknet_edge.train.pipeline"], "the import graph was not read"
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_runtime_imports_nothing_from_training_or_conversion():
    graph = _imports()
    reaching_up = {m: sorted(d for d in deps if not d.startswith(RUNTIME)) for m, deps in graph.items()}
    assert not {m: d for m, d in reaching_up.items() if m.startswith(RUNTIME) and d}


def test_only_the_command_line_imports_click_and_no_stage_imports_it():
    """Every click line is in masknet_edge/cli; the stages' APIs work without it."""
    uses_click = sorted(
        name for name, path in _modules().items() if {"click"} & {m.split(".")[0] for m in _imported(path)}
    )
    assert uses_click and all(name.startswith("masknet_edge.cli.") for name in uses_click), uses_click
    calls_cli = {
        m: sorted(d for d in deps if d.startswith("masknet_edge.cli.")) for m, deps in _imports().items()
    }
    entry_points = ("masknet_edge.cli.", "masknet_edge.__main__")
    assert not {m: d for m, d in calls_cli.items() if not m.startswith(entry_points) and d}


def test_conversion_reaches_training_only_through_the_run_artifact():
    """Conversion and checks read a run through ``train.run_artifact`` (plus the table reader and the
    metrics they share with training). The frontier, which trains students and converts them, is a
    workflow above both stages (``masknet_edge/frontier.py``)."""
    shared = {"run_artifact", "io", "metrics"}
    reached = {
        m: sorted(d for d in deps if d.startswith("masknet_edge.train.") and d.split(".")[2] not in shared)
        for m, deps in _imports().items()
        if m.startswith("masknet_edge.convert.")
    }
    assert len(reached) > 5 and not {m: d for m, d in reached.items() if d}
