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

from benchmarks.common import ROOT

#: Test file -> what its cases attack.
SUITES = {
    "tests/test_hostile.py": "bad, forged and oversized input to every command and the API",
    "tests/test_data_loss.py": "outputs that are, lie in or hold an input; --overwrite; killed runs",
    "tests/test_interrupts.py": "SIGINT / SIGKILL during convert, data shop/prepare and check --plot",
    "tests/test_cli.py": "malformed input and unwritable outputs per command",
    "tests/test_reliability.py": "fuzzed requests and damaged bundles",
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


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
