"""The frontier: students distilled, converted and measured side by side; the best bundle in budget."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from masknet_edge.cli.main import main
from masknet_edge.frontier import FrontierPoint, pareto

GRID = (("tiny", {"num_blocks": 1, "block_units": 8}),)


def _point(name, ms, auc, kib=10.0):
    return FrontierPoint(name, "sermasknet", "none", name, kib, 1, auc, 1.0, ms, ms)


def test_pareto_keeps_what_nothing_beats():
    pts = [_point("a", 1.0, 0.70), _point("b", 2.0, 0.75), _point("c", 2.5, 0.74), _point("d", 1.0, 0.69)]
    assert pareto(pts) == [True, True, False, False]
    assert pareto([_point("x", 1.0, 0.7), _point("y", 1.0, 0.7)]) == [True, True]  # ties beat nobody


@pytest.fixture(scope="module")
def frontier_dir(shop_run, tmp_path_factory, monkeypatch_module):
    from masknet_edge import frontier

    monkeypatch_module.setattr(frontier, "DEFAULT_GRID", GRID)
    out = tmp_path_factory.mktemp("frontier") / "f"
    from masknet_edge.frontier import frontier_run

    result = frontier_run(
        shop_run, out, budget_ms=1e6, budget_kib=1e6, candidates=20, modes=("none",), epochs=1, repeats=3,
        test_rows=400, log=lambda m: None,
    )  # fmt: skip
    return out, result


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_every_bundle_is_measured_and_the_best_in_budget_is_named(frontier_dir):
    out, result = frontier_dir
    names = {(p.name, p.mode) for p in result.points}
    assert names == {("teacher", "none"), ("tiny", "none")}
    for p in result.points:
        assert 0.4 < p.test_auc <= 1 and 0 <= p.topk_overlap <= 1 and p.request_ms > 0 and p.bundle_kib > 0
    teacher = next(p for p in result.points if p.name == "teacher" and p.mode == "none")
    assert teacher.topk_overlap == 1.0 and teacher.test_auc == pytest.approx(result.teacher_auc)
    assert result.best in {p.bundle for p in result.points if p.pareto}  # generous budget: the best AUC
    report = json.loads((out / "frontier.json").read_text())
    assert report["best"] == result.best and len(report["points"]) == 2
    assert (out / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Best within the budget" in (out / "frontier.md").read_text()


def test_a_budget_nothing_fits_exits_1_and_resume_keeps_finished_work(frontier_dir, shop_run):
    out, _ = frontier_dir
    student = out / "students" / "tiny" / "model.keras"
    before = student.stat().st_mtime_ns
    res = CliRunner().invoke(
        main,
        ["frontier", str(shop_run), "--out", str(out), "--resume", "--budget-ms", "1e-6", "--budget-kb", "1",
         "--candidates", "20", "--test-rows", "200", "--modes", "none", "--json"],
    )  # fmt: skip
    assert res.exit_code == 1, res.output
    assert json.loads(res.output)["best"] is None
    assert student.stat().st_mtime_ns == before  # the student was not trained again
    assert sorted(p.name for p in (out / "students").iterdir()) == ["tiny"]  # the grid it was given


def test_resuming_with_another_teacher_is_refused(frontier_dir, shop_run, tmp_path):
    """One frontier holds one teacher's students and bundles, never two teachers' mixed."""
    out, _ = frontier_dir
    other = tmp_path / "other-teacher"
    shutil.copytree(shop_run, other)
    with (other / "model.keras").open("ab") as f:
        f.write(b"\0")  # another model
    before = sorted(p.name for p in out.rglob("*"))
    res = CliRunner().invoke(
        main,
        ["frontier", str(other), "--out", str(out), "--resume", "--budget-ms", "5", "--budget-kb", "100"],
    )
    assert res.exit_code == 2 and "another teacher" in res.output, res.output
    assert sorted(p.name for p in out.rglob("*")) == before


def test_hostile_frontiers_are_clear_errors(shop_run, tmp_path):
    def run(*args):
        return CliRunner().invoke(main, ["frontier", *map(str, args)])

    base = ["--budget-ms", "5", "--budget-kb", "100"]
    res = run(shop_run, "--out", shop_run / "f", *base)  # inside the teacher
    assert res.exit_code == 2 and "Error" in res.output
    res = run(tmp_path / "missing", "--out", tmp_path / "f", *base)
    assert res.exit_code == 2 and "config.json" in res.output
    res = run(shop_run, "--out", tmp_path / "f", *base, "--modes", "int3")
    assert res.exit_code == 2 and "--modes" in res.output
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("mine")
    res = run(shop_run, "--out", tmp_path / "busy", *base)  # someone's folder: not without --resume
    assert res.exit_code == 2 and "--resume" in res.output
    assert (tmp_path / "busy" / "x").read_text() == "mine"
    # A teacher whose test rows hold one class: no AUC can name a best bundle (all would be NaN).
    teacher = tmp_path / "teacher"
    shutil.copytree(shop_run, teacher)
    config = json.loads((teacher / "config.json").read_text())
    one_row = tmp_path / "one_row.csv"
    lines = Path(config["data"]["test"]).read_text().splitlines(keepends=True)
    one_row.write_text(lines[0] + lines[1])
    config["data"]["test"] = str(one_row)
    (teacher / "config.json").write_text(json.dumps(config))
    res = run(teacher, "--out", tmp_path / "f1", *base)
    assert res.exit_code == 2 and "labels of one class" in res.output, res.output
    assert not (tmp_path / "f1").exists()


def test_bundles_are_timed_in_a_fresh_process_without_tensorflow(bundles):
    from masknet_edge.convert.latency import time_bundles_fresh
    from masknet_edge.edge_runtime.bundle import read_bundle
    from masknet_edge.edge_runtime.errors import MasknetError

    records = read_bundle(bundles["none"]).golden["records"][:5]
    paths = {mode: str(path) for mode, path in bundles.items()}
    timing = time_bundles_fresh(paths, records[0], records, repeats=3)
    assert set(timing["invoke_ms"]) == set(timing["request_ms"]) == set(paths)
    assert all(ms > 0 for ms in [*timing["invoke_ms"].values(), *timing["request_ms"].values()])
    assert timing["tensorflow_loaded"] is False  # the runtime alone, as on a device
    with pytest.raises(MasknetError, match="not plain JSON"):
        time_bundles_fresh(paths, {"x": float("nan")}, records, repeats=1)
    with pytest.raises(MasknetError, match="fresh process failed.*nowhere.mnb"):
        time_bundles_fresh({"gone": "nowhere.mnb"}, records[0], records, repeats=1)
