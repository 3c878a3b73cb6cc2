"""Grant topics: each partial agreement's fields on a topic of their own, readable by one system.

    grant_topic("diskominfotik.satudata", "dpmptsp.izin.terbit.v1")
        # "bus.grant.diskominfotik.satudata.dpmptsp.izin.terbit.v1"
    projected_grants(catalog)      # every agreement that grants less than the whole event

An agreement that grants every field of an event type is served from the event type's topic.
One that grants part of it (Satu Data's aggregate fields, every default grant of a type with
personal data) is served from its grant topic, which `bus project` writes with the granted
fields only; the ACLs let the system read that topic and not the source topic, so the fields it
was not granted never reach it, whatever client it uses (docs/topics-and-acls.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from bus.catalog import Catalog, EventType
from bus.config import BusSettings

__all__ = [
    "GRANT_TOPIC_PREFIX",
    "Grant",
    "grant_of",
    "grant_topic",
    "projected_grants",
    "reads_grant_topics",
]

GRANT_TOPIC_PREFIX = "bus.grant."


def grant_topic(system_id: str, source_topic: str) -> str:
    """The topic that carries `source_topic`'s events as granted to `system_id`."""
    return f"{GRANT_TOPIC_PREFIX}{system_id}.{source_topic}"


@dataclass(frozen=True)
class Grant:
    """A partial agreement: which fields of which event type one system receives, where."""

    system: str
    event_type: EventType
    fields: frozenset[str]

    @property
    def topic(self) -> str:
        """The grant topic the projector writes and the system reads."""
        return grant_topic(self.system, self.event_type.topic)


def grant_of(catalog: Catalog, system_id: str, event_type: str) -> Grant | None:
    """The system's grant topic for the event type, or None if it receives the whole event."""
    et = catalog.event_type(event_type)
    fields = catalog.granted_fields(system_id, et.type)
    if fields >= set(et.data.model_fields):
        return None
    return Grant(system_id, et, fields)


def projected_grants(catalog: Catalog) -> list[Grant]:
    """Every agreement served from a grant topic, sorted by topic."""
    grants = (grant_of(catalog, s.system, s.event_type) for s in catalog.subscriptions)
    return sorted((g for g in grants if g is not None), key=lambda g: g.topic)


def reads_grant_topics(settings: BusSettings) -> bool:
    """True if subscribers read their grant topics: `BUS_GRANT_TOPICS`, by default whenever
    the client authenticates as a system (then the ACLs allow nothing else)."""
    if settings.grant_topics is not None:
        return settings.grant_topics
    # Imported here: bus.acl's bindings import this module, so a module-level import would be
    # circular whenever bus.projection is imported first.
    from bus.acl.principals import credential_principal, system_of

    principal = credential_principal(settings)
    return principal is not None and system_of(principal) is not None
