"""The ingress holds against hostile clients: huge or many headers, slow heads, key guessing,
unsafe integers and NUL bytes in paths.

Measured, not timed: the ingress runs as its own process and its peak resident memory
(VmHWM) is read from /proc before and after eight 50 MB `Authorization` headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from pathlib import Path

import httpx
import orjson
import pytest

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.testing import assert_problem
from bus.testing.ingress import ingress_process, ingress_server, new_key
from tests.integration.ingress_world import IZIN, izin

pytestmark = pytest.mark.integration

FIFTY_MB = 50 * 1024 * 1024


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def raw_request(port: int, *parts: bytes, source: str = "127.0.0.1") -> bytes:
    """Send `parts`, one write each, on a fresh connection and read until the server closes;
    b'' if it reset the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        for part in parts:
            writer.write(part)
            await writer.drain()
        return await asyncio.wait_for(reader.read(), 30)
    except (ConnectionResetError, BrokenPipeError):
        return b""
    finally:
        writer.close()


async def huge_header(port: int) -> bytes:
    """A request whose Authorization header is 50 MB, sent in 1 MB writes."""
    head = f"POST /v1/events/{IZIN} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ".encode()
    chunk = b"A" * (1024 * 1024)
    return await raw_request(port, head, *[chunk] * (FIFTY_MB // len(chunk)), b"\r\n\r\n")


async def test_fifty_megabyte_headers_cost_the_process_a_few_megabytes(
    database: str, bus_settings: BusSettings
) -> None:
    async with ingress_process(bus_settings, database) as ingress:
        before = peak_rss_mb(ingress.pid)

        answers = await asyncio.gather(*(huge_header(ingress.port) for _ in range(8)))

        grown = peak_rss_mb(ingress.pid) - before
        async with httpx.AsyncClient(base_url=ingress.url) as http:
            assert (await http.get("/healthz")).status_code == 200  # still serving
    print(f"peak RSS {before:.0f} MB, grown by {grown:.1f} MB for 8 x 50 MB headers")
    # Every answer is a 431 or a reset (the server closes while the client still writes).
    assert all(a == b"" or a.startswith(b"HTTP/1.1 431 ") for a in answers)
    assert grown < 16, f"peak RSS grew by {grown:.1f} MB"


async def test_too_large_or_too_many_headers_are_431(
    bus_settings: BusSettings, catalog: Catalog, database: str
) -> None:
    async with ingress_server(bus_settings, catalog, database) as url:
        port = int(url.rsplit(":", 1)[1])
        large = f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 40_000}\r\n\r\n".encode()
        many = (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-H%d: 1\r\n" % i for i in range(101))
            + b"\r\n"
        )
        fine = (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + b"".join(b"X-H%d: 1\r\n" % i for i in range(90))
            + b"\r\n"
        )

        too_large, too_many, ok = await asyncio.gather(
            raw_request(port, large), raw_request(port, many), raw_request(port, fine)
        )

    assert too_large.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    problem = orjson.loads(too_large.split(b"\r\n\r\n", 1)[1])
    assert problem == {
        "type": "about:blank",
        "title": "Request Header Fields Too Large",
        "status": 431,
        "detail": "the request head is larger than 32768 bytes",
    }
    assert too_many.startswith(b"HTTP/1.1 431 ")
    assert b"more than 100 headers" in too_many
    assert ok.startswith(b"HTTP/1.1 200 ")


async def test_slow_and_idle_clients_are_cut_off_after_the_header_timeout(
    bus_settings: BusSettings, catalog: Catalog, database: str
) -> None:
    settings = bus_settings.model_copy(update={"ingress_header_timeout_s": 1.0})
    async with ingress_server(settings, catalog, database) as url:
        port = int(url.rsplit(":", 1)[1])
        connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(200)]
        started = time.monotonic()
        closed: list[bytes] = []

        async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # Half of them send a byte of the head every 200 ms, the other half nothing.
            drip = len(closed) % 2 == 0
            with contextlib.suppress(ConnectionError):
                writer.write(b"POST /v1/events/x HTTP/1.1\r\n" if drip else b"")
                while not reader.at_eof():
                    if drip:
                        writer.write(b"X")
                    try:
                        closed.append(await asyncio.wait_for(reader.read(), 0.2))
                    except TimeoutError:
                        continue
                    return
            closed.append(b"")

        await asyncio.gather(*(slow(r, w) for r, w in connections))
        took = time.monotonic() - started
        for _, writer in connections:
            writer.close()
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/healthz")).status_code == 200

    print(f"200 slow connections all closed by the server in {took:.1f} s")
    assert len(closed) == 200
    assert sum(answer.startswith(b"HTTP/1.1 408 ") for answer in closed) >= 100
    assert all(answer == b"" or answer.startswith(b"HTTP/1.1 408 ") for answer in closed)


