"""The dashboard's JSON document: groups, dead letters, the catalog and the sharing map.

Served at `GET /api/state` and pushed on `GET /api/events` (server-sent events) after every
scan. Groups are matched to catalog systems by name (a group is named after its system, or
starts with its system id), so the dashboard can say which OPD is behind.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bus.catalog import Catalog, System
from bus.monitor.watch import MonitorState


def system_of(group: str, catalog: Catalog | None) -> System | None:
    """The catalog system a consumer group belongs to, by its name, if any."""
    if catalog is None:
        return None
    matches = [
        system
        for system in catalog.systems
        if group == system.id or group.startswith((f"{system.id}.", f"{system.id}-"))
    ]
    return max(matches, key=lambda system: len(system.id), default=None)


def catalog_document(catalog: Catalog | None) -> dict[str, Any]:
    """Systems, event types with owners and subscribers, and who shares with whom."""
    if catalog is None:
        return {"systems": [], "event_types": [], "sharing": []}
    opd_of = {s.id: s.opd for s in catalog.systems}
    links: dict[tuple[str, str], list[str]] = defaultdict(list)
    for sub in catalog.subscriptions:
        et = catalog.event_type(sub.event_type)
        links[(opd_of[et.owner], opd_of[sub.system])].append(et.type.rsplit(".", 2)[-2])
    return {
        "systems": [
            {"id": s.id, "opd": s.opd, "name": s.name, "owns": len(catalog.owned_by(s.id))}
            for s in catalog.systems
        ],
        "event_types": [
            {
                "type": et.type,
                "topic": et.topic,
                "owner": et.owner,
                "owner_opd": opd_of[et.owner],
                "version": et.version,
                "subscribers": [sub.system for sub in catalog.subscribers_of(et.type)],
            }
            for et in catalog.event_types
        ],
        "sharing": [
            {"from": owner, "to": consumer, "event_types": sorted(set(names))}
            for (owner, consumer), names in sorted(links.items())
        ],
    }


def state_document(state: MonitorState | None, catalog: Catalog | None) -> dict[str, Any]:
    """Everything the dashboard draws, as JSON-ready data."""
    document: dict[str, Any] = {
        "taken_at": None,
        "sequence": 0,
        "error": None,
        "groups": [],
        "dead_letters": {"topics": [], "recent": []},
        "catalog": catalog_document(catalog),
    }
    if state is None:
        return document
    groups = []
    for group in state.report.groups:
        system = system_of(group.group, catalog)
        entry = group.to_dict()
        entry.update(
            system=system.id if system else None,
            opd=system.opd if system else None,
            state=group.state,
            error=group.error,
            topics=list(group.topics),
            members=[
                {
                    "member_id": m.member_id,
                    "client_id": m.client_id,
                    "host": m.host,
                    "partitions": len(m.assignment),
                }
                for m in group.members
            ],
            history=[[round(at, 3), lag] for at, lag in state.history.get(group.group, [])],
        )
        groups.append(entry)
    document.update(
        taken_at=state.report.taken_at,
        sequence=state.sequence,
        error=state.error,
        groups=groups,
        dead_letters={
            "topics": [
                {"group": c.group, "topic": c.topic, "messages": c.messages}
                for c in state.dead_letters
            ],
            "recent": [letter.summary() for letter in state.recent_dead_letters],
        },
    )
    return document
