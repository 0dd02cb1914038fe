"""Request latency of bundles as a device sees it: timed in a fresh process that holds only the runtime.

A process that has just trained or distilled a model carries TensorFlow's state and a large heap,
and a request timed there costs more than on a device. Measured on the Criteo-shaped reference
model (``benchmarks/bench_runtime.py``, same bundle, side by side): whole request / invoke
1.17-1.19 in the training process, 1.07-1.10 in a fresh one. So :func:`time_bundles_fresh` runs
:func:`time_bundles` in a new Python process (``python -m masknet_edge.convert.latency``, a JSON job on stdin,
JSON medians on stdout) that imports the runtime alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.errors import MasknetError
from masknet_edge.edge_runtime.interpreter import tensorflow_imported

__all__ = ["time_bundles", "time_bundles_fresh"]


def _ms(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def time_bundles(
    bundles: Mapping[str, str],
    context: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    repeats: int,
) -> dict[str, Any]:
    """Median single-thread invoke and whole-request (``rank``, k = 10) milliseconds of each bundle
    (name -> path) for one request, timed in this process, the bundles alternated so that every one
    sees the same machine state. The bundles share one spec (the first one's encodes the invoke's
    inputs). Returns ``{"invoke_ms": {name: ms}, "request_ms": {name: ms}, "tensorflow_loaded": bool}``.
    """
    from masknet_edge.edge_runtime.ranker import Ranker

    rankers = {name: Ranker.load(path, num_threads=1) for name, path in bundles.items()}
    if not rankers:
        return {"invoke_ms": {}, "request_ms": {}, "tensorflow_loaded": tensorflow_imported()}
    encoder = next(iter(rankers.values())).encoder
    inputs = encoder.assemble(encoder.encode_context(context), encoder.encode_items(items))
    invoke: dict[str, list[float]] = {name: [] for name in rankers}
    request: dict[str, list[float]] = {name: [] for name in rankers}
    for _ in range(repeats):
        for name, r in rankers.items():
            invoke[name].append(_ms(lambda r=r: r.score_inputs(inputs)))
            request[name].append(_ms(lambda r=r: r.rank(context, items, k=10)))
    return {
        "invoke_ms": {name: float(np.median(ts)) for name, ts in invoke.items()},
        "request_ms": {name: float(np.median(ts)) for name, ts in request.items()},
        "tensorflow_loaded": tensorflow_imported(),
    }


def time_bundles_fresh(
    bundles: Mapping[str, str],
    context: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    repeats: int,
) -> dict[str, Any]:
    """:func:`time_bundles` in a fresh Python process that imports the runtime alone (as on a
    device). ``context`` and ``items`` must be JSON values (the records of a CSV file are)."""
    job = {"bundles": dict(bundles), "context": dict(context), "items": list(items), "repeats": repeats}
    try:
        payload = json.dumps(job, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MasknetError(f"the request to time is not plain JSON ({exc})") from None
    proc = subprocess.run(
        [sys.executable, "-m", "masknet_edge.convert.latency"], input=payload, capture_output=True, text=True
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-5:]
        raise MasknetError("timing the bundles in a fresh process failed: " + " | ".join(tail))
    return json.loads(proc.stdout)


def main() -> None:
    """``python -m masknet_edge.convert.latency``: a job of :func:`time_bundles_fresh` on stdin; its result
    on stdout."""
    job = json.load(sys.stdin)
    result = time_bundles(job["bundles"], job["context"], job["items"], int(job["repeats"]))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
