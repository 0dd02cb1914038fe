"""Mixed precision (``--mixed-precision``: float16 on GPUs, bfloat16 on CPUs) checked for numerics on
the CPU.

The embedding tables and the loss stay float32 (the tables are variables, which mixed_float16 keeps
in float32; the prediction layer computes in float32, so the loss sees float32 scores); the run ends
with the process's policy as it was, and its model converts to a bundle whose golden records pass.
"""

from __future__ import annotations

import json

from tests.conftest import TINY_MODEL, needs_tf

pytestmark = needs_tf


def test_a_mixed_precision_run_keeps_float32_tables_and_loss_and_trains_as_well(
    shop_data, shop_run, tmp_path, monkeypatch, caplog
):
    import keras
    from click.testing import CliRunner

    from masknet_edge.cli.main import main
    from masknet_edge.train import pipeline

    monkeypatch.setattr(pipeline, "cpu_has_bfloat16", lambda: False)  # a CPU without bfloat16 units

    d, run = shop_data, tmp_path / "mixed"
    files = ["--train", str(d / "train.csv"), "--valid", str(d / "valid.csv"), "--test", str(d / "test.csv")]
    res = CliRunner().invoke(
        main,
        ["train", *files, "--spec", str(d / "spec.json"), "--out", str(run), "--json", "--mixed-precision"]
        + TINY_MODEL,
    )
    assert res.exit_code == 0, res.output
    assert keras.mixed_precision.global_policy().name == "float32"  # the process is as it was
    model = keras.saving.load_model(run / "model.keras", safe_mode=True, compile=False)
    tables = [v for v in model.weights if v.path.endswith("table")]
    assert tables and all(v.dtype == "float32" for v in tables)
    assert model.layers[-1].dtype_policy.compute_dtype == "float32"  # scores, and so the loss
    metrics = json.loads((run / "metrics.json").read_text())
    import tensorflow as tf

    # a CPU computes in bfloat16 (float32's range, no loss scaling), a GPU in float16
    expected = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    assert metrics["precision"] == expected
    if expected == "mixed_bfloat16":
        assert "without bfloat16 units" in caplog.text  # emulated there: the user is told
    mixed = metrics["test"]["auc"]
    full = json.loads((shop_run / "metrics.json").read_text())["test"]["auc"]
    assert abs(mixed - full) < 0.02, (mixed, full)
    bundle = tmp_path / "mixed.mnb"
    res = CliRunner().invoke(main, ["convert", str(run), "--quantize", "none", "--out", str(bundle)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["verify", str(bundle)])
    assert res.exit_code == 0, res.output


def test_bfloat16_units_are_found_in_the_cpu_flags():
    from masknet_edge.train.devices import cpu_has_bfloat16

    intel = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f amx_bf16 amx_tile\n"
    older = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n"
    amd = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n"
    assert cpu_has_bfloat16(intel) and cpu_has_bfloat16(older)
    assert not cpu_has_bfloat16(amd) and not cpu_has_bfloat16("")
