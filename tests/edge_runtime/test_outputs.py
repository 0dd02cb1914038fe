"""Output paths: never an input, never inside or around one, never an existing file without consent."""

from __future__ import annotations

import os
import stat

import pytest

from masknet_edge.edge_runtime.atomic import atomic_write_bytes, current_umask
from masknet_edge.edge_runtime.outputs import OutputError, check_output, staged_dir


@pytest.fixture
def inputs(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"model")
    return data, run


def test_output_that_is_an_input_is_refused(inputs, tmp_path):
    data, run = inputs
    with pytest.raises(OutputError, match="is also the input"):
        check_output(data, [data], overwrite=True)
    # another spelling of the same file, and a link to it
    with pytest.raises(OutputError, match="is also the input"):
        check_output(tmp_path / "run" / ".." / "data.csv", [data], overwrite=True)
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    with pytest.raises(OutputError, match="is also the input"):
        check_output(link, [data], overwrite=True)


def test_output_inside_or_around_an_input_is_refused(inputs, tmp_path):
    data, run = inputs
    with pytest.raises(OutputError, match="lies inside the input"):
        check_output(run / "model.keras", [run], overwrite=True)
    with pytest.raises(OutputError, match="lies inside the input"):
        check_output(run / "new" / "spec.json", [run], overwrite=True)
    with pytest.raises(OutputError, match="contains the input"):
        check_output(tmp_path, [data], overwrite=True)


def test_existing_output_needs_overwrite(inputs, tmp_path):
    data, run = inputs
    out = tmp_path / "out.json"
    out.write_text("{}")
    with pytest.raises(OutputError, match="already exists: pass --overwrite"):
        check_output(out, [data])
    assert check_output(out, [data], overwrite=True) == out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_output(empty, [data]) == empty  # an empty folder is filled, not replaced
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output(data / "x.json", [], overwrite=True)


def _write_then_fail(out, error: BaseException, overwrite: bool = False) -> None:
    with staged_dir(out, overwrite=overwrite) as staging:
        (staging / "new.csv").write_text("half")
        raise error


def test_staged_dir_appears_whole_or_not_at_all(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        _write_then_fail(out, RuntimeError("interrupted"))
    assert not out.exists() and os.listdir(tmp_path) == []
    with staged_dir(out) as staging:
        (staging / "a.csv").write_text("new")
        assert not out.exists()
    assert (out / "a.csv").read_text() == "new"


def test_staged_dir_keeps_the_old_folder_until_the_new_one_is_complete(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.csv").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        _write_then_fail(out, KeyboardInterrupt(), overwrite=True)
    assert os.listdir(out) == ["old.csv"] and os.listdir(tmp_path) == ["out"]
    with staged_dir(out, overwrite=True) as staging:
        (staging / "new.csv").write_text("new")
    assert os.listdir(out) == ["new.csv"] and os.listdir(tmp_path) == ["out"]


def _race(out) -> None:
    with staged_dir(out) as staging:
        (staging / "mine.csv").write_text("mine")
        out.mkdir()  # another process finished first
        (out / "theirs.csv").write_text("theirs")


def test_staged_dir_refuses_a_folder_that_appeared_meanwhile(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(OutputError, match="appeared while this command ran"):
        _race(out)
    assert os.listdir(out) == ["theirs.csv"] and sorted(os.listdir(tmp_path)) == ["out"]


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_written_files_get_the_users_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        assert current_umask() == mask
        target = tmp_path / "f.json"
        target.write_text("{}")
        os.chmod(target, 0o644)
        atomic_write_bytes(target, b"[]")  # replacing a 0644 file
        assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
        with staged_dir(tmp_path / "d") as staging:
            atomic_write_bytes(staging / "x", b"1")
        assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~mask
        assert stat.S_IMODE((tmp_path / "d" / "x").stat().st_mode) == 0o666 & ~mask
    finally:
        os.umask(old)


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_leftovers_of_a_killed_writer_are_cleared_and_a_half_swapped_folder_restored(tmp_path):
    dead = _dead_pid()
    out = tmp_path / "run"
    # killed while writing: a staged folder and a temporary file
    (tmp_path / f".run.{dead}.abc.partial").mkdir()
    (tmp_path / f".run.{dead}.def.partial.keras").write_text("half")
    # killed between the two renames of a swap: the previous folder waits in .old, run is missing
    (tmp_path / f".run.{dead}.ghi.old" / "previous").mkdir(parents=True)
    (tmp_path / f".run.{dead}.ghi.old" / "previous" / "model.keras").write_text("previous")
    # a live writer's staging folder is not touched
    live = tmp_path / f".run.{os.getppid()}.jkl.partial"
    live.mkdir()
    with staged_dir(out, overwrite=True) as staging:
        (staging / "model.keras").write_text("new")
    assert (out / "model.keras").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, "run"])


def test_discard_pending_removes_the_temporary_files_of_writes_in_progress(tmp_path):
    from masknet_edge.edge_runtime.atomic import _PENDING, atomic_path, discard_pending

    with atomic_path(tmp_path / "out.bin") as tmp:
        tmp.write_bytes(b"half")
        assert tmp in _PENDING
        discard_pending()  # what Ctrl-C during a conversion does before the process ends
        assert not tmp.exists()
        tmp.write_bytes(b"whole")  # (this test goes on; a real process has ended here)
    assert not _PENDING and (tmp_path / "out.bin").read_bytes() == b"whole"


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_dangling_symlink_as_output_is_named_as_such(tmp_path, overwrite):
    """Not 'already exists': a user looking at the folder sees no file there."""
    link = tmp_path / "out.mnb"
    link.symlink_to(tmp_path / "gone" / "x.mnb")
    with pytest.raises(OutputError, match="symbolic link to .*gone.*which does not exist"):
        check_output(link, overwrite=overwrite)
