"""The bundle: one file the device loads, holding the model, its spec, a manifest and golden vectors.

Format (version 1): an uncompressed ZIP archive (so any platform can read it, and the model can be
memory-mapped at its offset) with exactly these members::

    manifest.json   format, versions, quantization, input/output signature, SHA-256 of every part
    model.tflite    the LiteRT flatbuffer
    spec.json       the fitted feature spec (FeatureSpec JSON)
    golden.json     raw records, their encoded arrays and the expected scores

Reading verifies everything before the interpreter sees a byte: the archive structure, member names
(no paths, no extras), sizes and limits, no compression (so no zip bombs), the format version, every
SHA-256, that the spec parses and that its input signature equals the manifest's. Given trusted
keys, the detached signature (:mod:`edge_runtime.signing`) is checked first, over the very bytes
that are then parsed.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from masknet_edge.edge_runtime.bounded import InputTooLarge, read_bounded
from masknet_edge.edge_runtime.errors import BundleError, SpecError
from masknet_edge.edge_runtime.manifest import (
    BUNDLE_FORMAT,
    BUNDLE_FORMAT_VERSION,
    PARTS,
    Manifest,
    input_signature_of,
    json_member,
)
from masknet_edge.edge_runtime.signing import TrustedKeys, read_signature, signature_path
from masknet_edge.edge_runtime.spec import FeatureSpec

__all__ = ["BUNDLE_FORMAT", "BUNDLE_FORMAT_VERSION", "PARTS", "Bundle", "read_bundle"]

MEMBERS = ("manifest.json", *PARTS)
#: Size limits (bytes) per member; a bundle beyond them is refused before anything is parsed.
LIMITS = {"manifest.json": 1 << 20, "model.tflite": 1 << 31, "spec.json": 8 << 20, "golden.json": 64 << 20}
#: A whole bundle: its members and the ZIP's own headers, checked before a byte is read.
MAX_BUNDLE_BYTES = sum(LIMITS.values()) + (1 << 20)
TFLITE_IDENTIFIER = b"TFL3"


@dataclass(frozen=True)
class Bundle:
    """A verified bundle in memory."""

    path: Path
    manifest: Manifest
    model: bytes
    spec: FeatureSpec
    golden: dict[str, Any]
    #: The id of the trusted key whose signature was checked (None: read without trusted keys).
    signed_by: str | None = None

    @property
    def quantization(self) -> str:
        """The quantization mode the model was converted with."""
        return self.manifest.quantization.mode


def _fail(path: Path, message: str) -> BundleError:
    return BundleError(f"{path}: {message}")


def _golden_problem(golden: Any, spec: FeatureSpec) -> str | None:
    """What is wrong with the golden vectors' structure, or None: at least one record (a mapping),
    one finite score per record, one array of the right shape per model input, a tolerance."""
    import numpy as np

    if not isinstance(golden, dict):
        return "expected a JSON object"
    records, scores, encoded = golden.get("records"), golden.get("scores"), golden.get("encoded")
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        return "'records' must be a non-empty list of objects"
    if not isinstance(scores, list) or len(scores) != len(records):
        return f"'scores' must list one score per record ({len(records)})"
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in scores):
        return "'scores' must be numbers"
    tolerance = golden.get("tolerance")
    if not isinstance(tolerance, (int, float)) or isinstance(tolerance, bool) or not 0 <= tolerance < 1:
        return "'tolerance' must be a number in [0, 1)"
    inputs = {i.name: i for i in spec.input_signature()}
    if not isinstance(encoded, dict) or sorted(encoded) != sorted(inputs):
        return f"'encoded' must hold exactly the model inputs {sorted(inputs)}"
    for name, value in encoded.items():
        i = inputs[name]
        try:
            array = np.asarray(value, dtype=i.dtype)
        except (TypeError, ValueError, OverflowError):
            return f"'encoded.{name}' is not an array of {i.dtype}"
        if array.shape != (len(records), *i.shape):
            return f"'encoded.{name}' has shape {array.shape}, expected {(len(records), *i.shape)}"
    return None


def _members(path: Path, raw: bytes) -> dict[str, bytes]:
    """The bundle's members, after the archive's own checks: exactly the expected members, each once,
    stored uncompressed and within its size limit."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile:
        raise _fail(path, "not a masknet-edge bundle (not a ZIP archive, or truncated)") from None
    with zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        twice = sorted((n, c) for n, c in Counter(names).items() if c > 1)
        if twice:
            raise _fail(path, f"member {twice[0][0]!r:.80} appears {twice[0][1]} times (a forged archive?)")
        if sorted(names) != sorted(MEMBERS):
            extra = sorted(set(names) - set(MEMBERS))
            missing = sorted(set(MEMBERS) - set(names))
            raise _fail(
                path, f"unexpected members: missing {missing}, unexpected {extra[:5]} (a foreign file?)"
            )
        total = 0
        for info in infos:
            if info.compress_type != zipfile.ZIP_STORED:
                raise _fail(path, f"{info.filename} is compressed; bundles store members uncompressed")
            if info.file_size > LIMITS[info.filename] or info.file_size != info.compress_size:
                raise _fail(
                    path, f"{info.filename} declares {info.file_size} bytes, over its limit or inconsistent"
                )
            total += info.file_size
        if total > len(raw):
            raise _fail(path, "members declare more bytes than the file holds (truncated or forged)")
        try:
            return {name: zf.read(name) for name in MEMBERS}
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise _fail(path, f"damaged archive ({exc})") from None


