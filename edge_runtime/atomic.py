"""Atomic file writes: write to a temporary file beside the target, then rename it into place.

A reader (or a user looking at the folder) sees either the old file or the complete new one, never a
torn write; a failed or interrupted write removes its temporary file (a SIGKILL can leave a hidden
``.NAME.*.partial`` file, never a file at the target path).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success fsync it and rename it to ``path``.

    Args:
        path: the final file.
        suffix: ending of the temporary name, for writers that insist on one (Keras needs ``.keras``).
            Defaults to no suffix.

    >>> with atomic_path("/tmp/example.txt") as tmp:       # doctest: +SKIP
    ...     tmp.write_text("complete or absent")
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".partial{suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
