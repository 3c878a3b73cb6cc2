"""The HTTP ingress over a real socket: every status code, idempotent retries, batches, 503."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import structlog
from aiokafka import TopicPartition

from bus import testing
from bus.broker.process import free_port
from bus.broker.topics import ensure_topics
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.ingress.keys import revoke_key
from bus.testing import KafkaService, assert_problem, own_broker, wait_until
from bus.testing.ingress import ingress_server, new_key
from tests.integration.ingress_world import IZIN, TOPIC, izin

pytestmark = pytest.mark.integration


async def records_with_ids(
    settings: BusSettings, start: dict[TopicPartition, int], sentinel: str
) -> list[tuple[str, bytes, int, int]]:
    """(event id, value, partition, offset) of every record from `start` to the end offsets; the
    caller published `sentinel` last, so it must be among them."""
    found = [
        (testing.header(record, "ce_id") or "", record.value, record.partition, record.offset)
        for record in await testing.read_to_end(settings, start)
    ]
    assert sentinel in {f[0] for f in found}, "sentinel record not read back"
    return found


async def test_every_status_code_over_http(
    database: str, bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    settings = bus_settings.model_copy(update={"ingress_max_body_bytes": 4096})
    start = await testing.end_offsets(settings, TOPIC)
    key_id, token = await new_key(database, "dpmptsp.sicantik")
    _, bkd_token = await new_key(database, "bkd.simpeg")
    auth = {"Authorization": f"Bearer {token}"}
    url_izin = f"/v1/events/{IZIN}"
    async with (
        ingress_server(settings, catalog, database) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):
        # 202: acknowledged, with the position the broker gave it.
        accepted = await http.post(url_izin, json=izin(catalog, f"503/HTTP/{unique}"), headers=auth)
        assert accepted.status_code == 202, accepted.text
        body = accepted.json()
        assert set(body) == {"id", "topic", "partition", "offset"}
        assert body["topic"] == TOPIC

        # Every refusal is RFC 9457 problem details: type, title, status, detail (+ errors).
        # 401: no key, a malformed key, an unknown key, a revoked key.
        missing = assert_problem(await http.post(url_izin, json={}), 401, "/problems/unauthorized")
        assert "no API key was sent" in missing["detail"]
        malformed = {"Authorization": "Bearer x"}
        assert_problem(
            await http.post(url_izin, json={}, headers=malformed), 401, "/problems/unauthorized"
        )
        forged = token[:-4] + "AAAA"
        refused = await http.post(url_izin, json={}, headers={"Authorization": f"Bearer {forged}"})
        problem = assert_problem(refused, 401, "/problems/unauthorized")
        assert problem["title"] == "Missing or invalid API key"
        assert refused.headers["www-authenticate"] == "Bearer"
        assert forged not in refused.text

        # 403: BKD's system may not publish DPMPTSP's event type.
        not_owner = await http.post(
            url_izin,
            json=izin(catalog, f"503/X/{unique}"),
            headers={"Authorization": f"Bearer {bkd_token}"},
        )
        problem = assert_problem(not_owner, 403, "/problems/not-owner")
        assert "owned by 'dpmptsp.sicantik'" in problem["detail"]

        # 404: not in the catalog.
        unknown = await http.post("/v1/events/id.go.riau.x.y.z", json={}, headers=auth)
        assert_problem(unknown, 404, "/problems/unknown-event-type")
        # 404 and 405 from routing itself: the same shape, with the standard `about:blank`.
        assert_problem(await http.get("/v1/nothing-here"), 404, "about:blank")
        wrong_method = await http.get(url_izin, headers=auth)
        assert assert_problem(wrong_method, 405, "about:blank")["title"] == "Method Not Allowed"
        assert wrong_method.headers["allow"] == "POST"
        # The type URI explains itself.
        explained = await http.get("/problems/unknown-event-type")
        assert explained.status_code == 200
        assert explained.text.startswith("Unknown event type (HTTP 404)")
        assert_problem(await http.get("/problems/nope"), 404, "about:blank")

        # 415: not declared as JSON.
        as_text = await http.post(
            url_izin, content=b"{}", headers={**auth, "Content-Type": "text/plain"}
        )
        assert_problem(as_text, 415, "/problems/unsupported-media-type")
        no_type = await http.post(url_izin, content=b"{}", headers=auth)
        assert_problem(no_type, 415, "/problems/unsupported-media-type")
        latin1 = {**auth, "Content-Type": "application/json; charset=latin-1"}
        wrong_charset = await http.post(url_izin, content=b"{}", headers=latin1)
        problem = assert_problem(wrong_charset, 415, "/problems/unsupported-media-type")
        assert "charset is not UTF-8" in problem["detail"]

        # 413: by Content-Length, and by the bytes actually sent (chunked, no length).
        big = orjson.dumps(izin(catalog, f"503/BIG/{unique}", nama_usaha="x" * 5000))
        json_headers = {**auth, "Content-Type": "application/json"}
        too_big = await http.post(url_izin, content=big, headers=json_headers)
        assert_problem(too_big, 413, "/problems/body-too-large")

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(big), 1000):
                yield big[i : i + 1000]

        chunked = await http.post(url_izin, content=chunks(), headers=json_headers)
        assert_problem(chunked, 413, "/problems/body-too-large")

        # 422: one entry per invalid field, JSON syntax errors and non-objects too.
        bad = izin(catalog, f"503/BAD/{unique}", nib="123", kbli=7, unexpected="x")
        del bad["issued_at"]
        with structlog.testing.capture_logs() as logged:
            invalid = await http.post(url_izin, json=bad, headers=auth)
        problem = assert_problem(invalid, 422, "/problems/invalid-data")
        # Messages for people, not pydantic's: no regex, no Python type names, no values.
        assert {e["path"]: e["message"] for e in problem["errors"]} == {
            "nib": "must be 13 digits",
            "kbli": "must be a string (text in double quotes)",
            "issued_at": "is required",
            "unexpected": "is not a field of this schema; remove it",
        }
        assert problem["detail"] == "4 fields are invalid: nib, kbli, issued_at, unexpected"
        # The request log names the fields that failed, never the values sent.
        [line] = [e for e in logged if e["event"] == "ingress.request"]
        assert (line["status"], line["invalid_fields"]) == (
            422,
            ["nib", "kbli", "issued_at", "unexpected"],
        )
        assert "123" not in str(line)
        syntax = await http.post(url_izin, content=b'{"nib": ', headers=json_headers)
        problem = assert_problem(syntax, 422, "/problems/invalid-data")
        assert problem["errors"][0]["path"] == "$"
        assert problem["errors"][0]["message"].startswith("is not valid JSON: ")
        array = await http.post(url_izin, content=b"[1, 2]", headers=json_headers)
        problem = assert_problem(array, 422, "/problems/invalid-data")
        assert problem["errors"] == [{"path": "$", "message": "must be a JSON object"}]

        # openapi, health, readiness.
        openapi = (await http.get("/openapi.json")).json()
        assert {"/v1/events/{event_type}", "/v1/events:batch"} <= set(openapi["paths"])
        documented = openapi["paths"]["/v1/events/{event_type}"]["post"]["responses"]["422"]
        assert list(documented["content"]) == ["application/problem+json"]
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).json() == {"status": "ready"}

        # A sentinel published last, alone, marks how far to read the topic.
        sentinel = await http.post(url_izin, json=izin(catalog, f"503/END/{unique}"), headers=auth)
        assert sentinel.status_code == 202

    found = await records_with_ids(settings, start, sentinel.json()["id"])
    ids = [event_id for event_id, *_ in found]
    assert body["id"] in ids
    refused_keys = {f"503/{kind}/{unique}".encode() for kind in ("X", "BIG", "BAD")}
    assert not [v for _, v, *_ in found if any(k in v for k in refused_keys)]
    first = next(f for f in found if f[0] == body["id"])
    assert (first[2], first[3]) == (body["partition"], body["offset"])

    conn: asyncpg.Connection[Any] = await asyncpg.connect(database)
    try:
        row = await conn.fetchrow(
            "SELECT * FROM bus_publication_log WHERE event_id = $1", body["id"]
        )
        assert row is not None
        assert (row["via"], row["source_system"], row["event_type"]) == (
            "ingress",
            "dpmptsp.sicantik",
            IZIN,
        )
        assert (row["partition"], row["offset"]) == (body["partition"], body["offset"])
        assert row["data_sha256"] == hashlib.sha256(first[1]).hexdigest()
        assert await revoke_key(conn, key_id)
    finally:
        await conn.close()

    async with (
        ingress_server(settings, catalog, database) as base,
        httpx.AsyncClient(base_url=base) as http,
    ):
        revoked = await http.post(url_izin, json=izin(catalog, "503/R/1"), headers=auth)
        assert revoked.status_code == 401


async def test_idempotent_retry_and_batches(
    database: str, bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    settings = bus_settings.model_copy(update={"ingress_max_batch_events": 5})
    start = await testing.end_offsets(settings, TOPIC)
    _, token = await new_key(database, "dpmptsp.sicantik")
    auth = {"Authorization": f"Bearer {token}"}
    url_izin = f"/v1/events/{IZIN}"
    data = izin(catalog, f"503/IDEM/{unique}")
    async with (
        ingress_server(settings, catalog, database) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):
        once = {**auth, "Idempotency-Key": f"order-{unique}"}
        first = await http.post(url_izin, json=data, headers=once)
        retries = await asyncio.gather(
            *(http.post(url_izin, json=data, headers=once) for _ in range(5))
        )
        assert first.status_code == 202
        assert {r.status_code for r in retries} == {202}
        assert {r.json()["id"] for r in retries} == {first.json()["id"]}
        assert all(r.headers["idempotent-replayed"] == "true" for r in retries)
        conflict = await http.post(url_izin, json={**data, "nilai_investasi": 1}, headers=once)
        problem = assert_problem(conflict, 422, "/problems/invalid-data")
        assert problem["errors"][0]["path"] == "Idempotency-Key"

        nib = catalog.event_type("id.go.riau.dpmptsp.nib.terbit")
        batch = {
            "events": [
                {"type": IZIN, "data": izin(catalog, f"503/BATCH/{unique}/{i}")} for i in range(3)
            ]
            + [{"type": nib.type, "data": nib.example}]
        }
        accepted = await http.post("/v1/events:batch", json=batch, headers=auth)
        assert accepted.status_code == 202, accepted.text
        events = accepted.json()["events"]
        assert [e["topic"] for e in events] == [TOPIC] * 3 + [nib.topic]

        half_bad = {
            "events": [
                {"type": IZIN, "data": izin(catalog, f"503/HALF/{unique}")},
                {"type": IZIN, "data": izin(catalog, "503/HALF/2", nib="1")},
                {"type": "id.go.riau.nope.x.y", "data": {}},
            ]
        }
        refused = await http.post("/v1/events:batch", json=half_bad, headers=auth)
        problem = assert_problem(refused, 422, "/problems/invalid-data")
        assert [e["path"] for e in problem["errors"]] == ["events[2].type"]
        half_bad["events"].pop()
        refused = await http.post("/v1/events:batch", json=half_bad, headers=auth)
        problem = assert_problem(refused, 422, "/problems/invalid-data")
        assert problem["errors"] == [{"path": "events[1].data.nib", "message": "must be 13 digits"}]
        bkd = catalog.event_type("id.go.riau.bkd.asn.mutasi")
        foreign = {"events": [{"type": bkd.type, "data": bkd.example}]}
        foreign_refused = await http.post("/v1/events:batch", json=foreign, headers=auth)
        assert_problem(foreign_refused, 403, "/problems/not-owner")
        too_many = {"events": [{"type": IZIN, "data": data}] * 6}
        problem = assert_problem(
            await http.post("/v1/events:batch", json=too_many, headers=auth),
            422,
            "/problems/invalid-data",
        )
        assert problem["errors"] == [{"path": "events", "message": "at most 5 events per batch"}]

        sentinel = await http.post(url_izin, json=izin(catalog, f"503/END/{unique}"), headers=auth)

    found = await records_with_ids(settings, start, sentinel.json()["id"])
    ids = [event_id for event_id, *_ in found]
    assert ids.count(first.json()["id"]) == 1, "an idempotent retry was published again"
    assert {e["id"] for e in events[:3]} <= set(ids)
    assert not [v for _, v, *_ in found if f"503/HALF/{unique}".encode() in v]


async def test_503_during_an_outage_is_truthful_and_a_retry_never_doubles_the_event(
    database: str, bus_settings: BusSettings, catalog: Catalog, unique: str, kafka: KafkaService
) -> None:
    izin_type = catalog.event_type(IZIN)
    _, token = await new_key(database, "dpmptsp.sicantik")
    auth = {"Authorization": f"Bearer {token}"}
    url_izin = f"/v1/events/{IZIN}"
    # A broker of the test's own, to stop without disturbing the others; production settings.
    async with own_broker(kafka) as broker:
        settings = bus_settings.model_copy(
            update={**broker.client_settings(), "ingress_publish_timeout_s": 5.0}
        )
        await ensure_topics([izin_type], settings)
        start = await testing.end_offsets(settings, TOPIC)
        async with (
            ingress_server(settings, catalog, database) as base,
            httpx.AsyncClient(base_url=base, timeout=30) as http,
        ):
            up = await http.post(url_izin, json=izin(catalog, "503/UP/1"), headers=auth)
            assert up.status_code == 202
            await asyncio.to_thread(broker.pause)

            retry = {**auth, "Idempotency-Key": f"down-{unique}"}
            data = izin(catalog, f"503/DOWN/{unique}")
            down = await http.post(url_izin, json=data, headers=retry)
            problem = assert_problem(
                down, 503, "/problems/broker-unavailable", extensions={"outcome", "event_ids"}
            )
            # The sender still holds the record: the answer must not claim it was dropped.
            assert problem["outcome"] == "unknown"
            assert "may still be published" in problem["detail"]
            assert down.headers["retry-after"] == "5"
            [event_id] = problem["event_ids"]
            await wait_until(
                lambda: _status(http, "/readyz", 503), message="readyz reports the broker down"
            )

            await asyncio.to_thread(broker.resume)
            again = await http.post(url_izin, json=data, headers=retry)
            assert again.status_code == 202, again.text
            assert again.json()["id"] == event_id
            await wait_until(lambda: _status(http, "/readyz", 200), message="readyz ready again")

        # Apache Kafka kept its log: the event published before the outage and the retried
        # one, each exactly once, read to the end offsets.
        found = [
            testing.header(record, "ce_id") for record in await testing.read_to_end(settings, start)
        ]
        assert sorted(found) == sorted([up.json()["id"], event_id])
        conn: asyncpg.Connection[Any] = await asyncpg.connect(database)
        try:
            logged = await conn.fetchval(
                "SELECT count(*) FROM bus_publication_log WHERE event_id = $1", event_id
            )
            assert logged == 1
        finally:
            await conn.close()


async def test_503_when_the_broker_was_never_reachable(
    database: str, bus_settings: BusSettings, catalog: Catalog
) -> None:
    settings = bus_settings.model_copy(
        update={"bootstrap_servers": f"127.0.0.1:{free_port()}", "request_timeout_ms": 1500}
    )
    _, token = await new_key(database, "dpmptsp.sicantik")
    async with (
        ingress_server(settings, catalog, database) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):
        response = await http.post(
            f"/v1/events/{IZIN}",
            json=izin(catalog, "503/NEVER/1"),
            headers={"Authorization": f"Bearer {token}"},
        )
        problem = assert_problem(
            response, 503, "/problems/broker-unavailable", extensions={"outcome", "event_ids"}
        )
        assert problem["outcome"] == "not_published"
        assert (await http.get("/readyz")).status_code == 503
        assert (await http.get("/healthz")).status_code == 200
    conn: asyncpg.Connection[Any] = await asyncpg.connect(database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM bus_publication_log") == 0
    finally:
        await conn.close()


async def _status(http: httpx.AsyncClient, path: str, expected: int) -> bool:
    return (await http.get(path)).status_code == expected
