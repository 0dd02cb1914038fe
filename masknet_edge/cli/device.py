"""Device-side commands: ``masknet rank``, ``masknet bench``, ``masknet verify`` (no TensorFlow)."""

from __future__ import annotations

import csv
import io
import json
import math
import resource
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click
import numpy as np

from masknet_edge.cli.tools import CliError, emit_json, guarded, json_option
from masknet_edge.edge_runtime.bounded import InputTooLarge, read_bounded
from masknet_edge.edge_runtime.ranker import MAX_THREADS

#: Most candidates per benchmarked request (a request is built in memory as raw dicts).
MAX_BENCH_CANDIDATES = 100_000
#: Largest --context / candidates file accepted (bytes), so a stray file cannot exhaust memory.
MAX_INPUT_BYTES = 256 << 20
#: Largest --context file: one JSON object of a request's fields.
MAX_CONTEXT_BYTES = 16 << 20


def trust_options(fn: Any) -> Any:
    """``--trusted-key`` and ``--revoked-key``: accept only bundles signed by a trusted key."""
    fn = click.option(
        "--revoked-key",
        "revoked_keys",
        multiple=True,
        type=click.Path(path_type=Path),
        help="A public key refused even when trusted (repeatable).",
    )(fn)
    return click.option(
        "--trusted-key",
        "trusted_keys",
        multiple=True,
        type=click.Path(path_type=Path),
        help="Accept only a bundle signed by this public key (repeatable; see masknet sign).",
    )(fn)


def _trust(trusted_keys: tuple[Path, ...], revoked_keys: tuple[Path, ...]) -> Any:
    """The ``TrustedKeys`` the options name, or None when no key is trusted."""
    if not trusted_keys:
        if revoked_keys:
            raise click.BadParameter("needs at least one --trusted-key", param_hint="--revoked-key")
        return None
    from masknet_edge.edge_runtime.signing import TrustedKeys

    return TrustedKeys.load(trusted_keys, revoked_keys)


def _json_problem(exc: BaseException) -> str:
    """What is wrong with a JSON text, in one line."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return getattr(exc, "msg", None) or str(exc).splitlines()[0]


def _read_context(text: str) -> dict[str, Any]:
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = read_bounded(path, MAX_CONTEXT_BYTES).decode("utf-8")
        except (OSError, UnicodeDecodeError, InputTooLarge) as exc:
            raise CliError(f"cannot read --context file {path}: {exc}") from None
    try:
        ctx = json.loads(text)
    except (ValueError, RecursionError) as exc:  # bad JSON, a 5,000-digit integer, deep nesting
        raise CliError(f"--context is not valid JSON: {_json_problem(exc)}") from None
    if not isinstance(ctx, dict):
        raise CliError(f"--context must be a JSON object of field -> value, got {type(ctx).__name__}")
    return ctx


def _csv_records(path: Path, text: str, delimiter: str) -> list[dict[str, Any]]:
    """Rows of a CSV text as dicts (empty cell = missing); a ragged row, an unclosed quote or a
    repeated column name is an error naming the line."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if not header:
            raise CliError(f"{path}: no header row")
        repeated = sorted(name for name, n in Counter(header).items() if n > 1)  # linear in the columns
        if repeated:
            raise CliError(f"{path}: line 1: repeated column names {repeated}")
        out = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise CliError(
                    f"{path}: line {reader.line_num}: {len(row)} fields, the header has {len(header)}"
                )
            out.append({k: (None if v == "" else v) for k, v in zip(header, row, strict=True)})
    except csv.Error as exc:
        raise CliError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from None
    return out


