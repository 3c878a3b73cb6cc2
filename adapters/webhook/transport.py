"""Keep-alive, pipelined HTTP/1.1 POSTs to one webhook endpoint.

    client = PipelinedClient("https://sipd.bapenda.riau.go.id/hooks/izin", connections=16, depth=4)
    response = await client.post(body, headers)     # HttpResponse(status, reason, retry_after)
    await client.aclose()

Why not a general-purpose client: a webhook adapter sends one kind of request to one origin,
and reads only the status line and `Retry-After` of the answer. httpx spent ~0.5 ms of CPU per
request on its generality (measured with cProfile: URL merging, header models, anyio), which
capped delivery at ~570 events/s on two cores; the C parser of `httptools` (already the
ingress's) reads responses here for a fraction of that.

- **Keep-alive.** Up to `connections` connections, each reused until the server closes it or
  answers `Connection: close`.
- **Pipelining.** Up to `depth` requests in flight per connection (RFC 9112 §9.3.2); `depth=1`
  waits for each answer. Pipelining a POST is safe here because the receiver deduplicates by
  `webhook-id` (delivery is at least once): a request the connection closed under, before any
  byte of its answer arrived, is sent once more on another connection, and fails if that closes
  too. A new request goes to an idle connection first, then to a new one, then behind others,
  and only on a connection whose server has answered with keep-alive: a server that closes
  every connection (PHP's built-in one, which also refuses pipelined requests as malformed) is
  never sent a pipelined request.
- **Timeouts.** Connecting is bounded by `connect_timeout_s`; an answer must be complete
  `read_timeout_s` after its request was written, or after the answer before it on the
  connection. A late answer closes its connection (the answers behind it would be misread
  otherwise); the requests pipelined behind it are sent again.
- **Where it connects.** To the addresses `addresses()` returns (the destination guard's checked
  ones), so a DNS answer that changed since the check cannot redirect a request; TLS still
  verifies the endpoint's host name. Redirects are never followed: a 3xx is just an answer.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

__all__ = [
    "MAX_BODY_BYTES",
    "ConnectError",
    "ConnectionClosedError",
    "HttpResponse",
    "PipelinedClient",
    "ReadTimeoutError",
    "TransportError",
    "UnsendableRequestError",
]

#: An answer's body is read and dropped; a larger one than this closes the connection.
MAX_BODY_BYTES = 1 << 20
#: An answer's status line and headers larger than this close the connection.
MAX_HEAD_BYTES = 64 << 10
#: Of a reason phrase, this much is kept.
MAX_REASON_CHARS = 1024
#: A keep-alive connection idle this long is closed rather than reused: servers (Apache's
#: KeepAliveTimeout is 5 s) and NATs drop idle connections, often without a word.
IDLE_S = 4.0
#: Headers the client writes itself; a caller's own would make a different request.
_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class TransportError(Exception):
    """The request got no answer: connecting, writing or reading failed."""


class ConnectError(TransportError):
    """No connection to the endpoint could be made in time."""


class ReadTimeoutError(TransportError):
    """The answer was not complete within the read timeout."""


class ConnectionClosedError(TransportError):
    """The connection closed before the answer to this request began."""


class UnsendableRequestError(ValueError):
    """A header cannot be written as HTTP/1.1 (a line break, NUL, non-ASCII, or one the
    client writes itself): sending it again cannot help."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """What a webhook delivery reads from an answer: status, reason and `Retry-After`."""

    status: int
    reason: str
    retry_after: str | None = None


AddressSource = Callable[[], Awaitable[Sequence[str]]]


class PipelinedClient:
    """POSTs to one endpoint over a few keep-alive connections, pipelining up to `depth` each."""

    def __init__(
        self,
        url: str,
        *,
        connections: int = 16,
        depth: int = 1,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 15.0,
        idle_s: float = IDLE_S,
        addresses: AddressSource | None = None,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = "opd-bus-webhook/1",
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the webhook endpoint must be an http(s) URL, not {url!r}")
        if connections < 1 or depth < 1:
            raise ValueError("connections and depth must be at least 1")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = parts.scheme == "https"
        self.connections = connections
        self.depth = depth
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.idle_s = idle_s
        self._addresses = addresses
        self._ssl = (ssl_context or ssl.create_default_context()) if self.tls else None
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = (self.tls and self.port == 443) or (not self.tls and self.port == 80)
        authority = self.host if default_port else f"{self.host}:{self.port}"
        if ":" in self.host:  # an IPv6 literal
            authority = f"[{self.host}]" if default_port else f"[{self.host}]:{self.port}"
        self._head = (
            f"POST {path} HTTP/1.1\r\nhost: {authority}\r\nuser-agent: {user_agent}\r\n"
        ).encode("ascii")
        #: The most requests seen in flight on one connection (how deep pipelining went).
        self.deepest = 1
        self._open: list[_Connection] = []
        self._connecting = 0
        # Callers waiting for room, first come first served; one is woken per slot that frees
        # up. The bookkeeping around them is synchronous, so a cancelled caller leaks nothing.
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    async def post(self, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        """Send one POST and return its answer; raises a `TransportError` if there is none."""
        request = self._request(body, headers)
        for attempt in (1, 2):
            connection = await self._connection()
            try:
                return await connection.send(request)
            except ConnectionClosedError:
                # No byte of an answer came back: the server closed an idle keep-alive
                # connection, or answered an earlier request with `Connection: close`.
                if attempt == 2:
                    raise
            finally:
                self._wake()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        """Close every connection; requests in flight and callers waiting get an error."""
        self._closed = True
        for connection in self._open:
            connection.close()
        self._open.clear()
        while self._waiters:
            self._wake()

    async def __aenter__(self) -> PipelinedClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _request(self, body: bytes, headers: Mapping[str, str]) -> bytes:
        lines = [self._head, b"content-length: %d\r\n" % len(body)]
        for name, value in headers.items():
            if name.lower() in _OWN_HEADERS:
                raise UnsendableRequestError(f"header {name!r} is the client's own to write")
            if _CONTROL.search(name) or any(c in value for c in "\r\n\x00"):
                raise UnsendableRequestError(f"header {name!r} holds a line break or NUL")
            try:
                lines.append(f"{name}: {value}\r\n".encode("ascii"))
            except UnicodeEncodeError:
                raise UnsendableRequestError(f"header {name!r} is not ASCII") from None
        lines.append(b"\r\n")
        lines.append(body)
        return b"".join(lines)

    async def _connection(self) -> _Connection:
        """A connection with room for one more request: idle first, then new, then pipelined."""
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise ConnectionClosedError("the webhook client was closed")
            self._prune(loop.time())
            if (connection := self._take()) is not None:
                if self._waiters and self._has_room():
                    self._wake()  # more room than this caller needed: pass it on
                return connection
            if len(self._open) + self._connecting < self.connections:
                return await self._open_connection()
            room: asyncio.Future[None] = loop.create_future()
            self._waiters.append(room)
            try:
                await room
            except BaseException:
                if not room.done():
                    self._waiters.remove(room)
                elif not room.cancelled():
                    self._wake()  # woken, then cancelled: the room goes to the next one
                raise

    def _take(self) -> _Connection | None:
        """An idle connection, else one proven to keep alive with room in its pipeline."""
        idle = next((c for c in self._open if c.in_flight == 0), None)
        if idle is not None:
            idle.in_flight += 1
            return idle
        # Pipelined only behind an answer that promised to keep the connection open.
        proven = [c for c in self._open if c.kept_alive and c.in_flight < self.depth]
        if not proven:
            return None
        best = min(proven, key=lambda c: c.in_flight)
        best.in_flight += 1
        self.deepest = max(self.deepest, best.in_flight)
        return best

    def _has_room(self) -> bool:
        if len(self._open) + self._connecting < self.connections:
            return True
        return any(
            c.usable and (c.in_flight == 0 or (c.kept_alive and c.in_flight < self.depth))
            for c in self._open
        )

    async def _open_connection(self) -> _Connection:
        self._connecting += 1
        try:
            connection = await self._connect()
        finally:
            self._connecting -= 1
            self._wake()  # room for another connection, or one to pipeline on
        if self._closed:
            connection.close()
            raise ConnectionClosedError("the webhook client was closed")
        connection.in_flight += 1
        self._open.append(connection)
        return connection

    def _prune(self, now: float) -> None:
        """Forget closed connections; close those idle longer than `idle_s`."""
        kept = []
        for connection in self._open:
            if connection.usable and connection.idle_for(now) > self.idle_s:
                connection.close()
            if connection.usable:
                kept.append(connection)
        self._open = kept

    def _wake(self) -> None:
        """Let the first caller still waiting look for room again."""
        while self._waiters:
            room = self._waiters.popleft()
            if not room.done():
                room.set_result(None)
                return

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            addresses = list(await self._addresses()) if self._addresses else [self.host]
        except OSError as exc:  # the name does not resolve now; it may later
            raise ConnectError(str(exc)) from None
        error: BaseException | None = None
        try:
            # One deadline for all the addresses, not one each.
            async with asyncio.timeout(self.connect_timeout_s):
                for address in addresses or [self.host]:
                    try:
                        _, connection = await loop.create_connection(
                            lambda: _Connection(self.read_timeout_s),
                            address,
                            self.port,
                            ssl=self._ssl,
                            server_hostname=self.host if self._ssl else None,
                        )
                    except (OSError, ssl.SSLError) as exc:
                        error = exc
                        continue
                    return connection
        except TimeoutError:
            raise ConnectError(f"connecting took longer than {self.connect_timeout_s} s") from None
        raise ConnectError(f"cannot connect to the endpoint: {error!r}") from None


class _Connection(asyncio.Protocol):
    """One keep-alive connection: requests written in order, answers matched in order.

    One timer runs, for the oldest request without an answer: a pipelined request's read
    timeout starts when the answer before it is complete, not while it waits its turn.
    """

    def __init__(self, read_timeout_s: float) -> None:
        self.in_flight = 0
        self._idle_since = asyncio.get_running_loop().time()
        #: True once an answer came back without `Connection: close` (HTTP/1.1 keep-alive).
        self.kept_alive = False
        self._read_timeout_s = read_timeout_s
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.Transport | None = None
        # Answers are values, failures too: a request given up on (timed out, cancelled) leaves
        # its future here to keep the order, and nobody would retrieve an exception set on it.
        self._waiting: deque[asyncio.Future[HttpResponse | TransportError]] = deque()
        self._parser = httptools.HttpResponseParser(self)
        self._reason = b""
        self._retry_after: str | None = None
        self._head = 0
        self._body = 0
        self._status = 0
        self._answering = False
        self._reusable = True
        self._writable = asyncio.Event()
        self._writable.set()

    @property
    def usable(self) -> bool:
        """True while new requests may be written here."""
        return self._transport is not None and self._reusable

    def idle_for(self, now: float) -> float:
        """Seconds since the last request here was answered (0 while one is in flight)."""
        return 0.0 if self.in_flight or self._waiting else now - self._idle_since

    async def send(self, request: bytes) -> HttpResponse:
        """Write `request` and wait for its answer (after those of earlier requests)."""
        answer: asyncio.Future[HttpResponse | TransportError] | None = None
        try:
            await self._writable.wait()
            if self._transport is None or not self._reusable:
                raise ConnectionClosedError("the connection closed")
            answer = asyncio.get_running_loop().create_future()
            self._waiting.append(answer)
            self._transport.write(request)
            if len(self._waiting) == 1:
                self._arm()
            outcome = await answer
            if isinstance(outcome, TransportError):
                raise outcome
            return outcome
        except asyncio.CancelledError:
            if answer is not None and not answer.done():
                # Its answer is still owed: the connection is not idle, so take no more here.
                self._reusable = False
            raise
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self._idle_since = asyncio.get_running_loop().time()

    def close(self) -> None:
        """Close the connection; waiting requests fail."""
        self._fail(ConnectionClosedError("the webhook client was closed"))

    # asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self._answering and not self._status:
            self._head += len(data)
            if self._head > MAX_HEAD_BYTES:
                self._fail(TransportError("the answer's headers are too long"))
                return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(TransportError("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(TransportError(f"unreadable answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._answering and self._waiting and self._status >= 200:
            # An answer without a length ends with its connection: it is complete now.
            self._complete()
        self._transport = None
        self._reusable = False
        self._writable.set()
        self._fail(ConnectionClosedError("the server closed the connection"))

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # httptools callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._answering = True
        self._reason = b""
        self._retry_after = None
        self._head = 0
        self._body = 0
        self._status = 0

    def on_status(self, reason: bytes) -> None:
        if len(self._reason) < MAX_REASON_CHARS:
            self._reason += reason[:MAX_REASON_CHARS]

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self._retry_after = value.decode("latin-1").strip()

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._body += len(body)
        if self._body > MAX_BODY_BYTES and self._waiting:
            self._complete()
            self._fail(ConnectionClosedError("an earlier answer on its connection was too long"))

    def on_message_complete(self) -> None:
        if self._status < 200:
            self._answering = False  # 1xx: an interim answer, the final one follows
            return
        if self._parser.should_keep_alive():
            self.kept_alive = True
        else:
            self._reusable = False
        self._complete()
        if not self._reusable and not self._waiting and self._transport is not None:
            self._transport.close()

    def _complete(self) -> None:
        self._answering = False
        if self._waiting:
            answer = self._waiting.popleft()
            if not answer.done():
                # Foreign text bound for logs and terminals: no control characters.
                reason = _CONTROL.sub(" ", self._reason[:MAX_REASON_CHARS].decode("latin-1"))
                answer.set_result(HttpResponse(self._status, reason.strip(), self._retry_after))
            self._arm()

    def _arm(self) -> None:
        """Start the read timeout of the oldest request still waiting, if any."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._waiting:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._read_timeout_s, self._late)

    def _late(self) -> None:
        self._timer = None
        if self._waiting:
            answer = self._waiting.popleft()
            if not answer.done():
                answer.set_result(
                    ReadTimeoutError(f"no complete answer within {self._read_timeout_s} s")
                )
        # The answers behind it would be matched to the wrong requests: close.
        self._fail(ConnectionClosedError("an earlier answer on its connection was late"))

    def _fail(self, error: TransportError) -> None:
        """No more answers will come on this connection: fail who waits, close it."""
        self._reusable = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiting:
            answer = self._waiting.popleft()
            if not answer.done():
                answer.set_result(type(error)(*error.args))
        self._writable.set()  # a request waiting to write finds the connection unusable
        if self._transport is not None:
            # abort(), not close(): close() waits for a peer that stopped reading to take
            # the rest of the write buffer, and nothing here would ever end.
            self._transport.abort()
