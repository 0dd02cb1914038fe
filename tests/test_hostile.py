"""Hostile input, command by command: one ``Error: ...`` line and exit 2, never a traceback or a crash;
a gate that cannot be evaluated fails."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from masknet_edge.cli.main import main
from masknet_edge.edge_runtime.bundle import read_bundle
from masknet_edge.edge_runtime.errors import ArgumentError, BundleError, MasknetError
from tests.conftest import needs_tf


def one_line_error(args: list, message: str) -> None:
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and not isinstance(res.exception, AssertionError)
    assert message in res.output, res.output


# ----------------------------------------------------------------------------- JSON bombs
BIG_INT = "1" * 5000
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "context",
    ['{"user_id": ' + BIG_INT + "}", '{"user_id": ' + DEEP + "}", DEEP],
    ids=["int", "deep", "deep-top"],
)
def test_json_bombs_in_context(bundles, context, tmp_path):
    cands = tmp_path / "c.jsonl"
    cands.write_text('{"item_id": "i1"}\n')
    one_line_error(
        ["rank", bundles["none"], "--context", context, "--candidates", cands], "--context is not valid JSON"
    )


# ------------------------------------------------------------------- limits hold while reading
@pytest.mark.parametrize("where", ["context", "candidates", "candidates-symlink", "verify", "sparse-bundle"])
def test_limits_hold_for_devices_pipes_symlinks_and_sparse_files(bundles, tmp_path, where):
    """/dev/zero reports size 0 and never ends: a limit checked before reading would pass it."""
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    cands = tmp_path / "c.jsonl"
    cands.write_text('{"item_id": "i1"}\n')
    rank = ["rank", bundles["none"], "--context"]
    if where == "context":
        one_line_error([*rank, "@/dev/zero", "--candidates", cands], "over the limit")
    elif where.startswith("candidates"):
        source = Path("/dev/zero")
        if where.endswith("symlink"):
            source = tmp_path / "items.csv"
            source.symlink_to("/dev/zero")
        one_line_error([*rank, "{}", "--candidates", source], "over the limit")
    elif where == "verify":
        one_line_error(["verify", "/dev/zero"], "not a regular file")
    else:
        sparse = tmp_path / "big.mnb"
        with sparse.open("wb") as f:
            f.truncate(5 << 30)  # 5 GB of nothing, allocated on no disk
        one_line_error(["verify", sparse], "over the limit")


@pytest.mark.parametrize(
    "line", ['{"item_id": ' + BIG_INT + "}", '{"item_id": ' + DEEP + "}"], ids=["int", "deep"]
)
def test_json_bombs_in_candidates(bundles, line, tmp_path):
    cands = tmp_path / "c.jsonl"
    cands.write_text(line + "\n")
    one_line_error(
        ["rank", bundles["none"], "--context", "{}", "--candidates", cands], "line 1: not valid JSON"
    )


@pytest.mark.parametrize(
    "text",
    [
        '{"format_version": 1, "fields": [{"name": "a", "kind": "numeric", "mean": ' + BIG_INT + "}]}",
        '{"format_version": 1, "fields": ' + DEEP + "}",
        '{"format_version": 1, "fields": [{"name": "a", "kind": ["numeric"]}]}',
        '{"format_version": 1, "fields": [{"name": ["a"], "kind": "numeric"}]}',
    ],
    ids=["int", "deep", "kind-list", "name-list"],
)
def test_hostile_specs(text, tmp_path):
    from masknet_edge.edge_runtime.spec import FeatureSpec, SpecError

    path = tmp_path / "spec.json"
    path.write_text(text)
    with pytest.raises(SpecError):
        FeatureSpec.load(path)
    (tmp_path / "d.csv").write_text("a,y\n1,0\n2,1\n")
    args = ["train", "--train", tmp_path / "d.csv", "--valid", tmp_path / "d.csv", "--spec", path]
    one_line_error([*args, "--out", tmp_path / "run"], str(path))


# ----------------------------------------------------------------------------- bounds
def test_option_bounds(bundles, tmp_path):
    cands = tmp_path / "c.jsonl"
    cands.write_text('{"item_id": "i1"}\n')
    res = CliRunner().invoke(
        main,
        ["rank", str(bundles["none"]), "--context", "{}", "--candidates", str(cands), "--threads", "100000"],
    )
    assert res.exit_code == 2 and "--threads" in res.output
    one_line_error(["bench", bundles["none"], "--candidates", "100000000"], "candidate counts must be in")
    res = CliRunner().invoke(main, ["data", "shop", "--seed", "-1", "--out", str(tmp_path / "s")])
    assert res.exit_code == 2 and "--seed" in res.output


def test_api_argument_errors_are_masknet_errors(bundles):
    from masknet_edge.edge_runtime.ranker import Ranker

    with pytest.raises(BundleError, match="expected the path of a bundle"):
        Ranker.load(None)  # type: ignore[arg-type]
    ranker = Ranker.load(bundles["none"])
    record = ranker.bundle.golden["records"][0]
    for k in (0, -1, 2.5, "3", True):
        with pytest.raises(ArgumentError, match="Expected k"):
            ranker.rank(record, [record], k=k)  # type: ignore[arg-type]
    for threads in (0, 10_000, 1.5):
        with pytest.raises(ArgumentError, match="num_threads"):
            Ranker.load(bundles["none"], num_threads=threads)  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="id_field"):
        ranker.index_catalog([record], id_field=["item_id"])  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="now"):
        ranker.rank(record, [record], now="yesterday")  # type: ignore[arg-type]
    from masknet_edge.edge_runtime.errors import SpecError
    from masknet_edge.edge_runtime.spec import FeatureSpec

    with pytest.raises(SpecError, match="path of a spec file"):
        FeatureSpec.load(5)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- forged bundles
def forge(source: Path, out: Path, golden=None, manifest=None) -> Path:
    """A bundle with changed golden vectors or manifest and *valid* hashes (a deliberate forgery)."""
    with zipfile.ZipFile(source) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    man = manifest if manifest is not None else json.loads(parts["manifest.json"])
    if golden is not None:
        parts["golden.json"] = json.dumps(golden).encode()
    for name in ("model.tflite", "spec.json", "golden.json"):
        man["parts"][name] = {"sha256": hashlib.sha256(parts[name]).hexdigest(), "size": len(parts[name])}
    parts["manifest.json"] = json.dumps(man).encode()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name in ("manifest.json", "model.tflite", "spec.json", "golden.json"):
            z.writestr(name, parts[name])
    return out


GOLDEN_FORGERIES = {
    "no records": lambda g: {**g, "records": [], "scores": []},
    "records not objects": lambda g: {**g, "records": [1] * len(g["records"])},
    "scores short": lambda g: {**g, "scores": g["scores"][:1]},
    "scores text": lambda g: {**g, "scores": ["a"] * len(g["scores"])},
    "encoded absent": lambda g: {**g, "encoded": {}},
    "encoded text": lambda g: {**g, "encoded": dict.fromkeys(g["encoded"], "x")},
    "encoded shape": lambda g: {**g, "encoded": {k: v[:1] for k, v in g["encoded"].items()}},
    "tolerance text": lambda g: {**g, "tolerance": "big"},
    "tolerance absent": lambda g: {k: v for k, v in g.items() if k != "tolerance"},
}


@pytest.mark.parametrize("name", sorted(GOLDEN_FORGERIES))
def test_forged_golden_vectors_are_refused_by_every_command(bundles, tmp_path, name):
    with zipfile.ZipFile(bundles["dynamic"]) as z:
        golden = json.loads(z.read("golden.json"))
    bundle = forge(
        bundles["dynamic"], tmp_path / "f.mnb", golden=GOLDEN_FORGERIES[name](copy.deepcopy(golden))
    )
    with pytest.raises(BundleError, match="golden.json is malformed"):
        read_bundle(bundle)
    cands = tmp_path / "c.jsonl"
    cands.write_text('{"item_id": "i1"}\n')
    for args in (["verify"], ["bench", "--candidates", "1", "--requests", "5"]):
        one_line_error([args[0], bundle, *args[1:]], "golden.json is malformed")


@pytest.mark.parametrize("quantization", [None, "int8", {"weights": "x"}])
def test_forged_manifest_without_a_quantization_mode_is_refused(bundles, tmp_path, quantization):
    with zipfile.ZipFile(bundles["dynamic"]) as z:
        manifest = json.loads(z.read("manifest.json"))
    if quantization is None:
        del manifest["quantization"]
    else:
        manifest["quantization"] = quantization
    bundle = forge(bundles["dynamic"], tmp_path / "f.mnb", manifest=manifest)
    one_line_error(["bench", bundle, "--candidates", "1", "--requests", "5"], "quantization mode")


# ----------------------------------------------------------------------------- data files
@needs_tf
def test_garbage_parquet_and_counting_rows(tmp_path):
    from masknet_edge.train.io import DataError, count_rows

    bad = tmp_path / "x.parquet"
    bad.write_bytes(b"PAR1 not really" * 10)
    with pytest.raises(DataError, match="not a readable Parquet file"):
        count_rows(bad)
    (tmp_path / "spec.json").write_text('{"format_version": 1, "label": "y", "fields": []}')
    one_line_error(["spec", "infer", bad, "--label", "y", "--out", tmp_path / "s.json"], "Parquet")
    no_final_newline = tmp_path / "a.csv"
    no_final_newline.write_text("a,b\n1,2\n3,4")
    quoted_newline = tmp_path / "b.csv"
    quoted_newline.write_text('a,b\n1,"x\ny"\n3,4\n\n')
    assert count_rows(no_final_newline) == 2 and count_rows(quoted_newline) == 2


@needs_tf
@pytest.mark.parametrize(
    ("name", "files", "message"),
    [
        ("movielens", {"u.data": ""}, "split is empty"),
        (
            "movielens",
            {"u.data": "1\t2\tfive\t881250949\n1\t3\t4\t881250950\n"},
            "rating of data row 1 is 'five'",
        ),
        ("movielens", {"u.data": "1\t2\n1\t3\n"}, "rating of data row 1 is missing"),
        ("avazu", {"train.csv": ""}, "the file is empty"),
        ("avazu", {"train.csv": "a,b\n1,2\n"}, "'click' column"),
        ("criteo", {"train.txt": "label,hour,C1\n0,14102100,1005\n"}, "not a Criteo file"),
        ("criteo", {"train.txt": ""}, "the file is empty"),
    ],
)
def test_data_prepare_checks_the_format_first(tmp_path, name, files, message):
    src = tmp_path / "src"
    src.mkdir()
    for fname, text in files.items():
        (src / fname).write_text(text)
    one_line_error(["data", "prepare", name, src, "--out", tmp_path / "out"], message)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- gates
@needs_tf
def test_check_gates_that_cannot_be_evaluated_fail(shop_run, bundles, shop_data, tmp_path):
    import pandas as pd

    test = pd.read_csv(shop_data / "test.csv", dtype=str)
    no_label = tmp_path / "no_label.csv"
    test.drop(columns=["click"]).to_csv(no_label, index=False)
    args = ["check", str(bundles["dynamic"]), "--reference", str(shop_run)]
    res = CliRunner().invoke(main, [*args, "--data", str(no_label)])
    assert res.exit_code == 1 and "AUC drop cannot be measured: the data has no label column" in res.output
    res = CliRunner().invoke(main, [*args, "--data", str(no_label), "--max-auc-drop", "inf"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, [*args, "--data", str(shop_data / "test.csv"), "--max-rows", "1"])
    assert res.exit_code == 1 and "cannot be measured on 1 rows in 0 groups" in res.output, res.output
    yes = tmp_path / "yes.csv"
    test.assign(click=["yes"] * len(test)).to_csv(yes, index=False)
    one_line_error([*args, "--data", yes], "data row 1: label 'click' is 'yes'; expected 0 or 1")


def test_every_error_type_is_a_masknet_error():
    from masknet_edge.edge_runtime import errors

    for name in dir(errors):
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and obj is not MasknetError:
            assert issubclass(obj, MasknetError), name


# ----------------------------------------------------------------------------- quiet output
def test_native_noise_is_filtered_and_real_messages_pass(capfd):
    import os

    from masknet_edge.cli.tools import quiet_native_logs

    with quiet_native_logs():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nreal problem\n")
        os.write(2, b"fully_quantize: 0, inference_type: 6\nW0000 00:00:1 x.cc:1] noise\nbar 1\rbar 2\r")
    assert capfd.readouterr().err == "real problem\nbar 1\rbar 2\r"


@needs_tf
def test_commands_print_their_result_and_nothing_else(shop_run, shop_data, bundles, tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # a user's plain shell
    cands = tmp_path / "c.jsonl"
    cands.write_text('{"item_id": "i1", "category": "shoes", "brand": "b1", "price": 10}\n')
    commands = [
        ["convert", shop_run, "--quantize", "int8", "--calibration-rows", "64", "--out", tmp_path / "b.mnb"],
        ["rank", bundles["int8"], "--context", '{"user_id": "u1"}', "--candidates", cands],
        ["verify", bundles["dynamic"]],
    ]
    for args in commands:
        res = subprocess.run(
            [sys.executable, "-m", "masknet_edge", *map(str, args)], env=env, capture_output=True, text=True
        )
        assert res.returncode == 0, res.stderr
        assert res.stderr == "", f"{args[0]} wrote to stderr: {res.stderr[:500]}"
        assert "\x1b[" not in res.stdout


# ----------------------------------------------------------------------------- pandas values
def test_pandas_missing_markers_are_missing_and_times_are_errors(bundles):
    import datetime

    import numpy as np
    import pandas as pd

    from masknet_edge.edge_runtime.encoder import FeatureEncoder
    from masknet_edge.edge_runtime.errors import EncodeError
    from masknet_edge.edge_runtime.spec import FeatureSpec

    spec = FeatureSpec.from_dict(
        {
            "format_version": 1,
            "fields": [
                {"name": "c", "kind": "categorical", "num_buckets": 8, "side": "item"},
                {"name": "x", "kind": "numeric", "transform": "none", "side": "item"},
            ],
        }
    )
    enc = FeatureEncoder(spec)
    missing = enc.encode([{"c": None, "x": None}])
    for marker in (pd.NA, pd.NaT):
        got = enc.encode([{"c": marker, "x": marker}])
        assert all(np.array_equal(got[k], missing[k]) for k in missing)
    frame = pd.DataFrame(
        {"c": pd.array(["a", None], dtype="string"), "x": pd.array([1, None], dtype="Int64")}
    )
    got = enc.encode(frame)
    assert got["cat_ids"][1, 0] == missing["cat_ids"][0, 0] and got["num_values"][1, 0] == 0.0
    for t in (np.datetime64("2020-01-01"), np.timedelta64(3), datetime.datetime(2020, 1, 1), pd.Timestamp(0)):
        with pytest.raises(EncodeError, match="field 'x', record 0: expected a number"):
            enc.encode([{"c": "a", "x": t}])
    with pytest.raises(EncodeError, match="convert times to numbers first"):
        enc.encode(pd.DataFrame({"c": ["a"], "x": pd.to_datetime(["2020-01-01"])}))


# ----------------------------------------------------------------------------- missing dependencies
def test_without_the_farmhash_binding_every_conformance_case_and_golden_cell_still_holds(bundles):
    """A device where pyfarmhash does not install (arm64, 32-bit ARM) hashes in pure Python, exactly."""
    code = (
        "import sys; sys.modules['farmhash'] = None\n"
        "from masknet_edge.edge_runtime import hashing\n"
        "from masknet_edge.edge_runtime.conformance import run_conformance\n"
        "from masknet_edge.edge_runtime.ranker import Ranker\n"
        "assert hashing.FARMHASH == 'python', hashing.FARMHASH\n"
        "assert run_conformance().ok, str(run_conformance())\n"
        f"assert Ranker.load({str(bundles['int8'])!r}).verify().ok\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_a_command_without_its_optional_dependency_says_what_to_install(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ModuleNotFoundError
    (tmp_path / "d.csv").write_text("x,y\n1,0\n")
    one_line_error(
        ["spec", "infer", tmp_path / "d.csv", "--label", "y", "--out", tmp_path / "s.json"],
        "pip install 'masknet-edge[train-cpu]'",
    )


# ----------------------------------------------------------------------------- candidates and rows
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("item_id,category\ni1,shoes,extra\n", "line 2: 3 fields, the header has 2"),
        ("item_id,category\ni1\n", "line 2: 1 fields, the header has 2"),
        ('item_id,category\ni1,"shoes\n', "malformed CSV"),
        ("item_id,item_id\ni1,i2\n", "repeated column names ['item_id']"),
    ],
)
def test_malformed_candidate_csv(bundles, tmp_path, text, message):
    path = tmp_path / "c.csv"
    path.write_text(text)
    one_line_error(["rank", bundles["none"], "--context", "{}", "--candidates", path], message)


def test_candidate_csv_with_a_byte_order_mark_keeps_its_first_column(tmp_path):
    from masknet_edge.cli.device import read_candidates

    path = tmp_path / "c.csv"
    path.write_bytes(b"\xef\xbb\xbfitem_id,category\ni1,shoes\n")
    assert read_candidates(path) == [{"item_id": "i1", "category": "shoes"}]


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c"])
def test_json_lines_keep_line_breaks_that_json_allows_inside_strings(tmp_path, char):
    from masknet_edge.cli.device import read_candidates

    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"item_id": f"a{char}b"}, ensure_ascii=False) + "\r\n" + '{"item_id": "c"}\n')
    assert read_candidates(path) == [{"item_id": f"a{char}b"}, {"item_id": "c"}]


def test_every_api_accepts_every_candidate_container(bundles):
    import pandas as pd

    from masknet_edge.edge_runtime.ranker import Ranker

    ranker = Ranker.load(bundles["none"])
    records = ranker.bundle.golden["records"][:5]
    columns = {k: [r.get(k) for r in records] for k in records[0]}
    expected = ranker.score({}, records)
    makers = [
        lambda: iter(records),
        lambda: (r for r in records),
        lambda: tuple(records),
        lambda: pd.DataFrame(records),
        lambda: columns,
    ]
    for make in makers:
        assert (ranker.score({}, make()) == expected).all()
        assert len(ranker.rank({}, make(), k=3)) == 3
    for container in ((r for r in records), pd.DataFrame(records), columns):
        ranker.index_catalog(container)
        assert [round(s, 6) for _, s in ranker.rank_catalog({}, k=5)] == sorted(
            [round(float(s), 6) for s in expected], reverse=True
        )


@needs_tf
def test_bad_label_names_its_own_row(shop_data, tmp_path):
    import pandas as pd

    df = pd.read_csv(shop_data / "train.csv", dtype=str).head(20)
    df.loc[7, "click"] = "yes"
    bad = tmp_path / "train.csv"
    df.to_csv(bad, index=False)
    args = ["train", "--train", bad, "--valid", shop_data / "valid.csv", "--spec", shop_data / "spec.json"]
    one_line_error([*args, "--out", tmp_path / "run"], "row 8: label 'click' must be 0 or 1, got 'yes'")


@needs_tf
def test_convert_refuses_unknown_ops_and_calibration_rows_without_the_columns(shop_run, tmp_path):
    one_line_error(
        ["convert", shop_run, "--quantize", "int8", "--keep-float", "FOO", "--out", tmp_path / "b.mnb"],
        "'FOO' is not a TFLite op type",
    )
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n3,4\n")
    one_line_error(
        ["convert", shop_run, "--quantize", "int8", "--calibration-data", other, "--out", tmp_path / "b.mnb"],
        "calibration rows lack the spec's columns",
    )
    assert not (tmp_path / "b.mnb").exists()


# ----------------------------------------------------------------------------- damaged runs, huge numbers
@needs_tf
@pytest.mark.parametrize("damage", ["config.json", "metrics.json"])
def test_a_damaged_run_file_is_refused_before_the_conversion(shop_run, tmp_path, damage):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(shop_run, run)
    (run / damage).write_text('{"data": ' + "[" * 50_000)
    one_line_error(["convert", run, "--out", tmp_path / "b.mnb"], f"{damage}: damaged")
    assert not (tmp_path / "b.mnb").exists()


@needs_tf
def test_a_400_digit_number_in_a_training_file_is_one_error(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("label,x\n1," + "9" * 400 + "\n0,1\n1,2\n0,3\n")
    spec = tmp_path / "spec.json"
    spec.write_text(
        '{"format_version": 1, "label": "label", "fields": '
        '[{"name": "x", "kind": "numeric", "side": "item", "transform": "standardize"}]}'
    )
    args = ["train", "--train", data, "--valid", data, "--spec", spec, "--out", tmp_path / "run"]
    one_line_error(args, "is too large")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "gate", ["--max-auc-drop", "--min-topk-overlap", "--min-ndcg", "--max-mean-abs-diff"]
)
@pytest.mark.parametrize("value", ["nan", "NaN", "-nan"])
def test_a_gate_of_nan_is_refused(bundles, tmp_path, gate, value):
    """Every comparison with nan is false: a gate of nan would pass any bundle.
    (`inf` stays the way to switch a gate off: test_check_gates_that_cannot_be_evaluated_fail.)"""
    one_line_error(
        ["check", bundles["none"], "--reference", tmp_path, "--data", tmp_path / "d.csv", gate, value],
        "is not a number; a gate needs a limit",
    )


@pytest.mark.parametrize("value", ["inf", "1e400"])
def test_an_infinite_learning_rate_is_refused_before_training(tmp_path, value):
    """Training with it would end in a NaN model with exit 0 (and convert would crash on it)."""
    one_line_error(
        ["train", "--learning-rate", value, "--train", tmp_path / "t.csv", "--valid", tmp_path / "v.csv"]
        + ["--spec", tmp_path / "s.json", "--out", tmp_path / "run"],
        "learning_rate must be a finite number > 0",
    )
    assert not (tmp_path / "run").exists()


@needs_tf
def test_a_diverging_run_fails_and_leaves_nothing_at_out(shop_data, tmp_path):
    """A learning rate of 1e30 is finite but blows the weights up: the run exited 0 with a NaN model."""
    out = tmp_path / "run"
    args = ["train", "--train", shop_data / "train.csv", "--valid", shop_data / "valid.csv"]
    args += ["--spec", shop_data / "spec.json", "--out", out, "--learning-rate", "1e30", "--epochs", "2"]
    one_line_error(
        [*args, "--embedding-dim", "4", "--blocks", "1", "--block-units", "8"], "training diverged"
    )
    assert not out.exists()  # nothing a --resume could use, so nothing that blocks the next run


def test_more_cpu_devices_than_rows_in_a_batch_is_refused_before_training(tmp_path):
    """A replica without rows would fail inside TensorFlow with a traceback."""
    data = tmp_path / "d.csv"
    data.write_text("x,label\na,1\nb,0\n")
    spec = tmp_path / "s.json"
    spec.write_text(
        json.dumps(
            {
                "label": "label",
                "fields": [{"name": "x", "kind": "categorical", "side": "item", "num_buckets": 5}],
            }
        )
    )
    args = ["train", "--train", data, "--valid", data, "--spec", spec, "--out", tmp_path / "run"]
    one_line_error(
        [*args, "--distribute", "mirrored", "--cpu-devices", "8", "--batch-size", "4"], "--cpu-devices 8"
    )
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------- read-only outputs
def test_outputs_on_a_read_only_file_system_are_named_in_one_line(shop_data, tmp_path):
    """Each writing command pointed into a read-only folder: exit 2 and one line naming the output,
    never the hidden temporary file it would have written first."""
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to mount a read-only file system")
    mnt = tmp_path / "ro"
    mnt.mkdir()
    train = shop_data / "train.csv"
    commands = {
        "x.json": ["spec", "infer", str(train), "--label", "click", "--out", str(mnt / "x.json")],
        "shop": ["data", "shop", "--interactions", "50", "--out", str(mnt / "shop")],
    }
    script = "; ".join(
        f"{sys.executable} -m masknet_edge {' '.join(args)} 2>>{tmp_path / name}.err; "
        f"echo $? >> {tmp_path / name}.rc"
        for name, args in commands.items()
    )
    cmd = f"mount -t tmpfs -o ro tmpfs {mnt} && {script}"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(["unshare", "-rm", "sh", "-c", cmd], cwd=root, capture_output=True, text=True)
    if not (tmp_path / "shop.rc").exists():
        pytest.skip(f"cannot mount a read-only file system here: {out.stderr.strip()[:200]}")
    for name in commands:
        err = (tmp_path / f"{name}.err").read_text()
        assert (tmp_path / f"{name}.rc").read_text().strip() == "2", err
        lines = [line for line in err.splitlines() if line.startswith("Error:")]
        assert lines == [f"Error: Read-only file system: {mnt / name}"], err