def read_bundle(
    path: str | Path, trusted: TrustedKeys | None = None, signature: str | Path | None = None
) -> Bundle:
    """Read and verify a bundle file; raise :class:`BundleError` naming the file and the problem.

    Args:
        path: the bundle file.
        trusted: the keys a signature must come from; then an unsigned bundle is refused
            (:class:`~edge_runtime.errors.SignatureError`). Defaults to None: no signature checked.
        signature: the signature file. Defaults to ``BUNDLE.sig`` beside the bundle.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise BundleError(f"expected the path of a bundle file. Received: {type(path).__name__} {path!r}")
    path = Path(path)
    if path.exists() and not path.is_dir() and not path.is_file():
        raise _fail(path, "is not a regular file (a device or a pipe); a bundle is one file")
    try:
        raw = read_bounded(path, MAX_BUNDLE_BYTES)
    except InputTooLarge as exc:
        raise _fail(path, f"{exc}; not a bundle") from None
    except IsADirectoryError:
        raise _fail(path, "is a directory; a bundle is one file written by 'masknet convert'") from None
    except OSError as exc:
        raise BundleError(f"cannot read bundle {path}: {exc.strerror or exc}") from None
    signed_by = None
    if trusted is not None:
        sig_path = Path(signature) if signature is not None else signature_path(path)
        signed_by = trusted.check(raw, read_signature(sig_path), str(path))
    data = _members(path, raw)
    manifest = Manifest.parse(path, data)
    if data["model.tflite"][4:8] != TFLITE_IDENTIFIER:
        raise _fail(path, "model.tflite is not a TFLite flatbuffer")
    try:
        spec = FeatureSpec.from_json(data["spec.json"])
    except SpecError as exc:
        raise _fail(path, f"spec.json is invalid: {exc}") from None
    if not spec.is_fitted:
        raise _fail(path, f"spec.json is not fitted (fields {list(spec.unfitted_fields())})")
    if manifest.inputs != input_signature_of(spec):
        raise _fail(
            path,
            f"spec does not match the model's inputs: the spec gives {input_signature_of(spec)}, "
            f"the manifest {manifest.inputs}",
        )
    if manifest.spec_sha256 != spec.fingerprint():
        raise _fail(path, "spec_sha256 in the manifest does not match spec.json")
    golden = json_member(path, "golden.json", data["golden.json"])
    problem = _golden_problem(golden, spec)
    if problem:
        raise _fail(path, f"golden.json is malformed: {problem}")
    return Bundle(
        path=path,
        manifest=manifest,
        model=data["model.tflite"],
        spec=spec,
        golden=golden,
        signed_by=signed_by,
    )
