"""Domain errors of masknet-edge.

Every error the toolkit raises on bad input derives from :class:`MasknetError`, so an application
can catch one type. Each message names the field, record or file at fault and what to do.
"""

from __future__ import annotations


class MasknetError(Exception):
    """Base class of every masknet-edge domain error."""


class SpecError(MasknetError, ValueError):
    """A feature spec is invalid: unknown kind, zero buckets, duplicate names, ..."""


class EncodeError(MasknetError, ValueError):
    """A raw record cannot be encoded: wrong type, unparsable number, missing required field, ..."""

    def __init__(self, message: str, *, field: str | None = None, record: int | None = None) -> None:
        where = []
        if field is not None:
            where.append(f"field {field!r}")
        if record is not None:
            where.append(f"record {record}")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)
        self.detail = message
        self.field = field
        self.record = record


class ArgumentError(MasknetError, ValueError):
    """An argument of an API call is out of range or of the wrong type (``k=0``, ``num_threads=-1``)."""


class BundleError(MasknetError):
    """A bundle is damaged, truncated, foreign or does not match its model."""


class SignatureError(BundleError):
    """A bundle's signature is missing, forged, by an untrusted or revoked key, or for another bundle."""


class MissingDependencyError(MasknetError, ImportError):
    """An optional dependency is not installed; the message says what to ``pip install``."""


class BehaviourLogError(MasknetError):
    """The behaviour log file cannot be opened, read or written (not a log, damaged, disk full)."""
