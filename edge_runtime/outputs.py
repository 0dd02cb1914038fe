"""Where a command may write: outputs never clobber inputs, and folders appear whole or not at all.

Every command that writes checks its output path with :func:`check_output` before any work, so a
mistyped ``--out`` is refused in a second instead of destroying a user's data after a long run:

- an output that *is* one of the command's inputs (same file, through any path spelling or link);
- an output inside an input folder (``--out RUN/model.keras`` would replace a run's model);
- an output folder that *contains* an input (replacing it would delete the input);
- an output that exists (an empty folder aside), unless ``--overwrite`` was given.

Folders are written by :func:`staged_dir`: into a hidden sibling first, then renamed into place, so a
reader sees the old folder or the complete new one, and an interrupted command leaves no husk.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from masknet_edge.edge_runtime.atomic import apply_umask, naming, sweep_stale, temp_prefix
from masknet_edge.edge_runtime.errors import MasknetError

__all__ = ["OutputError", "check_output", "staged_dir"]


class OutputError(MasknetError):
    """An output path would overwrite an input, lies inside one, or exists without ``--overwrite``."""


def _resolved(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(os.path.realpath(path)))


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _occupied(path: Path) -> bool:
    """Whether writing ``path`` would replace something (an empty folder does not count)."""
    if path.is_symlink() or path.is_file():
        return True
    return path.is_dir() and any(path.iterdir())


def check_output(
    out: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    *,
    overwrite: bool = False,
    option: str = "--out",
) -> Path:
    """Refuse an output path that would destroy an input or an existing file; returns it as a Path.

    Args:
        out: the file or folder the command will write.
        inputs: files and folders the command reads (``None`` entries are ignored).
        overwrite: an existing ``out`` may be replaced (never an input, never a folder holding one).
        option: the option's name, used in messages. Defaults to ``--out``.

    Raises:
        OutputError: naming the path and what to do instead.
    """
    out = Path(out)
    target = _resolved(out)
    for raw in inputs:
        if raw is None:
            continue
        source = _resolved(raw)
        if target == source:
            raise OutputError(f"{option} {out} is also the input {raw}: write to another path")
        if source.is_dir() and _inside(target, source):
            raise OutputError(
                f"{option} {out} lies inside the input {raw}: writing there would change the input; "
                "write to another path"
            )
        if _inside(source, target):
            raise OutputError(
                f"{option} {out} contains the input {raw}: replacing it would delete the input; "
                "write to another path"
            )
    if out.is_symlink() and not out.exists():
        raise OutputError(
            f"{option} {out} is a symbolic link to {os.readlink(out)}, which does not exist: remove the "
            "link or write to another path"
        )
    if _occupied(out) and not overwrite:
        raise OutputError(f"{option} {out} already exists: pass --overwrite to replace it")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"cannot write {out}: {parent} is a file, not a folder")
    return out


@contextlib.contextmanager
def staged_dir(out: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty hidden folder beside ``out``; on success it replaces ``out`` in one rename.

    The previous ``out`` (allowed only with ``overwrite``) is kept until the new folder is complete,
    then removed. On an error or an interrupt the staged folder is deleted and ``out`` is untouched.
    If another process created ``out`` meanwhile and ``overwrite`` is off, the rename is refused.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(out)  # what a killed writer of this folder left
    try:
        staging = Path(tempfile.mkdtemp(prefix=temp_prefix(out), suffix=".partial", dir=out.parent))
    except OSError as exc:
        raise naming(exc, out) from None
    try:
        yield staging
        apply_umask(staging, directory=True)
        old = None
        if out.is_dir() and not out.is_symlink() and not any(out.iterdir()):
            out.rmdir()  # an empty folder is filled, not replaced
        if out.exists() or out.is_symlink():
            if not overwrite:
                raise OutputError(f"{out} appeared while this command ran: nothing was replaced")
            old = Path(tempfile.mkdtemp(prefix=temp_prefix(out), suffix=".old", dir=out.parent))
            os.replace(out, old / "previous")
        os.replace(staging, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
