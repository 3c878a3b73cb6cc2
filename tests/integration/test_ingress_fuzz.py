"""Fuzzing the ingress with hypothesis: never a 5xx, and nothing invalid ever reaches a topic.

Requests go through httpx's ASGI transport (no socket: thousands of requests in seconds) to
an app backed by the real broker and PostgreSQL. Hypothesis runs in a worker thread and hands
each request to the test's event loop, so it can shrink a failing request as usual.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus import testing
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.errors import SchemaValidationError
from bus.ingress import create_app
from bus.ingress.keys import create_key, ensure_schema
from bus.testing import assert_problem
from bus.testing.plugin import scratch_database
from bus.validation import validate_data

pytestmark = pytest.mark.integration

IZIN = "id.go.riau.dpmptsp.izin.terbit"
TOPIC = "dpmptsp.izin.terbit.v1"
MAX_BODY = 32_768
EXAMPLES = 2_000


@dataclass(frozen=True)
class FuzzRequest:
    path: str
    content_type: str | None
    body: bytes
    #: The Authorization header; `VALID` stands for the test's real key.
    authorization: str | None = "VALID"


@dataclass
class Tally:
    statuses: dict[int, int] = field(default_factory=dict)
    accepted_events: int = 0


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # beyond 64 bits too
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=50),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


def _dump(value: Any) -> bytes:
    # The stdlib writes NaN/Infinity and arbitrary-size integers: more to refuse.
    return json.dumps(value).encode()


@st.composite
def mutated_izin(draw: st.DrawFn, example: dict[str, Any]) -> bytes:
    """The valid example with fields replaced, removed, added, or strings made huge."""
    data = dict(example)
    fields = sorted(data)
    for name in draw(st.lists(st.sampled_from(fields), max_size=4, unique=True)):
        action = draw(st.sampled_from(["replace", "remove", "huge", "keep"]))
        if action == "replace":
            data[name] = draw(json_values)
        elif action == "remove":
            del data[name]
        elif action == "huge":
            data[name] = "x" * draw(st.integers(100, MAX_BODY * 2))
    if draw(st.booleans()):
        data[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
    body = _dump(data)
    if draw(st.integers(0, 9)) == 0:
        # Invalid UTF-8 inside the document.
        at = draw(st.integers(0, len(body)))
        body = (
            body[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"])) + body[at:]
        )
    return body


def deep_nesting() -> st.SearchStrategy[bytes]:
    return st.integers(1, 20_000).flatmap(
        lambda depth: st.sampled_from(
            [
                b"[" * depth + b"]" * depth,
                b'{"a":' * depth + b"1" + b"}" * depth,
                b'{"nomor_izin":' + b"[" * depth + b"]" * depth + b"}",
            ]
        )
    )


def batch_bodies(example: dict[str, Any], types: list[str]) -> st.SearchStrategy[bytes]:
    item = st.fixed_dictionaries(
        {
            "type": st.sampled_from([*types, "id.go.riau.x.y.z", ""]),
            "data": st.one_of(st.just(example), json_values),
        }
    )
    return st.one_of(
        st.lists(item, max_size=6).map(lambda events: _dump({"events": events})),
        json_values.map(lambda value: _dump({"events": value})),
        json_values.map(_dump),
    )


def requests(catalog: Catalog) -> st.SearchStrategy[FuzzRequest]:
    example = catalog.event_type(IZIN).example
    types = [et.type for et in catalog.event_types]
    content_types = st.sampled_from(
        ["application/json"] * 12
        + [
            "application/json; charset=utf-8",
            "application/cloudevents+json",
            "application/json; charset=latin-1",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "",
            None,
        ]
    )
    single_bodies = st.one_of(
        mutated_izin(example),
        mutated_izin(example),
        json_values.map(_dump),
        st.binary(max_size=2_000),
        deep_nesting(),
    )
    single = st.builds(
        FuzzRequest,
        path=st.one_of(
            st.just(f"/v1/events/{IZIN}"),
            st.sampled_from(types).map(lambda t: f"/v1/events/{t}"),
            st.text(
                alphabet=st.characters(
                    min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/?#%"
                ),
                min_size=1,
                max_size=40,
            ).map(lambda t: f"/v1/events/{t}"),
        ),
        content_type=content_types,
        body=single_bodies,
    )
    batch = st.builds(
        FuzzRequest,
        path=st.just("/v1/events:batch"),
        content_type=content_types,
        body=batch_bodies(example, types),
    )
    unauthorized = st.builds(
        FuzzRequest,
        path=st.just(f"/v1/events/{IZIN}"),
        content_type=content_types,
        body=mutated_izin(example),
        authorization=st.sampled_from([None, "Bearer", "Bearer opdbus_x_y", "Basic eDp5"])
        | st.text(max_size=60).map(lambda t: f"Bearer {t}"),
    )
    # Roughly 1 in 10 unauthorized, 2 in 10 batches, the rest single events.
    return st.integers(0, 9).flatmap(
        lambda n: unauthorized if n == 0 else (batch if n < 3 else single)
    )


@pytest.fixture(scope="module")
async def fuzz_database(postgres_dsn: str) -> AsyncIterator[str]:
    async with scratch_database(postgres_dsn, prefix="fuzz") as dsn:
        yield dsn


async def _records_until(
    settings: BusSettings, start: dict[TopicPartition, int], sentinel: str
) -> list[bytes]:
    """Values of the records from `start` to the end offsets, the sentinel (published last)
    excluded, which must be among them."""
    records = await testing.read_to_end(settings, start)
    assert sentinel in {testing.header(r, "ce_id") for r in records}, "sentinel not read back"
    return [r.value for r in records if testing.header(r, "ce_id") != sentinel]


async def test_fuzzed_requests_never_5xx_and_never_publish_invalid_data(
    fuzz_database: str, bus_settings: BusSettings, catalog: Catalog
) -> None:
    app_settings = bus_settings.model_copy(
        update={"ingress_max_body_bytes": MAX_BODY, "ingress_max_batch_events": 5}
    )
    app = create_app(app_settings, catalog, database_dsn=fuzz_database)
    conn: asyncpg.Connection[Any] = await asyncpg.connect(fuzz_database)
    try:
        await ensure_schema(conn)
        token = (await create_key(conn, "dpmptsp.sicantik")).token
    finally:
        await conn.close()
    start = await testing.end_offsets(bus_settings, TOPIC)
    tally = Tally()
    izin_type = catalog.event_type(IZIN)
    loop = asyncio.get_running_loop()

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://ingress", timeout=30
        ) as http,
    ):

        async def send(request: FuzzRequest) -> httpx.Response:
            headers: dict[str, str | bytes] = {}
            if request.authorization == "VALID":
                headers["Authorization"] = f"Bearer {token}"
            elif request.authorization is not None:
                headers["Authorization"] = request.authorization.encode()  # any bytes on the wire
            if request.content_type is not None:
                headers["Content-Type"] = request.content_type
            return await http.post(request.path, content=request.body, headers=headers)

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(request=requests(catalog))
        def probe(request: FuzzRequest) -> None:
            response = asyncio.run_coroutine_threadsafe(send(request), loop).result()
            tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
            assert response.status_code < 500, (response.status_code, response.text)
            if response.status_code != 202:
                # Whatever was refused, and why: one problem-details shape.
                assert_problem(response, response.status_code, response.json().get("type"))
            if response.status_code == 202:
                if request.path == f"/v1/events/{IZIN}":
                    # Accepted means valid: check independently of the ingress.
                    try:
                        validate_data(izin_type, request.body)
                    except SchemaValidationError as exc:
                        raise AssertionError(f"invalid data accepted: {exc}") from None
                    tally.accepted_events += 1
                elif request.path == "/v1/events:batch":
                    tally.accepted_events += len(response.json()["events"])

        await asyncio.to_thread(probe)

        assert sum(tally.statuses.values()) >= EXAMPLES
        # The sentinel is published last and alone, so reading up to it reads everything.
        sentinel = await http.post(
            f"/v1/events/{IZIN}",
            json={**izin_type.example, "nomor_izin": "503/FUZZ/END"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert sentinel.status_code == 202

    published = await _records_until(bus_settings, start, sentinel.json()["id"])
    print(f"statuses: {dict(sorted(tally.statuses.items()))}, accepted: {tally.accepted_events}")
    # Izin events only: a 202 for another type would be a different topic (and a 403 anyway).
    assert len(published) == tally.accepted_events
    for value in published:
        validate_data(izin_type, value)
    # Every refusal kind was exercised, not just one.
    assert {401, 403, 404, 413, 415, 422} <= set(tally.statuses)
