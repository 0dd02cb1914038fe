"""The feature spec: the single, versioned source of truth for a model's inputs.

A spec is a list of fields. Each field says what it holds, which side of a request it belongs to
(``context``: the user/request, encoded once; ``item``: the candidate, encoded per candidate) and what
a missing value becomes. It round-trips through JSON; loading validates it and names the field and the
problem on any error.

The field kinds, their checks and id spaces are in :mod:`edge_runtime.fields`; this module holds the
spec itself: the list of fields, the behaviour section, the label, the shared id space (every id
space reserves index 0 for "missing"; ids are offset into one shared embedding table in field
order), the model's inputs, the canonical JSON and its fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from masknet_edge.edge_runtime.atomic import atomic_write_bytes
from masknet_edge.edge_runtime.behaviour_spec import BehaviourSpec
from masknet_edge.edge_runtime.errors import SpecError
from masknet_edge.edge_runtime.field_checks import MAX_TOTAL_VOCAB, SHARED_KEYS, Side, spec_error
from masknet_edge.edge_runtime.fields import (
    KINDS,
    CategoricalField,
    CrossField,
    Field,
    MultiCategoricalField,
    NumericField,
    fit_vocabulary,
)
from masknet_edge.edge_runtime.spec_links import check_along, check_behaviour, with_shared_id_spaces

__all__ = [
    "FORMAT_VERSION",
    "fit_vocabulary",
    "CategoricalField",
    "CrossField",
    "FeatureSpec",
    "InputSpec",
    "MultiCategoricalField",
    "NumericField",
]

#: Version of the spec's JSON format. Readers refuse a newer major version.
FORMAT_VERSION = 1
#: Largest JSON spec file accepted (bytes); a spec is a few kilobytes.
MAX_SPEC_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class InputSpec:
    """One model input: its name, dtype and shape without the batch dimension."""

    name: str
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class FeatureSpec:
    """A validated, immutable list of fields, optionally naming the label column.

    >>> spec = FeatureSpec.from_dict({"fields": [
    ...     {"name": "user_id", "kind": "categorical", "side": "context", "num_buckets": 100},
    ...     {"name": "price", "kind": "numeric", "side": "item", "mean": 10.0, "std": 2.0}]})
    >>> [i.name for i in spec.input_signature()]
    ['cat_ids', 'num_values']
    """

    fields: tuple[Field, ...]
    label: str | None = None
    format_version: int = FORMAT_VERSION
    behaviour: BehaviourSpec | None = None
    _by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        if not self.fields:
            raise SpecError("a spec needs at least one field")
        if self.format_version != FORMAT_VERSION:
            raise SpecError(
                f"unsupported spec format_version {self.format_version!r}; this version of masknet-edge "
                f"reads version {FORMAT_VERSION}. Upgrade masknet-edge or re-export the spec."
            )
        object.__setattr__(self, "fields", with_shared_id_spaces(self.fields))
        by_name: dict[str, Field] = {}
        for f in self.fields:
            if not isinstance(f, tuple(KINDS.values())):
                raise SpecError(f"spec fields must be field objects. Received: {f!r}")
            if f.name in by_name:
                raise spec_error(f.name, "duplicate field name")
            by_name[f.name] = f
        if self.label is not None:
            if not isinstance(self.label, str) or not self.label:
                raise SpecError(f"label must be a column name. Received: label={self.label!r}")
            if self.label in by_name:
                raise spec_error(self.label, "the label column cannot also be a feature")
        for f in self.fields:
            if isinstance(f, CrossField):
                for src in f.fields:
                    other = by_name.get(src)
                    if other is None:
                        raise spec_error(
                            f.name, f"crosses unknown field {src!r}; known fields: {sorted(by_name)}"
                        )
                    scalar_cat = isinstance(other, CategoricalField) or (
                        isinstance(other, NumericField) and other.is_bucketized
                    )
                    if not scalar_cat:
                        raise spec_error(
                            f.name,
                            "can only cross categorical or bucketized numeric fields; "
                            f"{src!r} is {other.kind}"
                            + (
                                f" with transform {other.transform!r}"
                                if isinstance(other, NumericField)
                                else ""
                            ),
                        )
        object.__setattr__(self, "_by_name", by_name)
        check_along(by_name)
        if self.behaviour is not None:
            check_behaviour(self.behaviour, by_name)
        if self.is_fitted and self.total_vocab > MAX_TOTAL_VOCAB:
            raise SpecError(f"all fields together use more than {MAX_TOTAL_VOCAB} ids; lower num_buckets")

    @property
    def behaviour_columns(self) -> tuple[str, ...]:
        """Fields the device computes from its behaviour log (none without a behaviour section)."""
        return tuple(f.name for f in self.behaviour.features) if self.behaviour else ()

    # ----------------------------------------------------------------- lookups
    def __getitem__(self, name: str) -> Field:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no field {name!r} in the spec; fields: {sorted(self._by_name)}") from None

    @property
    def names(self) -> tuple[str, ...]:
        """Field names in spec order."""
        return tuple(f.name for f in self.fields)

    def side_of(self, name: str) -> Side:
        """The side of a field; a cross is ``item`` when any crossed field is."""
        f = self[name]
        if isinstance(f, CrossField):
            return "item" if any(self.side_of(s) == "item" for s in f.fields) else "context"
        return f.side

    @property
    def raw_columns(self) -> tuple[str, ...]:
        """Names of the fields read from raw columns (every field except crosses)."""
        return tuple(f.name for f in self.fields if f.column is not None)

    def column_of(self, name: str) -> str:
        """The raw column a field reads (its ``source`` or its name; a cross, which reads none, its name)."""
        return self[name].column or name

    @property
    def text_columns(self) -> tuple[str, ...]:
        """Raw columns holding categorical values (read as text from files)."""
        return tuple(f.name for f in self.fields if f.reads_text)

    @property
    def input_columns(self) -> tuple[str, ...]:
        """The distinct raw columns a record must (or may) carry, in spec order."""
        return tuple(dict.fromkeys(self.column_of(n) for n in self.raw_columns))

    def columns_of_side(self, side: Side) -> tuple[str, ...]:
        """Raw columns of one side."""
        return tuple(n for n in self.raw_columns if self.side_of(n) == side)

    @property
    def id_fields(self) -> tuple[Field, ...]:
        """Fields that become one id column of ``cat_ids``, in order."""
        return tuple(f for f in self.fields if f.model_input == "ids")

    @property
    def dense_fields(self) -> tuple[NumericField, ...]:
        """Numeric fields that become one column of ``num_values``, in order."""
        return tuple(f for f in self.fields if f.model_input == "values")  # type: ignore[misc]

    @property
    def multi_fields(self) -> tuple[MultiCategoricalField, ...]:
        """Multi-valued fields; each becomes ``<name>_ids`` and ``<name>_mask`` inputs."""
        return tuple(f for f in self.fields if f.model_input == "sequence")  # type: ignore[misc]

    @property
    def is_fitted(self) -> bool:
        """True when every numeric transform has its statistics and every vocabulary is fitted."""
        return not self.unfitted_fields()

    def unfitted_fields(self) -> tuple[str, ...]:
        """Names of fields still lacking statistics or a vocabulary."""
        return tuple(f.name for f in self.fields if not f.is_fitted)

    def vocab_sizes(self) -> dict[str, int]:
        """Ids each id-bearing field uses (scalar id fields, then multi-valued fields)."""
        return {f.name: f.vocab_size for f in (*self.id_fields, *self.multi_fields)}

    def vocab_offsets(self) -> dict[str, int]:
        """Offset of each id-bearing field in the shared embedding table; a ``shares`` field has the
        offset of the field it shares and no rows of its own."""
        offsets, total = {}, 0
        for name, size in self.vocab_sizes().items():
            shared = getattr(self[name], "shares", None)
            if shared is not None:
                offsets[name] = offsets[shared]
                continue
            offsets[name] = total
            total += size
        return offsets

    @property
    def total_vocab(self) -> int:
        """Rows of the shared embedding table."""
        return sum(
            size for name, size in self.vocab_sizes().items() if getattr(self[name], "shares", None) is None
        )

    def input_signature(self) -> tuple[InputSpec, ...]:
        """The model inputs the encoder produces, without the batch dimension."""
        sig = []
        if self.id_fields:
            sig.append(InputSpec("cat_ids", "int32", (len(self.id_fields),)))
        if self.dense_fields:
            sig.append(InputSpec("num_values", "float32", (len(self.dense_fields),)))
        for f in self.multi_fields:
            sig.append(InputSpec(f"{f.name}_ids", "int32", (f.max_length,)))
            sig.append(InputSpec(f"{f.name}_mask", "float32", (f.max_length,)))
        return tuple(sig)

    # ----------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``FeatureSpec.from_dict(spec.to_dict()) == spec``."""
        fields = []
        for f in self.fields:
            d = {"name": f.name, "kind": f.kind}
            # None means "not set / not fitted": omitted, so specs stay short and readable.
            d.update({k: v for k, v in asdict(f).items() if k != "name" and v is not None})
            if isinstance(f, MultiCategoricalField) and f.shares is not None:
                for k in SHARED_KEYS:  # the shared field's, not this one's to state
                    d.pop(k, None)
                fields.append(d)
                continue
            if isinstance(f, CrossField):
                d["fields"] = list(f.fields)
            if isinstance(f, NumericField) and f.boundaries is not None:
                d["boundaries"] = list(f.boundaries)
            if isinstance(f, (CategoricalField, MultiCategoricalField)):
                if f.vocabulary is not None:
                    d["vocabulary"] = list(f.vocabulary)
                if f.value_type == "text":  # the default, omitted: a spec lists only what differs
                    del d["value_type"]
            fields.append(d)
        out = {"format_version": self.format_version, "label": self.label, "fields": fields}
        if self.behaviour is not None:
            out["behaviour"] = self.behaviour.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Build and validate a spec from a dict (as read from JSON)."""
        if not isinstance(data, Mapping):
            raise SpecError(f"a spec must be a JSON object. Received: {type(data).__name__}")
        unknown = set(data) - {"format_version", "label", "fields", "behaviour"}
        if unknown:
            raise SpecError(
                f"unknown spec keys {sorted(unknown)}; allowed: format_version, label, fields, behaviour"
            )
        raw_fields = data.get("fields")
        if not isinstance(raw_fields, list):
            raise SpecError("spec key 'fields' must be a list of field objects")
        fields = []
        for i, raw in enumerate(raw_fields):
            if not isinstance(raw, Mapping):
                raise SpecError(f"fields[{i}] must be an object. Received: {raw!r}")
            name = raw.get("name", f"fields[{i}]")
            if not isinstance(name, str):
                raise SpecError(f"fields[{i}]: 'name' must be a text. Received: name={name!r:.80}")
            kind = raw.get("kind")
            if not isinstance(kind, str) or kind not in KINDS:
                raise spec_error(
                    name, f"unknown kind; expected one of {sorted(KINDS)}. Received: kind={kind!r}"
                )
            ftype = KINDS[kind]
            allowed = {f for f in ftype.__dataclass_fields__ if f != "kind"}
            kwargs = {k: v for k, v in raw.items() if k != "kind"}
            if kwargs.get("shares") is not None and set(kwargs) & set(SHARED_KEYS):
                raise spec_error(
                    name,
                    f"takes its id space from {kwargs['shares']!r} (shares); remove "
                    f"{sorted(set(kwargs) & set(SHARED_KEYS))}",
                )
            extra = set(kwargs) - allowed
            if extra:
                raise spec_error(
                    name, f"unknown keys {sorted(extra)} for kind {kind!r}; allowed: {sorted(allowed)}"
                )
            try:
                fields.append(ftype(**kwargs))
            except TypeError as exc:
                raise spec_error(
                    name, f"incomplete definition ({exc}); {kind!r} needs {sorted(allowed)}"
                ) from None
        return cls(
            fields=tuple(fields),
            label=data.get("label"),
            format_version=data.get("format_version", FORMAT_VERSION),
            behaviour=BehaviourSpec.from_dict(data["behaviour"])
            if data.get("behaviour") is not None
            else None,
        )

    def to_json(self) -> str:
        """Canonical JSON text (sorted keys, 2-space indent; each vocabulary on one line, compact)."""
        data = self.to_dict()
        # Each vocabulary becomes a placeholder built from a tag that occurs nowhere in the spec's
        # JSON, then the placeholder is replaced by the compact list.
        everything = json.dumps(data)
        tag = "@vocabulary@"
        while tag in everything:
            tag += "@"
        vocabularies = {}
        for i, d in enumerate(data["fields"]):
            if "vocabulary" in d:
                key = f"{tag}{i}{tag}"
                vocabularies[json.dumps(key)] = json.dumps(d["vocabulary"], separators=(",", ":"))
                d["vocabulary"] = key
        text = json.dumps(data, indent=2, sort_keys=True)
        for key, compact in vocabularies.items():
            text = text.replace(key, compact, 1)
        return text + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> FeatureSpec:
        """Parse and validate JSON text."""
        if len(text) > MAX_SPEC_BYTES:
            raise SpecError(f"spec is larger than {MAX_SPEC_BYTES} bytes; not a feature spec")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # also: a 5,000-digit integer, deep nesting
            problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).splitlines()[0]
            raise SpecError(f"spec is not valid JSON: {problem}") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FeatureSpec:
        """Read a spec JSON file; errors name the file."""
        if not isinstance(path, (str, os.PathLike)):
            raise SpecError(f"expected the path of a spec file. Received: {type(path).__name__} {path!r:.80}")
        p = Path(path)
        try:
            size = p.stat().st_size
            if size > MAX_SPEC_BYTES:
                raise SpecError(f"{p}: larger than {MAX_SPEC_BYTES} bytes; not a feature spec")
            text = p.read_bytes()
        except OSError as exc:
            raise SpecError(f"cannot read spec file {p}: {exc.strerror or exc}") from None
        try:
            return cls.from_json(text)
        except SpecError as exc:
            raise SpecError(f"{p}: {exc}") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the spec atomically (temp file in the same folder, then rename)."""
        atomic_write_bytes(Path(path), self.to_json().encode("utf-8"))

    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON: identifies a spec exactly (bundles record it)."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    def with_field(self, new: Field) -> FeatureSpec:
        """A copy with the field of the same name replaced by ``new``."""
        self[new.name]  # raises KeyError naming the fields when unknown
        return replace(self, fields=tuple(new if f.name == new.name else f for f in self.fields))
