"""The same ranking on arm64: the runtime under user-mode emulation, against this machine's.

`make emulation` builds the arm64 device (Debian's qemu-user and arm64 Python 3.11, and our wheel
installed there by pip under emulation, `ports/emulation/sysroot.sh`) and runs these tests; `make
test` leaves them out. They skip with the reason where the device is missing. The checks run this
checkout's runtime (put before the installed copy), except the one of the installed wheel itself.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from masknet_edge.edge_runtime.ranker import Ranker
from tests.conftest import ROOT

CHECK = ROOT / "ports" / "emulation" / "device_check.py"
_spec = importlib.util.spec_from_file_location("device_check", CHECK)
device_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(device_check)
request_for = device_check.request_for  # the host scores what the device scores

pytestmark = [pytest.mark.emulation, pytest.mark.slow]
SYSROOT = ROOT / "build" / "emulation" / "arm64"
PYTHON = SYSROOT / "root" / "usr" / "bin" / "python3.11"
QEMU = SYSROOT / "qemu" / "qemu-aarch64"
FIXTURES = ROOT / "tests" / "fixtures" / "bundles"
CONTEXT = {"user_id": "u1", "age": 30, "gender": "F", "device": "ios"}


@pytest.fixture(scope="module")
def device(tmp_path_factory) -> Path:
    """What a device installs of ours: the namespace root, the command line, the runtime."""
    if QEMU is None:
        pytest.skip(
            "no qemu-aarch64-static: apt-get install qemu-user-static (`make emulation` does, as root)"
        )
    if not PYTHON.exists():
        pytest.skip("no arm64 sysroot: run `make emulation` (ports/emulation/sysroot.sh)")
    tree = tmp_path_factory.mktemp("arm64-device")
    package = tree / "masknet_edge"
    package.mkdir()
    for name in ("__init__.py", "__main__.py"):
        shutil.copy(ROOT / "masknet_edge" / name, package / name)
    (package / "cli").symlink_to(ROOT / "masknet_edge" / "cli", target_is_directory=True)
    (package / "edge_runtime").symlink_to(ROOT / "edge_runtime", target_is_directory=True)
    return tree


def _emulated(device: Path | None, *args: str) -> subprocess.CompletedProcess:
    """Run the emulated Python: with this checkout's runtime first, or (``device`` None) only what pip
    installed."""
    path = f"{device}:{SYSROOT / 'site'}" if device is not None else str(SYSROOT / "site")
    env = {**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [str(QEMU), "-L", str(SYSROOT / "root"), str(PYTHON), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=SYSROOT,
        timeout=900,
    )


@pytest.fixture(scope="module")
def request_file(shop_data, tmp_path_factory) -> Path:
    with (shop_data / "items.csv").open() as fh:
        items = list(csv.DictReader(fh))[:100]
    path = tmp_path_factory.mktemp("request") / "request.json"
    path.write_text(json.dumps({"context": CONTEXT, "candidates": items}))
    return path


def _top(scores: np.ndarray, k: int = 10) -> set[int]:
    return set(np.argsort(-scores, kind="stable")[:k].tolist())


def test_pip_installed_the_runtime_on_arm64_without_a_compiler(device):
    """What `pip install masknet-edge[edge]` gives an arm64 box: no compiler, no FarmHash binding."""
    assert not [
        p for p in (SYSROOT / "root" / "usr" / "bin").iterdir() if p.name.startswith(("gcc", "cc", "c++"))
    ]
    code = (
        "import json, platform; from importlib import metadata\n"
        "import masknet_edge\n"
        "from masknet_edge.edge_runtime import hashing\n"
        "from masknet_edge.edge_runtime.conformance import run_conformance\n"
        "r = run_conformance()\n"
        "print(json.dumps({'file': masknet_edge.__file__, 'machine': platform.machine(),\n"
        "    'farmhash': hashing.FARMHASH, 'litert': metadata.version('ai-edge-litert'),\n"
        "    'failures': r.failures, 'cases': r.cases}))\n"
    )
    run = _emulated(None, "-c", code)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["file"].startswith(str(SYSROOT / "site")) and got["machine"] == "aarch64", got
    assert got["farmhash"] == "python" and got["failures"] == [] and got["cases"] > 50, got


def test_arm64_runs_every_mode_as_this_machine_does(device, bundles, request_file):
    """Conformance, golden records and the scores of one request of 100 candidates, per bundle."""
    paths = [bundles["none"], bundles["dynamic"], bundles["int8"], *sorted(FIXTURES.glob("*.mnb"))]
    run = _emulated(device, str(CHECK), str(request_file), *map(str, paths))
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["machine"] == "aarch64" and got["farmhash"] == "python", got
    assert got["conformance"]["failures"] == [] and got["conformance"]["cases"] > 50
    request = json.loads(request_file.read_text())
    for path in paths:
        arm = got["bundles"][str(path)]
        assert arm["verify_ok"], (path.name, arm["max_score_diff"], arm["tolerance"])
        here = Ranker.load(path)
        ours = here.score(*request_for(here, request))
        theirs = np.asarray(arm["scores"], dtype=np.float32)
        tolerance = here.bundle.golden["tolerance"]
        assert np.max(np.abs(ours - theirs)) <= tolerance, (path.name, float(np.max(np.abs(ours - theirs))))
        assert len(_top(ours) & _top(theirs)) >= 9, path.name  # at most one near-tie swapped at the edge


def test_masknet_verify_says_ok_on_arm64(device, bundles):
    run = _emulated(device, "-m", "masknet_edge", "verify", str(bundles["int8"]), "--json")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["ok"] and report["conformance"]["failures"] == []


def test_a_signed_bundle_is_checked_on_arm64(device):
    """The signature check (cryptography's arm64 wheel) and the stored fixtures of format 1."""
    bundle = FIXTURES / "format-v1-int8.mnb"
    key = FIXTURES / "fixtures.pem.pub"
    run = _emulated(device, "-m", "masknet_edge", "verify", str(bundle), "--trusted-key", str(key))
    assert run.returncode == 0 and "signature OK" in run.stdout, run.stdout + run.stderr[-2000:]
