"""Reading a file whole, with its size limit enforced while reading, not after.

``Path.read_bytes()`` on ``/dev/zero``, a pipe, or a symlink to either never ends: their ``st_size`` is
0, so a size check before reading passes. :func:`read_bounded` reads at most ``limit + 1`` bytes, so
a limit holds for every kind of file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["InputTooLarge", "read_bounded"]


class InputTooLarge(ValueError):
    """A file holds more than the limit; ``size`` is its size when known (a regular file), else None."""

    def __init__(self, limit: int, size: int | None) -> None:
        what = f"{size:,} bytes" if size is not None else "more bytes (a pipe or device)"
        super().__init__(f"{what}, over the limit of {limit:,} bytes")
        self.limit = limit
        self.size = size


def read_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of ``path``; :class:`InputTooLarge` when it holds more than ``limit`` bytes (a regular
    file is refused by its size before reading; anything else after ``limit + 1`` bytes)."""
    with open(Path(path), "rb") as f:
        info = os.fstat(f.fileno())
        if stat.S_ISREG(info.st_mode) and info.st_size > limit:
            raise InputTooLarge(limit, info.st_size)
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InputTooLarge(limit, None)
    return data
