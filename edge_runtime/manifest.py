"""A bundle's ``manifest.json``, typed: the converter builds it, the runtime reads and checks it.

It names the format and its version, the toolkit and TensorFlow that wrote the bundle, the model's
account (architecture, run folder, training metrics), the quantization, the input and output
signature, the spec's fingerprint and the SHA-256 and size of every other member. Reading keeps the
document exactly as written (the bytes a signature covers); the typed fields are what readers use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from masknet_edge.edge_runtime.errors import BundleError
from masknet_edge.edge_runtime.spec import FeatureSpec

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_FORMAT_VERSION",
    "PARTS",
    "Manifest",
    "Quantization",
    "input_signature_of",
]

BUNDLE_FORMAT = "masknet-edge-bundle"
BUNDLE_FORMAT_VERSION = 1
PARTS = ("model.tflite", "spec.json", "golden.json")
OUTPUTS = ({"name": "ctr", "dtype": "float32", "shape": [-1, 1]},)


def input_signature_of(spec: FeatureSpec) -> list[dict[str, Any]]:
    """The manifest's ``inputs`` entry for a spec (batch dimension -1)."""
    return [{"name": i.name, "dtype": i.dtype, "shape": [-1, *i.shape]} for i in spec.input_signature()]


@dataclass(frozen=True)
class Quantization:
    """How the model was quantized.

    Args:
        mode: the quantization mode's name (``none``, ``dynamic``, ``int8`` ...).
        float_ops: the op types kept in float (int8), or a note that only weights are quantized.
        calibration_rows: training rows the activations' ranges were calibrated on (0: none).
        weights: ``per-channel`` or ``per-tensor`` weight scales.
        layer_errors: per-layer quantization errors, when the converter measured them.
    """

    mode: str
    float_ops: tuple[str, ...] = ()
    calibration_rows: int = 0
    weights: str = "per-channel"
    layer_errors: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``quantization`` entry."""
        out: dict[str, Any] = {
            "mode": self.mode,
            "float_ops": list(self.float_ops),
            "calibration_rows": self.calibration_rows,
            "weights": self.weights,
        }
        if self.layer_errors:
            out["layer_errors"] = list(self.layer_errors)
        return out


@dataclass(frozen=True)
class Manifest:
    """A bundle's manifest; see the module docstring. Build one with :meth:`build`, read one with
    :meth:`parse`."""

    created: str | None
    toolkit_version: str | None
    tensorflow_version: str | None
    model: dict[str, Any]
    quantization: Quantization
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]] | None
    spec_sha256: str | None
    golden_records: int | None
    parts: dict[str, dict[str, Any]]
    format_version: int = BUNDLE_FORMAT_VERSION
    #: The document as read (None for a manifest built here): what :meth:`to_dict` returns.
    document: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        spec: FeatureSpec,
        parts: dict[str, bytes],
        golden_records: int,
        quantization: Quantization,
        model: dict[str, Any],
        toolkit_version: str,
        tensorflow_version: str,
    ) -> Manifest:
        """The manifest of a new bundle whose members are ``parts``."""
        return cls(
            created=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
            toolkit_version=toolkit_version,
            tensorflow_version=tensorflow_version,
            model=model,
            quantization=quantization,
            inputs=input_signature_of(spec),
            outputs=[dict(o) for o in OUTPUTS],
            spec_sha256=spec.fingerprint(),
            golden_records=golden_records,
            parts={name: _sha(data) for name, data in parts.items()},
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (as read, for a parsed manifest)."""
        if self.document is not None:
            return self.document
        return {
            "format": BUNDLE_FORMAT,
            "format_version": self.format_version,
            "created": self.created,
            "toolkit_version": self.toolkit_version,
            "tensorflow_version": self.tensorflow_version,
            "model": self.model,
            "quantization": self.quantization.to_dict(),
            "inputs": self.inputs,
            "outputs": self.outputs,
            "spec_sha256": self.spec_sha256,
            "golden_records": self.golden_records,
            "parts": self.parts,
        }

    def to_bytes(self) -> bytes:
        """``manifest.json`` as the bundle stores it."""
        return (json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def parse(cls, path: Path, data: dict[str, bytes]) -> Manifest:
        """The manifest of the bundle at ``path`` (its members ``data``), checked: this format and
        version, every part's SHA-256 and size, a quantization mode; a BundleError naming the file."""
        doc = json_member(path, "manifest.json", data["manifest.json"])
        if not isinstance(doc, dict) or doc.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"{path}: manifest.json does not describe a {BUNDLE_FORMAT} (a foreign file?)")
        version = doc.get("format_version")
        if version != BUNDLE_FORMAT_VERSION:
            raise BundleError(f"{path}: {_version_problem(version, doc.get('toolkit_version'))}")
        parts = doc.get("parts")
        if not isinstance(parts, dict) or sorted(parts) != sorted(PARTS):
            raise BundleError(f"{path}: manifest.json must list exactly the parts {list(PARTS)}")
        for name in PARTS:
            entry = parts[name]
            if not isinstance(entry, dict):
                raise BundleError(f"{path}: manifest entry for {name} is not an object")
            if (entry.get("sha256"), entry.get("size")) != tuple(_sha(data[name]).values()):
                raise BundleError(
                    f"{path}: {name} fails its SHA-256/size check: the bundle is damaged or was modified"
                )
        q = doc.get("quantization")
        if not isinstance(q, dict) or not isinstance(q.get("mode"), str):
            raise BundleError(
                f"{path}: manifest.json lacks its quantization mode (a forged or damaged manifest)"
            )
        model, outputs, created = doc.get("model"), doc.get("outputs"), doc.get("created")
        rows = q.get("calibration_rows")
        return cls(
            created=created if isinstance(created, str) else None,
            toolkit_version=_text(doc.get("toolkit_version")),
            tensorflow_version=_text(doc.get("tensorflow_version")),
            model=model if isinstance(model, dict) else {},
            quantization=Quantization(
                mode=q["mode"],
                float_ops=_items(q.get("float_ops")),
                calibration_rows=rows if isinstance(rows, int) else 0,
                weights=_text(q.get("weights")) or "per-channel",
                layer_errors=_items(q.get("layer_errors")),
            ),
            inputs=doc.get("inputs") if isinstance(doc.get("inputs"), list) else [],
            outputs=outputs if isinstance(outputs, list) else None,
            spec_sha256=_text(doc.get("spec_sha256")),
            golden_records=doc.get("golden_records") if isinstance(doc.get("golden_records"), int) else None,
            parts=parts,
            format_version=version,
            document=doc,
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _items(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list) else ()


def _sha(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def json_member(path: Path, name: str, data: bytes) -> Any:
    """A bundle member's JSON; anything else is a BundleError naming the bundle and the member."""
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # also: a 5,000-digit integer, deep nesting
        problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).splitlines()[0]
        raise BundleError(f"{path}: {name} is not valid JSON ({problem})") from None


def _version_problem(version: Any, writer: Any) -> str:
    """Why a bundle of another format version is refused, and what reads it."""
    from masknet_edge import __version__

    written = f"written by masknet-edge {writer}" if isinstance(writer, str) else "written by another toolkit"
    if isinstance(version, int) and not isinstance(version, bool) and version > BUNDLE_FORMAT_VERSION:
        return (
            f"bundle format {version} ({written}) is newer than this runtime (masknet-edge {__version__}) "
            f"reads (format {BUNDLE_FORMAT_VERSION}): update the app's runtime to masknet-edge "
            f"{writer if isinstance(writer, str) else 'of that release'} or later, or convert the run "
            f"with masknet-edge {__version__}"
        )
    return (
        f"bundle format_version {version!r:.40} ({written}) is not a format this runtime reads "
        f"(format {BUNDLE_FORMAT_VERSION}); reconvert the run with masknet-edge {__version__}"
    )
