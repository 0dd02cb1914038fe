"""The encoder's optional compiled fast path (``edge_runtime/_fastcols.c``), or None.

It is built from source when the package is installed (``setup.py``, ``optional=True``). Where no
C compiler was at hand the install goes on without it and the encoder takes its pure-Python path,
which gives the same arrays (``tests/edge_runtime/test_native.py`` proves it on random records) at
about 2-3x the encoding time for lists of dicts (``benchmarks/bench_runtime.py``). Set the
environment variable ``MASKNET_PURE_PYTHON=1`` to turn it off.
"""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["fastcols"]


def _load() -> ModuleType | None:
    if os.environ.get("MASKNET_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from masknet_edge.edge_runtime import _fastcols
    except ImportError:
        return None
    return _fastcols


#: The compiled module (``lookup_ids``, ``numbers``), or None where it was not built or is turned off.
fastcols: ModuleType | None = _load()
