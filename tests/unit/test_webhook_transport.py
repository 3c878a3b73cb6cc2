"""The webhook adapter's HTTP/1.1 client: keep-alive, pipelining, timeouts, TLS, where it connects.

Each test runs a scripted HTTP/1.1 server on loopback (`bus.testing.http_receiver`) that
answers as the test says, so what crossed the wire (connections, order of requests, bytes of
the head) is counted by the server, not inferred from the client.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from adapters.webhook.transport import (
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    MAX_REASON_CHARS,
    ConnectError,
    ConnectionClosedError,
    PipelinedClient,
    ReadTimeoutError,
    TransportError,
    UnsendableRequestError,
)
from bus.broker.certificates import CertificateAuthority
from bus.broker.embedded import free_port
from bus.testing import wait_until
from bus.testing.http_receiver import Busy, Request, ScriptedServer, ok, serving


async def always_ok(request: Request) -> bytes:
    return ok()


def url(server: ScriptedServer, scheme: str = "http", host: str = "127.0.0.1") -> str:
    return f"{scheme}://{host}:{server.port}/hook?x=1"


async def test_keep_alive_reuses_one_connection_and_sends_the_head_it_should() -> None:
    async with (
        serving(always_ok) as server,
        PipelinedClient(url(server), connections=4, user_agent="ua/1") as client,
    ):
        answers = [await client.post(b'{"n": %d}' % i, {"ce-id": str(i)}) for i in range(50)]
    assert [a.status for a in answers] == [200] * 50
    assert server.connections == 1
    assert [r.body for r in server.requests] == [b'{"n": %d}' % i for i in range(50)]
    head = server.requests[7].head.split("\r\n")
    assert head[0] == "POST /hook?x=1 HTTP/1.1"
    assert f"host: 127.0.0.1:{server.port}" in head
    assert {"user-agent: ua/1", "content-length: 8", "ce-id: 7"} <= set(head)


async def test_pipelined_requests_share_a_connection_and_get_their_own_answers() -> None:
    """After a keep-alive answer, four requests are on the wire before the next answer."""
    arrived = asyncio.Event()

    async def answer(request: Request) -> bytes:
        if len(server.requests) == 5:
            arrived.set()
        if len(server.requests) > 1:
            await arrived.wait()  # no answer until all four were read from one connection
        n = int(request.body)
        return ok(200 + n, f"answer {n}")

    async with (
        serving(answer) as server,
        PipelinedClient(url(server), connections=1, depth=4) as client,
    ):
        assert (await client.post(b"0", {})).status == 200  # the server keeps connections
        answers = await asyncio.gather(*(client.post(b"%d" % n, {}) for n in range(1, 5)))
    assert [(a.status, a.reason) for a in answers] == [
        (200 + n, f"answer {n}") for n in range(1, 5)
    ]
    assert server.connections == 1
    assert client.deepest == 4


async def test_nothing_is_pipelined_to_a_server_that_closes_its_connections() -> None:
    answer = Busy(0.005, ok(headers="connection: close\r\n"))
    async with (
        serving(answer) as server,
        PipelinedClient(url(server), connections=1, depth=4) as client,
    ):
        answers = await asyncio.gather(*(client.post(b"x", {}) for _ in range(6)))
    assert [a.status for a in answers] == [200] * 6
    assert (answer.peak, client.deepest, server.connections, len(server.requests)) == (1, 1, 6, 6)


async def test_depth_one_waits_for_each_answer_and_opens_more_connections() -> None:
    answer = Busy(0.01, ok())
    async with (
        serving(answer) as server,
        PipelinedClient(url(server), connections=3, depth=1) as client,
    ):
        await asyncio.gather(*(client.post(b"x", {}) for _ in range(30)))
    assert server.connections == 3
    assert answer.peak == 3
    assert len(server.requests) == 30


async def test_connection_close_and_idle_close_are_followed_by_a_new_connection() -> None:
    async def answer(request: Request) -> bytes | None:
        if len(server.requests) == 1:
            return ok(headers="connection: close\r\n")
        if len(server.requests) == 2:
            return None  # closes without an answer: the client sends it once more
        return ok()

    async with serving(answer) as server, PipelinedClient(url(server)) as client:
        first = await client.post(b"1", {})
        second = await client.post(b"2", {})
    assert (first.status, second.status) == (200, 200)
    assert [r.body for r in server.requests] == [b"1", b"2", b"2"]
    assert server.connections == 3


async def test_a_connection_that_keeps_closing_fails_the_request() -> None:
    async def answer(request: Request) -> None:
        return None

    async with serving(answer) as server, PipelinedClient(url(server)) as client:
        with pytest.raises(ConnectionClosedError):
            await client.post(b"1", {})
    assert len(server.requests) == 2  # sent, then sent once more, never a third time


async def test_a_late_answer_times_out_and_the_requests_behind_it_go_again() -> None:
    release = asyncio.Event()

    async def answer(request: Request) -> bytes:
        if request.body == b"slow":
            await release.wait()
        return ok()

    async with (
        serving(answer) as server,
        PipelinedClient(url(server), connections=1, depth=2, read_timeout_s=0.3) as client,
    ):
        await client.post(b"warm-up", {})  # a keep-alive answer: the connection may pipeline
        slow = asyncio.create_task(client.post(b"slow", {}))
        behind = asyncio.create_task(client.post(b"behind", {}))
        with pytest.raises(ReadTimeoutError):
            await slow
        assert (await behind).status == 200
        release.set()
    assert [r.body for r in server.requests].count(b"behind") == 2
    assert server.connections == 2


async def test_nothing_listening_is_a_connect_error() -> None:
    client = PipelinedClient(f"http://127.0.0.1:{free_port()}/hook", connect_timeout_s=2)
    async with client:
        with pytest.raises(ConnectError):
            await client.post(b"x", {})


async def test_chunked_close_delimited_interim_and_retry_after_answers_are_read() -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n" + ok(202, "Accepted"),
        ok(429, "Too Many Requests", "Retry-After: 7\r\n"),
        b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\nbody until close",
    ]

    async def answer(request: Request) -> bytes:
        return answers[len(server.requests) - 1]

    async with serving(answer) as server, PipelinedClient(url(server)) as client:
        got = [await client.post(b"x", {}) for _ in answers]
    assert [(a.status, a.retry_after) for a in got] == [
        (200, None),
        (202, None),
        (429, "7"),
        (503, None),
    ]


async def test_a_header_with_a_line_break_or_non_ascii_is_refused_before_sending() -> None:
    async with serving(always_ok) as server, PipelinedClient(url(server)) as client:
        with pytest.raises(ValueError, match="ce-id"):
            await client.post(b"x", {"ce-id": "1\r\nx-injected: yes"})
        with pytest.raises(ValueError, match="ce-source"):
            await client.post(b"x", {"ce-source": "dinas-kesehatan-ñ"})
    assert server.requests == []


async def test_it_connects_to_the_checked_addresses_not_a_new_lookup() -> None:
    async def checked() -> list[str]:
        return ["127.0.0.1"]

    async with serving(always_ok) as server:
        # `.invalid` never resolves (RFC 6761): only the checked address can be reached.
        target = url(server, host="hooks.example.invalid")
        async with PipelinedClient(target, addresses=checked) as client:
            assert (await client.post(b"x", {})).status == 200
    assert f"host: hooks.example.invalid:{server.port}" in server.requests[0].head


async def test_tls_verifies_the_endpoint_name(tmp_path: Path) -> None:
    server_context, trusted = _tls_pair(tmp_path, "hooks.bapenda.test")

    async def checked() -> list[str]:
        return ["127.0.0.1"]

    async with serving(always_ok, server_context) as server:
        target = url(server, "https", "hooks.bapenda.test")
        async with PipelinedClient(target, addresses=checked, ssl_context=trusted) as client:
            assert (await client.post(b"x", {})).status == 200
        wrong_name = url(server, "https", "other.bapenda.test")
        async with PipelinedClient(wrong_name, addresses=checked, ssl_context=trusted) as client:
            with pytest.raises(ConnectError, match="certificate"):
                await client.post(b"x", {})
        async with PipelinedClient(target, addresses=checked) as client:  # system CAs only
            with pytest.raises(ConnectError, match="certificate"):
                await client.post(b"x", {})
    assert len(server.requests) == 1


def test_an_endpoint_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        PipelinedClient("ftp://hooks.example/x")


def _tls_pair(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for `name` from a fresh CA, and a client trusting it."""
    ca = CertificateAuthority.create("webhook test CA", days=1)
    ca.write_ca(tmp_path)
    ca.issue(name, hosts=[name], days=1).write(tmp_path, "server")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    return server, ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))


