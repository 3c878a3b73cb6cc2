"""`GET /v1/subscriptions/{group}/events` and `POST …/ack`: HTTP pull for systems behind NAT.

Only the system a pull delivery belongs to may use it, with its API key; the consumers and
their leases are `bus.ingress.pull.PullGroups`, one per ingress process (`app.state.pulls`).
"""

from __future__ import annotations

from typing import Annotated, Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bus.catalog import Delivery, System
from bus.errors import FieldError
from bus.ingress.problems import (
    NOT_YOUR_SUBSCRIPTION,
    PULL_UNAVAILABLE,
    RESPONSES,
    STALE_CURSOR,
    UNKNOWN_SUBSCRIPTION,
    documented,
    invalid,
)
from bus.ingress.pull import MAX_EVENTS, MAX_WAIT_S, PullGroups, StaleCursorError
from bus.ingress.service import IngressService
from bus.logging import get_logger

__all__ = ["router"]

log = get_logger("bus.ingress.pull")


class AckRequest(BaseModel):
    """Body of `POST /v1/subscriptions/{group}/ack`."""

    model_config = ConfigDict(extra="forbid")

    cursor: str = Field(description="The `cursor` of the batch being acknowledged.")


def _pulls(request: Request) -> PullGroups:
    pulls: PullGroups = request.app.state.pulls
    return pulls


Pulls = Annotated[PullGroups, Depends(_pulls)]

_ANSWERS: dict[int | str, dict[str, Any]] = {
    401: RESPONSES[401],
    403: documented(NOT_YOUR_SUBSCRIPTION),
    404: documented(UNKNOWN_SUBSCRIPTION),
    503: documented(PULL_UNAVAILABLE),
}

router = APIRouter(prefix="/v1/subscriptions", tags=["pull"])


def _delivery(pulls: PullGroups, system: System, group: str) -> Delivery:
    delivery = pulls.catalog.delivery(group)
    if delivery is None or delivery.mode != "pull":
        raise UNKNOWN_SUBSCRIPTION.refuse(f"no pull subscription is named {group!r}")
    if delivery.system != system.id:
        raise NOT_YOUR_SUBSCRIPTION.refuse(
            f"{group!r} belongs to {delivery.system}; use that system's API key"
        )
    return delivery


@router.get(
    "/{group}/events", summary="Fetch the next events of a pull subscription", responses=_ANSWERS
)
async def events(  # noqa: PLR0917 - FastAPI passes path, request, dependencies and query
    group: str,
    request: Request,
    ingress: IngressService,
    pulls: Pulls,
    most: int = Query(100, alias="max", ge=1, le=MAX_EVENTS, description="Most events."),
    wait: float = Query(0, ge=0, le=MAX_WAIT_S, description="Seconds to long-poll."),
) -> JSONResponse:
    """Up to `max` events, at least once and in order per key; acknowledge their `cursor`."""
    delivery = _delivery(pulls, await ingress.authenticate(request), group)
    try:
        pulled = await pulls.group(delivery)
        batch, cursor = await pulled.take(most, wait)
    except KafkaError as exc:
        log.warning("pull broker unavailable", group=group, error_class=type(exc).__name__)
        raise PULL_UNAVAILABLE.refuse(
            "the event bus did not answer; retry shortly", headers={"Retry-After": "5"}
        ) from None
    return JSONResponse(
        {"events": batch, "cursor": cursor, "visibility_timeout_s": delivery.visibility_timeout_s}
    )


@router.post(
    "/{group}/ack",
    summary="Acknowledge a batch of a pull subscription",
    responses={**_ANSWERS, 409: documented(STALE_CURSOR), 422: RESPONSES[422]},
)
async def ack(group: str, request: Request, ingress: IngressService, pulls: Pulls) -> JSONResponse:
    """Commit the batch's cursor: its events are not delivered again."""
    delivery = _delivery(pulls, await ingress.authenticate(request), group)
    try:
        body = AckRequest.model_validate_json(await request.body())
    except ValidationError:
        raise invalid(
            [FieldError("cursor", 'send {"cursor": "…"} as JSON: the cursor of the batch')]
        ) from None
    try:
        count = await (await pulls.group(delivery)).acknowledge(body.cursor)
    except StaleCursorError:
        raise STALE_CURSOR.refuse(
            "this cursor is unknown or its visibility timeout passed; fetch the events again "
            "and acknowledge the new cursor"
        ) from None
    except KafkaError as exc:
        log.warning("pull broker unavailable", group=group, error_class=type(exc).__name__)
        raise PULL_UNAVAILABLE.refuse(
            "the event bus did not answer; retry shortly", headers={"Retry-After": "5"}
        ) from None
    return JSONResponse({"acknowledged": count})
