"""How a spec's fields refer to one another: ``shares`` (a history in the id space of an item field)
and the behaviour section's features (each fills a field of the right kind and side)."""

from __future__ import annotations

from dataclasses import replace

from masknet_edge.edge_runtime.behaviour_spec import BehaviourSpec
from masknet_edge.edge_runtime.errors import SpecError
from masknet_edge.edge_runtime.field_checks import SHARED_KEYS, spec_error
from masknet_edge.edge_runtime.fields import (
    CategoricalField,
    CrossField,
    Field,
    IdSpace,
    MultiCategoricalField,
    NumericField,
)

__all__ = ["check_behaviour", "with_shared_id_spaces"]


def with_shared_id_spaces(fields: tuple[Field, ...]) -> tuple[Field, ...]:
    """Each ``shares`` field with the id space of the field it names (a categorical field; an
    ``attention`` one reads a context-side history of an item field)."""
    by_name = {f.name: f for f in fields if isinstance(f, IdSpace)}
    out = []
    for f in fields:
        if isinstance(f, MultiCategoricalField) and f.shares is not None:
            target = by_name.get(f.shares)
            if not isinstance(target, CategoricalField):
                what = target.kind if target is not None else "not a field of the spec"
                raise spec_error(
                    f.name, f"shares {f.shares!r}, which is {what}; it must name a categorical field"
                )
            if f.pooling == "attention" and (target.side != "item" or f.side != "context"):
                raise spec_error(
                    f.name,
                    "attention pooling reads a context-side history against an item field: "
                    f"this field is {f.side}-side and {f.shares!r} is {target.side}-side",
                )
            f = replace(f, **{k: getattr(target, k) for k in SHARED_KEYS})
        out.append(f)
    return tuple(out)


def check_behaviour(behaviour: BehaviourSpec, by_name: dict[str, Field]) -> None:
    """Each behaviour feature fills a field of the right kind and side; each ``of`` is categorical."""
    if not isinstance(behaviour, BehaviourSpec):
        raise SpecError(f"behaviour must be a BehaviourSpec. Received: {type(behaviour).__name__}")
    derived = set(behaviour_names := [f.name for f in behaviour.features])
    for f in by_name.values():
        if isinstance(f, CrossField) and derived & set(f.fields):
            raise spec_error(
                f.name, f"crosses behaviour fields {sorted(derived & set(f.fields))}; not supported"
            )
    for b in behaviour.features:
        target = by_name.get(b.name)
        if target is None:
            raise spec_error(b.name, f"the behaviour feature has no field of that name; add a {b.type} field")
        want_multi = b.type == "last_values"
        ok_kind = isinstance(target, MultiCategoricalField if want_multi else NumericField)
        if not ok_kind:
            raise spec_error(
                b.name,
                f"behaviour type {b.type!r} fills a "
                f"{'multi_categorical' if want_multi else 'numeric'} field, not a {target.kind} one",
            )
        if target.side != b.side:
            raise spec_error(
                b.name, f"behaviour type {b.type!r} here is a {b.side}-side feature, not {target.side}"
            )
        if target.required:
            raise spec_error(b.name, "a behaviour field is computed on the device; it cannot be required")
        if isinstance(target, NumericField) and target.source is not None:
            raise spec_error(b.name, "a behaviour field fills its own column; it takes no 'source'")
        if b.of is not None:
            source = by_name.get(b.of)
            if not isinstance(source, CategoricalField):
                raise spec_error(
                    b.name,
                    f"'of' must name a categorical field of the spec; {b.of!r} is "
                    + (source.kind if source is not None else "not a field"),
                )
            if b.side == "item" and source.side != "item":
                raise spec_error(b.name, f"compares candidates on {b.of!r}, which is not an item field")
            if b.of in behaviour_names:
                raise spec_error(b.name, f"'of' cannot be another behaviour feature ({b.of!r})")
