"""Shared fixtures: paths to the real data beside the project, skipped when absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
HAS_TF = importlib.util.find_spec("tensorflow") is not None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real CTR data; skips the test when it is not beside the checkout."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (../shared/data beside the checkout)")
    return SHARED_DATA


needs_tf = pytest.mark.skipif(
    not HAS_TF, reason="TensorFlow is not installed (pip install 'masknet-edge[train-cpu]')"
)


# --------------------------------------------------------------- trained artifacts (slow, shared)
TINY_MODEL = [
    "--epochs",
    "3",
    "--batch-size",
    "256",
    "--embedding-dim",
    "4",
    "--blocks",
    "2",
    "--block-units",
    "16",
    "--mlp",
    "16",
    "--patience",
    "3",
]


@pytest.fixture(scope="session")
def shop_data(tmp_path_factory) -> Path:
    """A small generated shop world written as CSVs plus its spec (no TensorFlow needed)."""
    pytest.importorskip("pandas")
    from click.testing import CliRunner

    from masknet_edge.cli.main import main

    out = tmp_path_factory.mktemp("shop")
    res = CliRunner().invoke(
        main,
        [
            "data",
            "shop",
            "--out",
            str(out),
            "--users",
            "200",
            "--items",
            "60",
            "--interactions",
            "6000",
            "--seed",
            "3",
        ],
    )
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="session")
def shop_run(shop_data, tmp_path_factory) -> Path:
    """A tiny SerMaskNet trained on the shop world (a few seconds)."""
    if not HAS_TF:
        pytest.skip("TensorFlow is not installed")
    from click.testing import CliRunner

    from masknet_edge.cli.main import main

    run = tmp_path_factory.mktemp("runs") / "shop"
    d = shop_data
    res = CliRunner().invoke(
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
            "--oracle-column",
            "true_ctr",
            "--out",
            str(run),
            "--json",
            *TINY_MODEL,
        ],
    )
    assert res.exit_code == 0, res.output
    return run


@pytest.fixture(scope="session")
def bundles(shop_run, tmp_path_factory) -> dict[str, Path]:
    """Bundles of the tiny run in the float, dynamic and int8 modes."""
    from click.testing import CliRunner

    from masknet_edge.cli.main import main

    out = tmp_path_factory.mktemp("bundles")
    paths = {}
    for mode in ("none", "dynamic", "int8"):
        p = out / f"shop-{mode}.mnb"
        res = CliRunner().invoke(
            main,
            [
                "convert",
                str(shop_run),
                "--quantize",
                mode,
                "--out",
                str(p),
                "--calibration-rows",
                "256",
                "--json",
            ],
        )
        assert res.exit_code == 0, res.output
        paths[mode] = p
    return paths
