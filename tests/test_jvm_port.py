"""The reference JVM encoder (ports/jvm), written from ENCODING.md, against the conformance file and bundles.

Needs Java 17 and Guava from Debian's packages (`make test` installs them as root); skips with the
reason where they are missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from masknet_edge.edge_runtime.conformance import BEHAVIOUR_FILE, CONFORMANCE_FILE
from tests.conftest import ROOT

GUAVA = Path("/usr/share/java/guava.jar")
SOURCES = sorted((ROOT / "ports" / "jvm" / "src" / "masknet" / "edge").glob("*.java"))

pytestmark = pytest.mark.skipif(
    shutil.which("javac") is None or shutil.which("java") is None or not GUAVA.is_file(),
    reason="no Java 17 / Guava: apt-get install default-jdk-headless libguava-java (make test does, as root)",
)


@pytest.fixture(scope="module")
def classes(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("jvm")
    subprocess.run(["javac", "-cp", str(GUAVA), "-d", str(out), *map(str, SOURCES)], check=True, timeout=300)
    return out


def _run(classes: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["java", "-cp", f"{classes}:{GUAVA}", "masknet.edge.Conformance", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("cases", [CONFORMANCE_FILE, BEHAVIOUR_FILE], ids=["encoding", "behaviour"])
def test_jvm_port_passes_every_conformance_case(classes, cases):
    import json

    n = len(json.loads(cases.read_text())["cases"])
    res = _run(classes, str(cases))
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"OK: {n}/{n} conformance cases" in res.stdout


def test_jvm_encoder_reproduces_the_golden_records_of_real_bundles(classes, bundles):
    res = _run(classes, str(CONFORMANCE_FILE), *(str(p) for p in bundles.values()))
    assert res.returncode == 0, res.stdout + res.stderr
    for p in bundles.values():
        assert f"golden records of {p.name}" in res.stdout
    assert "FAILED" not in res.stdout


def test_jvm_runner_fails_on_a_wrong_expectation(classes, tmp_path):
    """The runner can fail: a conformance file with one altered expectation is reported."""
    import json

    data = json.loads(CONFORMANCE_FILE.read_text())
    case = next(c for c in data["cases"] if "expected" in c and "cat_ids" in c["expected"])
    case["expected"]["cat_ids"][0][0] += 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    res = _run(classes, str(bad))
    assert res.returncode == 1 and case["id"] in res.stdout


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        ("behaviour", lambda case: case["expected"]["items"]["decayed"].__setitem__(0, 0.2500000001)),
        ("behaviour", lambda case: case["expected"]["context"]["recent"].reverse()),
        ("replay", lambda case: case["expected"][3].__setitem__("since_item", 7.0)),
    ],
)
def test_jvm_behaviour_runner_fails_on_a_wrong_expectation(classes, tmp_path, kind, change):
    """A behaviour value off by 1e-9 relative, a history in the wrong order, a replayed row: reported."""
    import json

    data = json.loads(BEHAVIOUR_FILE.read_text())
    case = next(c for c in data["cases"] if c["kind"] == kind and c["id"].startswith(("10.1-keep", "10.4")))
    change(case)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    res = _run(classes, str(bad))
    assert res.returncode == 1 and case["id"] in res.stdout, res.stdout
