"""`POST /v1/events/{type}` and `POST /v1/events:batch`: validate, publish, 202 after the ack."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bus.catalog import EventType
from bus.errors import FieldError, SchemaValidationError, UnknownEventTypeError
from bus.ingress.problems import RESPONSES, invalid
from bus.ingress.service import TOKEN, IngressService
from bus.publish import Delivery, OutgoingRecord, build_record
from bus.validation import field_errors

__all__ = ["Accepted", "BatchAccepted", "BatchItem", "BatchRequest", "router"]

router = APIRouter(tags=["events"])


class Accepted(BaseModel):
    """202: the broker acknowledged the event at this position."""

    id: str = Field(description="CloudEvents id of the event (the same on an idempotent retry).")
    topic: str
    partition: int
    offset: int


class BatchAccepted(BaseModel):
    """202 for a batch: one entry per event, in request order."""

    events: list[Accepted]


class BatchItem(BaseModel):
    """One event in a batch."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="CloudEvents type (or topic) of the event.")
    data: dict[str, Any] = Field(description="The event data, valid against the type's schema.")


class BatchRequest(BaseModel):
    """Body of `POST /v1/events:batch`."""

    model_config = ConfigDict(extra="forbid")

    events: list[BatchItem] = Field(min_length=1)


# The catalog's event types and the batch limit are filled in by `bus.ingress.openapi`.
@router.post(
    "/v1/events/{event_type}",
    status_code=202,
    response_model=Accepted,
    responses=RESPONSES,
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
            "list --json`).",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    },
)  # fmt: skip
async def publish_event(event_type: str, request: Request, ingress: IngressService) -> Response:
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


@router.post(
    "/v1/events:batch",
    status_code=202,
    response_model=BatchAccepted,
    responses=RESPONSES,
    summary="Publish up to N events at once",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "All events are validated before any is published.",
            "content": {"application/json": {"schema": BatchRequest.model_json_schema()}},
        },
    },
)
async def publish_batch(request: Request, ingress: IngressService) -> Response:
    """Validate every event of the batch, then publish them all; 202 after every ack."""
    system = await ingress.authenticate(request)
    body = await ingress.read_json(request)
    correlation_id, traceparent = _trace_headers(request)
    try:
        batch = BatchRequest.model_validate_json(body)
    except ValidationError as exc:
        raise invalid(field_errors(exc)) from None
    limit = ingress.settings.ingress_max_batch_events
    if len(batch.events) > limit:
        raise invalid([FieldError("events", f"at most {limit} events per batch")])
    errors: list[FieldError] = []
    event_types: list[EventType] = []
    for i, item in enumerate(batch.events):
        try:
            event_types.append(ingress.catalog.event_type(item.type))
        except UnknownEventTypeError as exc:
            errors.append(FieldError(f"events[{i}].type", str(exc)))
    if errors:
        raise invalid(errors)
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
            raise invalid(problems)
        return records

    return await ingress.accept(
        request,
        system,
        body,
        build,
        lambda deliveries: {"events": [_accepted(d) for d in deliveries]},
    )


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
    if correlation_id is not None and not TOKEN.match(correlation_id):
        raise invalid([FieldError("X-Correlation-ID", "must be 1 to 255 printable characters")])
    traceparent = request.headers.get("traceparent")
    if traceparent is not None and not re.fullmatch(
        r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", traceparent
    ):
        traceparent = None  # W3C: an invalid traceparent is ignored, a new trace starts
    request.state.correlation_id = correlation_id
    return correlation_id, traceparent