async def test_an_answer_longer_than_the_limit_counts_and_closes_its_connection() -> None:
    huge = b"x" * (MAX_BODY_BYTES + 1)

    async def answer(request: Request) -> bytes:
        if len(server.requests) == 1:
            return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(huge), huge)
        return ok(204, "No Content")

    async with serving(answer) as server, PipelinedClient(url(server)) as client:
        assert (await client.post(b"1", {})).status == 200
        assert (await client.post(b"2", {})).status == 204
    assert server.connections == 2


async def test_a_name_that_does_not_resolve_is_a_connect_error() -> None:
    async def unresolved() -> list[str]:
        raise OSError("cannot resolve the webhook endpoint hooks.example.invalid")

    async with PipelinedClient("http://hooks.example.invalid/x", addresses=unresolved) as client:
        with pytest.raises(ConnectError, match="cannot resolve"):
            await client.post(b"x", {})


async def test_a_connection_idle_too_long_is_not_reused() -> None:
    async with (
        serving(always_ok) as server,
        PipelinedClient(url(server), idle_s=0.0) as client,
    ):
        await client.post(b"1", {})
        await client.post(b"2", {})  # idle for longer than 0 s: a new connection
    assert server.connections == 2


async def test_a_cancelled_request_leaves_its_connection_to_its_owed_answer() -> None:
    """Its answer is still owed: a later request must not be pipelined behind it."""
    release = asyncio.Event()

    async def answer(request: Request) -> bytes:
        if request.body == b"cancelled":
            await release.wait()
        return ok()

    async with (
        serving(answer) as server,
        PipelinedClient(url(server), connections=2, depth=1) as client,
    ):
        await client.post(b"warm-up", {})
        cancelled = asyncio.create_task(client.post(b"cancelled", {}))
        await wait_until(lambda: len(server.requests) == 2, timeout=5, message="sent")
        cancelled.cancel()
        assert (await client.post(b"next", {})).status == 200
        release.set()
    assert [(r.connection, r.body) for r in server.requests] == [
        (1, b"warm-up"),
        (1, b"cancelled"),
        (2, b"next"),
    ]


