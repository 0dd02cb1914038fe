"""The converter CLI, the bundle it writes, and the quantization check."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from masknet_edge.cli.main import main
from masknet_edge.edge_runtime.bundle import read_bundle
from masknet_edge.edge_runtime.manifest import Quantization

pytestmark = pytest.mark.slow


def test_bundle_manifest_and_parts(bundles):
    b = read_bundle(bundles["int8"])
    m = b.manifest.to_dict()
    assert m["format"] == "masknet-edge-bundle" and m["format_version"] == 1
    assert m["quantization"]["mode"] == "int8" and m["quantization"]["calibration_rows"] == 256
    assert "RSQRT" in m["quantization"]["float_ops"]  # LayerNorm kept in float by default
    assert m["quantization"]["layer_errors"], "int8 conversion records per-layer errors"
    assert m["inputs"] == [
        {"name": "cat_ids", "dtype": "int32", "shape": [-1, 12]},
        {"name": "num_values", "dtype": "float32", "shape": [-1, 2]},
    ]
    assert m["outputs"] == [{"name": "ctr", "dtype": "float32", "shape": [-1, 1]}]
    assert set(m["parts"]) == {"model.tflite", "spec.json", "golden.json"}
    assert {"tensorflow_version", "toolkit_version", "created", "spec_sha256"} <= set(m)
    from masknet_edge.edge_runtime.conformance import edge_case_records

    records = b.golden["records"]
    # 32 training rows, then the edge cases of every field of the spec (missing, typed, boundary, ...)
    assert records[32:] == edge_case_records(b.spec, records[0])
    assert len(records) == len(b.golden["scores"]) == 32 + len(edge_case_records(b.spec, records[0])) > 100
    with zipfile.ZipFile(bundles["int8"]) as zf:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())


def test_the_manifest_names_no_path_of_the_workstation(bundles, shop_run):
    from masknet_edge.convert.conversion import _without_paths

    for path in bundles.values():
        with zipfile.ZipFile(path) as zf:
            text = zf.read("manifest.json").decode()
        assert str(shop_run.resolve()) not in text and str(shop_run.parent.resolve()) not in text
        assert read_bundle(path).manifest.model["run"] == shop_run.resolve().name
    teacher = {"teacher": {"run": "/home/me/runs/big", "test_auc": 0.8}, "test": {"auc": 0.7}}
    assert _without_paths(teacher) == {"teacher": {"run": "big", "test_auc": 0.8}, "test": {"auc": 0.7}}
    assert teacher["teacher"]["run"] == "/home/me/runs/big"  # the run's own metrics are left as they are


def test_quantized_bundles_are_smaller(bundles):
    size = {m: read_bundle(p).manifest.parts["model.tflite"]["size"] for m, p in bundles.items()}
    assert size["dynamic"] < 0.6 * size["none"]
    assert size["int8"] < 0.6 * size["none"]


def test_no_flex_ops(bundles):
    """Every op is a TFLite builtin: a device runtime needs no TensorFlow (Flex) delegate."""
    from ai_edge_litert.interpreter import Interpreter

    for p in bundles.values():
        ops = {d["op_name"] for d in Interpreter(model_content=read_bundle(p).model)._get_ops_details()}
        assert {"FULLY_CONNECTED", "GATHER"} <= ops, ops  # the op list was read
        assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops


def test_check_reports_and_gates(bundles, shop_run, shop_data, tmp_path):
    runner = CliRunner()
    args = [
        "check",
        str(bundles["dynamic"]),
        "--reference",
        str(shop_run),
        "--data",
        str(shop_data / "test.csv"),
    ]
    res = runner.invoke(
        main,
        [
            *args,
            "--json",
            "--plot",
            str(tmp_path / "c.png"),
            "--min-topk-overlap",
            "0.5",
            "--min-ndcg",
            "0.5",
            "--min-spearman",
            "0.5",
            "--max-auc-drop",
            "0.05",
        ],
    )
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert set(r) >= {"float", "bundle_model", "auc_drop", "scores", "ranking", "thresholds", "passed"}
    assert r["ranking"]["groups"].startswith("by user_id")
    assert 0 <= r["scores"]["mean_abs_diff"] <= r["scores"]["max_abs_diff"] < 0.2
    assert (tmp_path / "c.png").stat().st_size > 1000
    # an impossible threshold fails the check with exit code 1 and says why
    res = runner.invoke(main, [*args, "--max-mean-abs-diff", "0"])
    assert res.exit_code == 1
    assert "FAILED: mean |score diff|" in res.output
    # the float bundle matches its reference model to float rounding
    r = json.loads(
        runner.invoke(
            main,
            [
                "check",
                str(bundles["none"]),
                "--reference",
                str(shop_run),
                "--data",
                str(shop_data / "test.csv"),
                "--json",
            ],
        ).output
    )
    assert r["scores"]["max_abs_diff"] < 1e-5 and r["passed"]


def test_int8_check_prints_the_layer_table(bundles, shop_run, shop_data):
    res = CliRunner().invoke(
        main,
        [
            "check",
            str(bundles["int8"]),
            "--reference",
            str(shop_run),
            "--data",
            str(shop_data / "test.csv"),
            "--slate-size",
            "20",
            "--group-by",
            "item_id",
        ],
    )
    assert res.exit_code in (0, 1), res.output
    assert "layers that lose the most" in res.output
    assert "kept in float: ADD, DIV, MEAN, MUL, RSQRT, SQUARED_DIFFERENCE, SUB" in res.output  # the default


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["convert", "{empty}", "--quantize", "dynamic", "--out", "{out}"], "no model.keras"),
        (["convert", "{missing}", "--quantize", "dynamic", "--out", "{out}"], "no such run directory"),
        (["convert", "{run}", "--quantize", "int4", "--out", "{out}"], "Invalid value for '--quantize'"),
        (
            ["convert", "{run}", "--quantize", "int8", "--keep-float", "x;y", "--out", "{out}"],
            "is not a TFLite op type",
        ),
        (["check", "{bundle}", "--reference", "{run}", "--data", "{badcsv}"], "missing columns"),
        (["check", "{bundle}", "--reference", "{empty}", "--data", "{badcsv}"], "no model.keras"),
        (["convert", "{run}", "--quantize", "none", "--out", "{blocked}/x.mnb"], "is a file, not a folder"),
    ],
)
def test_bad_input_exit_2_and_no_bundle(args, message, shop_run, bundles, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    (tmp_path / "blocked").write_text("a file where a folder is expected")
    fill = {
        "empty": tmp_path / "empty",
        "missing": tmp_path / "nope",
        "out": tmp_path / "x.mnb",
        "run": shop_run,
        "bundle": bundles["none"],
        "badcsv": tmp_path / "bad.csv",
        "blocked": tmp_path / "blocked",
    }
    res = CliRunner().invoke(main, [a.format(**{k: str(v) for k, v in fill.items()}) for a in args])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "x.mnb").exists()


def test_spec_that_does_not_match_the_model_is_refused(shop_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(shop_run, run)
    spec = json.loads((run / "spec.json").read_text())
    spec["fields"] = [f for f in spec["fields"] if f["name"] != "city"]
    (run / "spec.json").write_text(json.dumps(spec))
    res = CliRunner().invoke(
        main, ["convert", str(run), "--quantize", "none", "--out", str(tmp_path / "b.mnb")]
    )
    assert res.exit_code == 2 and "does not match the model's inputs" in res.output
    assert not (tmp_path / "b.mnb").exists()


def test_interrupted_write_leaves_no_partial_bundle(bundles, tmp_path, monkeypatch):
    from masknet_edge.convert import bundle_writer

    b = read_bundle(bundles["none"])
    out = tmp_path / "b.mnb"

    def boom(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(zipfile.ZipFile, "writestr", boom)
    with pytest.raises(KeyboardInterrupt):
        bundle_writer.write_bundle(
            out,
            b.model,
            b.spec,
            b.golden,
            quantization=Quantization("none"),
            model_info={},
            tensorflow_version="x",
        )
    assert list(tmp_path.iterdir()) == []


def test_dynamic_batch_dimension(bundles):
    from masknet_edge.edge_runtime.interpreter import ModelRunner

    b = read_bundle(bundles["dynamic"])
    runner = ModelRunner(b.model)
    rng = np.random.default_rng(0)
    for n in (1, 3, 4096, 2):
        inputs = {
            "cat_ids": rng.integers(0, b.spec.total_vocab, (n, 12)).astype(np.int32),
            "num_values": rng.normal(size=(n, 2)).astype(np.float32),
        }
        assert runner(inputs).shape == (n,)


def test_int16x8_is_refused_clearly_for_id_inputs(shop_run, tmp_path):
    """The 16x8 quantizer cannot calibrate int32 ids: one clear error, exit 2, no bundle."""
    out = tmp_path / "b16.mnb"
    res = CliRunner().invoke(
        main,
        ["convert", str(shop_run), "--quantize", "int16x8", "--calibration-rows", "128", "--out", str(out)],
    )
    assert res.exit_code == 2, res.output
    assert "cannot produce mode 'int16x8'" in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_a_full_temporary_folder_is_a_named_error_not_a_traceback(shop_run, tmp_path, monkeypatch):
    """TensorFlow's ResourceExhaustedError from the SavedModel export must become one Error line."""
    import tensorflow as tf

    import masknet_edge.convert.converter as converter

    def full(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    monkeypatch.setattr(converter, "export_saved_model", full)
    out = tmp_path / "b.mnb"
    res = CliRunner().invoke(main, ["convert", str(shop_run), "--quantize", "none", "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert "temporary folder" in res.output and "No space left" in res.output and "TMPDIR" in res.output
    assert "Traceback" not in res.output and not out.exists()
