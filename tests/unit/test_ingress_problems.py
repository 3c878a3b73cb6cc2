"""The ingress's refusals that need no broker or database: 401, 500 and the two 503s.

The app is driven in process (no lifespan: nothing is opened), so the service is "starting",
and two extra routes stand in for a database failure and a bug.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import structlog

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.ingress import create_app
from bus.ingress.problems import PROBLEM_TYPES, loggable_path
from bus.testing import assert_problem

IZIN = "/v1/events/id.go.riau.dpmptsp.izin.terbit"


@pytest.fixture
async def http(catalog: Catalog) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(BusSettings(), catalog, database_dsn="postgresql://unused/none")

    async def database_down() -> None:
        raise asyncpg.PostgresConnectionError("connection refused")

    async def bug() -> None:
        raise RuntimeError("nik 1471021205900003 in a message")  # never shown, never logged

    app.add_api_route("/test/database-down", database_down)
    app.add_api_route("/test/bug", bug)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
        yield client


async def test_no_key_is_401_before_anything_else(http: httpx.AsyncClient) -> None:
    response = await http.post(IZIN, json={})
    problem = assert_problem(response, 401, "/problems/unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert problem["title"] == PROBLEM_TYPES["unauthorized"].title


async def test_a_key_before_the_service_has_started_is_503_starting(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(IZIN, json={}, headers={"Authorization": "Bearer opdbus_x_y"})
    assert_problem(response, 503, "/problems/starting")


async def test_a_database_failure_is_503_with_retry_after(http: httpx.AsyncClient) -> None:
    response = await http.get("/test/database-down")
    assert_problem(response, 503, "/problems/database-unavailable")
    assert response.headers["retry-after"] == "5"


async def test_a_bug_is_500_problem_details_without_its_message(http: httpx.AsyncClient) -> None:
    with structlog.testing.capture_logs() as logged:
        response = await http.get("/test/bug")
    problem = assert_problem(response, 500, "/problems/internal-error")
    assert "1471021205900003" not in response.text
    [error] = [e for e in logged if e["event"] == "ingress.internal_error"]
    assert error["error_type"] == "RuntimeError"
    assert "1471021205900003" not in str(logged)
    assert error["request_id"] in problem["detail"]


async def test_every_problem_type_is_explained_at_its_uri(http: httpx.AsyncClient) -> None:
    for kind in PROBLEM_TYPES.values():
        response = await http.get(kind.uri)
        assert response.status_code == 200
        assert response.text.startswith(f"{kind.title} (HTTP {kind.status})\n\n")


def test_logged_paths_hide_keys_that_may_be_values() -> None:
    assert loggable_path("nib") == "nib"
    assert loggable_path("events[3].data.alamat.kode_pos") == "events[3].data.alamat.kode_pos"
    assert loggable_path("$") == "$"
    assert loggable_path("Idempotency-Key") == "Idempotency-Key"
    assert loggable_path("1471021205900003") == "?"
    assert loggable_path("data.nik_1471021205900003") == "data.?"
    assert loggable_path("events[0].data.Siti Aminah") == "events[0].data.?"
