"""The HTTP ingress: OPD applications that can only make HTTP calls publish through it.

    app = create_app(settings)                 # FastAPI; `bus ingress` serves it with uvicorn

    curl -X POST http://127.0.0.1:8080/v1/events/id.go.riau.dpmptsp.izin.terbit \\
         -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" -d @izin.json
    → 202 {"id": "...", "topic": "dpmptsp.izin.terbit.v1", "partition": 1, "offset": 42}

Each request goes through the same steps, in this order, and stops at the first refusal:
authenticate (401) → find the event type (404) → check ownership (403) → check the content
type (415) → read the body within the size limit (413) → validate (422) → publish and wait for
the broker's acknowledgement (503 if it does not come) → record it in the publication log → 202.
A 202 is only ever sent after the acknowledgement; nothing is published for a refused request,
and a batch is validated completely before its first event is sent.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import models_json_schema

from bus import publication_log
from bus.catalog import Catalog, EventType, System, load_catalog
from bus.config import BusSettings
from bus.database import Connection, create_pool
from bus.errors import (
    AuthenticationThrottledError,
    BusError,
    FieldError,
    NotOwnerError,
    SchemaValidationError,
    UnknownEventTypeError,
)
from bus.ingress import idempotency, keys
from bus.ingress.answers import metrics
from bus.ingress.authentication import KeyAuthenticator
from bus.ingress.guard import (
    RefuseNulPaths,
    client_address,
    failure_throttle,
    unsafe_integers,
)
from bus.ingress.request_log import RequestLog
from bus.ingress.unsettled import UnsettledPublications
from bus.logging import get_logger
from bus.publish import Delivery, OutgoingRecord, RecordSender, build_record
from bus.validation import field_errors

log = get_logger("bus.ingress")

#: A header value we accept as an idempotency key or correlation id: printable ASCII.
_TOKEN = re.compile(r"^[\x21-\x7e]{1,255}$")
_READY_CACHE_S = 2.0


# Documented bodies ----------------------------------------------------------------------------


class Accepted(BaseModel):
    """202: the broker acknowledged the event at this position."""

    id: str = Field(description="CloudEvents id of the event (the same on an idempotent retry).")
    topic: str
    partition: int
    offset: int


class BatchAccepted(BaseModel):
    """202 for a batch: one entry per event, in request order."""

    events: list[Accepted]


class FieldProblem(BaseModel):
    """One invalid field: where and why."""

    path: str
    message: str


class ValidationProblem(BaseModel):
    """422: one entry per invalid field."""

    errors: list[FieldProblem]


class Problem(BaseModel):
    """Any other refusal: a short code and a sentence saying what to do."""

    error: str
    message: str


class BatchItem(BaseModel):
    """One event in a batch."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="CloudEvents type (or topic) of the event.")
    data: dict[str, Any] = Field(description="The event data, valid against the type's schema.")


class BatchRequest(BaseModel):
    """Body of `POST /v1/events:batch`."""

    model_config = ConfigDict(extra="forbid")

    events: list[BatchItem] = Field(min_length=1)


