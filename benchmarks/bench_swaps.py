"""Signed bundles and swaps under load (issue #31): forgeries refused, and no bad or mixed score.

    python -m benchmarks.bench_swaps [--requests 10000] [--swaps 100] [--json]   (about a minute)

1. Forgeries. A small shop model's float bundle, signed; then each way a forger can change it,
   checked with ``masknet verify --trusted-key``: a golden score changed with every hash recomputed,
   the signature of another bundle, a signature by an untrusted key, a signature by a revoked key, an
   unsigned bundle, and a signed statement edited to name the forged bytes. Each must exit non-zero
   with one ``Error:`` line.
2. Swaps under load. A :class:`BundleStore` with trusted keys serves one request (20 candidates) from
   8 threads, 10,000 requests in all, while the main thread swaps 100 times (spread evenly over the
   requests) between two signed
   versions (float and int8 of the same run) and failing candidates (golden records that fail, a
   truncated file, an unsigned bundle, a bundle signed by an untrusted key). Every result must equal
   exactly one version's scores, computed beforehand; no error may reach a request, and no failing
   candidate may ever serve.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_reliability import make_bundle
from tests.bundle_edits import rewrite_members  # the forger of the signing and store tests

SECTION, ORDER, DOCUMENT = "swaps", 93, "RELIABILITY.md"
CONTEXT = {"user_id": "u1", "age": 30}


def _golden_off(members: dict[str, bytes]) -> None:
    golden = json.loads(members["golden.json"])
    golden["scores"][0] = min(1.0, golden["scores"][0] + 0.25)
    members["golden.json"] = json.dumps(golden).encode()


def _later(members: dict[str, bytes]) -> None:
    manifest = json.loads(members["manifest.json"])
    manifest["created"] = "2099-01-01T00:00:00+00:00"
    members["manifest.json"] = json.dumps(manifest).encode()


def _edited_statement(bundle: Path) -> None:
    """Point the signed statement at the bundle's present bytes, keeping the old ECDSA signature."""
    sig = Path(f"{bundle}.sig")
    doc = json.loads(sig.read_text())
    statement = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    statement["predicate"]["resources"][0]["digest"] = digest
    statement["subject"][0]["digest"]["sha256"] = hashlib.sha256(bytes.fromhex(digest)).hexdigest()
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    sig.write_text(json.dumps(doc))


def forgeries(base: Path, keys: dict[str, tuple[Path, Path]], work: Path) -> list[dict[str, Any]]:
    """Each forgery class through ``masknet verify --trusted-key``: exit code and output lines."""
    from click.testing import CliRunner

    from masknet_edge.cli.main import main
    from masknet_edge.edge_runtime.signing import sign_bundle

    release, stranger, old = keys["release"], keys["stranger"], keys["old"]

    def fresh(name: str) -> Path:
        path = work / f"{name}.mnb"
        shutil.copy(base, path)
        sign_bundle(path, release[0])
        return path

    cases = {}
    p = fresh("hashes-recomputed")
    cases["a golden score changed, every hash recomputed"] = (rewrite_members(p, _golden_off), [release[1]], [])
    p, q = fresh("swapped-signature"), fresh("other")
    rewrite_members(q, _later)
    sign_bundle(q, release[0])
    shutil.copy(f"{q}.sig", f"{p}.sig")
    cases["the signature of another bundle"] = (p, [release[1]], [])
    p = fresh("untrusted")
    sign_bundle(p, stranger[0])
    cases["signed by an untrusted key"] = (p, [release[1]], [])
    p = fresh("revoked")
    sign_bundle(p, old[0])
    cases["signed by a revoked key (listed as trusted too)"] = (p, [release[1], old[1]], [old[1]])
    p = fresh("unsigned")
    Path(f"{p}.sig").unlink()
    cases["unsigned"] = (p, [release[1]], [])
    p = fresh("edited-statement")
    rewrite_members(p, _golden_off)
    _edited_statement(p)
    cases["the signed statement edited to name the forged bytes"] = (p, [release[1]], [])
    rows = []
    for name, (path, trusted, revoked) in cases.items():
        args = ["verify", str(path), *[a for k in trusted for a in ("--trusted-key", str(k))]]
        args += [a for k in revoked for a in ("--revoked-key", str(k))]
        res = CliRunner().invoke(main, args)
        lines = [line for line in res.output.splitlines() if line.strip()]
        rows.append(
            {
                "case": name,
                "exit": res.exit_code,
                "refused": res.exit_code != 0 and len(lines) == 1 and lines[0].startswith("Error:"),
                "message": lines[0].replace(f"{work}/", "") if lines else "",
            }
        )
    return rows