async def test_callers_waiting_for_room_are_served_in_turn_and_closing_fails_them() -> None:
    release = asyncio.Event()

    async def answer(request: Request) -> bytes:
        await release.wait()
        return ok()

    async with serving(answer) as server:
        client = PipelinedClient(url(server), connections=1, depth=1)
        first = asyncio.create_task(client.post(b"1", {}))
        waiting = [asyncio.create_task(client.post(b"%d" % n, {})) for n in range(2, 5)]
        await wait_until(lambda: len(server.requests) == 1, timeout=5, message="first sent")
        waiting[0].cancel()  # a waiter that gives up takes no room with it
        release.set()
        assert (await first).status == 200
        assert [(await w).status for w in waiting[1:]] == [200, 200]
        blocked = asyncio.create_task(client.post(b"late", {}))
        release.clear()
        await wait_until(lambda: len(server.requests) == 4, timeout=5, message="late sent")
        behind = asyncio.create_task(client.post(b"behind", {}))
        await client.aclose()
        for task in (blocked, behind):
            with pytest.raises(ConnectionClosedError):
                await task
        release.set()
    assert [r.body for r in server.requests] == [b"1", b"3", b"4", b"late"]


async def test_control_characters_and_length_of_a_reason_are_bounded() -> None:
    reason = "Bad\x1b[31m request\x00" + "x" * 5000

    async def answer(request: Request) -> bytes:
        return ok(400, reason)

    async with serving(answer) as server, PipelinedClient(url(server)) as client:
        got = await client.post(b"x", {})
    assert got.status == 400
    assert got.reason.startswith("Bad [31m request ")
    assert len(got.reason) <= MAX_REASON_CHARS


async def test_an_endless_head_or_a_protocol_switch_is_no_answer() -> None:
    async def answer(request: Request) -> bytes:
        if request.body == b"upgrade":
            return b"HTTP/1.1 101 Switching Protocols\r\nupgrade: ws\r\nconnection: upgrade\r\n\r\n"
        return b"HTTP/1.1 200 OK\r\n" + b"x-filler: " + b"y" * (MAX_HEAD_BYTES * 5) + b"\r\n\r\n"

    async with serving(answer) as server, PipelinedClient(url(server)) as client:
        with pytest.raises(TransportError, match="too long"):
            await client.post(b"head", {})
        with pytest.raises(TransportError, match="switched protocols"):
            await client.post(b"upgrade", {})


async def test_headers_the_client_writes_itself_are_refused() -> None:
    async with serving(always_ok) as server, PipelinedClient(url(server)) as client:
        for name in ("Host", "content-length", "Transfer-Encoding", "connection"):
            with pytest.raises(UnsendableRequestError, match=name):
                await client.post(b"x", {name: "1"})
        with pytest.raises(UnsendableRequestError, match="NUL"):
            await client.post(b"x", {"ce-id": "1\x00"})
    assert server.requests == []
