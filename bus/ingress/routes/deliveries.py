"""`GET /v1/events/{id}/deliveries`: where one of the caller's events has been delivered."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from bus.errors import EventNotFoundError
from bus.ingress.problems import EVENT_NOT_FOUND, RESPONSES, documented
from bus.ingress.service import IngressService
from bus.tracking import deliveries_for

__all__ = ["router"]

router = APIRouter(tags=["deliveries"])


@router.get(
    "/v1/events/{event_id}/deliveries",
    summary="Where one of your events has been delivered",
    responses={
        401: RESPONSES[401],
        404: documented(EVENT_NOT_FOUND),
    },
)
async def deliveries(event_id: str, request: Request, ingress: IngressService) -> Response:
    """Per subscribing group: delivered, pending or dead-lettered (publisher only)."""
    system = await ingress.authenticate(request)
    try:
        async with ingress.pool.acquire() as conn:
            report = await deliveries_for(
                conn, event_id, system.id, settings=ingress.settings, catalog=ingress.catalog
            )
    except EventNotFoundError:
        raise EVENT_NOT_FOUND.refuse(
            f"{system.id} published no event with this id through the bus"
        ) from None
    return JSONResponse(report.to_dict())
