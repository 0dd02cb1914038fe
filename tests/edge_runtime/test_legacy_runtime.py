"""The same bundle through the legacy interpreter (numpy < 2 + tflite-runtime, as on Pi-class boxes).

Uses the second venv that `make test` creates (`make legacy`); skips with a reason where it could not
be created (no tflite-runtime wheel for this Python).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from masknet_edge.edge_runtime.ranker import Ranker
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


def _device_tree(folder: Path) -> Path:
    """What a device installs, and nothing more: the ``masknet_edge`` root and its runtime package."""
    package = folder / "masknet_edge"
    if not package.exists():
        package.mkdir(parents=True)
        shutil.copy(ROOT / "masknet_edge" / "__init__.py", package / "__init__.py")
        (package / "edge_runtime").symlink_to(ROOT / "edge_runtime", target_is_directory=True)
    return folder


def _run_legacy(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in the legacy venv with only the runtime importable (no install of ours there)."""
    tree = _device_tree(tmp_path / "device")
    return subprocess.run(
        [str(LEGACY), "-c", code],
        capture_output=True,
        text=True,
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )


@pytest.fixture(scope="module")
def legacy_bundles(bundles, shop_run, tmp_path_factory):
    if not _legacy_ok():
        pytest.skip(
            "no legacy venv with tflite-runtime and numpy<2 (run `make legacy`; needs a tflite-runtime wheel)"
        )
    from masknet_edge.cli.main import main

    out = tmp_path_factory.mktemp("legacy") / "shop-dynamic-per-tensor.mnb"
    res = CliRunner().invoke(
        main, ["convert", str(shop_run), "--quantize", "dynamic", "--per-tensor", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    return {"none": bundles["none"], "int8": bundles["int8"], "dynamic-per-tensor": out}


@pytest.mark.parametrize("mode", ["none", "int8", "dynamic-per-tensor"])
def test_legacy_interpreter_gives_the_same_scores(legacy_bundles, mode, tmp_path):
    path = legacy_bundles[mode]
    code = (
        "import json, sys\n"
        "import numpy\n"
        "from masknet_edge.edge_runtime.ranker import Ranker\n"
        f"r = Ranker.load({str(path)!r}, backend='tflite_runtime')\n"
        "scores = r.score_inputs(r.encoder.encode(r.bundle.golden['records']))\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'ai_edge_litert', 'click')]\n"
        "print(json.dumps({'backend': r.backend, 'numpy': numpy.__version__, 'scores': scores.tolist(),\n"
        "                  'verify': r.verify().ok, 'bad': bad}))\n"
    )
    out = _run_legacy(code, tmp_path)
    assert out.returncode == 0, out.stderr[-1500:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["backend"] == "tflite_runtime" and got["numpy"].startswith("1.") and not got["bad"]
    ranker = Ranker.load(path)
    assert ranker.backend == "litert"
    ours = ranker.score_inputs(ranker.encoder.encode(ranker.bundle.golden["records"]))
    tol = 1e-6 if mode == "none" else ranker.bundle.golden["tolerance"]
    np.testing.assert_allclose(got["scores"], ours, atol=tol)
    assert got["verify"]


def test_per_channel_dynamic_bundle_is_refused_clearly_by_the_legacy_runtime(bundles, tmp_path):
    if not _legacy_ok():
        pytest.skip("no legacy venv with tflite-runtime")
    code = (
        "from masknet_edge.edge_runtime.ranker import Ranker\n"
        "from masknet_edge.edge_runtime.errors import BundleError\n"
        "try:\n"
        f"    Ranker.load({str(bundles['dynamic'])!r}, backend='tflite_runtime')\n"
        "except BundleError as e:\n"
        "    print('refused:', str(e).splitlines()[0])\n"
        "else:\n"
        "    print('loaded')\n"
    )
    out = _run_legacy(code, tmp_path)
    line = out.stdout.strip().splitlines()[-1]
    # tflite-runtime 2.14 lacks the per-channel dynamic FULLY_CONNECTED version: one clear refusal
    assert "refused:" in line and "cannot load the model" in line, line
