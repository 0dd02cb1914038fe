"""What `pip install` puts into site-packages: one package of ours, `masknet_edge`, nothing generic."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from the tracked files (a copy, so the build writes nothing into the checkout)."""
    try:
        import setuptools

        tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (ImportError, OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot build the wheel here ({exc}): needs git and setuptools in this venv")
    if tuple(int(p) for p in setuptools.__version__.split(".")[:2]) < (70, 1):
        pytest.skip(
            f"setuptools {setuptools.__version__} cannot build wheels by itself (70.1 can; `make venv`)"
        )
    src = tmp_path_factory.mktemp("src")
    for name in tracked.stdout.splitlines():
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(src),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (found,) = out.glob("masknet_edge-*.whl")
    return found


def test_the_wheel_installs_one_namespace(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names}
    assert top == {"masknet_edge", next(t for t in top if t.endswith(".dist-info"))}, sorted(top)
    for package in ("edge_runtime", "train", "convert", "cli"):
        assert f"masknet_edge/{package}/__init__.py" in names, package
    assert not [n for n in names if "benchmarks" in n or n.startswith("tests/")]


def test_the_wheel_carries_the_conformance_vectors_and_the_command(wheel):
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    assert "masknet_edge/edge_runtime/conformance/encoding-v1.json" in names
    assert "masknet_edge/edge_runtime/conformance/behaviour-v1.json" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "masknet = masknet_edge.cli.main:main" in archive.read(entry_points).decode()
