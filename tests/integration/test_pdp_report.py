"""`bus pdp report` and `bus pdp restrict` for one resident, on the real broker and PostgreSQL.

Hand count for the test person P (NIK nik_p), two receiving systems under the shipped
agreements, Dinkes (SIKDA) and Bapenda (e-Samsat):

    event  Dinkes                      Bapenda e-Samsat
    E1     delivered                   delivered
           -- P asks to restrict processing by e-Samsat --
    E2     failed (dead-lettered)      withheld (restricted)
    E3     delivered                   withheld (restricted)
           -- the restriction is lifted --
    E4     delivered                   delivered

Another person Q's event is handled by both and must not appear in P's report.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections import Counter

import asyncpg
import httpx
import orjson
import pytest
from pydantic import SecretStr

from bus import publication_log
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.errors import PermanentError
from bus.pdp import PDP_OFFICER
from bus.privacy import use_keys
from bus.privacy.subjects import subject_token
from bus.publish import Publisher
from bus.reliability import RetryPolicy
from bus.subscribe import Subscriber
from bus.testing import wait_until
from bus.testing.cli import BUS
from bus.testing.ingress import ingress_server, new_key
from bus.testing.personal_data import nik_of
from bus.testing.subscribers import running
from schemas import PendudukPindah

pytestmark = pytest.mark.integration

EVENT = PendudukPindah.event_type()
DINKES, SAMSAT = "dinkes.sikda", "bapenda.samsat"
KEYS = {"BUS_PDP_MASK_KEY": "m" * 32, "BUS_PDP_PSEUDONYM_KEY": "p" * 32}


async def pdp(settings: BusSettings, *args: str, stdin: bytes | None = None) -> str:
    """Run `bus pdp ...` as the officer would; its stdout (rc 0 asserted)."""
    process = await asyncio.create_subprocess_exec(
        BUS,
        "pdp",
        *args,
        env={**os.environ, **KEYS, "BUS_DATABASE_DSN": settings.database_dsn or ""},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_the_report_lists_exactly_the_deliveries_made(
    bus_settings: BusSettings, catalog: Catalog, database: str, unique: str
) -> None:
    settings = bus_settings.model_copy(
        update={
            "database_dsn": database,
            "pdp_mask_key": SecretStr(KEYS["BUS_PDP_MASK_KEY"]),
            "pdp_pseudonym_key": SecretStr(KEYS["BUS_PDP_PSEUDONYM_KEY"]),
        }
    )
    use_keys(settings)
    nik_p, nik_q = nik_of(unique), nik_of(unique[::-1])
    mine = {nik_p, nik_q}
    calls: Counter[tuple[str, str]] = Counter()  # (system, event id): handler runs
    failing: set[str] = set()

    def subscriber(system: str) -> Subscriber:
        sub = Subscriber(
            system,
            group=f"{system}.pdp-{unique}",
            catalog=catalog,
            settings=settings,
            retry=RetryPolicy(attempts=1, topic_delays_s=(60.0,)),
        )

        @sub.handler(PendudukPindah)
        async def handle(pindah: PendudukPindah, envelope: Envelope) -> None:
            if pindah.nik not in mine:
                return  # other tests' residents
            calls[(system, envelope.id)] += 1
            if system == DINKES and envelope.id in failing:
                raise PermanentError(f"puskesmas for NIK {pindah.nik} not found")

        return sub

    dinkes, samsat = subscriber(DINKES), subscriber(SAMSAT)
    conn = await asyncpg.connect(database)
    await publication_log.ensure_schema(conn)

    async def publish(nik: str, *, fails: bool = False) -> str:
        record = disdukcapil.prepare(
            PendudukPindah.model_validate({**PendudukPindah.example, "nik": nik})
        )
        if fails:
            failing.add(record.id)
        delivery = await (await disdukcapil.send_record(record))
        # As the ingress and the outbox relay log what they publish.
        await publication_log.record_publications(
            conn,
            [
                publication_log.Publication.of(
                    record, delivery, source_system="disdukcapil.siak", via="sdk"
                )
            ],
        )
        return record.id

    async def outcomes() -> set[tuple[str, str, str]]:
        rows = await conn.fetch(
            "SELECT event_id, system, outcome FROM bus_pdp_processing WHERE subject = $1",
            subject_token(nik_p),
        )
        return {(r["event_id"], r["system"], r["outcome"]) for r in rows}

    try:
        async with (
            Publisher("disdukcapil.siak", catalog=catalog, settings=settings) as disdukcapil,
            running(dinkes),
            running(samsat),
        ):
            e1 = await publish(nik_p)
            eq = await publish(nik_q)

            async def first_delivered() -> bool:
                return {(e1, DINKES, "delivered"), (e1, SAMSAT, "delivered")} <= await outcomes()

            await wait_until(first_delivered, timeout=30, interval=0.2, message="E1 delivered")

            await pdp(
                settings, "restrict", "--nik", "-", "--system", SAMSAT,
                "--by", "PPID Diskominfotik", "--reason", "request 2026/PDP/017",
                stdin=f"{nik_p}\n".encode(),
            )  # fmt: skip
            assert samsat._guard is not None
            await wait_until(
                lambda: subject_token(nik_p) in samsat._guard.restricted,  # type: ignore[union-attr]
                timeout=10,
                message="e-Samsat's subscriber knows the restriction",
            )
            e2 = await publish(nik_p, fails=True)
            e3 = await publish(nik_p)
            expected = {
                (e1, DINKES, "delivered"),
                (e1, SAMSAT, "delivered"),
                (e2, DINKES, "failed"),
                (e2, SAMSAT, "withheld"),
                (e3, DINKES, "delivered"),
                (e3, SAMSAT, "withheld"),
            }

            async def all_settled() -> bool:
                return await outcomes() == expected

            await wait_until(all_settled, timeout=30, interval=0.2, message="E2, E3 settled")
            report = orjson.loads(await pdp(settings, "report", "--nik", nik_p, "--by", "PPID"))
            table = await pdp(settings, "report", "--nik", nik_p, "--by", "PPID", "--format", "csv")

            [restriction] = report["restrictions"]
            await pdp(
                settings, "lift", str(restriction["id"]), "--by", "PPID Diskominfotik",
                "--reason", "the resident withdrew the request",
            )  # fmt: skip
            await wait_until(
                lambda: not samsat._guard.restricted,  # type: ignore[union-attr]
                timeout=10,
                message="the restriction is lifted",
            )
            e4 = await publish(nik_p)
            expected |= {(e4, DINKES, "delivered"), (e4, SAMSAT, "delivered")}
            await wait_until(all_settled, timeout=30, interval=0.2, message="E4 delivered")

        # The officer's endpoint on the ingress, under the officer's own key.
        officer_key_id, officer_key = await new_key(database, PDP_OFFICER)
        _, system_key = await new_key(database, DINKES)
        body = {"nik": nik_p, "requested_by": "PPID"}
        async with ingress_server(settings, catalog, database) as url, httpx.AsyncClient() as http:
            answer = await http.post(
                f"{url}/v1/pdp/report",
                json=body,
                headers={"Authorization": f"Bearer {officer_key}"},
            )
            refused = await http.post(
                f"{url}/v1/pdp/report", json=body, headers={"Authorization": f"Bearer {system_key}"}
            )
        assert refused.status_code == 403
        assert answer.status_code == 200, answer.text
        over_http = {
            (e["event_id"], d["system"], d["outcome"])
            for e in answer.json()["events"]
            for d in e["deliveries"]
        }
        assert over_http == expected
        audit = await conn.fetch("SELECT action, actor FROM bus_pdp_audit ORDER BY id")
    finally:
        await conn.close()

    # The report: exactly the hand-counted deliveries, nothing about Q.
    got = {
        (e["event_id"], d["system"], d["outcome"])
        for e in report["events"]
        for d in e["deliveries"]
    }
    assert got == expected - {(e4, DINKES, "delivered"), (e4, SAMSAT, "delivered")}
    assert [e["event_id"] for e in report["events"]] == [e1, e2, e3]
    assert eq not in orjson.dumps(report).decode()
    assert nik_p not in orjson.dumps(report).decode()  # the token, never the NIK
    samsat_terms = catalog.agreement(SAMSAT, EVENT.type)
    assert samsat_terms is not None
    [first_samsat] = [d for d in report["events"][0]["deliveries"] if d["system"] == SAMSAT]
    assert first_samsat["purpose"] == samsat_terms.purpose
    assert first_samsat["legal_basis"] == samsat_terms.legal_basis
    assert first_samsat["fields"] == ["kode_wilayah_tujuan", "nik", "tanggal_pindah"]
    assert report["events"][0]["personal_fields"] == ["alamat_tujuan", "nama_lengkap", "nik"]
    assert restriction["systems"] == [SAMSAT]
    assert restriction["requested_by"] == "PPID Diskominfotik"

    # Counted independently of the processing record: what the handlers actually ran.
    assert calls == Counter(
        {(DINKES, e1): 1, (DINKES, e2): 1, (DINKES, e3): 1, (DINKES, e4): 1, (SAMSAT, e1): 1,
         (SAMSAT, e4): 1, (DINKES, eq): 1, (SAMSAT, eq): 1}
    )  # fmt: skip
    assert (samsat.stats.withheld, dinkes.stats.withheld) == (2, 0)

    rows = list(csv.DictReader(io.StringIO(table)))
    assert {(r["event_id"], r["system"], r["outcome"]) for r in rows} == got
    assert len(rows) == 6

    assert [(a["action"], a["actor"]) for a in audit] == [
        ("restrict", "PPID Diskominfotik"),
        ("report", "PPID"),
        ("report", "PPID"),
        ("lift", "PPID Diskominfotik"),
        ("report", f"PPID (key {officer_key_id})"),
    ]
