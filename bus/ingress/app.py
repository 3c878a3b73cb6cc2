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

The routes live in `bus.ingress.routes`, one `APIRouter` per resource; what they share (keys,
the database pool, the Kafka sender) is the `Ingress` service, injected as `IngressService`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from bus.catalog import Catalog, load_catalog
from bus.config import BusSettings
from bus.errors import BusError, SchemaValidationError
from bus.ingress.answers import metrics
from bus.ingress.openapi import openapi_document
from bus.ingress.problems import RefusalError, invalid
from bus.ingress.request_log import RequestLog
from bus.ingress.routes import deliveries_router, events_router, health_router
from bus.ingress.service import Ingress
from bus.logging import get_logger

__all__ = ["create_app"]

log = get_logger("bus.ingress")


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
    app.add_exception_handler(RefusalError, _refused)  # type: ignore[arg-type]
    app.add_exception_handler(SchemaValidationError, _invalid_data)  # type: ignore[arg-type]
    app.add_exception_handler(asyncpg.PostgresError, _database_down)
    app.add_exception_handler(OSError, _database_down)
    app.add_middleware(RequestLog)
    app.add_api_route("/metrics", metrics, include_in_schema=False)
    for router in (events_router, deliveries_router, health_router):
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app, catalog, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def _refused(_: Request, exc: RefusalError) -> Response:
    return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)


async def _invalid_data(_: Request, exc: SchemaValidationError) -> Response:
    refusal = invalid(exc.errors)
    return JSONResponse(refusal.body, status_code=422)


async def _database_down(_: Request, exc: Exception) -> Response:
    log.error("ingress.database_unavailable", error=str(exc))
    return JSONResponse(
        {"error": "database_unavailable", "message": "the bus database is unavailable"},
        status_code=503,
        headers={"Retry-After": "5"},
    )
