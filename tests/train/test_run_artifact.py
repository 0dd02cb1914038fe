"""The run directory's typed artifact: config.json written and read by one owner, every problem one
RunDirError that names the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from masknet_edge.train.config import ModelConfig, TrainConfig
from masknet_edge.train.run_artifact import RunConfig, RunDirError, TrainedRun, TrainInputs


def _config(tmp_path: Path) -> RunConfig:
    inputs = TrainInputs(tmp_path / "train.csv", tmp_path / "valid.csv", label="click", teacher_weight=0.25)
    return RunConfig(
        ModelConfig(model="paramasknet", num_blocks=2), TrainConfig(epochs=3, seed=7), inputs, "ab" * 32
    )


def test_a_config_round_trips_through_its_file(tmp_path):
    config = _config(tmp_path)
    config.write(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["data"]["train"] == str((tmp_path / "train.csv").resolve()) and saved["data"]["test"] is None
    again = RunConfig.read(tmp_path)
    assert again == config
    assert again.model.num_blocks == 2 and again.train.seed == 7 and again.inputs.teacher_weight == 0.25


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "config.json: no such file"),
        ('{"model": ', "config.json: damaged"),
        ("[1, 2]", "config.json: damaged (expected a JSON object)"),
        ('{"model": {}, "train": {}}', "config.json: damaged, not a run's configuration (KeyError"),
        (
            '{"model": {"num_blocks": "x"}, "train": {}, "data": {"train": "a", "valid": "b"}}',
            "config.json: damaged",
        ),
        ('{"model": {}, "train": {"epochs": -1}, "data": {"train": "a", "valid": "b"}}', "epochs"),
        ('{"model": {}, "train": {}, "data": []}', "config.json: damaged"),
    ],
)
def test_a_missing_or_damaged_config_is_one_error_naming_the_file(tmp_path, text, message):
    if text is not None:
        (tmp_path / "config.json").write_text(text)
    with pytest.raises(RunDirError) as caught:
        RunConfig.read(tmp_path)
    assert message in str(caught.value) and str(tmp_path) in str(caught.value)


def test_a_run_without_its_files_is_refused_naming_what_is_missing(tmp_path):
    with pytest.raises(RunDirError, match="no such run directory"):
        TrainedRun.read(tmp_path / "absent")
    (tmp_path / "model.keras").write_bytes(b"")
    with pytest.raises(RunDirError, match="no spec.json"):
        TrainedRun.read(tmp_path)


def test_a_finished_run_reads_back_typed(shop_run):
    run = TrainedRun.read(shop_run)
    assert run.config.model.model and run.config.inputs.label == run.label == "click"
    assert run.train_file is not None and run.train_file.is_file()
    assert run.metrics is not None and run.metrics["valid"]["auc"] > 0.5
    assert run.spec.fingerprint() == run.config.spec_sha256
