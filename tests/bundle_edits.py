"""Editing a bundle as a forger with write access (but no key) can: members changed, hashes recomputed."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path


def rewrite_members(path: Path, change: Callable[[dict[str, bytes]], None]) -> Path:
    """Change a bundle's members with ``change(members)`` and recompute every hash in its manifest."""
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    change(members)
    manifest = json.loads(members["manifest.json"])
    for name, entry in manifest["parts"].items():
        entry["sha256"] = hashlib.sha256(members[name]).hexdigest()
        entry["size"] = len(members[name])
    members["manifest.json"] = json.dumps(manifest).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name in ("manifest.json", "model.tflite", "spec.json", "golden.json"):
            zf.writestr(name, members[name])
    path.write_bytes(buf.getvalue())
    return path
