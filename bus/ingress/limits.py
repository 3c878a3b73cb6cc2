"""Limits on a request's head, enforced while it is read, before any of the app runs.

    config = uvicorn.Config(app, http=guarded_protocol(HeadLimits.from_settings(settings)))

uvicorn's httptools protocol buffers a request's headers without limit (the parser
concatenates each header value as it arrives) and waits for them without a deadline: eight
50 MB `Authorization` headers took an ingress from 112 MB to 2.1 GB, and 200 connections that
sent a byte now and then were held for ever. `GuardedHttpToolsProtocol` counts the bytes and
the headers of each request's head as they are fed to the parser and answers 431 past either
limit, then closes; a head that is not complete within `header_timeout_s` of its first byte
(or of the connection opening) gets 408 and the connection is closed. A client therefore
costs at most `max_head_bytes` plus one read (256 KiB on uvloop) and holds nothing for long.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bus.logging import get_logger

if TYPE_CHECKING:
    from bus.config import BusSettings

__all__ = ["GuardedHttpToolsProtocol", "HeadLimits", "guarded_protocol"]

log = get_logger("bus.ingress")


@dataclass(frozen=True)
class HeadLimits:
    """How large, how many and how slow a request's head may be."""

    max_head_bytes: int = 32 * 1024
    max_headers: int = 100
    header_timeout_s: float = 10.0

    @classmethod
    def from_settings(cls, settings: BusSettings) -> HeadLimits:
        """The ingress's limits (`BUS_INGRESS_MAX_HEADER_BYTES`, ...)."""
        return cls(
            settings.ingress_max_header_bytes,
            settings.ingress_max_headers,
            settings.ingress_header_timeout_s,
        )


class _HeadRefusedError(Exception):
    """Raised from a parser callback to stop parsing a head that broke a limit."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with head size, header count and header-time limits."""

    limits = HeadLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0  # bytes fed while in the head (bounds what the parser holds)
        self._parsed_head_bytes = 0  # bytes of URL and headers the parser handed over
        self._header_count = 0
        self._head_deadline: asyncio.TimerHandle | None = None
        self._began_in_chunk = False
        self._refusal: tuple[int, str] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock: the first head must arrive within the header timeout."""
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser, counting the head's bytes; refuse a head past its limits."""
        self._unset_keepalive_if_required()
        if self._in_head:
            self._arm_head_deadline()
        self._began_in_chunk = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            if self._refusal is not None:
                self._refuse(*self._refusal)
            else:
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserError:
            self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            self.send_400_response("Upgrades are not supported.")
            return
        # A head that began inside this read (a pipelined request) is counted from the next
        # read on: where in `data` it began is not known, and the whole read may be a body.
        if self._in_head and not self._began_in_chunk:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_head_bytes:
                self._refuse(*self._too_large())

    # Parser callbacks -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        """A new request: its head is counted from zero."""
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._parsed_head_bytes = 0
        self._header_count = 0
        self._began_in_chunk = True
        self._arm_head_deadline()

    def on_url(self, url: bytes) -> None:
        """Count the URL's bytes toward the head."""
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count the header and its bytes; stop the parser past either limit."""
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refusal = (431, f"more than {self.limits.max_headers} headers")
            raise _HeadRefusedError
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._parsed_head_bytes += size
        if self._parsed_head_bytes > self.limits.max_head_bytes:
            self._refusal = self._too_large()
            raise _HeadRefusedError

    def _too_large(self) -> tuple[int, str]:
        return 431, f"the request head is larger than {self.limits.max_head_bytes} bytes"

    def on_headers_complete(self) -> None:
        """The head is in: stop counting and stop the clock; the app takes over."""
        self._in_head = False
        self._disarm_head_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """Between requests only uvicorn's keep-alive timeout applies, until the next byte."""
        super().on_response_complete()
        self._disarm_head_deadline()

    # Refusals -------------------------------------------------------------------------------

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(
                self.limits.header_timeout_s, self._head_too_slow
            )

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self._in_head and not self.transport.is_closing():
            self._refuse(
                408, f"the request head took longer than {self.limits.header_timeout_s:g} s"
            )

    def _refuse(self, status: int, detail: str) -> None:
        """Answer with a problem document and close, without reading further."""
        self._disarm_head_deadline()
        client = f"{self.client[0]}" if self.client else "unknown"
        log.warning("ingress.head_refused", status=status, detail=detail, client=client)
        title = {408: "Request Timeout", 431: "Request Header Fields Too Large"}[status]
        body = orjson.dumps(
            {"type": "about:blank", "title": title, "status": status, "detail": detail}
        )
        head = (
            f"HTTP/1.1 {status} {title}\r\ncontent-type: application/problem+json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()
        self._in_head = False


def guarded_protocol(limits: HeadLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for uvicorn's `http=` with these limits."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})
