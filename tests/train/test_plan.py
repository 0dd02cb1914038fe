"""The plan of a training run: every check and decision, made without TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from masknet_edge.edge_runtime.spec import FeatureSpec
from masknet_edge.train.config import ConfigError
from masknet_edge.train.io import DataError
from masknet_edge.train.plan import TrainInputs, plan_run
from masknet_edge.train.rundir import RunDirError

NEW = {"resume": False, "resume_epochs": None, "resume_worker_timeout": None, "overwrite": False}


def _plan(shop_data: Path, out: Path, **kw):
    inputs = kw.pop("inputs", TrainInputs(shop_data / "train.csv", shop_data / "valid.csv"))
    spec = kw.pop("spec", FeatureSpec.load(shop_data / "spec.json"))
    options = {**NEW, "distribute": "none", "cpu_devices": 1, **kw}
    return plan_run(inputs, spec, out, None, kw.pop("train_config", None), **options)


def test_a_new_run_is_planned_with_its_decisions(shop_data, tmp_path):
    plan = _plan(shop_data, tmp_path / "run")
    assert plan.label == "click" and plan.batch_size == 256 and plan.rewrite_config
    assert not (plan.resume or plan.replacing or plan.spec_fitted or plan.helper)
    assert not (tmp_path / "run").exists()  # planning writes nothing


def test_planning_imports_no_tensorflow(shop_data, tmp_path):
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tests.train.test_plan import _plan\n"
        f"_plan(Path({str(shop_data)!r}), Path({str(tmp_path / 'run')!r}))\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_bad_runs_fail_in_the_plan(shop_data, tmp_path):
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="already exists"):
        _plan(shop_data, occupied)
    with pytest.raises(RunDirError, match="not a run directory"):
        _plan(shop_data, occupied, overwrite=True)
    with pytest.raises(RunDirError, match="nothing to resume"):
        _plan(shop_data, tmp_path / "new", resume=True)
    with pytest.raises(DataError, match="no label column"):
        _plan(
            shop_data,
            tmp_path / "run",
            spec=FeatureSpec.from_dict({"fields": [{"name": "a", "kind": "numeric", "side": "item"}]}),
        )
    with pytest.raises(ConfigError, match="cpu-devices 300"):
        _plan(shop_data, tmp_path / "run", distribute="mirrored", cpu_devices=300)
    with pytest.raises(DataError, match="missing columns"):
        _plan(
            shop_data, tmp_path / "run", inputs=TrainInputs(shop_data / "items.csv", shop_data / "valid.csv")
        )
    assert (occupied / "notes.txt").read_text() == "mine"


def test_the_default_learning_rate_follows_the_batch_and_a_given_one_is_kept():
    from masknet_edge.train.config import TrainConfig

    assert TrainConfig().learning_rate_for("sermasknet", 256) == pytest.approx(1e-3)
    assert TrainConfig().learning_rate_for("sermasknet", 4096) == pytest.approx(4e-3)  # sqrt(16)
    assert TrainConfig(lr_scaling="linear").learning_rate_for("dnn", 1024) == pytest.approx(4e-3)
    assert TrainConfig(lr_scaling="none").learning_rate_for("lr", 4096) == pytest.approx(1e-2)
    assert TrainConfig(learning_rate=5e-4).learning_rate_for("sermasknet", 4096) == 5e-4
    with pytest.raises(ConfigError, match="lr_scaling"):
        TrainConfig(lr_scaling="cubic")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "100000"], "--batch-size 100000 is more than the"),
        (["--warmup-epochs", "3", "--epochs", "2"], "--warmup-epochs 3 is longer than the run"),
    ],
)
def test_a_schedule_that_cannot_work_is_refused_before_training(shop_data, tmp_path, args, message):
    from click.testing import CliRunner

    from masknet_edge.cli.main import main

    d, out = shop_data, tmp_path / "run"
    files = ["--train", str(d / "train.csv"), "--valid", str(d / "valid.csv"), "--spec", str(d / "spec.json")]
    res = CliRunner().invoke(main, ["train", *files, "--out", str(out), *args])
    assert res.exit_code != 0 and message in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1 and not out.exists()


def test_the_schedule_check_gives_the_warmup_in_steps():
    from masknet_edge.train.config import TrainConfig
    from masknet_edge.train.plan import check_schedule

    assert check_schedule(TrainConfig(warmup_epochs=0.5), 256, 10_000, 40) == 20
    assert check_schedule(TrainConfig(), 256, 256, 1) == 0
