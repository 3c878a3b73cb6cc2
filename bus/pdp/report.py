"""The processing report of one data subject: which events carried their data, who received what.

    report = await processing_report(conn, "1471…", catalog, actor="officer@diskominfotik")
    report.to_dict()          # JSON for `bus pdp report --json` and the ingress endpoint
    report.csv()              # one row per event and receiving system

Built from what the bus already records: the publication log and its subject index (which
events are about the person), the processing record written by subscribers (delivered, failed,
withheld, when, by which group), the catalog's agreements (purpose, legal basis, the fields
granted, and which of them as pseudonyms) and the active restrictions. Two index look-ups,
whatever the size of the log. Every report is written to the audit log.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bus.catalog import Catalog
from bus.database import Connection
from bus.errors import BusError, UnknownEventTypeError
from bus.pdp.store import Restriction, active_restrictions, audit
from bus.privacy.subjects import subject_token

__all__ = ["Delivery", "ProcessingReport", "ReportedEvent", "processing_report"]


@dataclass(frozen=True)
class Delivery:
    """What one receiving system's consumer group did with one event about the person."""

    system: str
    group: str
    outcome: str
    at: datetime
    detail: str
    purpose: str
    legal_basis: str
    fields: tuple[str, ...]
    pseudonymous: tuple[str, ...]


@dataclass(frozen=True)
class ReportedEvent:
    """One event that carried the person's data."""

    event_id: str
    event_type: str
    source_system: str
    published_at: datetime
    personal_fields: tuple[str, ...]
    deliveries: tuple[Delivery, ...]


@dataclass(frozen=True)
class ProcessingReport:
    """Everything the bus did with one person's data."""

    subject: str
    events: tuple[ReportedEvent, ...]
    restrictions: tuple[Restriction, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (the NIK itself is never in it; `subject` is its token)."""
        return {
            "subject": self.subject,
            "events": [
                {
                    "event_id": e.event_id,
                    "event_type": e.event_type,
                    "source_system": e.source_system,
                    "published_at": e.published_at.isoformat(),
                    "personal_fields": list(e.personal_fields),
                    "deliveries": [
                        {
                            "system": d.system,
                            "group": d.group,
                            "outcome": d.outcome,
                            "at": d.at.isoformat(),
                            "detail": d.detail,
                            "purpose": d.purpose,
                            "legal_basis": d.legal_basis,
                            "fields": list(d.fields),
                            "pseudonymous": list(d.pseudonymous),
                        }
                        for d in e.deliveries
                    ],
                }
                for e in self.events
            ],
            "restrictions": [r.to_dict() for r in self.restrictions],
        }

    def csv(self) -> str:
        """One row per event and delivery (an event nobody received has one row too)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            ["event_id", "event_type", "source_system", "published_at", "system", "group",
             "outcome", "at", "fields", "pseudonymous", "purpose", "legal_basis", "detail"]
        )  # fmt: skip
        for e in self.events:
            head = [e.event_id, e.event_type, e.source_system, e.published_at.isoformat()]
            if not e.deliveries:
                writer.writerow([*head, "", "", "", "", "", "", "", "", ""])
            for d in e.deliveries:
                writer.writerow(
                    [*head, d.system, d.group, d.outcome, d.at.isoformat(), " ".join(d.fields),
                     " ".join(d.pseudonymous), d.purpose, d.legal_basis, d.detail]
                )  # fmt: skip
        return out.getvalue()


async def processing_report(
    conn: Connection, nik: str, catalog: Catalog, *, actor: str
) -> ProcessingReport:
    """The report for the person with this NIK; the request is audited under `actor`."""
    nik = nik.strip()
    if not (nik.isdigit() and len(nik) == 16):
        raise BusError("nik must be 16 digits")
    if not actor.strip():
        raise BusError("a report records who asked for it (--by)")
    subject = subject_token(nik)
    events = await conn.fetch(
        "SELECT p.event_id, p.event_type, p.source_system, p.published_at "
        "FROM bus_publication_subjects s JOIN bus_publication_log p USING (event_id) "
        "WHERE s.subject = $1 ORDER BY p.published_at, p.event_id",
        subject,
    )
    outcomes = await conn.fetch(
        "SELECT event_id, consumer_group, system, outcome, at, detail FROM bus_pdp_processing "
        "WHERE subject = $1 ORDER BY at, consumer_group, outcome",
        subject,
    )
    by_event: dict[str, list[Any]] = {}
    for row in outcomes:
        by_event.setdefault(row["event_id"], []).append(row)
    reported = tuple(_event(row, by_event.get(row["event_id"], []), catalog) for row in events)
    restrictions = [r for r in await active_restrictions(conn) if r.subject == subject]
    await audit(conn, "report", actor, subject, {"events": len(reported)})
    return ProcessingReport(subject, reported, tuple(restrictions))


def _event(row: Any, outcomes: list[Any], catalog: Catalog) -> ReportedEvent:
    try:
        personal = tuple(sorted(catalog.event_type(row["event_type"]).personal_fields))
    except UnknownEventTypeError:
        personal = ()
    deliveries = []
    for outcome in outcomes:
        agreement = catalog.agreement(outcome["system"], row["event_type"])
        granted = (
            tuple(sorted(catalog.granted_fields(outcome["system"], row["event_type"])))
            if agreement is not None
            else ()
        )
        deliveries.append(
            Delivery(
                system=outcome["system"],
                group=outcome["consumer_group"],
                outcome=outcome["outcome"],
                at=outcome["at"],
                detail=outcome["detail"],
                purpose=agreement.purpose if agreement else "",
                legal_basis=agreement.legal_basis if agreement else "",
                fields=granted,
                pseudonymous=tuple(sorted(agreement.pseudonymous)) if agreement else (),
            )
        )
    return ReportedEvent(
        event_id=row["event_id"],
        event_type=row["event_type"],
        source_system=row["source_system"],
        published_at=row["published_at"],
        personal_fields=personal,
        deliveries=tuple(deliveries),
    )
