"""Atomic file writes: write to a temporary file beside the target, then rename it into place.

A reader (or a user looking at the folder) sees either the old file or the complete new one, never a
torn write; a failed or interrupted write removes its temporary file (a SIGKILL can leave a hidden
``.NAME.*.partial`` file, never a file at the target path).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "apply_umask",
    "atomic_path",
    "atomic_write_bytes",
    "current_umask",
    "discard_pending",
    "naming",
    "owned_temp_dir",
    "sweep_stale",
    "temp_prefix",
]


def temp_prefix(path: Path) -> str:
    """Prefix of the hidden temporary siblings of ``path``: ``.NAME.PID.`` (the writer's process id
    lets a later writer recognise what a killed one left behind)."""
    return f".{path.name}.{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def owned_temp_dir(prefix: str, parent: str | os.PathLike[str] | None = None) -> Path:
    """Create ``PARENT/PREFIX.PID.XXXXXXXX`` (a scratch folder this process owns; the caller removes
    it), after removing the folders of that prefix whose process is gone: a killed run's scratch
    (a SIGKILL or an out-of-memory kill skips every clean-up) does not pile up in the temp folder.

    Args:
        prefix: names the kind of scratch, e.g. ``masknet-encoded``.
        parent: where; defaults to the system's temporary folder.
    """
    parent = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    for stale in glob.glob(os.path.join(glob.escape(str(parent)), glob.escape(prefix) + ".*.*")):
        pid = Path(stale).name[len(prefix) + 1 :].split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}.{os.getpid()}.", dir=parent))
    _PENDING_DIRS.add(folder)  # removed by discard_pending too, should the process end at once
    return folder


def sweep_stale(path: Path) -> None:
    """Clear what writers of ``path`` that were killed left beside it (their process is gone).

    A half-written ``.partial`` file or folder is deleted. A ``.old`` folder holds the previous
    ``path`` while a new folder is swapped in: if the writer died between the two renames, ``path``
    is missing and the previous one is put back; otherwise it is deleted.
    """
    try:
        siblings = list(path.parent.glob(f".{glob.escape(path.name)}.*"))
    except OSError:
        return
    for sibling in siblings:
        parts = sibling.name[len(path.name) + 2 :].split(".")
        # .NAME.PID.RANDOM.partial[.SUFFIX] or .NAME.PID.RANDOM.old
        if len(parts) < 3 or not parts[0].isdigit() or parts[2] not in ("partial", "old"):
            continue
        kind, pid = parts[2], int(parts[0])
        if pid == os.getpid() or _alive(pid):
            continue
        previous = sibling / "previous"
        if kind == "old" and (previous.exists() or previous.is_symlink()) and not path.exists():
            os.replace(previous, path)
        if sibling.is_dir() and not sibling.is_symlink():
            shutil.rmtree(sibling, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                sibling.unlink()


def current_umask() -> int:
    """The process's umask (read from ``/proc`` where possible; ``os.umask`` needs a set-and-restore)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: str | os.PathLike[str], *, directory: bool = False) -> None:
    """Give a file made by ``mkstemp``/``mkdtemp`` (always 0600/0700) the mode a plain ``open`` or
    ``mkdir`` would have given it: 0666 or 0777 less the umask."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


#: Temporary files being written now, and the scratch folders of :func:`owned_temp_dir`:
#: :func:`discard_pending` removes them when the process must end at once (Ctrl-C during a
#: conversion that native code holds). A folder its owner already removed is skipped.
_PENDING: set[Path] = set()
_PENDING_DIRS: set[Path] = set()


def discard_pending() -> None:
    """Delete the temporary files of writes still in progress and this process's scratch folders
    (before ``os._exit``)."""
    for tmp in list(_PENDING):
        with contextlib.suppress(OSError):
            tmp.unlink()
    for folder in list(_PENDING_DIRS):
        shutil.rmtree(folder, ignore_errors=True)


def naming(exc: OSError, path: Path) -> OSError:
    """The error ``exc`` (raised on a hidden temporary name beside ``path``) naming ``path`` itself:
    the user's output, which they can act on (a read-only or full file system, a missing folder)."""
    return OSError(exc.errno, exc.strerror or str(exc), str(path))


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike[str], suffix: str = "", replace: bool = True, mode: int | None = None
) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success fsync it and rename it to ``path``.

    Args:
        path: the final file.
        suffix: ending of the temporary name, for writers that insist on one (Keras needs ``.keras``).
            Defaults to no suffix.
        replace: an existing ``path`` is replaced. With False, a ``path`` that appeared while the
            file was being written (another process) is kept and ``FileExistsError`` raised: the
            file is moved in with a hard link, which fails when the name exists. Defaults to True.
        mode: the file's permission bits (``0o600`` for a private key: never readable by others,
            not even for a moment). Defaults to what ``open`` gives, 0666 less the umask.

    >>> with atomic_path("/tmp/example.txt") as tmp:       # doctest: +SKIP
    ...     tmp.write_text("complete or absent")
    """
    path = Path(path)
    sweep_stale(path)
    try:
        fd, name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=f".partial{suffix}", dir=path.parent)
    except OSError as exc:
        raise naming(exc, path) from None
    os.close(fd)
    tmp = Path(name)
    _PENDING.add(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if mode is None:
            apply_umask(tmp)
        else:
            os.chmod(tmp, mode)
        if replace:
            os.replace(tmp, path)
        else:
            _move_without_replacing(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError) and (not exc.filename or Path(exc.filename).name == tmp.name):
            # name the user's path: not the temporary one, and not nothing (a full disk's write error
            # names no file)
            raise naming(exc, path) from None
        raise
    finally:
        _PENDING.discard(tmp)


def _move_without_replacing(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` unless that name exists (then ``FileExistsError``), atomically
    where the file system has hard links."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(
            errno.EEXIST,
            "was written by another process meanwhile (kept); use --overwrite to replace it",
            str(path),
        ) from None
    except OSError:  # no hard links here (FAT, some network file systems): check, then rename
        if path.exists():
            raise FileExistsError(
                errno.EEXIST, "exists (kept); use --overwrite to replace it", str(path)
            ) from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
