"""The ingress service: what every route shares, injected into routes with `IngressService`.

    @router.post("/v1/...")
    async def route(request: Request, ingress: IngressService) -> Response: ...

It authenticates API keys, checks ownership, content type and size, publishes under an
Idempotency-Key and records every publication; the routes only say what to publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, cast

import asyncpg
from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from bus import publication_log
from bus.catalog import Catalog, EventType, System
from bus.config import BusSettings
from bus.database import Connection, create_pool
from bus.errors import (
    AuthenticationThrottledError,
    BusError,
    FieldError,
    NotOwnerError,
    UnknownEventTypeError,
)
from bus.ingress import idempotency, keys
from bus.ingress.authentication import KeyAuthenticator
from bus.ingress.guard import client_address, failure_throttle, unsafe_integers
from bus.ingress.late_evidence import LateEvidence
from bus.ingress.problems import (
    BODY_TOO_LARGE,
    BROKER_UNAVAILABLE,
    NOT_OWNER,
    STARTING,
    TOO_MANY_FAILURES,
    UNAUTHORIZED,
    UNKNOWN_EVENT_TYPE,
    UNSUPPORTED_MEDIA_TYPE,
    invalid,
)
from bus.ingress.unsettled import UnsettledPublications
from bus.logging import get_logger
from bus.publish import Delivery, OutgoingRecord, RecordSender
from bus.publish.recovery import find_published

__all__ = ["TOKEN", "Ingress", "IngressService", "OnPublished", "ingress_service"]

log = get_logger("bus.ingress")

#: A header value we accept as an idempotency key or correlation id: printable ASCII.
TOKEN = re.compile(r"^[\x21-\x7e]{1,255}$")
_READY_CACHE_S = 2.0

#: Told of every batch of events the broker acknowledged (`bus dev` prints a line for each).
OnPublished = Callable[[Sequence[OutgoingRecord], Sequence[Delivery]], None]


#: Errors of the bus's database, after which the request's evidence is written later.
_DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Ingress:
    """What the routes share: settings, catalog, the database pool and the Kafka sender."""

    def __init__(
        self,
        settings: BusSettings,
        catalog: Catalog,
        database_dsn: str,
        *,
        on_published: OnPublished | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.database_dsn = database_dsn
        self._on_published = on_published
        self._sender: RecordSender | None = None
        self._pool: asyncpg.Pool[Any] | None = None
        self._authenticator: KeyAuthenticator | None = None
        self._log_writer: publication_log.GroupedLogWriter | None = None
        self._late: LateEvidence | None = None
        self._ready: tuple[float, bool] = (0.0, False)
        self._unsettled = UnsettledPublications()
        self._ready_lock = asyncio.Lock()

    @property
    def sender(self) -> RecordSender:
        """The Kafka sender, made on first use inside the event loop (aiokafka needs one)."""
        if self._sender is None:
            self._sender = RecordSender(self.settings)
        return self._sender

    @property
    def pool(self) -> asyncpg.Pool[Any]:
        """The connection pool to the bus's database (open while the app runs)."""
        if self._pool is None:
            raise STARTING.refuse("the ingress is starting; retry in a few seconds")
        return self._pool

    async def open(self) -> None:
        """Open the database pool, create the tables, and try to reach the broker."""
        pool = await create_pool(self.database_dsn)
        async with pool.acquire() as conn:
            await keys.ensure_schema(conn)
            await idempotency.ensure_schema(conn)
            await publication_log.ensure_schema(conn)
        self._authenticator = KeyAuthenticator(
            pool,
            self.database_dsn,
            remember_s=self.settings.ingress_remember_keys_s,
            throttle=failure_throttle(self.settings),
        )
        await self._authenticator.start()
        self._log_writer = publication_log.GroupedLogWriter(pool)
        self._late = LateEvidence(pool)
        self._pool = pool
        try:
            await self.sender.start()
        except BusError as exc:
            # Not fatal: /readyz says so and each request tries again (503 until it works).
            log.warning("ingress.broker_unreachable", error=str(exc))

    async def close(self) -> None:
        """Flush the sender and close the pool."""
        try:
            await asyncio.wait_for(self.sender.stop(), self.settings.ingress_publish_timeout_s)
        except (TimeoutError, BusError) as exc:
            log.warning("ingress.stop_unflushed", error=str(exc))
        if self._log_writer is not None:
            await self._log_writer.close()
        if self._late is not None:
            await self._late.close()
        if self._authenticator is not None:
            await self._authenticator.close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def ready(self) -> bool:
        """True if the broker answered a metadata request in the last couple of seconds."""
        async with self._ready_lock:
            checked_at, ready = self._ready
            if time.monotonic() - checked_at < _READY_CACHE_S:
                return ready
            ready = await self.sender.cluster_reachable()
            self._ready = (time.monotonic(), ready)
            return ready

    async def authenticate(self, request: Request) -> System:
        """The system of the request's bearer key, or a 401 refusal."""
        return self.catalog.system(await self.principal(request))

    async def principal(self, request: Request) -> str:
        """Whose the request's bearer key is (a system id, or `pdp-officer`), or a 401 refusal."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        found = None
        if scheme.lower() == "bearer" and token.strip():
            authenticator = self._authenticator
            if authenticator is None:
                raise STARTING.refuse("the ingress is starting; retry in a few seconds")
            try:
                found = await authenticator.authenticate(token.strip(), client_address(request))
            except AuthenticationThrottledError as exc:
                raise TOO_MANY_FAILURES.refuse(
                    str(exc), headers={"Retry-After": str(exc.retry_after_s)}
                ) from None
        if found is None:
            raise UNAUTHORIZED.refuse(
                "the API key is unknown or has been revoked; ask the bus operators for a new one"
                if token.strip()
                else "no API key was sent: send `Authorization: Bearer <key>`; the bus "
                "operators issue keys with `bus keys create`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        key_id, system_id = found
        request.state.key_id = key_id
        request.state.system = system_id
        return system_id

    def owned_event_type(self, system: System, ref: str) -> EventType:
        """The event type `ref`, checked to be owned by `system` (404, 403)."""
        try:
            et = self.catalog.event_type(ref)
        except UnknownEventTypeError as exc:
            raise UNKNOWN_EVENT_TYPE.refuse(
                f"{exc}; /openapi.json lists the event types you can publish"
            ) from None
        if et.owner != system.id:
            raise NOT_OWNER.refuse(str(NotOwnerError(system.id, et.type, et.owner)))
        return et

    async def read_json(self, request: Request) -> bytes:
        """The request body, declared as JSON (415) and within the size limit (413)."""
        media_type, _, params = request.headers.get("content-type", "").partition(";")
        media_type = media_type.strip().lower()
        charset = next(
            (
                value.strip().strip('"').lower()
                for name, _, value in (p.partition("=") for p in params.split(";"))
                if name.strip().lower() == "charset"
            ),
            "utf-8",
        )
        is_json = media_type == "application/json" or (
            media_type.startswith("application/") and media_type.endswith("+json")
        )
        if not is_json or charset not in ("utf-8", "utf8"):
            # The header is not echoed: a refusal never repeats what the client sent.
            wrong = "its charset is not UTF-8" if is_json else "it is not declared as JSON"
            raise UNSUPPORTED_MEDIA_TYPE.refuse(
                f"the body was refused because {wrong}; send it as "
                "`Content-Type: application/json` in UTF-8"
            )
        limit = self.settings.ingress_max_body_bytes
        too_large = BODY_TOO_LARGE.refuse(
            f"the body is larger than {limit} bytes; split the request"
        )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        body = b"".join(chunks)
        unsafe = unsafe_integers(body)
        if unsafe:
            raise invalid(unsafe)
        return body

    async def accept(
        self,
        request: Request,
        system: System,
        body: bytes,
        build: Callable[[list[str] | None], list[OutgoingRecord]],
        render: Callable[[list[Delivery]], dict[str, Any]],
    ) -> JSONResponse:
        """Publish what `build` makes (under the request's Idempotency-Key, if any); 202."""
        records = build(None)
        key = request.headers.get("idempotency-key")
        if key is None:
            deliveries = await self._publish(request, records)
            assert self._log_writer is not None  # open() set it: authenticate() passed
            publications = _publications(system, records, deliveries)
            try:
                await self._log_writer.write(publications)
            except _DATABASE_ERRORS as exc:
                # Published is published: a 503 now would make a retry publish it again.
                self._write_later(exc, publications)
            return JSONResponse(render(deliveries), status_code=202)
        if not TOKEN.match(key):
            raise invalid(
                [FieldError("Idempotency-Key", "must be 1 to 255 printable ASCII characters")]
            )
        fingerprint = idempotency.request_sha256(request.method, request.url.path, body)
        async with self.pool.acquire() as conn:
            await idempotency.lock(conn, system.id, key)
            try:
                stored = await idempotency.find(conn, system.id, key)
                if stored is not None:
                    if stored.request_sha256 != fingerprint:
                        raise invalid(
                            [
                                FieldError(
                                    "Idempotency-Key",
                                    "this key was already used for a different request; "
                                    "use a new key for new data",
                                )
                            ]
                        )
                    if stored.response is not None:
                        request.state.event_ids = stored.event_ids
                        return JSONResponse(
                            stored.response,
                            status_code=202,
                            headers={"Idempotent-Replayed": "true"},
                        )
                    records = build(stored.event_ids)  # an earlier attempt failed: same ids
                    earlier = self._unsettled.take(stored.event_ids)
                    if earlier is not None:  # this process still holds that attempt's outcome
                        deliveries = await self._publish(request, records, earlier)
                    else:  # another process's attempt, or one that died: look on the topic
                        deliveries = await self._publish_rest(request, records, stored.created_at)
                else:
                    ids = [record.envelope.id for record in records]
                    await idempotency.remember(conn, system.id, key, fingerprint, ids)
                    deliveries = await self._publish(request, records)
                response = render(deliveries)
                try:
                    async with conn.transaction():
                        await self._log(conn, system, records, deliveries)
                        await idempotency.complete(conn, system.id, key, response)
                except _DATABASE_ERRORS as exc:
                    self._write_later(exc, _publications(system, records, deliveries))
                    try:  # a retry with this key must find the response, not publish again
                        await idempotency.complete(conn, system.id, key, response)
                    except _DATABASE_ERRORS:
                        assert self._late is not None
                        self._late.add([], completion=(system.id, key, response))
            finally:
                await idempotency.unlock(conn, system.id, key)
        return JSONResponse(response, status_code=202)

    def _write_later(
        self, error: BaseException, publications: list[publication_log.Publication]
    ) -> None:
        log.error(
            "ingress.publication_log_failed",
            error=str(error),
            event_ids=[p.event_id for p in publications],
            retry="in the background",
        )
        assert self._late is not None  # open() set it: authenticate() passed
        self._late.add(publications)

    async def _publish_rest(
        self, request: Request, records: list[OutgoingRecord], since: datetime | None
    ) -> list[Delivery]:
        """Publish what an earlier attempt under the same key did not get onto the topic.

        That attempt may have died after the broker acknowledged (a killed process, a lost
        connection): sending again blindly would put a second copy on the topic.
        """
        if since is None:
            return await self._publish(request, records)
        wanted: dict[str, list[str]] = {}
        for record in records:
            wanted.setdefault(record.topic, []).append(record.id)
        try:
            found = await find_published(self.settings, wanted, since=since)
        except BusError as exc:
            log.warning("ingress.broker_unavailable", error=str(exc))
            raise BROKER_UNAVAILABLE.refuse(
                "the event bus could not confirm an earlier attempt under this Idempotency-Key; "
                "retry later with the same key",
                headers={"Retry-After": "5"},
                outcome="unknown",
                event_ids=[record.id for record in records],
            ) from None
        missing = [record for record in records if record.id not in found]
        if missing:
            for delivery in await self._publish(request, missing):
                found[delivery.event_id] = delivery
        request.state.event_ids = [record.id for record in records]
        return [found[record.id] for record in records]

    async def _publish(
        self,
        request: Request,
        records: list[OutgoingRecord],
        earlier: list[asyncio.Future[Delivery]] | None = None,
    ) -> list[Delivery]:
        """Publish `records` (or wait for an earlier attempt's `earlier` futures); 503 if the
        broker does not acknowledge within `ingress_publish_timeout_s`."""
        ids = request.state.event_ids = [record.envelope.id for record in records]
        futures: list[asyncio.Future[Delivery]] = []
        try:
            async with asyncio.timeout(self.settings.ingress_publish_timeout_s):
                deliveries: list[Delivery] | None = None
                if earlier is not None:
                    # The first attempt's records: their outcome, not a second send. If that
                    # attempt failed for good, the same ids are published anew below.
                    with contextlib.suppress(BusError):
                        deliveries = list(await asyncio.shield(asyncio.gather(*earlier)))
                if deliveries is None:
                    await self.sender.start()
                    futures = [await self.sender.send_record(record) for record in records]
                    deliveries = list(await asyncio.shield(asyncio.gather(*futures)))
        except (BusError, TimeoutError) as exc:
            pending = futures or earlier or []
            unsettled = [future for future in pending if not future.done()]
            if unsettled and request.headers.get("idempotency-key") and len(pending) == len(ids):
                self._unsettled.keep(ids, pending)
            log.warning(
                "ingress.broker_unavailable",
                error=str(exc) or "no acknowledgement in time",
                event_ids=ids,
                outcome="unknown" if unsettled else "not published",
            )
            retry = (
                "Retry with the same Idempotency-Key: the bus then reports this attempt's "
                "outcome or publishes the same event id, never a second event"
                if request.headers.get("idempotency-key")
                else "A retry without an Idempotency-Key publishes a new event"
            )
            what = (
                "has not acknowledged the event in time; it may still be published"
                if unsettled
                else "did not accept the event; it was not published"
            )
            raise BROKER_UNAVAILABLE.refuse(
                f"the event bus {what}. {retry}.",
                headers={"Retry-After": "5"},
                # RFC 9457 extension members: what became of the event, and its ids.
                outcome="unknown" if unsettled else "not_published",
                event_ids=ids,
            ) from None
        if self._on_published is not None:
            self._on_published(records, deliveries)
        return deliveries

    async def _log(
        self,
        conn: Connection,
        system: System,
        records: list[OutgoingRecord],
        deliveries: list[Delivery],
    ) -> None:
        await publication_log.record_publications(conn, _publications(system, records, deliveries))


def _publications(
    system: System, records: list[OutgoingRecord], deliveries: list[Delivery]
) -> list[publication_log.Publication]:
    return [
        publication_log.Publication.of(r, d, source_system=system.id, via="ingress")
        for r, d in zip(records, deliveries, strict=True)
    ]


async def ingress_service(request: Request) -> Ingress:
    """The application's `Ingress` (a coroutine: FastAPI would run a plain function in a thread)."""
    return cast(Ingress, request.app.state.ingress)


#: A route parameter of this type receives the application's `Ingress`.
IngressService = Annotated[Ingress, Depends(ingress_service)]
