"""What a device computes: run under an emulated Python (``ports/emulation``), print one JSON line.

    python device_check.py REQUEST.json BUNDLE [BUNDLE ...]

REQUEST.json holds ``{"context": {...}, "candidates": [...]}`` or a list of them. For each bundle:
its golden records (``Ranker.verify``) and the scores of each request (of a bundle with behaviour
fields: its golden records as candidates of the first record's context, which carry those
columns); also this runtime's conformance run, the machine, the interpreter's version and which
FarmHash is in use. Imports only the runtime.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata


def request_for(ranker: object, request: dict) -> tuple[dict, list]:
    """The context and candidates a bundle is scored on (see the module docstring)."""
    if ranker.spec.behaviour is not None:
        records = ranker.bundle.golden["records"]
        return records[0], records
    return request["context"], request["candidates"]


def main() -> None:
    """Check each bundle named on the command line; print the findings as JSON."""
    from masknet_edge.edge_runtime import hashing
    from masknet_edge.edge_runtime.conformance import run_conformance
    from masknet_edge.edge_runtime.ranker import Ranker

    with open(sys.argv[1]) as fh:
        request = json.load(fh)
    conformance = run_conformance()
    out = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "litert": metadata.version("ai-edge-litert"),
        "numpy": metadata.version("numpy"),
        "farmhash": hashing.FARMHASH,
        "conformance": {"cases": conformance.cases, "failures": conformance.failures},
        "bundles": {},
    }
    for path in sys.argv[2:]:
        ranker = Ranker.load(path)
        report = ranker.verify()
        requests = request if isinstance(request, list) else [request]
        scores = [[float(s) for s in ranker.score(*request_for(ranker, r))] for r in requests]
        out["bundles"][path] = {
            "backend": ranker.backend,
            "verify_ok": report.ok,
            "max_score_diff": report.max_score_diff,
            "tolerance": report.tolerance,
            "scores": scores if isinstance(request, list) else scores[0],
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
