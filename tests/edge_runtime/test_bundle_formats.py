"""Every bundle format ever released stays readable: the stored fixtures load, verify and rank."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from masknet_edge.edge_runtime.bundle import BUNDLE_FORMAT_VERSION, read_bundle
from masknet_edge.edge_runtime.errors import BundleError
from masknet_edge.edge_runtime.ranker import Ranker

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bundles"
STORED = sorted(FIXTURES.glob("format-v*.mnb"))


def test_every_format_up_to_todays_has_stored_fixtures():
    versions = {int(p.name.split("-")[1][1:]) for p in STORED}
    assert versions == set(range(1, BUNDLE_FORMAT_VERSION + 1)), (
        "a bundle format without stored fixtures: run `python -m tests.fixtures.make_bundle_fixtures`"
    )


@pytest.mark.parametrize("path", STORED, ids=lambda p: p.name)
def test_a_stored_bundle_loads_verifies_and_ranks(path):
    pytest.importorskip("cryptography")
    ranker = Ranker.load(path, trusted_keys=[FIXTURES / "fixtures.pem.pub"])  # signature and golden records
    assert ranker.bundle.signed_by and ranker.verify().ok
    records = ranker.bundle.golden["records"]
    top = ranker.rank(records[0], records, k=3)  # the context's fields are read from the context only
    assert len(top) == 3 and all(0.0 <= s <= 1.0 for _, s in top)


def test_a_newer_format_is_refused_naming_the_runtime_that_reads_it(tmp_path):
    path = shutil.copy(STORED[0], tmp_path / "future.mnb")
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members["manifest.json"])
    manifest.update(format_version=BUNDLE_FORMAT_VERSION + 1, toolkit_version="9.1.0")
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(BundleError, match=r"newer than this runtime .* masknet-edge 9\.1\.0 or later"):
        read_bundle(path)
