"""Writing a bundle: model, spec, manifest and golden vectors in one file, atomically."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

import masknet_edge
from masknet_edge.convert.modes import QuantMode
from masknet_edge.edge_runtime.atomic import atomic_path
from masknet_edge.edge_runtime.encoder import FeatureEncoder
from masknet_edge.edge_runtime.interpreter import ModelRunner
from masknet_edge.edge_runtime.manifest import Manifest, Quantization
from masknet_edge.edge_runtime.spec import FeatureSpec

__all__ = ["GOLDEN_TOLERANCE", "json_safe_records", "make_golden", "write_bundle"]

#: Allowed |score difference| of a port against the golden scores, per mode (reasons: convert.modes).
GOLDEN_TOLERANCE = {m.value: m.golden_tolerance for m in QuantMode}


def _safe(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if math.isnan(f) else f
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.ndarray):
        return [_safe(x) for x in v.tolist()]
    return v


def json_safe_records(df: Any, columns: list[str]) -> list[dict[str, Any]]:
    """Rows of a DataFrame as plain JSON values (NaN -> null), restricted to ``columns``."""
    return [{c: _safe(row[c]) for c in columns if c in row} for row in df.to_dict("records")]


def make_golden(spec: FeatureSpec, records: list[dict[str, Any]], tflite: bytes, mode: str) -> dict[str, Any]:
    """Golden vectors: the raw records, their encoded arrays and the scores of this exact model."""
    encoded = FeatureEncoder(spec).encode(records)
    runner = ModelRunner(tflite, num_threads=1)
    scores = runner({k: np.ascontiguousarray(v) for k, v in encoded.items()})
    return {
        "about": "Encode 'records' with the bundle's spec; the arrays must equal 'encoded' exactly and the "
        "model's scores must be within 'tolerance' of 'scores'.",
        "records": records,
        "encoded": {k: v.tolist() for k, v in encoded.items()},
        "scores": [float(s) for s in scores],
        "tolerance": GOLDEN_TOLERANCE[mode],
    }


def write_bundle(
    out: Path,
    tflite: bytes,
    spec: FeatureSpec,
    golden: dict[str, Any],
    *,
    quantization: Quantization,
    model_info: dict[str, Any],
    tensorflow_version: str,
    replace: bool = True,
) -> Manifest:
    """Write the bundle to ``out`` atomically (temp file in the same folder, fsync, rename).

    With ``replace=False`` a file that appeared at ``out`` meanwhile is kept (``FileExistsError``).
    Returns the manifest.
    """
    out = Path(out)
    parts = {
        "model.tflite": tflite,
        "spec.json": spec.to_json().encode("utf-8"),
        "golden.json": (json.dumps(golden, sort_keys=True, allow_nan=False) + "\n").encode("utf-8"),
    }
    manifest = Manifest.build(
        spec,
        parts,
        golden_records=len(golden["records"]),
        quantization=quantization,
        model=model_info,
        toolkit_version=masknet_edge.__version__,
        tensorflow_version=tensorflow_version,
    )
    data = {"manifest.json": manifest.to_bytes(), **parts}
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        atomic_path(out, replace=replace) as tmp,
        zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf,
    ):
        for name, payload in data.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), payload)
    return manifest
