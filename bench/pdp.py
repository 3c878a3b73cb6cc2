"""pdp_report_s: seconds `bus pdp report` takes for one person among 1,000,000 logged events.

The bus database is filled (untimed, in SQL) with `events` publication-log rows of resident
moves, each about one of `events / 5` people and delivered to two systems (so twice as many
processing-record rows), plus `person_events` events about the test person, one of them failed
and one withheld. Then `processing_report` (what the CLI and the ingress endpoint run) is timed,
median of `rounds` runs, and the query plans are kept to show both look-ups use an index.

    python -m bench.pdp            # on its own: 1,000,000 events
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import asyncpg

from bus.testing.services import postgres_service

NIK = "1471021205900003"
FILL = """
INSERT INTO bus_publication_log
    (event_id, event_type, source_system, topic, partition, "offset", published_at,
     data_sha256, via)
SELECT 'e' || i, $1, 'disdukcapil.siak', 'disdukcapil.penduduk.pindah.v1', i % 6, i / 6,
       now() - make_interval(secs => $2 - i), md5(i::text), 'outbox'
FROM generate_series(1, $2) AS i;
"""
FILL_SUBJECTS = """
INSERT INTO bus_publication_subjects (subject, event_id)
SELECT 'sub_' || md5((i % ($1 / 5))::text), 'e' || i FROM generate_series(1, $1) AS i;
"""
FILL_PROCESSING = """
INSERT INTO bus_pdp_processing (subject, event_id, consumer_group, system, outcome, at)
SELECT 'sub_' || md5((i % ($1 / 5))::text), 'e' || i, s, s, 'delivered', now()
FROM generate_series(1, $1) AS i, unnest(ARRAY['dinkes.sikda', 'bapenda.samsat']) AS s;
"""


async def run(events: int, person_events: int = 300, rounds: int = 5) -> dict[str, Any]:
    """Fill a fresh database and time the report of one person; seconds and the plans."""
    from bus import publication_log
    from bus.catalog import load_catalog
    from bus.pdp.report import processing_report
    from bus.pdp.store import ensure_schema
    from bus.privacy.subjects import subject_token

    catalog = load_catalog("schemas")
    event_type = "id.go.riau.disdukcapil.penduduk.pindah"
    subject = subject_token(NIK)
    with postgres_service() as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await publication_log.ensure_schema(conn)
            await ensure_schema(conn)
            started = time.perf_counter()
            await conn.execute(FILL, event_type, events)
            await conn.execute(FILL_SUBJECTS, events)
            await conn.execute(FILL_PROCESSING, events)
            person = [f"p{i}" for i in range(person_events)]
            await conn.executemany(
                "INSERT INTO bus_publication_log (event_id, event_type, source_system, topic, "
                "partition, \"offset\", data_sha256, via) VALUES ($1, $2, 'disdukcapil.siak', "
                "'disdukcapil.penduduk.pindah.v1', 0, 0, '', 'outbox')",
                [(e, event_type) for e in person],
            )
            await conn.executemany(
                "INSERT INTO bus_publication_subjects VALUES ($1, $2)",
                [(subject, e) for e in person],
            )
            outcomes = [(subject, e, "dinkes.sikda", "dinkes.sikda", "delivered") for e in person]
            outcomes[0] = (subject, person[0], "dinkes.sikda", "dinkes.sikda", "failed")
            outcomes.append((subject, person[1], "bapenda.samsat", "bapenda.samsat", "withheld"))
            await conn.executemany(
                "INSERT INTO bus_pdp_processing (subject, event_id, consumer_group, system, "
                "outcome) VALUES ($1, $2, $3, $4, $5)",
                outcomes,
            )
            await conn.execute("ANALYZE")
            fill_s = time.perf_counter() - started
            seconds = []
            for _ in range(rounds):
                started = time.perf_counter()
                report = await processing_report(conn, NIK, catalog, actor="bench")
                seconds.append(time.perf_counter() - started)
            deliveries = sum(len(e.deliveries) for e in report.events)
            if len(report.events) != person_events or deliveries != person_events + 1:
                raise RuntimeError(f"report found {len(report.events)} events, {deliveries}")
            plans = [
                [row[0] for row in await conn.fetch(f"EXPLAIN {query}", subject)]
                for query in (
                    "SELECT p.event_id FROM bus_publication_subjects s JOIN bus_publication_log p "
                    "USING (event_id) WHERE s.subject = $1",
                    "SELECT event_id FROM bus_pdp_processing WHERE subject = $1",
                )
            ]
        finally:
            await conn.close()
    return {
        "pdp_report_s": round(statistics.median(seconds), 4),
        "events": events,
        "person_events": person_events,
        "rounds_s": [round(s, 4) for s in seconds],
        "fill_s": round(fill_s, 1),
        "plans": plans,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(asyncio.run(run(1_000_000)), indent=2))
