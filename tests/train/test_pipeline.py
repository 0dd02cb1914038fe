"""The training pipeline end to end: run directory, metrics, resume, streaming, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from masknet_edge.cli.main import main
from tests.conftest import TINY_MODEL

pytestmark = pytest.mark.slow


def _train_args(d, out, *extra, train=None):
    return [
        "train",
        "--train",
        str(train or d / "train.csv"),
        "--valid",
        str(d / "valid.csv"),
        "--spec",
        str(d / "spec.json"),
        "--out",
        str(out),
        *TINY_MODEL,
        *extra,
    ]


def test_run_directory_contents(shop_run):
    names = {p.name for p in shop_run.iterdir()}
    assert {
        "model.keras",
        "spec.json",
        "config.json",
        "metrics.json",
        "history.json",
        "training_curve.png",
        "checkpoints",
    } <= names
    m = json.loads((shop_run / "metrics.json").read_text())
    assert set(m["valid"]) >= {"auc", "logloss"} and set(m["test"]) >= {"auc", "logloss", "oracle_auc"}
    assert 0.5 < m["test"]["auc"] <= m["test"]["oracle_auc"] + 0.02
    assert m["epochs_trained"] == len(json.loads((shop_run / "history.json").read_text())) == 3
    model = keras.saving.load_model(shop_run / "model.keras", safe_mode=True)
    assert model.name == "sermasknet"
    assert not [p for p in shop_run.rglob("*") if ".partial" in p.name]


def test_masknet_gets_close_to_the_oracle(tmp_path):
    """On the planted shop world the best AUC is known; MaskNet must come close to it."""
    runner = CliRunner()
    d = tmp_path / "data"
    res = runner.invoke(
        main,
        [
            "data",
            "shop",
            "--out",
            str(d),
            "--users",
            "300",
            "--items",
            "100",
            "--interactions",
            "40000",
            "--seed",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        main,
        [
            "train",
            "--train",
            str(d / "train.csv"),
            "--valid",
            str(d / "valid.csv"),
            "--test",
            str(d / "test.csv"),
            "--spec",
            str(d / "spec.json"),
            "--out",
            str(tmp_path / "run"),
            "--oracle-column",
            "true_ctr",
            "--epochs",
            "6",
            "--block-units",
            "64",
            "--batch-size",
            "512",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    test = json.loads(res.output[res.output.index("{") :])["test"]
    assert test["oracle_auc"] - test["auc"] < 0.03, test


@pytest.mark.parametrize("cache", ["--encoded-cache", "--no-encoded-cache"])
def test_streaming_mode_trains_with_bounded_chunks(shop_data, tmp_path, cache):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    args = ["--in-memory-rows", "0", "--chunk-rows", "1000", "--cache-dir", str(cache_dir), cache, "--json"]
    res = CliRunner().invoke(main, _train_args(shop_data, tmp_path / "run", *args))
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["train_mode"] == "streamed" and m["valid"]["auc"] > 0.55
    if cache == "--encoded-cache":
        assert m["encoded_cache_mib"] > 0
    else:
        assert m["encoded_cache_mib"] is None
    assert list(cache_dir.iterdir()) == []  # the encoded cache lives only while the run trains


def test_a_bad_cache_folder_is_named_before_training(shop_data, tmp_path):
    args = ["--in-memory-rows", "0", "--cache-dir", str(tmp_path / "no-such-folder")]
    res = CliRunner().invoke(main, _train_args(shop_data, tmp_path / "run", *args))
    assert res.exit_code == 2 and "no-such-folder: no such folder for the encoded cache" in res.output
    assert "--cache-dir" in res.output and not (tmp_path / "run").exists()


def test_existing_run_directory_is_refused(shop_data, shop_run):
    res = CliRunner().invoke(main, _train_args(shop_data, shop_run))
    assert res.exit_code == 2
    assert "already exists" in res.output and "--overwrite" in res.output


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda df: df.drop(columns=["brand"]), r"missing columns \['brand'\]"),
        (lambda df: df.assign(click=df["click"] * 2), r"row \d+: label 'click' must be 0 or 1, got 2"),
        (lambda df: df.assign(price="cheap"), r"row 1: column 'price': cannot parse 'cheap' as a number"),
    ],
)
def test_bad_training_file_fails_before_training(shop_data, tmp_path, break_it, message):
    bad = tmp_path / "train.csv"
    break_it(pd.read_csv(shop_data / "train.csv")).iloc[1:50].to_csv(bad, index=False)
    out = tmp_path / "run"
    res = CliRunner().invoke(main, _train_args(shop_data, out, train=bad))
    assert res.exit_code == 2, res.output
    assert len(res.output.strip().splitlines()) == 1
    import re

    assert re.search(message, res.output), res.output
    assert not out.exists()


def test_empty_and_missing_files(shop_data, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    for path, msg in ((empty, "the file is empty"), (tmp_path / "nope.csv", "no such data file")):
        res = CliRunner().invoke(
            main,
            [
                "train",
                "--train",
                str(path),
                "--valid",
                str(shop_data / "valid.csv"),
                "--spec",
                str(shop_data / "spec.json"),
                "--out",
                str(tmp_path / "r"),
            ],
        )
        assert res.exit_code == 2 and msg in res.output, res.output


def test_killed_run_resumes_from_last_finished_epoch(shop_data, tmp_path):
    out = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "masknet_edge",
        *_train_args(shop_data, out, "--epochs", "4", "--patience", "9"),
    ]
    args = [a for a in args]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = out / "checkpoints" / "state.json"
    deadline = time.time() + 120
    while time.time() < deadline and not (state.exists() and json.loads(state.read_text())["epoch"] >= 1):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads(state.read_text())["epoch"]
    assert 1 <= done <= 4
    assert (out / "checkpoints" / "last.keras").is_file()
    # a resumed run continues as configured: options that would change it are refused, not ignored
    res = CliRunner().invoke(
        main, ["train", "--train", "x", "--batch-size", "7", "--out", str(out), "--resume"]
    )
    assert res.exit_code == 2 and "--train, --batch-size cannot change it" in res.output, res.output
    res = CliRunner().invoke(main, ["train", "--out", str(out), "--resume", "--json"])
    assert res.exit_code == 0, res.output
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    # --epochs is honoured: the run goes on to the new limit and records it
    res = CliRunner().invoke(main, ["train", "--out", str(out), "--resume", "--epochs", "5", "--json"])
    assert res.exit_code == 0, res.output
    assert [h["epoch"] for h in json.loads((out / "history.json").read_text())] == [1, 2, 3, 4, 5]
    assert json.loads((out / "config.json").read_text())["train"]["epochs"] == 5


def test_spec_infer_proposes_kinds(tmp_path):
    df = pd.DataFrame(
        {
            "user_id": [f"u{i % 50}" for i in range(400)],
            "age": np.arange(400) % 60 + 18,
            "count": np.exp(np.random.default_rng(0).normal(0, 2.5, 400)).astype(int),
            "genres": ["Action|Drama", "Comedy"] * 200,
            "device": [("ios", "web", "tv")[i % 3] for i in range(400)],  # varies within each user
            "click": [0, 1] * 200,
        }
    )
    df.to_csv(tmp_path / "d.csv", index=False)
    res = CliRunner().invoke(
        main,
        [
            "spec",
            "infer",
            str(tmp_path / "d.csv"),
            "--label",
            "click",
            "--context",
            "user_id,age",
            "--out",
            str(tmp_path / "spec.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    fields = {f["name"]: f for f in json.loads((tmp_path / "spec.json").read_text())["fields"]}
    assert fields["user_id"]["kind"] == "categorical" and fields["user_id"]["side"] == "context"
    assert fields["age"]["kind"] == "categorical"  # 60 integer codes, each ~7 rows: like FuxiCTR's age
    assert fields["count"]["transform"] == "log1p_standardize"
    assert fields["genres"]["kind"] == "multi_categorical" and fields["genres"]["separator"] == "|"
    assert fields["device"]["side"] == "item"


@pytest.mark.needs_data
def test_public_data_loaders(shared_data, tmp_path):
    from masknet_edge.train.datasets import prepare

    ml = prepare("movielens", shared_data / "movielens-100k", tmp_path / "ml", seed=0)
    train = pd.read_csv(ml["train"])
    assert len(train) == 80_000 and abs(train["label"].mean() - 0.55) < 0.01
    assert train["genres"].str.contains("|", regex=False).any()
    cr = prepare("criteo", shared_data / "criteo-8k", tmp_path / "cr")
    assert len(pd.read_csv(cr["train"])) == 7200 and len(pd.read_csv(cr["test"])) == 391
    av = prepare("avazu", shared_data / "avazu-8k", tmp_path / "av")
    assert len(pd.read_csv(av["valid"])) == 480  # dev.csv: 480 rows, no header


def test_mirrored_training_on_two_logical_cpu_devices(shop_data, tmp_path):
    """tf.distribute.MirroredStrategy, tested here by splitting the CPU into two devices."""
    out = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "masknet_edge",
        *_train_args(shop_data, out, "--distribute", "mirrored", "--cpu-devices", "2", "--json"),
    ]
    res = subprocess.run(
        args, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    )
    assert res.returncode == 0, res.stderr[-2000:]
    m = json.loads((out / "metrics.json").read_text())
    assert m["replicas"] == 2 and m["valid"]["auc"] > 0.55


def test_streamed_file_with_a_bad_row_fails_before_training(shop_data, tmp_path):
    df = pd.read_csv(shop_data / "train.csv")
    df.loc[len(df) - 3, "click"] = 7  # deep in the last chunk
    bad = tmp_path / "train.csv"
    df.to_csv(bad, index=False)
    out = tmp_path / "run"
    args = _train_args(shop_data, out, "--in-memory-rows", "0", "--chunk-rows", "500", train=bad)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    assert f"row {len(df) - 2}: label 'click' must be 0 or 1, got 7" in res.output
    assert not out.exists()


@pytest.mark.parametrize("restore", [True, False])
def test_a_plateau_goes_on_from_the_best_weights(tmp_path, restore):
    import keras

    from masknet_edge.train.config import TrainConfig
    from masknet_edge.train.epochs import EpochCallback

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    x = np.linspace(-1, 1, 50, dtype=np.float32)[:, None]
    y = (x[:, 0] > 0).astype(np.float32)
    (tmp_path / "checkpoints").mkdir()
    state = {"epoch": 0, "best_auc": None, "best_epoch": None, "wait": 0, "history": [], "train_seconds": 0.0}
    state["learning_rate"] = 1e-3
    cb = EpochCallback(tmp_path, x, y, TrainConfig(restore_on_plateau=restore, patience=5), state)
    cb.set_model(model)
    good = [np.array([[3.0]], np.float32), np.zeros(1, np.float32)]
    model.set_weights(good)  # AUC 1
    cb.on_epoch_begin(0)
    cb.on_epoch_end(0, {"loss": 0.1})
    model.set_weights([-good[0], good[1]])  # AUC 0: a plateau
    cb.on_epoch_begin(1)
    cb.on_epoch_end(1, {"loss": 0.2})
    assert state["best_epoch"] == 1 and state["wait"] == 1 and state["learning_rate"] == pytest.approx(1e-4)
    expected = good[0] if restore else -good[0]
    np.testing.assert_allclose(model.get_weights()[0], expected)
    # a resumed process has no best weights in memory: they come from best.keras
    fresh = EpochCallback(tmp_path, x, y, TrainConfig(), state)
    fresh.set_model(model)
    model.set_weights([-good[0], good[1]])
    fresh.restore_best()
    np.testing.assert_allclose(model.get_weights()[0], good[0])


def test_importing_the_pipeline_does_not_import_tensorflow():
    code = (
        "import sys, masknet_edge.train.pipeline, masknet_edge.train.batches\n"
        "import masknet_edge.cli.training, masknet_edge.cli.data, masknet_edge.cli.conversion\n"
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_default_batch_size_is_the_one_chosen_on_validation():
    from masknet_edge.train.config import DEFAULT_BATCH_SIZE, TrainConfig

    assert DEFAULT_BATCH_SIZE == 256  # the ablation's best on mean validation AUC (BENCHMARKS.md)
    assert TrainConfig().batch_size is None and TrainConfig(batch_size=64).batch_size == 64


@pytest.mark.parametrize("layout", ["grouplens-100k", "grouplens-1m"])
def test_movielens_loads_from_grouplens_files(tmp_path, layout):
    from masknet_edge.train.datasets import load_movielens

    rows = [(u, i, 1 + (u * i) % 5, 880000000 + u * 7 + i) for u in range(1, 21) for i in range(1, 11)]
    if layout == "grouplens-100k":
        (tmp_path / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
        (tmp_path / "u.user").write_text(
            "".join(f"{u}|{20 + u}|{'MF'[u % 2]}|writer|0{u:04d}\n" for u in range(1, 21))
        )
        flags = "|".join("1" if g in (1, 8) else "0" for g in range(19))
        (tmp_path / "u.item").write_bytes(
            "".join(f"{i}|Movie {i} (1995)|01-Jan-1995||http://x|{flags}\n" for i in range(1, 11)).encode(
                "latin-1"
            )
        )
    else:
        (tmp_path / "ratings.dat").write_text("".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in rows))
        (tmp_path / "users.dat").write_text(
            "".join(f"{u}::{'MF'[u % 2]}::25::4::0{u:04d}\n" for u in range(1, 21))
        )
        (tmp_path / "movies.dat").write_bytes(
            "".join(f"{i}::Movie {i} (1995)::Action|Drama\n" for i in range(1, 11)).encode("latin-1")
        )
    (train, valid, test), spec = load_movielens(tmp_path)
    assert len(train) + len(valid) + len(test) == len(rows)
    assert set(train.columns) >= {
        "user_id",
        "item_id",
        "age",
        "gender",
        "zip_code",
        "release_year",
        "genres",
        "label",
    }
    assert set(train["genres"]) == {"Action|Drama"} and set(train["release_year"]) == {"1995"}
    names = {f["name"]: f for f in spec["fields"]}
    assert names["user_id"]["side"] == "context" and names["genres"]["kind"] == "multi_categorical"


def test_training_leaves_a_core_for_the_input_pipeline():
    """Without a GPU, TensorFlow's ops get every core but one; the user's TF_NUM_INTRAOP_THREADS, or a
    TensorFlow already running in the process, are left as they are."""
    code = (
        "from masknet_edge.train.devices import leave_a_core_for_input as leave\n"
        "import tensorflow as tf\n"
        "print(leave(3), tf.config.threading.get_intra_op_parallelism_threads())\n"
        "tf.constant(1.0) + 1.0\n"  # TensorFlow is running: its pools are fixed
        "print(leave(5))\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_NUM_INTRAOP_THREADS", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2", "2", "None"], out.stderr[-2000:]
    env["TF_NUM_INTRAOP_THREADS"] = "2"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[:1] == ["None"]
