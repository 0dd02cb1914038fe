"""Conformance vectors: the cases of ENCODING.md as data, for this runtime and for every port.

A conformance file (``edge_runtime/conformance/encoding-v1.json``) is JSON::

    {"format": "masknet-edge-conformance", "encoding_version": 1, "cases": [CASE, ...]}

Each case cites the ENCODING.md sections it checks (``"sections": ["3.3", "4.1"]``) and is one of:

- ``{"kind": "encode", "spec": SPEC, "records": [...], "expected": {input name: rows}}``: encoding
  the records with the (fitted) spec gives exactly these arrays (floats compared as float32);
- ``{"kind": "encode", "spec": SPEC, "records": [...], "error": {"field": F, "record": R}}``: encoding
  fails with an error naming that field and record;
- ``{"kind": "request", "spec": SPEC, "context": {...}, "candidates": [...], "expected": {...}}``:
  encoding the context once and the candidates gives exactly these arrays;
- ``{"kind": "vocabulary", "counts": {text: count}, "min_count": M, "max_vocab": X|null,
  "expected": [texts]}``: the vocabulary fitted from these counts (§4.2);
- ``{"kind": "rank", "scores": [...], "k": K, "expected": [indices]}``: the top k (§9.2);
- ``{"kind": "behaviour", "spec": SPEC, "events": [[kind, time, item], ...], "now": T,
  "candidates": [...], "expected": {"context": {...}, "items": {field: [values]}}}``: the behaviour
  columns after these events (§10; ``behaviour-v1.json``);
- ``{"kind": "replay", "spec": SPEC, "user": U, "time": T, "rows": [...], "expected": [{...}]}``: the
  behaviour columns replay gives each row (§10.4).

Numbers of behaviour cases compare with a relative tolerance of 1e-12 (a port's ``exp`` may differ
in the last bit).

JSON cannot hold every raw value, so records use tags: ``{"$float": "nan"|"inf"|"-inf"}`` is that
float, ``{"$bytes": "hex"}`` is those bytes; a JSON number with ``.``, ``e`` or ``E`` is a float,
any other number an integer (``2`` and ``2.0`` are different values in a record). Lone surrogates
are written as JSON escapes (``"\\ud800"``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.encoder import FeatureEncoder
from masknet_edge.edge_runtime.errors import EncodeError, MasknetError
from masknet_edge.edge_runtime.spec import (
    FeatureSpec,
    fit_vocabulary,
)

__all__ = [
    "BEHAVIOUR_FILE",
    "CONFORMANCE_FILE",
    "ConformanceReport",
    "decode_value",
    "edge_case_records",
    "encode_value",
    "run_conformance",
]

#: The spec-independent cases of ENCODING.md, shipped with the runtime.
CONFORMANCE_FILE = Path(__file__).with_name("conformance") / "encoding-v1.json"
#: The cases of §10 (behaviour fields: the event log, its features, replay).
BEHAVIOUR_FILE = Path(__file__).with_name("conformance") / "behaviour-v1.json"
FORMAT = "masknet-edge-conformance"


@dataclass
class ConformanceReport:
    """What a conformance run found: cases run, and one line per failed case."""

    cases: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every case passed."""
        return not self.failures

    def __str__(self) -> str:
        passed = self.cases - len(self.failures)
        head = f"{'OK' if self.ok else 'FAILED'}: {passed}/{self.cases} conformance cases (ENCODING.md)"
        return "\n".join([head, *(f"  {f}" for f in self.failures)])


