"""Atomic writes: complete or absent, never torn, temp files cleaned up on failure."""

from __future__ import annotations

import pytest

from edge_runtime.atomic import atomic_path, atomic_write_bytes


def test_success_replaces_the_file(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_failure_keeps_the_old_file_and_removes_the_temp(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    seen = []

    def interrupted_write() -> None:
        with atomic_path(target, suffix=".bin") as tmp:
            seen.append(tmp.name)
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        interrupted_write()
    assert seen[0].startswith(".f.bin.") and seen[0].endswith(".partial.bin")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]
