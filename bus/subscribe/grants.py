"""Granted views: what a subscriber's handler sees of an event is what its agreement grants.

    view = granted_view(catalog, "bapenda.sipd", IzinTerbit)     # class IzinTerbitView
    view.model_fields.keys()        # every IzinTerbit field except nama_pemohon (personal)

A record is first validated against the event type's full model, the contract between
owner and consumers; the validated data is then projected onto the consumer's view, a model
generated once per (system, event type) at handler registration with the same field
definitions, limited to the fields granted by the data-sharing agreement (by default every
field that is not personal data). A field that is not granted is absent from the view: reading
it raises `AttributeError` and `model_dump()` does not contain it.

When an agreement grants every field, the view is the event type's own class and no
projection happens.
"""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, create_model

from bus.catalog import Catalog, EventData
from bus.errors import NoAgreementError


class GrantedView(BaseModel):
    """Base class of generated views: closed and frozen like the event data they project."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The event type's full data class this view projects.
    __source__: ClassVar[type[EventData]]
    #: The system whose agreement defines this view.
    __system__: ClassVar[str]
    #: The granted field names.
    __granted__: ClassVar[frozenset[str]]


def granted_view(catalog: Catalog, system_id: str, ref: type[EventData] | str) -> type[BaseModel]:
    """The model a handler of `system_id` receives for `ref`: only the granted fields."""
    event_type = catalog.event_type(ref)
    if catalog.agreement(system_id, event_type.type) is None:
        raise NoAgreementError(system_id, event_type.type)
    granted = catalog.granted_fields(system_id, event_type.type)
    return _view(event_type.data, system_id, granted)


@cache
def _view(data: type[EventData], system_id: str, granted: frozenset[str]) -> type[BaseModel]:
    # Cached so that every registration of the same grant returns the same class: a handler
    # annotated with a view obtained earlier is recognised by identity.
    if granted >= set(data.model_fields):
        return data
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in data.model_fields.items() if name in granted
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
    return view


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
    object.__setattr__(projected, "__dict__", {name: values[name] for name in view.model_fields})
    object.__setattr__(projected, "__pydantic_fields_set__", data.model_fields_set & names)
    object.__setattr__(projected, "__pydantic_extra__", None)
    object.__setattr__(projected, "__pydantic_private__", None)
    return projected
