"""The on-device ranker: load a verified bundle, encode, score and rank candidates.

>>> ranker = Ranker.load("shop.mnb")                                    # doctest: +SKIP
>>> ranker.rank({"user_id": "u7", "age": 31}, [{"item_id": "i1"}, {"item_id": "i2"}], k=1)  # doctest: +SKIP
[({'item_id': 'i2'}, 0.41)]

Thread safety: a Ranker may be shared by any number of threads. TFLite interpreters are not
thread-safe, so each request borrows one from a pool of at most ``max_interpreters`` (created on
demand; a request finding all in use waits), which bounds memory whatever the number of threads:
each interpreter holds its own tensor arena and packed weights (measured: 12.9 MB for the
Criteo-shaped reference MaskNet after 1,024 candidates, ``benchmarks/bench_runtime.py``). The
encoder is stateless apart from a fingerprint cache whose updates are atomic, and the catalog is
read-only after :meth:`Ranker.index_catalog`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.behaviour import BehaviourState, behaviour_key, check_time
from masknet_edge.edge_runtime.behaviour_log import BehaviourLog
from masknet_edge.edge_runtime.bundle import Bundle, read_bundle
from masknet_edge.edge_runtime.candidates import carried_columns, check_k, materialized, rows_of, top_indices
from masknet_edge.edge_runtime.columns import columns_of
from masknet_edge.edge_runtime.encoder import EncodedPart, FeatureEncoder
from masknet_edge.edge_runtime.errors import ArgumentError, BundleError, EncodeError
from masknet_edge.edge_runtime.interpreter import ModelRunner, RunnerPool
from masknet_edge.edge_runtime.model_checks import VerifyReport, check_output, check_scores, check_table
from masknet_edge.edge_runtime.signing import TrustedKeys

__all__ = ["Catalog", "Ranker", "VerifyReport"]

#: Candidates scored per interpreter call; larger sets are scored in chunks.
DEFAULT_CHUNK = 1024
#: Most interpreter threads a Ranker accepts (more crash some interpreters and never help on a phone).
MAX_THREADS = 64
#: Interpreters a Ranker creates at most: one per core (more cannot run at once: an invoke keeps a
#: core busy), so that a server-style caller with many threads does not get one arena per thread.
DEFAULT_MAX_INTERPRETERS = os.cpu_count() or 1


@dataclass
class Catalog:
    """Items encoded once: ranking them costs only the context encoding and the interpreter."""

    items: list[Any]
    part: EncodedPart
    ids: dict[Any, int]
    # The item columns pre-assembled into full input arrays; context columns are filled per request.
    base: dict[str, np.ndarray] = field(default_factory=dict)
    # Canonical texts of the columns target-aware behaviour features compare candidates on.
    behaviour_texts: dict[str, list[str | None]] = field(default_factory=dict)


def _in_catalog(item_id: Any, ids: Mapping[Any, int]) -> bool:
    """Whether ``item_id`` is a catalog id; an unhashable value (a list, a dict) is none."""
    try:
        return item_id in ids
    except TypeError:
        return False


class Ranker:
    """Score and rank candidates for one context with a bundle's model.

    Create with :meth:`Ranker.load`.
    """

    def __init__(
        self,
        bundle: Bundle,
        num_threads: int = 1,
        backend: str = "auto",
        chunk_size: int = DEFAULT_CHUNK,
        max_interpreters: int = DEFAULT_MAX_INTERPRETERS,
    ):
        for name, value, top in (
            ("chunk_size", chunk_size, None),
            ("num_threads", num_threads, MAX_THREADS),
            ("max_interpreters", max_interpreters, None),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (top and value > top):
                limit = f"an integer in [1, {top}]" if top else "an integer >= 1"
                raise ArgumentError(f"Expected {name} to be {limit}. Received: {name}={value!r}")
        self.bundle = bundle
        self.spec = bundle.spec
        self.encoder = FeatureEncoder(bundle.spec)
        self._behaviour_key = behaviour_key(bundle.spec)
        self.num_threads = num_threads
        self.chunk_size = chunk_size
        self._backend = backend
        self._pool = RunnerPool(self._new_runner, max_interpreters)
        self._catalog: Catalog | None = None
        # Fail fast: a model the interpreter cannot load is an error at load time.
        with self._pool.borrow() as first:
            self.backend = first.backend
            expected = {i.name: (i.dtype, [-1, *i.shape]) for i in bundle.spec.input_signature()}
            if first.input_signature != expected:
                raise BundleError(
                    f"{bundle.path}: the model's inputs {first.input_signature} "
                    f"do not match the spec's {expected}"
                )
            check_output(first, bundle)
            check_table(first, bundle)

    @classmethod
    def load(
        cls,
        bundle: str | Path,
        num_threads: int = 1,
        backend: str = "auto",
        chunk_size: int = DEFAULT_CHUNK,
        max_interpreters: int = DEFAULT_MAX_INTERPRETERS,
        trusted_keys: TrustedKeys | Iterable[str | os.PathLike[str] | bytes] | None = None,
        revoked_keys: Iterable[str | os.PathLike[str] | bytes] = (),
        signature: str | Path | None = None,
    ) -> Ranker:
        """Verify and load a bundle file.

        Args:
            bundle: path of a bundle written by ``masknet convert``.
            num_threads: interpreter threads per call. Defaults to 1.
            backend: ``auto``, ``litert``, ``tflite_runtime`` or ``tensorflow``. Defaults to ``auto``.
            chunk_size: candidates per interpreter call. Defaults to 1024.
            max_interpreters: interpreters for concurrent requests at most; more concurrent requests
                wait for one. Defaults to the number of cores.
            trusted_keys: public keys (PEM files or bytes, or a :class:`TrustedKeys`) the bundle must
                be signed by (``masknet sign``). Then an unsigned, forged or otherwise signed bundle is
                refused with a :class:`~edge_runtime.errors.SignatureError`, and the golden records
                must pass on this device before the ranker is returned. Defaults to None: no
                signature is checked.
            revoked_keys: public keys refused even when trusted (with a ``TrustedKeys``, give them
                to it instead). Defaults to none.
            signature: the signature file. Defaults to ``BUNDLE.sig`` beside the bundle.
        """
        trust = trusted_keys
        if trust is not None and not isinstance(trust, TrustedKeys):
            trust = TrustedKeys.load(trust, revoked_keys)
        elif revoked_keys:
            raise ArgumentError("revoked_keys needs trusted_keys (or belongs in the TrustedKeys given)")
        ranker = cls(
            read_bundle(bundle, trust, signature),
            num_threads=num_threads,
            backend=backend,
            chunk_size=chunk_size,
            max_interpreters=max_interpreters,
        )
        if trust is not None:
            report = ranker.verify()
            if not report.ok:
                raise BundleError(
                    f"{ranker.bundle.path}: signed, but its golden records fail on this device; refused. "
                    + str(report).replace("\n", "; ")
                )
        return ranker

    @property
    def interpreters(self) -> int:
        """How many interpreters this Ranker holds (at most ``max_interpreters``)."""
        return self._pool.created

    def _new_runner(self) -> ModelRunner:
        try:
            return ModelRunner(self.bundle.model, self.num_threads, self._backend)
        except (ValueError, RuntimeError) as exc:
            raise BundleError(f"{self.bundle.path}: the interpreter cannot load the model ({exc})") from None

    # ------------------------------------------------------------------ scoring
    def score_inputs(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Score already-encoded inputs (chunked); returns float32 scores in [0, 1]."""
        n = len(next(iter(inputs.values()))) if inputs else 0
        out = np.empty(n, dtype=np.float32)
        with self._pool.borrow() as runner:
            for s in range(0, n, self.chunk_size):
                chunk = {k: np.ascontiguousarray(v[s : s + self.chunk_size]) for k, v in inputs.items()}
                out[s : s + self.chunk_size] = runner(chunk)
        check_scores(out, self.bundle.path)
        return out

    def score(
        self,
        context: Mapping[str, Any],
        candidates: Sequence[Mapping[str, Any]] | Mapping[str, Any],
        behaviour: BehaviourLog | None = None,
        now: float | None = None,
    ) -> np.ndarray:
        """Scores of ``candidates`` (dicts in a list or any iterable, a dict of columns, or a DataFrame)
        for one ``context``.

        Args:
            context: the user/request fields.
            candidates: the items to score.
            behaviour: the user's :class:`~edge_runtime.behaviour_log.BehaviourLog`, when the spec
                declares behaviour fields: they are computed from it (context-side once, target-aware
                ones for all candidates at once). Without it the request must carry those columns.
            now: the request's time for the behaviour fields. Defaults to the log's clock.
        """
        candidates = materialized(candidates)
        context, t = self._behaviour_context(context, candidates, behaviour, now)
        extra = None
        if t is not None and behaviour is not None:
            n, columns = columns_of(candidates, self.spec.behaviour.recorded_columns)
            extra = behaviour.item_values(columns, n, t)
        ctx = self.encoder.encode_context(context)
        items = self.encoder.encode_items(candidates, extra)
        if items.n == 0:
            return np.empty(0, dtype=np.float32)
        return self.score_inputs(self.encoder.assemble(ctx, items))

    def rank(
        self,
        context: Mapping[str, Any],
        candidates: Sequence[Mapping[str, Any]] | Mapping[str, Any],
        k: int = 10,
        behaviour: BehaviourLog | None = None,
        now: float | None = None,
    ) -> list[tuple[Any, float]]:
        """The top ``k`` candidates by score, best first, as ``(candidate, score)`` (``behaviour``
        and ``now`` as for :meth:`score`)."""
        check_k(k)  # before any work
        candidates = materialized(candidates)
        scores = self.score(context, candidates, behaviour, now)
        items = rows_of(candidates)
        return [(items[i], float(scores[i])) for i in top_indices(scores, k)]

    # ---------------------------------------------------------------- behaviour
    def _behaviour_context(
        self, context: Any, candidates: Any, behaviour: BehaviourLog | None, now: float | None
    ) -> tuple[Any, float | None]:
        """Check a request against the spec's behaviour fields. With a log, the context gains its
        behaviour columns and the request's time is returned; without one, the request must carry
        the columns itself (the context its own; ``candidates``, when given, theirs)."""
        b = self.spec.behaviour
        now = None if now is None else check_time(now, "now")
        if behaviour is None:
            if b is not None and isinstance(context, Mapping):
                absent = [f.name for f in b.features if f.side == "context" and f.name not in context]
                if candidates is not None:
                    carried = carried_columns(candidates)
                    absent += [f.name for f in b.features if f.side == "item" and f.name not in carried]
                if absent:
                    raise ArgumentError(
                        f"this model reads behaviour fields {absent}: pass behaviour=BehaviourLog(...) "
                        "(edge_runtime.behaviour_log), or those columns in the request"
                    )
            return context, None
        if not isinstance(behaviour, BehaviourLog):
            raise ArgumentError(
                f"Expected behaviour to be a BehaviourLog. Received: {type(behaviour).__name__}"
            )
        if b is None:
            raise ArgumentError("this bundle's spec declares no behaviour fields; do not pass behaviour=")
        if behaviour.behaviour_key != self._behaviour_key:
            raise ArgumentError(
                "the behaviour log was opened with a spec of other behaviour fields; open it with "
                "the bundle's spec (ranker.spec)"
            )
        if not isinstance(context, Mapping):
            return context, None  # the encoder names the problem
        t = behaviour.now() if now is None else now
        return {**context, **behaviour.context_values(t)}, t

    # ------------------------------------------------------------------ catalog
    def index_catalog(self, items: Sequence[Mapping[str, Any]], id_field: str | None = None) -> Catalog:
        """Pre-encode a fixed set of items once; then :meth:`rank_catalog` only encodes the context.

        Args:
            items: the catalog: dicts (a list or any iterable), a dict of columns, or a DataFrame.
            id_field: field that identifies an item (for ``subset=``). Defaults to the first
                item-side categorical field.
        """
        if id_field is not None and not isinstance(id_field, str):  # before encoding a whole catalog
            raise ArgumentError(f"Expected id_field to be a field name. Received: id_field={id_field!r:.80}")
        items = rows_of(materialized(items))
        part = self.encoder.encode_items(items)
        if id_field is None:
            id_field = next(
                (f.name for f in self.spec.id_fields if self.spec.side_of(f.name) == "item"), None
            )
        ids = {}
        if id_field is not None:
            for i, item in enumerate(items):
                ids.setdefault(item.get(id_field), i)
        # Context columns are filled per request: a placeholder (required context fields included).
        base = self.encoder.assemble(self.encoder.placeholder_context(), part)
        texts = {}
        if self.spec.behaviour is not None:  # canonical once, compared per request
            n, columns = columns_of(items, self.spec.behaviour.recorded_columns)
            texts = BehaviourState(self.spec).candidate_texts(columns, n)
        self._catalog = Catalog(items=items, part=part, ids=ids, base=base, behaviour_texts=texts)
        return self._catalog

    def rank_catalog(
        self,
        context: Mapping[str, Any],
        k: int = 10,
        subset: Sequence[Any] | None = None,
        behaviour: BehaviourLog | None = None,
        now: float | None = None,
    ) -> list[tuple[Any, float]]:
        """Rank the indexed catalog (or the items with ids in ``subset``) for one context
        (``behaviour`` and ``now`` as for :meth:`score`)."""
        cat = self._catalog
        if cat is None:
            raise EncodeError("no catalog indexed; call index_catalog(items) first")
        context, t = self._behaviour_context(context, None, behaviour, now)
        ctx = self.encoder.encode_context(context)
        if subset is None:
            rows = None
            n = cat.part.n
        else:
            if isinstance(subset, (str, bytes, Mapping)) or not isinstance(subset, Iterable):
                raise ArgumentError(
                    "Expected subset to be a list of catalog ids (a text is one id: wrap it in a list). "
                    f"Received: subset={subset!r:.80}"
                )
            subset = list(subset)
            missing = [s for s in subset if not _in_catalog(s, cat.ids)]
            if missing:
                raise EncodeError(f"subset names items not in the catalog: {missing[:5]}")
            rows = np.array([cat.ids[s] for s in subset], dtype=np.int64)
            n = len(rows)
        if n == 0:
            return []
        inputs = self._fill_context(cat, ctx, rows)
        if t is not None and behaviour is not None:
            texts = cat.behaviour_texts
            if rows is not None:
                texts = {c: [v[i] for i in rows] for c, v in texts.items()}
            self.encoder.fill_numeric(inputs, behaviour.item_values(texts, n, t))
        scores = self.score_inputs(inputs)
        top = top_indices(scores, k)
        chosen = top if rows is None else rows[top]
        return [(cat.items[int(c)], float(scores[i])) for c, i in zip(chosen, top, strict=True)]

    def _fill_context(self, cat: Catalog, ctx: EncodedPart, rows: np.ndarray | None) -> dict[str, np.ndarray]:
        """Catalog inputs with the context's columns (and context x item crosses) filled in."""
        if rows is None:
            inputs = {k: v.copy() for k, v in cat.base.items()}
            part = cat.part
        else:
            inputs = {k: v[rows] for k, v in cat.base.items()}
            part = cat.part.take(rows)
        self.encoder.fill_context(inputs, ctx, part)
        return inputs

    # ------------------------------------------------------------------ verify
    def verify(self) -> VerifyReport:
        """Run the golden vectors: encode the records, compare arrays, score, compare scores."""
        g = self.bundle.golden
        records = g["records"]
        tol = float(g.get("tolerance", 1e-5))
        encoded = self.encoder.encode(records)
        mismatches = []
        for name, expected in g["encoded"].items():
            got = encoded.get(name)
            exp = np.asarray(expected, dtype=got.dtype if got is not None else None)
            if got is None or got.shape != exp.shape or not np.array_equal(got, exp):
                bad = (
                    "absent"
                    if got is None
                    else f"{int((got != exp).sum()) if got.shape == exp.shape else 'shape'} values differ"
                )
                mismatches.append(f"{name}: {bad}")
        scores = self.score_inputs(encoded)
        diff = (
            float(np.max(np.abs(scores - np.asarray(g["scores"], dtype=np.float32)))) if len(scores) else 0.0
        )
        return VerifyReport(
            ok=not mismatches and diff <= tol,
            records=len(records),
            encode_mismatches=mismatches,
            max_score_diff=diff,
            tolerance=tol,
        )
