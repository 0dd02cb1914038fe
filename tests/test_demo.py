"""A shortened `masknet demo` end to end (the `quick` size), run once: with ``--json`` the story goes
to stderr and the summary to stdout, so one run checks both."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.conftest import HAS_TF

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HAS_TF, reason="TensorFlow is not installed")]


def test_quick_demo_end_to_end(tmp_path):
    from masknet_edge.cli.demo import DEMO_MARKER
    from masknet_edge.cli.main import main

    # the folder holds an earlier demo's output: the demo replaces it (and only its own output)
    (tmp_path / DEMO_MARKER).write_text("written by `masknet demo`\n")
    (tmp_path / "shop-stale.mnb").write_text("from an earlier demo")
    res = CliRunner().invoke(main, ["demo", "--size", "quick", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    story = res.stderr
    for step in range(1, 8):
        assert f"[{step}/7]" in story and f"[{step}/7]" not in res.stdout
    assert "oracle AUC" in story and "top-10 overlap float vs int8" in story
    assert story.count("verify shop-") == 3 and "FAILED" not in story.split("[5/7]")[1]
    assert "top 10 before and 3 s after" in story.split("[6/7]")[1]
    # stderr is no terminal here: the story without epoch log lines or progress bars
    assert "val AUC" not in story.replace("valid AUC", "") and "it/s" not in story and "%|" not in story
    assert {p.name for p in tmp_path.iterdir()} >= {
        "data",
        "run",
        "shop-none.mnb",
        "shop-dynamic.mnb",
        "shop-int8.mnb",
    }
    assert not (tmp_path / "shop-stale.mnb").exists()

    summary = json.loads(res.stdout)
    assert set(summary) == {
        "out",
        "data",
        "run",
        "bundles",
        "valid_auc",
        "test_auc",
        "oracle_auc",
        "checks",
        "verified",
        "behaviour",
        "seconds",
    }
    assert summary["verified"] == {"none": True, "dynamic": True, "int8": True}
    assert 0.5 < summary["test_auc"] <= summary["oracle_auc"] + 0.05
    b = summary["behaviour"]  # a tap on the device moves the tapped category up the top 10
    assert b["category_in_top10_after"] > b["category_in_top10_before"]
    assert 0.5 < b["test_auc"] <= b["oracle_auc"] + 0.05