async def test_key_guessing_is_throttled_and_publishers_keep_publishing(
    bus_settings: BusSettings, catalog: Catalog, database: str, unique: str
) -> None:
    key_id, token = await new_key(database, "dpmptsp.sicantik")
    async with ingress_server(bus_settings, catalog, database) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            # The publisher's key has checked out once before the attack.
            first = await http.post(
                f"/v1/events/{IZIN}", json=izin(catalog, f"0-{unique}"),
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip
            assert first.status_code == 202

            async def guess(i: int) -> httpx.Response:
                made_up = f"opdbus_{i:08x}_{'x' * 43}"
                return await http.post(
                    f"/v1/events/{IZIN}", json={}, headers={"Authorization": f"Bearer {made_up}"}
                )

            async def publish(i: int) -> httpx.Response:
                return await http.post(
                    f"/v1/events/{IZIN}", json=izin(catalog, f"{i}-{unique}"),
                    headers={"Authorization": f"Bearer {token}"},
                )  # fmt: skip

            answers = await asyncio.gather(
                *(guess(i) for i in range(300)), *(publish(i) for i in range(1, 21))
            )
        guesses, publishes = answers[:300], answers[300:]

        # Guessing one real key's secret from other addresses is limited per key id too.
        port = int(url.rsplit(":", 1)[1])
        per_key = [
            await raw_request(
                port,
                f"POST /v1/events/{IZIN} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                f"Authorization: Bearer opdbus_{key_id}_{'y' * 43}\r\n"
                "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}".encode(),
                source=f"127.0.0.{2 + i}",
            )
            for i in range(12)
        ]

    statuses = [r.status_code for r in guesses]
    assert statuses.count(401) == bus_settings.ingress_auth_failures_per_address == 20
    assert statuses.count(429) == 280
    throttled = next(r for r in guesses if r.status_code == 429)
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert_problem(throttled, 429, "/problems/too-many-failures")
    assert [r.status_code for r in publishes] == [202] * 20  # same address, never throttled
    per_key_statuses = [int(answer.split(b" ", 2)[1]) for answer in per_key]
    assert per_key_statuses == [401] * 10 + [429] * 2


async def test_integers_beyond_two_to_the_53_are_refused_by_field(
    bus_settings: BusSettings, catalog: Catalog, database: str, unique: str
) -> None:
    _, token = await new_key(database, "dpmptsp.sicantik")
    auth = {"Authorization": f"Bearer {token}"}
    async with (
        ingress_server(bus_settings, catalog, database) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        largest = await http.post(
            f"/v1/events/{IZIN}",
            json=izin(catalog, f"a-{unique}", nilai_investasi=2**53 - 1),
            headers=auth,
        )
        beyond = await http.post(
            f"/v1/events/{IZIN}",
            json=izin(catalog, f"b-{unique}", nilai_investasi=2**53),
            headers=auth,
        )
        huge = await http.post(
            f"/v1/events/{IZIN}",
            content=orjson.dumps(izin(catalog, f"c-{unique}")).replace(
                b'"nilai_investasi":', b'"nilai_investasi":1' + b"0" * 30 + b',"x":'
            ),
            headers={**auth, "Content-Type": "application/json"},
        )
        batch = await http.post(
            "/v1/events:batch",
            json={
                "events": [
                    {"type": IZIN, "data": izin(catalog, f"d-{unique}")},
                    {
                        "type": IZIN,
                        "data": izin(catalog, f"e-{unique}", nilai_investasi=-(2**60)),
                    },
                ]
            },
            headers=auth,
        )

    assert largest.status_code == 202
    message = (
        "integer out of range: at most ±9007199254740991 (2^53 - 1), the largest that JSON "
        "parsers keep exact; send larger values as strings"
    )
    assert assert_problem(beyond, 422, "/problems/invalid-data")["errors"] == [
        {"path": "nilai_investasi", "message": message}
    ]
    assert huge.status_code == 422
    assert huge.json()["errors"][0]["path"] == "nilai_investasi"
    assert assert_problem(batch, 422, "/problems/invalid-data")["errors"] == [
        {"path": "events[1].data.nilai_investasi", "message": message}
    ]


async def test_a_nul_byte_in_a_path_is_a_400(
    bus_settings: BusSettings, catalog: Catalog, database: str
) -> None:
    _, token = await new_key(database, "dpmptsp.sicantik")
    async with (
        ingress_server(bus_settings, catalog, database) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        answers = [
            await http.get(
                "/v1/events/abc%00def/deliveries", headers={"Authorization": f"Bearer {token}"}
            ),
            await http.post(f"/v1/events/{IZIN}%00", json={}),
        ]

    assert [a.status_code for a in answers] == [400, 400]
    for answer in answers:
        assert_problem(answer, 400, "/problems/invalid-path")


def test_raw_socket_helper_binds_other_loopback_addresses() -> None:
    # The per-key-id test relies on 127.0.0.x source addresses being usable on this host.
    with socket.socket() as sock:
        sock.bind(("127.0.0.9", 0))
        assert sock.getsockname()[0] == "127.0.0.9"
