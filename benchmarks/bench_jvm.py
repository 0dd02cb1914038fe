"""Throughput of the reference JVM encoder (ports/jvm) on one core, next to the Python encoder.

A shop-world bundle (tiny model, one epoch: the encoder's cost does not depend on the model) is
encoded by the JVM runner (`Conformance --bench`: its golden records repeated to 1,000+ rows, caches
warm, 2 s after a 1 s warm-up) and by the Python encoder on the same rows in one process. Reported:
raw field values encoded per second.

Run: .venv/bin/python -m benchmarks.bench_jvm
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, met, table

#: Its section in ``make bench`` (``run_all --only jvm``) and the place of its table in BENCHMARKS.md.
SECTION, ORDER = "jvm", 20

GUAVA = Path("/usr/share/java/guava.jar")


def run() -> dict[str, Any] | str:
    """JVM and Python field values per second on the same records."""
    if shutil.which("javac") is None or not GUAVA.is_file():
        return "skipped: no javac / Guava (apt-get install default-jdk-headless libguava-java)"
    from click.testing import CliRunner

    from masknet_edge.cli.main import main
    from masknet_edge.edge_runtime.bundle import read_bundle
    from masknet_edge.edge_runtime.encoder import FeatureEncoder
    from masknet_edge.edge_runtime.spec import CrossField

    with tempfile.TemporaryDirectory(prefix="masknet-jvm-") as t:
        t = Path(t)
        runner = CliRunner()
        steps = [
            [
                "data",
                "shop",
                "--out",
                str(t / "d"),
                "--users",
                "300",
                "--items",
                "80",
                "--interactions",
                "6000",
            ],
            [
                "train",
                "--train",
                str(t / "d/train.csv"),
                "--valid",
                str(t / "d/valid.csv"),
                "--spec",
                str(t / "d/spec.json"),
                "--out",
                str(t / "run"),
                "--epochs",
                "1",
                "--block-units",
                "16",
                "--json",
            ],
            ["convert", str(t / "run"), "--quantize", "none", "--out", str(t / "shop.mnb"), "--json"],
        ]
        for args in steps:
            res = runner.invoke(main, args)
            if res.exit_code != 0:
                return f"error: {' '.join(args[:2])}: {res.output[-500:]}"
        classes = t / "classes"
        sources = sorted((ROOT / "ports/jvm/src/masknet/edge").glob("*.java"))
        subprocess.run(["javac", "-cp", str(GUAVA), "-d", str(classes), *map(str, sources)], check=True)
        out = subprocess.run(
            [
                "java",
                "-cp",
                f"{classes}:{GUAVA}",
                "masknet.edge.Conformance",
                str(ROOT / "edge_runtime/conformance/encoding-v1.json"),
                str(t / "shop.mnb"),
                "--bench",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        ).stdout
        jvm = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
        bundle = read_bundle(t / "shop.mnb")
        records = bundle.golden["records"]
        batch = (records * (1000 // len(records) + 1))[: jvm["rows"]]
        fields = sum(not isinstance(f, CrossField) for f in bundle.spec.fields)
        enc = FeatureEncoder(bundle.spec)
        enc.encode(batch)  # warm caches, as the JVM run
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < 2.0:
            enc.encode(batch)
            n += len(batch) * fields
        python = n / (time.perf_counter() - start)
    return {
        "jvm_field_values_per_s": jvm["field_values_per_s"],
        "python_field_values_per_s": python,
        "fields": fields,
        "rows": jvm["rows"],
        "conformance": out.splitlines()[0],
    }


def render(result: Any) -> list[str]:
    """This benchmark's section of BENCHMARKS.md (none when it was not measured)."""
    out: list[str] = []
    if isinstance(result, dict):
        out += [
            "## The reference JVM encoder (`benchmarks/bench_jvm.py`)",
            "",
            "A shop-world bundle's golden records (training rows and the edge cases of every field) repeated to "
            f"{result['rows']} rows of {result['fields']} raw fields, caches warm, one thread; {result['conformance']}.",
            "",
            table(
                ["encoder", "field values / s", "goal", ""],
                [
                    [
                        "JVM (ports/jvm, Java 17 + Guava)",
                        float(result["jvm_field_values_per_s"]),
                        ">= 1,000,000",
                        met(result["jvm_field_values_per_s"] >= 1e6),
                    ],
                    ["Python (edge_runtime)", result["python_field_values_per_s"], "", ""],
                ],
            ),
            "",
        ]
    elif isinstance(result, str):
        out += ["## The reference JVM encoder (`benchmarks/bench_jvm.py`)", "", result, ""]
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