class RefusalError(Exception):
    """A request the ingress refuses with `status` and a JSON `body`."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, body)
        self.status, self.body, self.headers = status, body, headers

    @classmethod
    def problem(cls, status: int, error: str, message: str, **headers: str) -> RefusalError:
        """A refusal with a `Problem` body."""
        return cls(status, {"error": error, "message": message}, headers or None)


def _invalid(errors: Sequence[FieldError]) -> RefusalError:
    return RefusalError(422, {"errors": [{"path": e.path, "message": e.message} for e in errors]})


_PROBLEM = {"model": Problem}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {**_PROBLEM, "description": "Missing, unknown or revoked API key."},
    403: {**_PROBLEM, "description": "The key's system does not own this event type."},
    404: {**_PROBLEM, "description": "The event type is not in the catalog."},
    413: {**_PROBLEM, "description": "The body is larger than the ingress accepts."},
    415: {**_PROBLEM, "description": "The body is not declared as JSON (application/json)."},
    422: {"model": ValidationProblem, "description": "Invalid data; one entry per field."},
    503: {
        **_PROBLEM,
        "description": (
            "The broker did not acknowledge in time: the outcome is unknown and the event may "
            "still be published. Retry with the same Idempotency-Key."
        ),
    },
}


# Runtime state ---------------------------------------------------------------------------------


class Ingress:
    """What the routes share: settings, catalog, the database pool and the Kafka sender."""

    def __init__(self, settings: BusSettings, catalog: Catalog, database_dsn: str) -> None:
        self.settings = settings
        self.catalog = catalog
        self.database_dsn = database_dsn
        self._sender: RecordSender | None = None
        self._pool: asyncpg.Pool[Any] | None = None
        self._authenticator: KeyAuthenticator | None = None
        self._log_writer: publication_log.GroupedLogWriter | None = None
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
            raise RefusalError.problem(503, "starting", "the ingress is starting; retry shortly")
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
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        found = None
        if scheme.lower() == "bearer" and token.strip():
            authenticator = self._authenticator
            if authenticator is None:
                raise RefusalError.problem(
                    503, "starting", "the ingress is starting; retry shortly"
                )
            try:
                found = await authenticator.authenticate(token.strip(), client_address(request))
            except AuthenticationThrottledError as exc:
                raise RefusalError.problem(
                    429, "too_many_failures", str(exc), **{"Retry-After": str(exc.retry_after_s)}
                ) from None
        if found is None:
            raise RefusalError.problem(
                401,
                "unauthorized",
                "send a valid API key as `Authorization: Bearer <key>`; "
                "ask the bus operators for one (`bus keys create`)",
                **{"WWW-Authenticate": "Bearer"},
            )
        key_id, system_id = found
        request.state.key_id = key_id
        request.state.system = system_id
        return self.catalog.system(system_id)

    def owned_event_type(self, system: System, ref: str) -> EventType:
        """The event type `ref`, checked to be owned by `system` (404, 403)."""
        try:
            et = self.catalog.event_type(ref)
        except UnknownEventTypeError as exc:
            raise RefusalError.problem(404, "unknown_event_type", str(exc)) from None
        if et.owner != system.id:
            raise RefusalError.problem(
                403, "not_owner", str(NotOwnerError(system.id, et.type, et.owner))
            )
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
            raise RefusalError.problem(
                415, "unsupported_media_type", "send the body as `Content-Type: application/json`"
            )
        limit = self.settings.ingress_max_body_bytes
        too_large = RefusalError.problem(
            413, "body_too_large", f"the body is larger than {limit} bytes; split the request"
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
        problems = unsafe_integers(body)
        if problems:
            raise _invalid(problems)
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
            await self._log_writer.write(_publications(system, records, deliveries))
            return JSONResponse(render(deliveries), status_code=202)
        if not _TOKEN.match(key):
            raise _invalid(
                [FieldError("Idempotency-Key", "must be 1 to 255 printable ASCII characters")]
            )
        fingerprint = idempotency.request_sha256(request.method, request.url.path, body)
        async with self.pool.acquire() as conn:
            await idempotency.lock(conn, system.id, key)
            try:
                stored = await idempotency.find(conn, system.id, key)
                if stored is not None:
                    if stored.request_sha256 != fingerprint:
                        raise _invalid(
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
                else:
                    ids = [record.envelope.id for record in records]
                    await idempotency.remember(conn, system.id, key, fingerprint, ids)
                earlier = self._unsettled.take([record.envelope.id for record in records])
                deliveries = await self._publish(request, records, earlier)
                response = render(deliveries)
                async with conn.transaction():
                    await self._log(conn, system, records, deliveries)
                    await idempotency.complete(conn, system.id, key, response)
            finally:
                await idempotency.unlock(conn, system.id, key)
        return JSONResponse(response, status_code=202)

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
                if earlier is not None:
                    try:  # the first attempt's records: their outcome, not a second send
                        return list(await asyncio.shield(asyncio.gather(*earlier)))
                    except BusError:
                        pass  # that attempt failed for good: publish the same ids anew
                await self.sender.start()
                futures = [await self.sender.send_record(record) for record in records]
                return list(await asyncio.shield(asyncio.gather(*futures)))
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
            raise RefusalError(
                503,
                {
                    "error": "broker_unavailable",
                    "message": f"the event bus {what}. {retry}.",
                    "outcome": "unknown" if unsettled else "not_published",
                    "event_ids": ids,
                },
                {"Retry-After": "5"},
            ) from None

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


def _accepted(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.event_id,
        "topic": delivery.topic,
        "partition": delivery.partition,
        "offset": delivery.offset,
    }


def _trace_headers(request: Request) -> tuple[str | None, str | None]:
    """(correlation id, traceparent) from the request headers."""
    correlation_id = request.headers.get("x-correlation-id")
    if correlation_id is not None and not _TOKEN.match(correlation_id):
        raise _invalid([FieldError("X-Correlation-ID", "must be 1 to 255 printable characters")])
    traceparent = request.headers.get("traceparent")
    if traceparent is not None and not re.fullmatch(
        r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", traceparent
    ):
        traceparent = None  # W3C: an invalid traceparent is ignored, a new trace starts
    request.state.correlation_id = correlation_id
    return correlation_id, traceparent


# The application -------------------------------------------------------------------------------


def create_app(
    settings: BusSettings | None = None,
    catalog: Catalog | None = None,
    *,
    database_dsn: str | None = None,
) -> FastAPI:
    """The ingress as a FastAPI application; keys, idempotency and the log live in PostgreSQL."""
    settings = settings or BusSettings()
    catalog = catalog or load_catalog(settings.catalog_module)
    dsn = database_dsn or settings.database_dsn
    if not dsn:
        raise BusError(
            "the HTTP ingress needs a PostgreSQL database for API keys and the publication "
            "log: set BUS_DATABASE_DSN"
        )
    ingress = Ingress(settings, catalog, dsn)

    @asynccontextmanager
    async def lifespan(started: FastAPI) -> AsyncIterator[None]:
        try:
            await ingress.open()
        except Exception as exc:
            started.state.startup_error = exc  # for the server to report in one line
            raise
        try:
            yield
        finally:
            await ingress.close()

    app = FastAPI(
        title="OPD Bus ingress",
        version="1",
        description=(
            "Publish events of the Riau OPD Bus catalog over HTTP. Authenticate with "
            "`Authorization: Bearer <key>`; send the event data as a JSON object."
        ),
        lifespan=lifespan,
    )
    app.state.ingress = ingress
    types = sorted(et.type for et in catalog.event_types)

    @app.exception_handler(RefusalError)
    async def refused(_: Request, exc: RefusalError) -> Response:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(SchemaValidationError)
    async def invalid(_: Request, exc: SchemaValidationError) -> Response:
        refusal = _invalid(exc.errors)
        return JSONResponse(refusal.body, status_code=422)

    @app.exception_handler(asyncpg.PostgresError)
    @app.exception_handler(OSError)
    async def database_down(_: Request, exc: Exception) -> Response:
        log.error("ingress.database_unavailable", error=str(exc))
        return JSONResponse(
            {"error": "database_unavailable", "message": "the bus database is unavailable"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    app.add_middleware(RequestLog)
    app.add_api_route("/metrics", metrics, include_in_schema=False)
    app.add_middleware(RefuseNulPaths)

    @app.post(
        "/v1/events/{event_type}",
        status_code=202,
        response_model=Accepted,
        responses=_RESPONSES,
        summary="Publish one event",
        openapi_extra={
            "parameters": [
                {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"},
                 "description": "Same key and body: same event id, published once."},
                {"name": "X-Correlation-ID", "in": "header", "schema": {"type": "string"}},
            ],
            "requestBody": {
                "required": True,
                "description": "The event data; its schema is the event type's (`bus catalog "
                "list --json`). Event types: " + ", ".join(types),
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
        },
    )  # fmt: skip
    async def publish_event(event_type: str, request: Request) -> Response:
        """Validate one event against its type's schema and publish it; 202 after the ack."""
        system = await ingress.authenticate(request)
        et = ingress.owned_event_type(system, event_type)
        body = await ingress.read_json(request)
        correlation_id, traceparent = _trace_headers(request)

        def build(ids: list[str] | None) -> list[OutgoingRecord]:
            return [
                build_record(
                    et,
                    system,
                    body,
                    id=ids[0] if ids else None,
                    correlation_id=correlation_id,
                    traceparent=traceparent,
                )
            ]

        return await ingress.accept(
            request, system, body, build, lambda deliveries: _accepted(deliveries[0])
        )

    @app.post(
        "/v1/events:batch",
        status_code=202,
        response_model=BatchAccepted,
        responses=_RESPONSES,
        summary="Publish up to N events at once",
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": f"At most {settings.ingress_max_batch_events} events; all are "
                "validated before any is published.",
                "content": {"application/json": {"schema": BatchRequest.model_json_schema()}},
            },
        },
    )
    async def publish_batch(request: Request) -> Response:
        """Validate every event of the batch, then publish them all; 202 after every ack."""
        system = await ingress.authenticate(request)
        body = await ingress.read_json(request)
        correlation_id, traceparent = _trace_headers(request)
        try:
            batch = BatchRequest.model_validate_json(body)
        except ValidationError as exc:
            raise _invalid(field_errors(exc)) from None
        limit = settings.ingress_max_batch_events
        if len(batch.events) > limit:
            raise _invalid([FieldError("events", f"at most {limit} events per batch")])
        errors: list[FieldError] = []
        event_types: list[EventType] = []
        for i, item in enumerate(batch.events):
            try:
                event_types.append(ingress.catalog.event_type(item.type))
            except UnknownEventTypeError as exc:
                errors.append(FieldError(f"events[{i}].type", str(exc)))
        if errors:
            raise _invalid(errors)
        for et in event_types:
            ingress.owned_event_type(system, et.type)

        def build(ids: list[str] | None) -> list[OutgoingRecord]:
            records, problems = [], []
            for i, (et, item) in enumerate(zip(event_types, batch.events, strict=True)):
                try:
                    records.append(
                        build_record(
                            et,
                            system,
                            item.data,
                            id=ids[i] if ids else None,
                            correlation_id=correlation_id,
                            traceparent=traceparent,
                        )
                    )
                except SchemaValidationError as exc:
                    problems += [
                        FieldError(f"events[{i}].data.{e.path}".removesuffix(".$"), e.message)
                        for e in exc.errors
                    ]
            if problems:
                raise _invalid(problems)
            return records

        return await ingress.accept(
            request,
            system,
            body,
            build,
            lambda deliveries: {"events": [_accepted(d) for d in deliveries]},
        )

    @app.get(
        "/v1/events/{event_id}/deliveries",
        summary="Where one of your events has been delivered",
        responses={
            401: _RESPONSES[401],
            404: {**_PROBLEM, "description": "No such event of yours."},
        },
    )
    async def deliveries(event_id: str, request: Request) -> Response:
        """Per subscribing group: delivered, pending or dead-lettered (publisher only)."""
        from bus.errors import EventNotFoundError
        from bus.tracking import deliveries_for

        system = await ingress.authenticate(request)
        try:
            async with ingress.pool.acquire() as conn:
                report = await deliveries_for(
                    conn, event_id, system.id, settings=settings, catalog=catalog
                )
        except EventNotFoundError:
            raise RefusalError.problem(
                404, "not_found", f"{system.id} published no event with id {event_id!r}"
            ) from None
        return JSONResponse(report.to_dict())

    @app.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        """Always 200 while the process serves requests."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        summary="The broker is reachable",
        responses={503: {"description": "The broker did not answer."}},
    )
    async def readyz() -> Response:
        """200 if the broker answered a metadata request (cached for two seconds), else 503."""
        if await ingress.ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "broker unavailable"}, status_code=503)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_event_schemas(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                ),
                catalog,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _with_event_schemas(document: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    """The OpenAPI document with every event type's data schema as a request body choice."""
    refs, definitions = models_json_schema(
        [(et.data, "validation") for et in catalog.event_types],
        ref_template="#/components/schemas/{model}",
    )
    document.setdefault("components", {}).setdefault("schemas", {}).update(
        definitions.get("$defs", {})
    )
    single = document["paths"]["/v1/events/{event_type}"]["post"]["requestBody"]
    single["content"]["application/json"]["schema"] = {
        "oneOf": [refs[(et.data, "validation")] for et in catalog.event_types]
    }
    return document