def encode_value(v: Any) -> Any:
    """A raw value as conformance JSON (tags for NaN, infinities and bytes)."""
    if isinstance(v, float) and not math.isfinite(v):
        return {"$float": "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}
    if isinstance(v, (bytes, bytearray)):
        return {"$bytes": bytes(v).hex()}
    if isinstance(v, list):
        return [encode_value(x) for x in v]
    if isinstance(v, dict):
        return {k: encode_value(x) for k, x in v.items()}
    return v


def decode_value(v: Any) -> Any:
    """Inverse of :func:`encode_value`."""
    if isinstance(v, dict):
        if set(v) == {"$float"}:
            return float(v["$float"])
        if set(v) == {"$bytes"}:
            return bytes.fromhex(v["$bytes"])
        return {k: decode_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [decode_value(x) for x in v]
    return v


def _same(got: dict[str, np.ndarray], expected: dict[str, Any]) -> str | None:
    if set(got) != set(expected):
        return f"inputs {sorted(got)} != expected {sorted(expected)}"
    for name, want in expected.items():
        have = got[name]
        want_arr = np.asarray(want, dtype=have.dtype)
        if have.shape != want_arr.shape or not np.array_equal(have, want_arr):
            return f"{name}: got {have.tolist()}, expected {want_arr.tolist()}"
    return None


def _same_values(got: Any, want: Any, where: str) -> str | None:
    """Behaviour values: lists of texts exactly, numbers within 1e-12 relative, null as missing."""
    if want is None or got is None:
        return None if want is got else f"{where}: got {got!r}, expected {want!r}"
    if isinstance(want, list) and want and isinstance(want[0], str) or want == []:
        return None if list(got) == want else f"{where}: got {list(got)}, expected {want}"
    got_list = np.atleast_1d(np.asarray(got, dtype=np.float64)).tolist()
    want_list = np.atleast_1d(np.asarray(want, dtype=np.float64)).tolist()
    ok = len(got_list) == len(want_list) and all(
        math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12) for a, b in zip(got_list, want_list, strict=True)
    )
    return None if ok else f"{where}: got {got_list}, expected {want_list}"


def _run_behaviour(case: dict[str, Any]) -> str | None:
    from masknet_edge.edge_runtime.behaviour import BehaviourState
    from masknet_edge.edge_runtime.replay import replay_rows

    spec = FeatureSpec.from_dict(case["spec"])
    if case["kind"] == "replay":
        rows = list(replay_rows(decode_value(case["rows"]), spec, user=case["user"], time=case["time"]))
        for i, (row, want) in enumerate(zip(rows, case["expected"], strict=True)):
            for name, value in want.items():
                problem = _same_values(row[name], value, f"row {i} {name}")
                if problem:
                    return problem
        return None
    state = BehaviourState(spec)
    for kind, ts, item in case["events"]:
        state.add(kind, decode_value(item), ts)
    for name, value in case["expected"]["context"].items():
        problem = _same_values(state.context_values(case["now"])[name], value, name)
        if problem:
            return problem
    candidates = decode_value(case["candidates"])
    columns = {c: [item.get(c) for item in candidates] for c in state.columns}
    got = state.item_values(columns, len(candidates), case["now"])
    for name, value in case["expected"]["items"].items():
        problem = _same_values(got[name], value, name)
        if problem:
            return problem
    return None


def _run_case(case: dict[str, Any]) -> str | None:
    """None when the case passes, else what differs."""
    kind = case["kind"]
    if kind in ("behaviour", "replay"):
        return _run_behaviour(case)
    if kind == "vocabulary":
        got = list(fit_vocabulary(case["counts"], case["min_count"], case.get("max_vocab")))
        return None if got == case["expected"] else f"vocabulary {got} != {case['expected']}"
    if kind == "rank":
        from masknet_edge.edge_runtime.candidates import top_indices as _top

        got = _top(np.asarray(case["scores"], dtype=np.float32), case["k"]).tolist()
        return None if got == case["expected"] else f"top-k {got} != {case['expected']}"
    encoder = FeatureEncoder(FeatureSpec.from_dict(case["spec"]))
    try:
        if kind == "request":
            ctx = encoder.encode_context(decode_value(case["context"]))
            items = encoder.encode_items(decode_value(case["candidates"]))
            got = encoder.assemble(ctx, items)
        else:
            got = encoder.encode(decode_value(case["records"]))
    except EncodeError as exc:
        want = case.get("error")
        if want is None:
            return f"unexpected error: {exc}"
        if (exc.field, exc.record) != (want["field"], want["record"]):
            return f"error names field {exc.field!r}, record {exc.record}; expected {want}"
        return None
    if "error" in case:
        return f"expected an error naming {case['error']}, got arrays"
    return _same(got, case["expected"])


def run_conformance(path: str | Path = CONFORMANCE_FILE) -> ConformanceReport:
    """Run every case of a conformance file with this runtime's encoder."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise MasknetError(f"{path}: cannot read the conformance file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise MasknetError(f"{path}: not a {FORMAT} file")
    report = ConformanceReport()
    for case in data["cases"]:
        report.cases += 1
        problem = _run_case(case)
        if problem:
            report.failures.append(f"{case['id']} (ENCODING.md §{', §'.join(case['sections'])}): {problem}")
    return report


def edge_case_records(spec: FeatureSpec, base: dict[str, Any]) -> list[dict[str, Any]]:
    """Records that exercise every field of ``spec``: missing values, typed spellings, boundaries,
    empty and over-long lists, unicode, so that crosses see bucketized and vocabulary parts too.

    Each record is ``base`` (a valid record, e.g. a training row) with one column changed. Values a
    required field would refuse (missing ones) are left out: every record encodes.
    """
    out: list[dict[str, Any]] = []
    for f in spec.fields:
        values = f.edge_values()
        if not values:  # a cross: it reads no column of its own
            continue
        column = spec.column_of(f.name)
        if f.required:
            values = [v for v in values if not (isinstance(v, str) and v.strip() in ("", "NA"))]
        else:
            out.append({k: v for k, v in base.items() if k != column})
            values = [None, *values]
        out.extend({**base, column: v} for v in values)
    return out
