"""The hostile-input suites, counted: every case of the test files that attack the commands and the API
(bad and forged inputs, outputs that would destroy inputs, interrupts), run once with their outcome.

Run: .venv/bin/python -m benchmarks.bench_hostile
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, table

#: Its section in ``make bench`` (``run_all --only hostile``); its figures go into RELIABILITY.md.
SECTION, ORDER, DOCUMENT = "hostile", 100, "RELIABILITY.md"

#: Test file -> what its cases attack.
SUITES = {
    "tests/test_hostile.py": "bad, forged and oversized input to every command and the API",
    "tests/test_data_loss.py": "outputs that are, lie in or hold an input; --overwrite; killed runs",
    "tests/test_interrupts.py": "SIGINT / SIGKILL during convert, data shop/prepare and check --plot",
    "tests/test_cli.py": "malformed input and unwritable outputs per command",
    "tests/test_reliability.py": "fuzzed requests and damaged bundles",
    "tests/edge_runtime/test_behaviour_log.py": "the behaviour log under clock jumps, kills, cut files, foreign "
    "databases, read-only storage, a second writer; deletion that is real",
}


def run() -> dict[str, Any]:
    """Run the suites under pytest; count cases, passes, failures and skips per file."""
    with tempfile.TemporaryDirectory() as t:
        report = Path(t) / "junit.xml"
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *SUITES],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        cases = ET.parse(report).getroot().iter("testcase")
        counts = {
            f: {"what": what, "cases": 0, "passed": 0, "failed": 0, "skipped": 0}
            for f, what in SUITES.items()
        }
        tracebacks = 0
        for case in cases:
            file = case.get("classname", "").replace(".", "/") + ".py"
            c = counts.get(file)
            if c is None:
                continue
            c["cases"] += 1
            outcome = next(
                (child.tag for child in case if child.tag in ("failure", "error", "skipped")), "passed"
            )
            c[
                "skipped"
                if outcome == "skipped"
                else "failed"
                if outcome in ("failure", "error")
                else "passed"
            ] += 1
            text = "".join(child.text or "" for child in case)
            tracebacks += "Traceback (most recent call last)" in text and outcome != "skipped"
    return {"suites": counts, "exit_code": proc.returncode, "failing_with_traceback": tracebacks}


def render(hostile: Any) -> list[str]:
    """This benchmark's section of RELIABILITY.md (none when it was not measured)."""
    if not isinstance(hostile, dict):
        return []
    rows = [
        [f"`{f}`", c["what"], c["cases"], c["passed"], c["failed"], c["skipped"]]
        for f, c in hostile["suites"].items()
    ]
    total = {
        k: sum(c[k] for c in hostile["suites"].values()) for k in ("cases", "passed", "failed", "skipped")
    }
    return [
        "## Hostile-input suites (`benchmarks/bench_hostile.py`)",
        "",
        "Every case of the test files that attack the commands and the API, run once: each expects one "
        "`Error:` line with its exit code (2 bad input, 1 failed gate, 130 interrupt), no traceback, no "
        "segfault, and every input and earlier output byte-for-byte as before.",
        "",
        table(["suite", "attacks", "cases", "passed", "failed", "skipped"], rows),
        "",
        f"In all: {total['cases']} cases, {total['passed']} passed, {total['failed']} failed, "
        f"{total['skipped']} skipped; failing cases that printed a traceback: {hostile['failing_with_traceback']}.",
        "",
    ]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
