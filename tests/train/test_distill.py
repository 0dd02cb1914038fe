"""Distillation: a student trained on a teacher's scores is a drop-in replacement for it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from masknet_edge.cli.main import main


def _distill(*args):
    return CliRunner().invoke(main, ["distill", *map(str, args)])


@pytest.fixture(scope="module")
def student(shop_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("students") / "small"
    res = _distill(shop_run, "--out", out, "--blocks", 1, "--block-units", 16, "--epochs", 2, "--json")
    assert res.exit_code == 0, res.output
    return out, json.loads(res.output)


def test_the_student_reads_the_teachers_inputs_and_reports_both(shop_run, student):
    out, metrics = student
    assert (out / "spec.json").read_bytes() == (shop_run / "spec.json").read_bytes()  # drop-in
    teacher = json.loads((shop_run / "metrics.json").read_text())
    t = metrics["teacher"]
    assert t["test_auc"] == pytest.approx(teacher["test"]["auc"], abs=1e-6)  # the teacher, re-scored
    assert metrics["params"] < t["params"]
    assert metrics["test"]["auc"] > 0.5 and -1 <= t["test_spearman_with_student"] <= 1
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["num_blocks"] == 1 and config["data"]["teacher_weight"] == 0.5
    assert config["data"]["teacher"] == str(shop_run.resolve())


def test_the_target_mixes_labels_and_teacher_scores():
    from masknet_edge.train.teacher import Target

    class Teacher:
        def predict(self, x, batch_size, verbose):
            return np.array([[0.2], [0.9]], dtype=np.float32)

    y = np.array([1.0, 0.0], dtype=np.float32)
    np.testing.assert_allclose(Target(Teacher(), 0.25)({}, y), [0.8, 0.225], rtol=1e-6)
    np.testing.assert_array_equal(Target(Teacher(), 0.0)({}, y), y)
    np.testing.assert_array_equal(Target(None, 0.5)({}, y), y)


def test_the_student_bundle_ranks_like_the_teacher(shop_run, student, shop_data, tmp_path):
    import pandas as pd

    from masknet_edge.edge_runtime.ranker import Ranker

    out, _ = student
    bundles = {}
    for name, run in (("teacher", shop_run), ("student", out)):
        bundles[name] = tmp_path / f"{name}.mnb"
        res = CliRunner().invoke(
            main, ["convert", str(run), "--quantize", "none", "--out", str(bundles[name])]
        )
        assert res.exit_code == 0, res.output
    rows = pd.read_csv(shop_data / "test.csv").head(200)
    t, s = (Ranker.load(bundles[n]).score({}, rows) for n in ("teacher", "student"))
    assert t.shape == s.shape == (200,)
    assert np.corrcoef(t, s)[0, 1] > 0.3  # it learned from the teacher, not noise


def test_bad_distillations_are_clear_errors(shop_run, shop_data, tmp_path):
    res = _distill(tmp_path / "nothing", "--out", tmp_path / "s")
    assert res.exit_code == 2 and "config.json" in res.output
    res = _distill(shop_run, "--out", shop_run)  # would overwrite its own teacher
    assert res.exit_code == 2 and "Error" in res.output
    res = _distill(shop_run, "--out", shop_run / "inner", "--overwrite")
    assert res.exit_code == 2
    res = _distill(shop_run, "--out", tmp_path / "s", "--teacher-weight", 1.5)
    assert res.exit_code == 2 and "teacher-weight" in res.output
    res = _distill(shop_run, "--out", tmp_path / "s", "--mlp", "a,b")
    assert res.exit_code == 2 and "--mlp" in res.output
    assert not (tmp_path / "s").exists()


def test_a_student_run_resumes_with_its_teacher(shop_run, tmp_path):
    out = tmp_path / "s"
    res = _distill(shop_run, "--out", out, "--blocks", 1, "--block-units", 8, "--epochs", 1, "--json")
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["train", "--out", str(out), "--resume", "--epochs", "2", "--json"])
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.output)
    assert metrics["epochs_trained"] >= 1 and "teacher" in metrics  # still taught, by the same teacher
    assert (out / "spec.json").read_bytes() == (shop_run / "spec.json").read_bytes()
