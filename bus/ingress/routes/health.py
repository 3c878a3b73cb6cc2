"""`/healthz` and `/readyz`: is the process alive, and is the broker reachable."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from bus.ingress.service import IngressService

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The broker is reachable",
    responses={503: {"description": "The broker did not answer."}},
)
async def readyz(ingress: IngressService) -> Response:
    """200 if the broker answered a metadata request (cached for two seconds), else 503."""
    if await ingress.ready():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "broker unavailable"}, status_code=503)
