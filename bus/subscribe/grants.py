"""Granted views: what a subscriber's handler sees of an event is what its agreement grants.

    view = granted_view(catalog, "bapenda.sipd", IzinTerbit)     # class IzinTerbitView
    view.model_fields.keys()        # every IzinTerbit field except nama_pemohon (personal)

A record is first validated against the event type's full model, the contract between
owner and consumers; the validated data is then projected onto the consumer's view, a model
generated once per (system, event type) at handler registration with the same field
definitions, limited to the fields granted by the data-sharing agreement (by default every
field that is not personal data). A field that is not granted is absent from the view: reading
it raises `AttributeError` and `model_dump()` does not contain it.

A field the agreement grants `pseudonymous` (e.g. a NIK for statistics) is a string in the
view, and projection puts the per-agreement pseudonym (`bus.privacy.pseudonym`) in its place.

When an agreement grants every field in clear, the view is the event type's own class and no
projection happens.
"""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, create_model

from bus.catalog import Catalog, EventData
from bus.errors import NoAgreementError
from bus.privacy.pseudonym import PREFIX, pseudonym


class GrantedView(BaseModel):
    """Base class of generated views: closed and frozen like the event data they project."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The event type's full data class this view projects.
    __source__: ClassVar[type[EventData]]
    #: The system whose agreement defines this view.
    __system__: ClassVar[str]
    #: The granted field names.
    __granted__: ClassVar[frozenset[str]]
    #: Granted fields received as per-agreement pseudonyms (`bus.privacy.pseudonym`).
    __pseudonymous__: ClassVar[frozenset[str]] = frozenset()
    #: The agreement's name, `<system> -> <event type>`: what the pseudonyms are keyed by.
    __agreement__: ClassVar[str] = ""


def granted_view(catalog: Catalog, system_id: str, ref: type[EventData] | str) -> type[BaseModel]:
    """The model a handler of `system_id` receives for `ref`: only the granted fields."""
    event_type = catalog.event_type(ref)
    if catalog.agreement(system_id, event_type.type) is None:
        raise NoAgreementError(system_id, event_type.type)
    granted = catalog.granted_fields(system_id, event_type.type)
    agreement = catalog.agreement(system_id, event_type.type)
    pseudonymous = frozenset(agreement.pseudonymous) if agreement else frozenset()
    return _view(event_type.data, system_id, granted, pseudonymous)


@cache
def _view(
    data: type[EventData],
    system_id: str,
    granted: frozenset[str],
    pseudonymous: frozenset[str] = frozenset(),
) -> type[BaseModel]:
    # Cached so that every registration of the same grant returns the same class: a handler
    # annotated with a view obtained earlier is recognised by identity.
    if granted >= set(data.model_fields) and not pseudonymous:
        return data
    fields: dict[str, Any] = {
        name: (info.annotation, info) if name not in pseudonymous else _token_field(name)
        for name, info in data.model_fields.items()
        if name in granted
    }
    view = create_model(
        f"{data.__name__}View",
        __base__=GrantedView,
        __module__=data.__module__,
        __doc__=f"{data.__name__} as granted to {system_id}: {', '.join(fields)}.",
        **fields,
    )
    view.__source__ = data
    view.__system__ = system_id
    view.__granted__ = frozenset(fields)
    view.__pseudonymous__ = pseudonymous
    view.__agreement__ = f"{system_id} -> {data.event_type().type}"
    return view


def _token_field(name: str) -> tuple[type, Any]:
    return (
        str,
        Field(
            pattern=rf"^{PREFIX}[0-9a-f]{{32}}$",
            description=f"Pseudonym of {name} under this agreement, never the value itself.",
        ),
    )


def project(view: type[BaseModel], data: EventData) -> BaseModel:
    """`data`, already validated against its full model, reduced to the fields of `view`."""
    if isinstance(data, view):
        return data
    names: frozenset[str] = view.__granted__  # type: ignore[attr-defined]
    values = data.__dict__
    # No second validation: every value was validated by the full model, the contract. The
    # instance is assembled as `model_construct` does, without its per-call overhead (a third
    # of the cost of validating the record in the first place).
    projected = view.__new__(view)
    projected_values = {name: values[name] for name in view.model_fields}
    for name in view.__pseudonymous__:  # type: ignore[attr-defined]
        projected_values[name] = pseudonym(view.__agreement__, projected_values[name])  # type: ignore[attr-defined]
    object.__setattr__(projected, "__dict__", projected_values)
    object.__setattr__(projected, "__pydantic_fields_set__", data.model_fields_set & names)
    object.__setattr__(projected, "__pydantic_extra__", None)
    object.__setattr__(projected, "__pydantic_private__", None)
    return projected
