"""A scripted HTTP/1.1 receiver on loopback: it counts what crossed the wire and answers as told.

    async def answer(request: Request) -> bytes | None: return ok(503, "Busy")
    async with serving(answer) as server:      # server.port, .connections, .requests
        ...

It reads requests as they come (pipelined ones too) and writes the answers in order; an answer
of None closes the connection without one, and one that says `connection: close` closes it
after. A test double for webhook endpoints, where what the client sent must be counted by the
other side rather than inferred from the client.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from bus.broker.embedded import free_port

__all__ = ["Answer", "Busy", "Request", "ScriptedServer", "ok", "serving"]


@dataclass
class Request:
    """One request as the server read it."""

    connection: int
    head: str
    body: bytes


# An answer: the bytes to write, or None to write nothing and close the connection.
Answer = Callable[[Request], Coroutine[Any, Any, bytes | None]]


@dataclass
class ScriptedServer:
    """Counts connections and requests; answers each request with `answer(request)`."""

    answer: Answer
    port: int = 0
    connections: int = 0
    requests: list[Request] = field(default_factory=list)
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    def url(self, path: str = "/hook") -> str:
        """The plain-HTTP URL of `path` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read requests as they come (pipelined ones too); answer them in order."""
        if (task := asyncio.current_task()) is not None:
            self.handlers.add(task)
        self.connections += 1
        number = self.connections
        answers: asyncio.Queue[asyncio.Task[bytes | None] | None] = asyncio.Queue()
        writing = asyncio.create_task(self._write(answers, writer))
        try:
            while True:
                try:
                    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = next(
                    (
                        int(line.split(":", 1)[1])
                        for line in head.split("\r\n")
                        if line.lower().startswith("content-length:")
                    ),
                    0,
                )
                request = Request(number, head, await reader.readexactly(length))
                self.requests.append(request)
                answers.put_nowait(asyncio.create_task(self.answer(request)))
        finally:
            answers.put_nowait(None)
            await writing
            writer.close()

    @staticmethod
    async def _write(
        answers: asyncio.Queue[asyncio.Task[bytes | None] | None], writer: asyncio.StreamWriter
    ) -> None:
        while (answer := await answers.get()) is not None:
            data = await answer
            if data is None or writer.is_closing():
                writer.close()
                return
            writer.write(data)
            if b"connection: close" in data.lower():
                writer.close()
                return


def ok(status: int = 200, reason: str = "OK", headers: str = "") -> bytes:
    """A complete answer with an empty body."""
    return f"HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\n{headers}\r\n".encode()


class Busy:
    """Answers `answer` after `seconds` of simulated work; `peak`: most requests in work at once."""

    def __init__(self, seconds: float, answer: bytes) -> None:
        self.seconds, self.answer = seconds, answer
        self.working = self.peak = 0

    async def __call__(self, request: Request) -> bytes:
        self.working += 1
        self.peak = max(self.peak, self.working)
        await asyncio.sleep(self.seconds)  # the receiver's work, not synchronisation
        self.working -= 1
        return self.answer


@asynccontextmanager
async def serving(
    answer: Answer, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[ScriptedServer]:
    """Serve `answer` on a free loopback port (TLS with `ssl_context`) until the block ends."""
    script = ScriptedServer(answer, port=free_port())
    server = await asyncio.start_server(script._serve, "127.0.0.1", script.port, ssl=ssl_context)
    async with server:
        yield script
        # The client has closed its connections: let each handler read its end of file.
        if script.handlers:
            _, stuck = await asyncio.wait(script.handlers, timeout=5)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
