"""The catalog: every system, event type and data-sharing agreement, checked for consistency.

The catalog is code in the `schemas` package (or any module named by `BUS_CATALOG_MODULE`)
that defines a module-level `catalog = Catalog(...)`. Building it checks every cross-reference,
so an inconsistent catalog fails at import, in CI, before anything reaches a broker.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from bus.catalog.delivery import Delivery
from bus.catalog.event_type import EventData, EventType
from bus.catalog.subscription import Subscription
from bus.catalog.system import System
from bus.errors import (
    CatalogError,
    UnknownEventTypeError,
    UnknownSystemError,
    UnknownTopicError,
)
from bus.privacy.redaction import register_personal_keys
from bus.privacy.subjects import register_subject_fields, subject_fields


class Catalog:
    """Systems, event types and subscriptions, validated together."""

    def __init__(
        self,
        *,
        systems: Iterable[System],
        event_types: Iterable[type[EventData]],
        subscriptions: Iterable[Subscription] = (),
        deliveries: Iterable[Delivery] = (),
    ) -> None:
        self.systems: tuple[System, ...] = tuple(systems)
        self.event_types: tuple[EventType, ...] = tuple(cls.event_type() for cls in event_types)
        self.subscriptions: tuple[Subscription, ...] = tuple(subscriptions)
        self.deliveries: tuple[Delivery, ...] = tuple(deliveries)
        self._systems = {s.id: s for s in self.systems}
        self._types = {et.type: et for et in self.event_types}
        self._topics = {et.topic: et for et in self.event_types}
        self._by_class = {et.data: et for et in self.event_types}
        self._check()
        # By construction: whichever entry point built the catalog (SDK, CLI, ingress, relay,
        # adapter), its personal fields are masked in every log line from now on.
        register_personal_keys(self.personal_field_names)
        for et in self.event_types:
            properties = et.json_schema().get("properties", {})
            register_subject_fields(et.type, subject_fields(properties, et.personal_fields))

    def _check(self) -> None:
        problems: list[str] = []
        problems += _duplicates("system id", [s.id for s in self.systems])
        problems += _duplicates(
            "event type", [f"{et.type} v{et.version}" for et in self.event_types]
        )
        problems += _duplicates("topic", [et.topic for et in self.event_types])
        problems += _duplicates(
            "subscription", [f"{s.system} -> {s.event_type}" for s in self.subscriptions]
        )
        for et in self.event_types:
            if et.owner not in self._systems:
                problems.append(f"{et.type}: owner {et.owner!r} is not a declared system")
            try:
                et.data.model_validate(et.example)
            except ValidationError as exc:
                problems.append(f"{et.type}: example is not valid: {exc.errors()[0]['msg']}")
        for sub in self.subscriptions:
            where = f"subscription {sub.system} -> {sub.event_type}"
            if sub.system not in self._systems:
                problems.append(f"{where}: system {sub.system!r} is not declared")
            agreed = self._types.get(sub.event_type)
            if agreed is None:
                problems.append(f"{where}: event type is not declared")
                continue
            if sub.system == agreed.owner:
                problems.append(f"{where}: a system does not subscribe to its own event type")
            if not sub.purpose.strip():
                problems.append(f"{where}: purpose is required")
            unknown = set(sub.fields or ()) - set(agreed.data.model_fields)
            if unknown:
                problems.append(f"{where}: granted fields {sorted(unknown)} are not in the data")
            if sub.pseudonymous and not set(sub.pseudonymous) <= set(sub.fields or ()):
                problems.append(
                    f"{where}: pseudonymous fields {sorted(sub.pseudonymous)} must be listed in "
                    "`fields` too"
                )
        problems += _duplicates("delivery group", [d.group for d in self.deliveries])
        for delivery in self.deliveries:
            where = f"delivery {delivery.group} ({delivery.system} <- {delivery.event_type})"
            if self.agreement(delivery.system, delivery.event_type) is None:
                problems.append(f"{where}: no agreement, no delivery; add the Subscription first")
            problems += [f"{where}: {problem}" for problem in delivery.problems()]
        if problems:
            raise CatalogError("catalog is inconsistent:\n  - " + "\n  - ".join(problems))

    # Look-ups -------------------------------------------------------------------------------

    def system(self, system_id: str) -> System:
        """The system with this id."""
        try:
            return self._systems[system_id]
        except KeyError:
            raise UnknownSystemError(system_id, sorted(self._systems)) from None

    def topic(self, name: str) -> EventType:
        """The event type published on topic `name` (`UnknownTopicError` listing the topics)."""
        found = self._topics.get(name)
        if found is None:
            raise UnknownTopicError(name, sorted(self._topics))
        return found

    def event_type(self, ref: str | type[EventData]) -> EventType:
        """The event type named by its CloudEvents type, its topic, or its data class."""
        if isinstance(ref, type):
            found = self._by_class.get(ref)
            if found is None:
                raise UnknownEventTypeError(ref.__name__)
            return found
        found = self._types.get(ref) or self._topics.get(ref)
        if found is None:
            raise UnknownEventTypeError(ref)
        return found

    def owned_by(self, system_id: str) -> tuple[EventType, ...]:
        """Event types that `system_id` publishes."""
        return tuple(et for et in self.event_types if et.owner == system_id)

    def subscriptions_of(self, system_id: str) -> tuple[Subscription, ...]:
        """Agreements under which `system_id` consumes."""
        return tuple(s for s in self.subscriptions if s.system == system_id)

    def subscribers_of(self, event_type: str) -> tuple[Subscription, ...]:
        """Agreements that let other systems consume `event_type`."""
        return tuple(s for s in self.subscriptions if s.event_type == event_type)

    def agreement(self, system_id: str, event_type: str) -> Subscription | None:
        """The agreement letting `system_id` consume `event_type`, if there is one."""
        for sub in self.subscriptions:
            if sub.system == system_id and sub.event_type == event_type:
                return sub
        return None

    def with_deliveries(self, deliveries: Iterable[Delivery]) -> Catalog:
        """This catalog with `deliveries` as its HTTP deliveries, checked like any catalog."""
        return Catalog(
            systems=self.systems,
            event_types=[et.data for et in self.event_types],
            subscriptions=self.subscriptions,
            deliveries=deliveries,
        )

    def delivery(self, group: str) -> Delivery | None:
        """The HTTP delivery of consumer group `group`, if the catalog declares one."""
        return next((d for d in self.deliveries if d.group == group), None)

    def granted_fields(self, system_id: str, event_type: str) -> frozenset[str]:
        """Data fields `system_id` may see of `event_type` (all non-personal ones by default)."""
        et = self.event_type(event_type)
        sub = self.agreement(system_id, event_type)
        if sub is None:
            return frozenset()
        if sub.fields is not None:
            return frozenset(sub.fields)
        return frozenset(et.data.model_fields) - et.personal_fields

    @cached_property
    def personal_field_names(self) -> frozenset[str]:
        """Every field name marked as personal data anywhere in the catalog."""
        return frozenset().union(*(et.personal_fields for et in self.event_types))

    def to_dict(self) -> dict[str, Any]:
        """The catalog as the JSON document printed by `bus catalog list --json`."""
        return {
            "systems": [
                {"id": s.id, "opd": s.opd, "name": s.name, "contact": s.contact}
                for s in self.systems
            ],
            "event_types": [
                {
                    "type": et.type,
                    "topic": et.topic,
                    "owner": et.owner,
                    "version": et.version,
                    "key": et.key,
                    "description": et.description,
                    "personal_data": sorted(et.personal_fields),
                    "partitions": et.topic_settings.partitions,
                    "schema": et.json_schema(),
                    "example": et.example,
                }
                for et in self.event_types
            ],
            "subscriptions": [
                {
                    "system": s.system,
                    "event_type": s.event_type,
                    "purpose": s.purpose,
                    "legal_basis": s.legal_basis,
                    "fields": sorted(self.granted_fields(s.system, s.event_type)),
                    "pseudonymous": sorted(s.pseudonymous),
                }
                for s in self.subscriptions
            ],
        }


def _duplicates(what: str, names: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    problems = []
    for name in names:
        if name in seen:
            problems.append(f"duplicate {what} {name!r}")
        seen.add(name)
    return problems


def load_catalog(module: str = "schemas") -> Catalog:
    """Import `module` and return its `catalog` attribute."""
    try:
        loaded = importlib.import_module(module)
    except ImportError as exc:
        raise CatalogError(f"cannot import catalog module {module!r}: {exc}") from exc
    catalog = getattr(loaded, "catalog", None)
    if not isinstance(catalog, Catalog):
        raise CatalogError(f"module {module!r} has no `catalog = Catalog(...)`")
    return catalog
