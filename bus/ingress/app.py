"""The HTTP ingress: OPD applications that can only make HTTP calls publish through it.

    app = create_app(settings)                 # FastAPI; `bus ingress` serves it with uvicorn

    curl -X POST http://127.0.0.1:8080/v1/events/id.go.riau.dpmptsp.izin.terbit \\
         -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" -d @izin.json
    → 202 {"id": "...", "topic": "dpmptsp.izin.terbit.v1", "partition": 1, "offset": 42}

Each request goes through the same steps, in this order, and stops at the first refusal:
authenticate (401) → find the event type (404) → check ownership (403) → check the content
type (415) → read the body within the size limit (413) → validate (422) → publish and wait for
the broker's acknowledgement (503 if it does not come) → record it in the publication log → 202.
Once acknowledged, an event is answered 202 even if its log row cannot be written then: that
row is written later (`LateEvidence`), since a 503 would make the client publish it twice.
A 202 is only ever sent after the acknowledgement; nothing is published for a refused request,
and a batch is validated completely before its first event is sent.

The routes live in `bus.ingress.routes`, one `APIRouter` per resource; what they share (keys,
the database pool, the Kafka sender) is the `Ingress` service, injected as `IngressService`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from bus.catalog import Catalog, load_catalog
from bus.config import BusSettings
from bus.errors import BusError, SchemaValidationError
from bus.ingress.answers import metrics
from bus.ingress.guard import RefuseNulPaths
from bus.ingress.openapi import openapi_document
from bus.ingress.pdp import pdp_router
from bus.ingress.problems import (
    DATABASE_UNAVAILABLE,
    INTERNAL_ERROR,
    RefusalError,
    http_problem,
    invalid,
    loggable_path,
    problem_response,
)
from bus.ingress.pull import PullGroups
from bus.ingress.request_log import RequestLog
from bus.ingress.routes import (
    deliveries_router,
    events_router,
    health_router,
    problems_router,
    pull_router,
)
from bus.ingress.service import Ingress, OnPublished
from bus.logging import get_logger, protect_personal_data
from bus.validation import describe_errors

__all__ = ["create_app"]

log = get_logger("bus.ingress")


def create_app(
    settings: BusSettings | None = None,
    catalog: Catalog | None = None,
    *,
    database_dsn: str | None = None,
    on_published: OnPublished | None = None,
) -> FastAPI:
    """The ingress as a FastAPI application; keys, idempotency and the log live in PostgreSQL.

    `on_published` is told of every event the broker acknowledged (`bus dev` prints them).
    """
    settings = settings or BusSettings()
    protect_personal_data(settings)
    catalog = catalog or load_catalog(settings.catalog_module)
    dsn = database_dsn or settings.database_dsn
    if not dsn:
        raise BusError(
            "the HTTP ingress needs a PostgreSQL database for API keys and the publication "
            "log: set BUS_DATABASE_DSN"
        )
    ingress = Ingress(settings, catalog, dsn, on_published=on_published)
    pulls = PullGroups(settings, catalog)

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
            await pulls.close()
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
    app.state.pulls = pulls
    # One shape for every status: each refusal, and whatever FastAPI or Starlette would
    # otherwise answer in a shape of their own, is RFC 9457 problem details.
    app.add_exception_handler(RefusalError, _refused)  # type: ignore[arg-type]
    app.add_exception_handler(SchemaValidationError, _invalid_data)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(asyncpg.PostgresError, _database_down)
    app.add_exception_handler(OSError, _database_down)
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(RequestLog)
    app.add_middleware(RefuseNulPaths)
    app.add_api_route("/metrics", metrics, include_in_schema=False)
    for router in (events_router, deliveries_router, health_router, problems_router, pull_router):
        app.include_router(router)
    app.include_router(pdp_router(ingress, catalog))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app, catalog, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def _refused(request: Request, exc: RefusalError) -> Response:
    if exc.errors:
        # For the request log: which fields failed, never their values.
        request.state.invalid_fields = [loggable_path(e.path) for e in exc.errors]
    return problem_response(exc.body(), exc.status, exc.headers)


async def _invalid_data(request: Request, exc: SchemaValidationError) -> Response:
    return await _refused(request, invalid(exc.errors))


async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
    return await _refused(request, invalid(describe_errors(exc.errors())))


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 404:
        detail = "there is nothing at this path; /docs lists the ingress's endpoints"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        detail = f"this path does not accept {request.method}; it accepts {allowed}"
    else:
        detail = str(exc.detail)
    return problem_response(http_problem(exc.status_code, detail), exc.status_code, exc.headers)


async def _database_down(_: Request, exc: Exception) -> Response:
    log.error("ingress.database_unavailable", error=str(exc))
    refusal = DATABASE_UNAVAILABLE.refuse(
        "the bus database did not answer; nothing was accepted, retry later",
        headers={"Retry-After": "5"},
    )
    return problem_response(refusal.body(), refusal.status, refusal.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    # The exception's message may quote data: its type and the request id are enough to
    # find the traceback, which the server logs.
    request_id = getattr(request.state, "request_id", None)
    log.error("ingress.internal_error", request_id=request_id, error_type=type(exc).__name__)
    refusal = INTERNAL_ERROR.refuse(
        f"the ingress failed while handling this request; give the operators its request id, "
        f"{request_id}"
    )
    return problem_response(refusal.body(), refusal.status)