def read_candidates(path: Path) -> list[dict[str, Any]]:
    """Candidates from a JSON Lines (one object per line) or CSV (header row) file."""
    try:
        raw = read_bounded(path, MAX_INPUT_BYTES)
    except InputTooLarge as exc:
        raise CliError(f"{path}: {exc} for a candidates file") from None
    except OSError as exc:
        raise CliError(f"cannot read candidates file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark is not part of the first name
    except UnicodeDecodeError as exc:
        raise CliError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise CliError(f"cannot read candidates file {path}: {exc.strerror}") from None
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        out = []
        # JSON Lines ends lines at "\n" only: U+2028, U+0085 and the other breaks splitlines() knows
        # are legal inside JSON strings.
        for i, line in enumerate(text.split("\n"), start=1):
            line = line.removesuffix("\r")
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise CliError(f"{path}: line {i}: not valid JSON ({_json_problem(exc)})") from None
            if not isinstance(obj, dict):
                raise CliError(f"{path}: line {i}: expected a JSON object, got {type(obj).__name__}")
            out.append(obj)
        return out
    if path.suffix.lower() in (".csv", ".tsv"):
        return _csv_records(path, text, "\t" if path.suffix.lower() == ".tsv" else ",")
    raise CliError(f"{path}: unknown candidates format; use .jsonl or .csv")


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "--context", "context_text", required=True, help="User/request features as JSON (or @file.json)."
)
@click.option(
    "--candidates", type=click.Path(path_type=Path), required=True, help="Candidates (.jsonl or .csv)."
)
@click.option("--k", type=click.IntRange(1), default=10, show_default=True)
@click.option("--threads", type=click.IntRange(1, MAX_THREADS), default=1, show_default=True)
@click.option(
    "--behaviour-log",
    "log_path",
    type=click.Path(path_type=Path),
    help="A behaviour log (SQLite, written by BehaviourLog) for bundles with behaviour fields.",
)
@click.option("--now", type=float, help="The request's time for behaviour fields (seconds). Defaults to now.")
@trust_options
@json_option
@guarded
def rank(
    bundle: Path,
    context_text: str,
    candidates: Path,
    k: int,
    threads: int,
    log_path: Path | None,
    now: float | None,
    trusted_keys: tuple[Path, ...],
    revoked_keys: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Rank candidates for one context with a bundle and print the top k.

    \b
    Example:
      masknet rank shop.mnb --context '{"user_id": "u7", "age": 31}' --candidates items.csv --k 5
      masknet rank shop-behaviour.mnb --context @user.json --candidates items.csv --behaviour-log log.db
      masknet rank shop.mnb --context @user.json --candidates items.csv --trusted-key release.pem.pub
    """
    from masknet_edge.edge_runtime.behaviour_log import BehaviourLog
    from masknet_edge.edge_runtime.ranker import Ranker

    trust = _trust(trusted_keys, revoked_keys)
    ctx = _read_context(context_text)
    items = read_candidates(candidates)
    ranker = Ranker.load(bundle, num_threads=threads, trusted_keys=trust)
    if log_path is not None and not log_path.is_file():
        raise CliError(f"no behaviour log at {log_path}; an app creates one with BehaviourLog(path, spec)")
    if now is not None and not math.isfinite(now):
        raise CliError(f"--now must be a finite number of seconds. Received: {now}")
    if log_path is None:
        top = ranker.rank(ctx, items, k=k)
    else:
        with BehaviourLog(log_path, ranker.spec, readonly=True) as log:  # reading only: never writes
            top = ranker.rank(ctx, items, k=k, behaviour=log, now=now)
    if as_json:
        emit_json(
            {
                "bundle": str(bundle),
                "k": k,
                "candidates": len(items),
                "ranking": [{"rank": i + 1, "score": s, "candidate": c} for i, (c, s) in enumerate(top)],
            }
        )
        return
    for i, (cand, s) in enumerate(top, start=1):
        click.echo(f"{i:3d}  {s:.5f}  {json.dumps(cand, ensure_ascii=False, default=str)}")


def peak_rss_mb() -> float:
    """Peak resident memory (VmHWM on Linux, else ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _percentiles(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs) * 1e3
    return {
        "p50_ms": float(np.percentile(a, 50)),
        "p90_ms": float(np.percentile(a, 90)),
        "p99_ms": float(np.percentile(a, 99)),
    }


def bench_bundle(bundle: Path, sizes: list[int], threads: int, requests: int) -> dict[str, Any]:
    """Latency of encoding, invoke and the whole request for each candidate count, as raw dicts."""
    t0 = time.perf_counter()
    from masknet_edge.edge_runtime.interpreter import tensorflow_imported
    from masknet_edge.edge_runtime.ranker import Ranker

    ranker = Ranker.load(bundle, num_threads=threads)
    load_s = time.perf_counter() - t0
    spec = ranker.spec
    records = ranker.bundle.golden["records"]
    ctx_cols = set(spec.column_of(n) for n in spec.columns_of_side("context"))
    context = {k: v for k, v in records[0].items() if k in ctx_cols}
    pool = [{k: v for k, v in r.items() if k not in ctx_cols} for r in records]
    results = []
    for n in sizes:
        cands = [pool[i % len(pool)] for i in range(n)]
        ranker.score(context, cands)  # warm-up: allocate tensors for this size
        enc_t, inv_t, all_t = [], [], []
        for _ in range(requests):
            t = time.perf_counter()
            inputs = ranker.encoder.assemble(
                ranker.encoder.encode_context(context), ranker.encoder.encode_items(cands)
            )
            enc_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            ranker.score_inputs(inputs)
            inv_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            ranker.score(context, cands)
            all_t.append(time.perf_counter() - t)
        whole = _percentiles(all_t)
        results.append(
            {
                "candidates": n,
                "encode": _percentiles(enc_t),
                "invoke": _percentiles(inv_t),
                "request": whole,
                "candidates_per_s": n / (whole["p50_ms"] / 1e3),
            }
        )
    return {
        "bundle": str(bundle),
        "backend": ranker.backend,
        "threads": threads,
        "requests": requests,
        "quantization": ranker.bundle.quantization,
        "load_s": load_s,
        "peak_rss_mb": peak_rss_mb(),
        "sizes": results,
        "tensorflow_imported": tensorflow_imported(),
    }


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--candidates", "sizes", default="1,10,100,1000", show_default=True, help="Candidate counts.")
@click.option("--threads", type=click.IntRange(1, MAX_THREADS), default=1, show_default=True)
@click.option(
    "--requests", type=click.IntRange(5), default=200, show_default=True, help="Requests per count."
)
@json_option
@guarded
def bench(bundle: Path, sizes: str, threads: int, requests: int, as_json: bool) -> None:
    """Measure request latency (encode, invoke, whole), throughput, load time and peak RSS.

    \b
    Example:
      masknet bench shop.mnb --candidates 1,10,100,1000 --threads 1
    """
    try:
        counts = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated integers, got {sizes!r}", param_hint="--candidates"
        ) from None
    if not counts or min(counts) < 1 or max(counts) > MAX_BENCH_CANDIDATES:
        raise click.BadParameter(
            f"candidate counts must be in [1, {MAX_BENCH_CANDIDATES:,}]", param_hint="--candidates"
        )
    r = bench_bundle(bundle, counts, threads, requests)
    if as_json:
        emit_json(r)
        return
    click.echo(
        f"{r['bundle']} ({r['quantization']}, {r['backend']}, {threads} thread(s)): "
        f"load {r['load_s'] * 1e3:.1f} ms, peak RSS {r['peak_rss_mb']:.1f} MB"
    )
    click.echo(
        f"{'N':>6s} {'encode p50':>11s} {'invoke p50':>11s} {'request p50/p90/p99 (ms)':>26s} {'cand/s':>10s}"
    )
    for s in r["sizes"]:
        q = s["request"]
        click.echo(
            f"{s['candidates']:6d} {s['encode']['p50_ms']:11.3f} {s['invoke']['p50_ms']:11.3f} "
            f"{q['p50_ms']:10.3f}/{q['p90_ms']:.3f}/{q['p99_ms']:.3f} {s['candidates_per_s']:10.0f}"
        )


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@trust_options
@json_option
@guarded
def verify(
    bundle: Path, trusted_keys: tuple[Path, ...], revoked_keys: tuple[Path, ...], as_json: bool
) -> None:
    """Check a bundle: integrity, its golden vectors (encoding and scores), and this runtime's encoder
    against the conformance cases of ENCODING.md. Exit 1 on a mismatch.

    \b
    Example:
      masknet verify shop.mnb
      masknet verify shop.mnb --trusted-key release.pem.pub
    """
    from masknet_edge.edge_runtime.bundle import read_bundle
    from masknet_edge.edge_runtime.conformance import run_conformance
    from masknet_edge.edge_runtime.ranker import Ranker

    signed = read_bundle(bundle, _trust(trusted_keys, revoked_keys))
    report = Ranker(signed).verify()
    conformance = run_conformance()
    if as_json:
        emit_json(
            {
                "bundle": str(bundle),
                "signed_by": signed.signed_by,
                "ok": report.ok and conformance.ok,
                "records": report.records,
                "encode_mismatches": report.encode_mismatches,
                "max_score_diff": report.max_score_diff,
                "tolerance": report.tolerance,
                "conformance": {"cases": conformance.cases, "failures": conformance.failures},
            }
        )
    else:
        if signed.signed_by is not None:
            click.echo(f"signature OK: signed by trusted key {signed.signed_by[:16]}")
        click.echo(str(report))
        click.echo(str(conformance))
    if not (report.ok and conformance.ok):
        raise SystemExit(1)
