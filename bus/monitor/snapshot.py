"""The dashboard's JSON document: groups, dead letters, the catalog and the sharing map.

Served at `GET /api/state` and pushed on `GET /api/events` (server-sent events) after every
scan. Groups are matched to catalog systems by name (a group is named after its system, or
starts with its system id), so the dashboard can say which OPD is behind.

No error message reaches the page: a message may quote the data that failed (a NIK in a
constraint violation), so errors are shown by class, and the scanner's own descriptions only
up to their first colon, where a library's message would begin.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bus.catalog import Catalog, System
from bus.monitor.watch import RATE_WINDOW_S, Flow, MonitorState

_NONE = Flow(0, None)


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
        "throughput": {"window_s": None, "event_types": []},
        "publishers": [],
        "ingress": None,
        "webhooks": None,
        "replays": None,
        "database_error": None,
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
            error=group.error.split(":", 1)[0] if group.error else None,
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
            "recent": [_letter(letter.summary()) for letter in state.recent_dead_letters],
        },
        throughput=throughput_document(state, catalog),
        publishers=publishers_document(state, catalog),
        ingress=state.ingress.to_dict() if state.ingress is not None else None,
        webhooks=[w.to_dict() for w in state.webhooks] if state.webhooks is not None else None,
        replays=[r.to_dict() for r in state.replays] if state.replays is not None else None,
        database_error=state.database_error,
    )
    return document


def _letter(fields: dict[str, Any]) -> dict[str, Any]:
    """A dead letter for the page: position and error class, no error message."""
    fields.pop("error_message", None)
    fields["position"] = f"{fields['topic']}:{fields['partition']}:{fields['offset']}"
    return fields


def throughput_document(state: MonitorState, catalog: Catalog | None) -> dict[str, Any]:
    """Published and consumed events per event type over the rate window, from offsets."""
    rows = []
    for et in catalog.event_types if catalog else ():
        consumers = [
            {"group": group, **flow.to_dict()}
            for (group, topic), flow in sorted(state.consumed.items())
            if topic == et.topic
        ]
        rows.append(
            {
                "type": et.type,
                "topic": et.topic,
                "owner": et.owner,
                "published": state.published.get(et.topic, _NONE).to_dict(),
                "consumed": consumers,
            }
        )
    return {"window_s": RATE_WINDOW_S, "event_types": rows}


def publishers_document(state: MonitorState, catalog: Catalog | None) -> list[dict[str, Any]]:
    """Each publishing system's health: its newest event, events and ingress refusals."""
    rows = []
    for system in catalog.systems if catalog else ():
        owned = catalog.owned_by(system.id) if catalog else []
        if not owned:
            continue
        topics = {et.topic for et in owned}
        newest = max((state.newest_event_ms.get(t, 0) for t in topics), default=0)
        answers = state.ingress.of_system(system.id) if state.ingress is not None else {}
        total = sum(answers.values())
        refused = sum(n for status_class, n in answers.items() if status_class != "2xx")
        rows.append(
            {
                "system": system.id,
                "opd": system.opd,
                "event_types": len(owned),
                "last_event_at": newest / 1000 if newest else None,
                "published": sum(state.published.get(t, _NONE).events for t in topics),
                "ingress": dict(sorted(answers.items())),
                "ingress_refused": refused,
                "error_rate": refused / total if total else None,
            }
        )
    return rows
