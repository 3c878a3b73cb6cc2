"""The ingress's request log: one line per request with what the route learned, never the body."""

from __future__ import annotations

import io
import json

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bus.ingress.request_log import RequestLog


async def accepted(request: Request) -> Response:
    request.state.system = "dpmptsp.sicantik"
    request.state.event_ids = ["e-1"]
    await request.body()
    return JSONResponse({"id": "e-1"}, status_code=202)


async def broken(request: Request) -> Response:
    raise RuntimeError("bug")


APP = RequestLog(
    Starlette(routes=[Route("/ok", accepted, methods=["POST"]), Route("/broken", broken)])
)


async def test_a_request_is_logged_with_its_ids_and_never_its_body(
    json_lines: io.StringIO,
) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://t") as c:
        response = await c.post("/ok", json={"nama_pemohon": "Siti Aminah"})
    assert response.status_code == 202
    [line] = [json.loads(text) for text in json_lines.getvalue().splitlines()]
    assert line["event"] == "ingress.request"
    assert (line["method"], line["path"], line["status"]) == ("POST", "/ok", 202)
    assert (line["system"], line["event_ids"]) == ("dpmptsp.sicantik", ["e-1"])
    assert len(line["request_id"]) == 32 and line["duration_ms"] >= 0
    assert "Siti Aminah" not in json_lines.getvalue()


async def test_a_request_that_fails_is_logged_as_500(json_lines: io.StringIO) -> None:
    transport = httpx.ASGITransport(app=APP, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        await c.get("/broken")
    [line] = [json.loads(text) for text in json_lines.getvalue().splitlines()]
    assert (line["path"], line["status"], line["system"]) == ("/broken", 500, None)
