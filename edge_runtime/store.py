"""Switching a serving ranker to a new bundle without a moment of bad or mixed scores.

:class:`BundleStore` holds the active :class:`~edge_runtime.ranker.Ranker` and the one before it. A
new bundle (a CDN download, say) becomes active only after it passed everything a device can check:
its signature when keys are trusted, its hashes, its golden records run through this device's
interpreter, and its version against the active one's. Each request takes the active ranker once
and finishes on it, so a swap never mixes two models in one ranking and never waits for requests.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from masknet_edge.edge_runtime.errors import ArgumentError, BundleError
from masknet_edge.edge_runtime.ranker import Ranker
from masknet_edge.edge_runtime.signing import TrustedKeys

__all__ = ["BundleStore"]


def _created(ranker: Ranker) -> dt.datetime:
    """When the bundle was converted (its manifest's ``created``; signed with the bundle)."""
    text = ranker.bundle.manifest.created
    try:
        when = dt.datetime.fromisoformat(str(text))
    except ValueError:
        raise BundleError(f"{ranker.bundle.path}: manifest 'created' {text!r:.40} is not a time") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


class BundleStore:
    """The bundle a device ranks with, replaced between requests by verified newer bundles.

    >>> store = BundleStore("v1.mnb", trusted_keys=["release.pem.pub"])   # doctest: +SKIP
    >>> store.rank(context, candidates, k=10)                              # doctest: +SKIP
    >>> store.swap("v2.mnb")      # verified first; v1 serves until v2 passed   # doctest: +SKIP
    >>> store.rollback()          # back to v1                                  # doctest: +SKIP

    Args:
        bundle: the first bundle to serve.
        trusted_keys: public keys every bundle must be signed by (see ``Ranker.load``), or a
            :class:`TrustedKeys`. Defaults to None: no signatures checked, but hashes and golden
            records still are.
        revoked_keys: keys refused even when trusted. Defaults to none.
        **ranker_options: passed to ``Ranker.load`` for every bundle (``num_threads``, ``backend``,
            ``chunk_size``, ``max_interpreters``).
    """

    def __init__(
        self,
        bundle: str | os.PathLike[str],
        trusted_keys: TrustedKeys | Iterable[str | os.PathLike[str] | bytes] | None = None,
        revoked_keys: Iterable[str | os.PathLike[str] | bytes] = (),
        **ranker_options: Any,
    ) -> None:
        if trusted_keys is not None and not isinstance(trusted_keys, TrustedKeys):
            trusted_keys = TrustedKeys.load(trusted_keys, revoked_keys)
        elif revoked_keys:
            raise ArgumentError("revoked_keys needs trusted_keys (or belongs in the TrustedKeys given)")
        self._trust = trusted_keys
        self._options = ranker_options
        self._lock = threading.Lock()  # one swap at a time; requests never take it
        self._active = self._checked(bundle)
        self._previous: Ranker | None = None

    def _checked(self, bundle: str | os.PathLike[str]) -> Ranker:
        """A ranker for ``bundle`` that passed every check, golden records included."""
        ranker = Ranker.load(bundle, trusted_keys=self._trust, **self._options)
        if self._trust is None:  # Ranker.load runs the golden records itself when keys are trusted
            report = ranker.verify()
            if not report.ok:
                raise BundleError(
                    f"{ranker.bundle.path}: its golden records fail on this device; not switched to. "
                    + str(report).replace("\n", "; ")
                )
        _created(ranker)
        return ranker

    @property
    def active(self) -> Ranker:
        """The ranker serving now."""
        return self._active

    @property
    def previous(self) -> Ranker | None:
        """The ranker that served before the last swap (what :meth:`rollback` returns to)."""
        return self._previous

    def swap(self, bundle: str | os.PathLike[str], allow_downgrade: bool = False) -> Ranker:
        """Verify ``bundle`` and make it the active one; the active one is kept for :meth:`rollback`.

        Requests that already took the active ranker finish on it. A bundle that fails a check never
        serves: the error names it and the active bundle stays.

        Args:
            bundle: the new bundle file.
            allow_downgrade: accept a bundle converted before the active one (an older version;
                otherwise refused, so a replayed old bundle cannot replace a fix). Defaults to False.

        Returns:
            The new active ranker.
        """
        candidate = self._checked(bundle)
        with self._lock:
            active = self._active
            if not allow_downgrade and _created(candidate) < _created(active):
                raise BundleError(
                    f"{candidate.bundle.path}: converted {candidate.bundle.manifest.created}, before the "
                    f"active bundle ({active.bundle.manifest.created}): a downgrade, refused; pass "
                    "allow_downgrade=True to go back on purpose"
                )
            self._previous, self._active = active, candidate
        return candidate

    def rollback(self) -> Ranker:
        """Serve the bundle that served before the last swap again (it was verified then)."""
        with self._lock:
            if self._previous is None:
                raise BundleError("no previous bundle to roll back to: nothing was swapped yet")
            self._active, self._previous = self._previous, self._active
            return self._active

    def score(self, context: Mapping[str, Any], candidates: Any, **options: Any) -> np.ndarray:
        """``Ranker.score`` on the active bundle (one bundle for the whole request)."""
        return self._active.score(context, candidates, **options)

    def rank(self, context: Mapping[str, Any], candidates: Any, **options: Any) -> list[tuple[Any, float]]:
        """``Ranker.rank`` on the active bundle (one bundle for the whole request)."""
        return self._active.rank(context, candidates, **options)

    @property
    def path(self) -> Path:
        """The active bundle's file."""
        return self._active.bundle.path

    def __repr__(self) -> str:
        previous = self._previous.bundle.path if self._previous is not None else None
        return f"BundleStore(active={self.path}, previous={previous})"
