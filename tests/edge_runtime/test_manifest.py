"""The bundle manifest's one owner: what the converter builds is what the runtime reads back."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from masknet_edge.edge_runtime.bundle import read_bundle
from masknet_edge.edge_runtime.errors import BundleError
from masknet_edge.edge_runtime.manifest import PARTS, Manifest, Quantization

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bundles" / "format-v1-float.mnb"


def _members() -> dict[str, bytes]:
    with zipfile.ZipFile(FIXTURE) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_a_built_manifest_reads_back_field_by_field():
    bundle = read_bundle(FIXTURE)
    parts = {name: _members()[name] for name in PARTS}
    quantization = Quantization("int8", ("RSQRT",), 256, "per-tensor", ({"layer": "a", "rmse": 0.1},))
    built = Manifest.build(bundle.spec, parts, 3, quantization, {"run": "r"}, "9.9", "2.21")
    read = Manifest.parse(Path("b.mnb"), {**parts, "manifest.json": built.to_bytes()})
    assert read == built  # every typed field; the document kept as read is not compared
    assert read.to_dict() == json.loads(built.to_bytes()) and read.quantization.layer_errors
    assert read.inputs and read.outputs == [{"name": "ctr", "dtype": "float32", "shape": [-1, 1]}]


def test_the_fixture_bundle_s_manifest_is_typed_and_kept_as_written():
    members = _members()
    m = read_bundle(FIXTURE).manifest
    assert m.quantization.mode == "none" and m.spec_sha256 and m.golden_records
    assert m.to_dict() == json.loads(members["manifest.json"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="other"), "does not describe a masknet-edge-bundle"),
        (lambda d: d.update(format_version=2), "is newer than this runtime"),
        (lambda d: d["parts"].pop("spec.json"), "must list exactly the parts"),
        (lambda d: d["parts"]["spec.json"].update(size=1), "spec.json fails its SHA-256/size check"),
        (lambda d: d.update(quantization={"float_ops": "x"}), "lacks its quantization mode"),
    ],
)
def test_a_forged_manifest_is_one_error_naming_the_file(change, message):
    members = _members()
    doc = json.loads(members["manifest.json"])
    change(doc)
    with pytest.raises(BundleError, match=message) as caught:
        Manifest.parse(Path("forged.mnb"), {**members, "manifest.json": json.dumps(doc).encode()})
    assert "forged.mnb" in str(caught.value)


def test_odd_optional_entries_read_as_empty_not_as_a_crash():
    members = _members()
    doc = json.loads(members["manifest.json"])
    doc["quantization"] = {"mode": "int8", "float_ops": 7, "calibration_rows": "many", "layer_errors": {}}
    m = Manifest.parse(Path("b.mnb"), {**members, "manifest.json": json.dumps(doc).encode()})
    assert m.quantization == Quantization("int8")
