"""A shortened `masknet demo` end to end (the `quick` size)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.conftest import HAS_TF

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HAS_TF, reason="TensorFlow is not installed")]


def test_quick_demo_end_to_end(tmp_path):
    from convert.cli import main

    res = CliRunner().invoke(main, ["demo", "--size", "quick", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    out = res.output
    for step in range(1, 8):
        assert f"[{step}/7]" in out
    assert "oracle AUC" in out and "top-10 overlap float vs int8" in out
    assert out.count("verify shop-") == 3 and "FAILED" not in out.split("[5/7]")[1]
    assert "top 10 before and 3 s after" in out.split("[6/7]")[1]
    assert {p.name for p in tmp_path.iterdir()} >= {
        "data",
        "run",
        "shop-none.mnb",
        "shop-dynamic.mnb",
        "shop-int8.mnb",
    }
    # a second demo into the same folder replaces the first (its own output), and --json gives a summary
    res = CliRunner().invoke(main, ["demo", "--size", "quick", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    import json

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
    assert "[1/7]" in res.stderr and "[1/7]" not in res.stdout
    b = summary["behaviour"]  # a tap on the device moves the tapped category up the top 10
    assert b["category_in_top10_after"] > b["category_in_top10_before"]
    assert 0.5 < b["test_auc"] <= b["oracle_auc"] + 0.05
