"""How a spec's fields refer to one another: ``shares`` (a history in the id space of an item field),
``along`` (a field that describes the events of a history) and the behaviour section's features (each
fills a field of the right kind and side)."""

from __future__ import annotations

from dataclasses import replace

from masknet_edge.edge_runtime.behaviour_spec import BehaviourFeature, BehaviourSpec
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

__all__ = ["check_along", "check_behaviour", "with_shared_id_spaces"]


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


def check_along(by_name: dict[str, Field]) -> None:
    """Each ``along`` field names an ``attention`` history of its side and length."""
    for f in by_name.values():
        if not isinstance(f, MultiCategoricalField) or f.along is None:
            continue
        target = by_name.get(f.along)
        if not isinstance(target, MultiCategoricalField) or target.pooling != "attention":
            what = "not a field of the spec" if target is None else "not an attention-pooled history"
            raise spec_error(
                f.name, f"along {f.along!r}, which is {what}; name a field with pooling attention"
            )
        if (f.side, f.max_length) != (target.side, target.max_length):
            raise spec_error(
                f.name,
                f"describes the events of {f.along!r} position by position, so it needs its side and "
                f"max_length ({target.side}, {target.max_length}). Received: ({f.side}, {f.max_length})",
            )


def _check_aligned(b: BehaviourFeature, behaviour: BehaviourSpec, by_name: dict[str, Field]) -> None:
    """A behaviour field ``along`` a behaviour history lists the same events: a ``last_values`` (of
    another item column: each event's category, say) or ``last_ages`` with the history's ``event``
    and ``k`` (``last_ages`` also its ``of``)."""
    target = by_name[b.name]
    if not isinstance(target, MultiCategoricalField) or target.along is None:
        return
    history = next((h for h in behaviour.features if h.name == target.along), None)
    if history is None:
        return  # a history the app passes in: the app keeps the positions aligned
    same = (b.event, b.k) == (history.event, history.k) and (b.type == "last_values" or b.of == history.of)
    if history.type != "last_values" or b.type not in ("last_ages", "last_values") or not same:
        raise spec_error(
            b.name,
            f"is along {history.name!r}, so it must list the same events: a last_values (of any "
            f"item column) or last_ages (of {history.of!r}) feature with event {history.event!r} and "
            f"k {history.k}",
        )


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
    for f in by_name.values():  # the device computes the history, so it computes what goes along it
        if isinstance(f, MultiCategoricalField) and f.along in derived and f.name not in derived:
            raise spec_error(
                f.name,
                f"is along {f.along!r}, which the device computes from its log: add a behaviour "
                "feature for it (last_ages, or last_values of an item column) so the positions agree",
            )
    for b in behaviour.features:
        target = by_name.get(b.name)
        if target is None:
            raise spec_error(b.name, f"the behaviour feature has no field of that name; add a {b.type} field")
        want_multi = b.type in ("last_values", "last_ages")
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
        _check_aligned(b, behaviour, by_name)
