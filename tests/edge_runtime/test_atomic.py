"""Atomic writes: complete or absent, never torn, temp files cleaned up on failure."""

from __future__ import annotations

import pytest

from masknet_edge.edge_runtime.atomic import atomic_path, atomic_write_bytes


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


def test_owned_temp_dirs_of_killed_processes_are_removed_by_the_next_one(tmp_path):
    import os
    import subprocess
    import sys

    from masknet_edge.edge_runtime.atomic import owned_temp_dir

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        left = tmp_path / f"masknet-x.{int(dead.stdout)}.abc"  # what a killed run left
        (left / "sub").mkdir(parents=True)
        running = tmp_path / f"masknet-x.{live.pid}.def"  # another run, still going
        running.mkdir()
        other = tmp_path / f"masknet-y.{int(dead.stdout)}.abc"  # another kind of scratch
        other.mkdir()
        mine = owned_temp_dir("masknet-x", tmp_path)
        assert mine.is_dir() and mine.name.startswith(f"masknet-x.{os.getpid()}.")
        assert not left.exists() and running.exists() and other.exists()
        assert owned_temp_dir("masknet-x", tmp_path) != mine and mine.exists()  # its own are kept
    finally:
        live.kill()
        live.wait()


def test_a_file_that_appears_meanwhile_is_kept_without_replace(tmp_path):
    """Two writers of one output without --overwrite: the second is told, the first's file stays."""
    from masknet_edge.edge_runtime.atomic import atomic_path

    out = tmp_path / "b.mnb"

    def second_writer() -> None:
        with atomic_path(out, replace=False) as tmp:
            tmp.write_bytes(b"second")
            out.write_bytes(b"first")  # the other process finishes first

    with pytest.raises(FileExistsError, match="another process") as info:
        second_writer()
    assert info.value.filename == str(out)
    assert out.read_bytes() == b"first" and [p.name for p in tmp_path.iterdir()] == ["b.mnb"]
    with atomic_path(out, replace=True) as tmp:
        tmp.write_bytes(b"third")
    assert out.read_bytes() == b"third"


def test_a_write_error_without_a_file_name_names_the_output(tmp_path):
    """A full disk fails a write with ENOSPC and no file name: the error must still say where."""
    import errno

    from masknet_edge.edge_runtime.atomic import atomic_path

    out = tmp_path / "big.bin"
    with pytest.raises(OSError, match="No space left") as info, atomic_path(out) as _tmp:
        raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.filename == str(out) and not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_written_is_named_by_the_output_not_the_hidden_temp(tmp_path, monkeypatch):
    import errno
    import tempfile

    from masknet_edge.edge_runtime.outputs import staged_dir

    def refuse(*args, prefix="", dir=None, **kwargs):  # what a read-only file system answers
        raise OSError(errno.EROFS, "Read-only file system", f"{dir}/{prefix}abc.partial")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    with pytest.raises(OSError, match="Read-only") as err, atomic_path(tmp_path / "model.mnb"):
        pass
    assert err.value.filename == str(tmp_path / "model.mnb") and err.value.errno == errno.EROFS
    with pytest.raises(OSError, match="Read-only") as err, staged_dir(tmp_path / "shop"):
        pass
    assert err.value.filename == str(tmp_path / "shop") and "partial" not in str(err.value)
