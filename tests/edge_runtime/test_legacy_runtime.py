"""The same bundle through the legacy interpreter (numpy < 2 + tflite-runtime, as on Pi-class boxes).

Uses the second venv that `make test` creates (`make legacy`); skips with a reason where it could not
be created (no tflite-runtime wheel for this Python).
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from edge_runtime.ranker import Ranker
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
LEGACY = ROOT / ".venv-legacy" / "bin" / "python"


def _legacy_ok() -> bool:
    if not LEGACY.exists():
        return False
    r = subprocess.run(
        [str(LEGACY), "-c", "import tflite_runtime, numpy; assert numpy.__version__ < '2'"],
        capture_output=True,
    )
    return r.returncode == 0


def _run_legacy(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in the legacy venv with this checkout importable."""
    return subprocess.run(
        [str(LEGACY), "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture(scope="module")
def legacy_bundles(bundles, shop_run, tmp_path_factory):
    if not _legacy_ok():
        pytest.skip(
            "no legacy venv with tflite-runtime and numpy<2 (run `make legacy`; needs a tflite-runtime wheel)"
        )
    from convert.cli import main

    out = tmp_path_factory.mktemp("legacy") / "shop-dynamic-per-tensor.mnb"
    res = CliRunner().invoke(
        main, ["convert", str(shop_run), "--quantize", "dynamic", "--per-tensor", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    return {"none": bundles["none"], "int8": bundles["int8"], "dynamic-per-tensor": out}


@pytest.mark.parametrize("mode", ["none", "int8", "dynamic-per-tensor"])
def test_legacy_interpreter_gives_the_same_scores(legacy_bundles, mode):
    path = legacy_bundles[mode]
    code = (
        "import json, sys\n"
        "import numpy\n"
        "from edge_runtime.ranker import Ranker\n"
        f"r = Ranker.load({str(path)!r}, backend='tflite_runtime')\n"
        "scores = r.score_inputs(r.encoder.encode(r.bundle.golden['records']))\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'ai_edge_litert')]\n"
        "print(json.dumps({'backend': r.backend, 'numpy': numpy.__version__, 'scores': scores.tolist(),\n"
        "                  'verify': r.verify().ok, 'bad': bad}))\n"
    )
    out = _run_legacy(code)
    assert out.returncode == 0, out.stderr[-1500:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["backend"] == "tflite_runtime" and got["numpy"].startswith("1.") and not got["bad"]
    ranker = Ranker.load(path)
    assert ranker.backend == "litert"
    ours = ranker.score_inputs(ranker.encoder.encode(ranker.bundle.golden["records"]))
    tol = 1e-6 if mode == "none" else ranker.bundle.golden["tolerance"]
    np.testing.assert_allclose(got["scores"], ours, atol=tol)
    assert got["verify"]


def test_per_channel_dynamic_bundle_is_refused_clearly_by_the_legacy_runtime(bundles):
    if not _legacy_ok():
        pytest.skip("no legacy venv with tflite-runtime")
    code = (
        "from edge_runtime.ranker import Ranker\n"
        "from edge_runtime.errors import BundleError\n"
        "try:\n"
        f"    Ranker.load({str(bundles['dynamic'])!r}, backend='tflite_runtime')\n"
        "except BundleError as e:\n"
        "    print('refused:', str(e).splitlines()[0])\n"
        "else:\n"
        "    print('loaded')\n"
    )
    out = _run_legacy(code)
    line = out.stdout.strip().splitlines()[-1]
    # tflite-runtime 2.14 lacks the per-channel dynamic FULLY_CONNECTED version: one clear refusal
    assert "refused:" in line and "cannot load the model" in line, line