def swaps_under_load(
    versions: dict[str, Path], trusted: Path, items: list[dict[str, str]], requests: int, swaps: int
) -> dict[str, Any]:
    """Requests from 8 threads while the store swaps; what each request got."""
    from masknet_edge.edge_runtime.errors import MasknetError
    from masknet_edge.edge_runtime.ranker import Ranker
    from masknet_edge.edge_runtime.store import BundleStore

    expected = {name: Ranker.load(versions[name]).score(CONTEXT, items) for name in ("v1", "v2")}
    store = BundleStore(versions["v1"], trusted_keys=[trusted])
    counts = {"v1": 0, "v2": 0, "mixed": 0}
    errors: list[str] = []
    lock = threading.Lock()
    per_thread = requests // 8

    def serve() -> None:
        for _ in range(per_thread):
            try:
                got = store.score(CONTEXT, items)
            except Exception as exc:  # noqa: BLE001 - any error reaching a request is the finding
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            which = [n for n, e in expected.items() if np.array_equal(got, e)]
            with lock:
                counts[which[0] if len(which) == 1 else "mixed"] += 1

    threads = [threading.Thread(target=serve) for _ in range(8)]
    for t in threads:
        t.start()
    plan = ("v2", "golden_fails", "v1", "truncated", "v2", "unsigned", "v1", "untrusted")
    done = {"swapped": 0, "refused": 0, "failing_served": 0}
    for i in range(swaps):
        while sum(counts.values()) + len(errors) < (i + 1) * requests // (swaps + 1):  # spread over the run
            time.sleep(0.0005)
        name = plan[i % len(plan)]
        try:
            store.swap(versions[name], allow_downgrade=True)
            done["swapped"] += 1
        except MasknetError:
            done["refused"] += 1
        if store.path not in (versions["v1"], versions["v2"]):
            done["failing_served"] += 1
    for t in threads:
        t.join()
    failing = sum(1 for i in range(swaps) if plan[i % len(plan)] not in ("v1", "v2"))
    return {
        "threads": 8,
        "requests": per_thread * 8,
        "swaps": swaps,
        "failing_candidates": failing,
        **done,
        "results": counts,
        "errors": errors[:5],
        "error_count": len(errors),
    }


def run(requests: int = 10_000, swaps: int = 100) -> dict[str, Any]:
    """Both checks on a freshly trained small shop model; JSON-ready."""
    from masknet_edge.convert.conversion import convert_run
    from masknet_edge.edge_runtime.signing import generate_key, sign_bundle

    work = Path(tempfile.mkdtemp(prefix="bench-swaps-"))
    try:
        int8, items_csv = make_bundle(work)
        base = work / "shop-none.mnb"
        convert_run(work / "run", "none", base, progress=False)
        keys = {n: generate_key(work / f"{n}.pem") for n in ("release", "stranger", "old")}
        rows = forgeries(base, keys, work)
        versions = {"v1": work / "v1.mnb", "v2": work / "v2.mnb"}
        shutil.copy(base, versions["v1"])
        rewrite_members(shutil.copy(int8, versions["v2"]), _later)
        for name, change in (("golden_fails", _golden_off), ("unsigned", None), ("untrusted", None)):
            versions[name] = work / f"{name}.mnb"
            shutil.copy(versions["v2"], versions[name])
            if change is not None:
                rewrite_members(versions[name], change)
        for name in ("v1", "v2", "golden_fails"):
            sign_bundle(versions[name], keys["release"][0])
        sign_bundle(versions["untrusted"], keys["stranger"][0])
        versions["truncated"] = work / "truncated.mnb"
        versions["truncated"].write_bytes(versions["v2"].read_bytes()[:5000])
        shutil.copy(f"{versions['v2']}.sig", f"{versions['truncated']}.sig")
        with open(items_csv) as fh:
            items = list(csv.DictReader(fh))[:20]
        load = swaps_under_load(versions, keys["release"][1], items, requests, swaps)
        return {"forgeries": rows, "swaps": load}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def failures(figures: dict[str, Any]) -> list[str]:
    """What broke a goal, as sentences; empty when every goal holds."""
    out = [f"forgery not refused in one line: {r['case']}" for r in figures["forgeries"] if not r["refused"]]
    s = figures["swaps"]
    if s["error_count"] or s["results"]["mixed"] or s["failing_served"]:
        out.append(
            f"swaps: {s['error_count']} errors, {s['results']['mixed']} mixed, {s['failing_served']} bad served"
        )
    if s["refused"] != s["failing_candidates"]:
        out.append(f"swaps: {s['refused']} refused, expected {s['failing_candidates']}")
    return out


def render(figures: dict[str, Any] | None) -> list[str]:
    """The section for RELIABILITY.md."""
    if not isinstance(figures, dict):
        return []
    s = figures["swaps"]
    lines = [
        "## Signed bundles and swaps under load (`benchmarks/bench_swaps.py`)",
        "",
        "Each way to forge a signed bundle, through `masknet verify --trusted-key`:",
        "",
        "| forgery | exit | refused in one line | message |",
        "|---|---|---|---|",
    ]
    for r in figures["forgeries"]:
        lines.append(
            f"| {r['case']} | {r['exit']} | {'yes' if r['refused'] else '**no**'} | `{r['message'][:120]}` |"
        )
    lines += [
        "",
        f"A `BundleStore` with a trusted key served {s['requests']:,} requests from {s['threads']} threads while "
        f"{s['swaps']} swaps ran ({s['failing_candidates']} of them to failing candidates: golden records that fail, "
        f"a truncated file, an unsigned bundle, one signed by an untrusted key): {s['swapped']} swaps done, "
        f"{s['refused']} refused; requests got v1's scores {s['results']['v1']:,} times and v2's "
        f"{s['results']['v2']:,} times, **{s['results']['mixed']} mixed**, **{s['error_count']} errors**, "
        f"**{s['failing_served']} failing bundles served**. " + "; ".join(s["errors"]),
        "",
    ]
    return lines


def main() -> None:
    """Command line: run both checks; print the section or the JSON; exit 1 when a goal fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--swaps", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.requests, args.swaps)
    print(json.dumps(figures) if args.json else "\n".join(render(figures)))
    broken = failures(figures)
    for line in broken:
        print(line, file=sys.stderr)
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
