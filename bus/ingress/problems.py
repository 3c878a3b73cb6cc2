"""What the ingress refuses, and how: RFC 9457 problem details, one shape for every status.

    HTTP/1.1 422 Unprocessable Content
    Content-Type: application/problem+json

    {"type": "/problems/invalid-data", "title": "Invalid request data", "status": 422,
     "detail": "2 fields are invalid: nib, issued_at",
     "errors": [{"path": "nib", "message": "must be 13 digits"},
                {"path": "issued_at", "message": "is required"}]}

`type` is a URI reference the ingress itself serves: `GET /problems/invalid-data` explains the
problem and what to do about it. Statuses the routes do not choose (an unknown path, a wrong
method) have the type `about:blank` and the HTTP reason phrase as their title, as RFC 9457 says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bus.errors import FieldError

__all__ = [
    "BODY_TOO_LARGE",
    "BROKER_UNAVAILABLE",
    "DATABASE_UNAVAILABLE",
    "EVENT_NOT_FOUND",
    "INTERNAL_ERROR",
    "INVALID_DATA",
    "MEDIA_TYPE",
    "NOT_OWNER",
    "NOT_YOUR_SUBSCRIPTION",
    "PROBLEM_TYPES",
    "PULL_UNAVAILABLE",
    "RESPONSES",
    "STALE_CURSOR",
    "STARTING",
    "UNAUTHORIZED",
    "UNKNOWN_EVENT_TYPE",
    "UNKNOWN_SUBSCRIPTION",
    "UNSUPPORTED_MEDIA_TYPE",
    "FieldProblem",
    "Problem",
    "ProblemType",
    "RefusalError",
    "documented",
    "http_problem",
    "invalid",
    "loggable_path",
    "problem_response",
]

MEDIA_TYPE = "application/problem+json"


class FieldProblem(BaseModel):
    """One invalid field: where it is in the request, and why it was refused."""

    path: str = Field(description="Dotted path: `nib`, `alamat.kode_pos`, `events[3].data.nib`.")
    message: str = Field(description="What is wrong, never the value sent.")


class Problem(BaseModel):
    """RFC 9457 problem details: every refusal of the ingress has this shape."""

    type: str = Field(description="URI of the problem type; GET it for an explanation.")
    title: str = Field(description="Short summary of the problem type; the same every time.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong with this request and what to do.")
    errors: list[FieldProblem] | None = Field(
        default=None, description="Validation problems only (422): one entry per invalid field."
    )
    outcome: str | None = Field(
        default=None,
        description="503 broker-unavailable only: `not_published`, or `unknown` when the event "
        "may still be published.",
    )
    event_ids: list[str] | None = Field(
        default=None, description="503 broker-unavailable only: the ids chosen for the events."
    )


@dataclass(frozen=True)
class ProblemType:
    """A kind of refusal: its status, a fixed title, and the explanation served at its URI."""

    slug: str
    status: int
    title: str
    about: str

    @property
    def uri(self) -> str:
        """The `type` member: where the ingress explains this problem."""
        return f"/problems/{self.slug}"

    def refuse(
        self,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        **extensions: object,
    ) -> RefusalError:
        """A refusal of this type, with what went wrong this time (and extension members)."""
        return RefusalError(self, detail, errors=errors, headers=headers, extensions=extensions)


UNAUTHORIZED = ProblemType(
    "unauthorized",
    401,
    "Missing or invalid API key",
    "Send a valid API key as `Authorization: Bearer <key>`. Keys are issued by the bus "
    "operators with `bus keys create --system <your system id>`; a revoked key is refused.",
)

NOT_OWNER = ProblemType(
    "not-owner",
    403,
    "Event type owned by another system",
    "Only the system that owns an event type in the catalog publishes it. Publish with the "
    "owning system's key, or ask the catalog owners for an event type of your own.",
)

UNKNOWN_EVENT_TYPE = ProblemType(
    "unknown-event-type",
    404,
    "Unknown event type",
    "The event type in the path is not declared in the catalog. `bus catalog list` and "
    "`/openapi.json` list every event type; the path takes its CloudEvents type or topic.",
)

EVENT_NOT_FOUND = ProblemType(
    "event-not-found",
    404,
    "Event not found",
    "Your system published no event with this id through the bus (the publication log "
    "has no entry for it). Use the `id` the ingress answered with when it accepted it.",
)

BODY_TOO_LARGE = ProblemType(
    "body-too-large",
    413,
    "Request body too large",
    "The body is larger than the ingress accepts (BUS_INGRESS_MAX_BODY_BYTES). Split a "
    "batch into several requests.",
)

UNSUPPORTED_MEDIA_TYPE = ProblemType(
    "unsupported-media-type",
    415,
    "Body is not declared as JSON",
    "Send the body as UTF-8 JSON with `Content-Type: application/json`.",
)

INVALID_DATA = ProblemType(
    "invalid-data",
    422,
    "Invalid request data",
    "The request was read but its data is not valid. `errors` has one entry per invalid "
    "field, with its path and what is wrong; values are never echoed. Nothing was "
    "published: fix the fields and send the request again.",
)

BROKER_UNAVAILABLE = ProblemType(
    "broker-unavailable",
    503,
    "Event bus unavailable",
    "The event bus did not acknowledge the event in time. `outcome` says what became of it: "
    "`not_published` (nothing was sent), or `unknown` (the bus may still publish it). Retry "
    "after the `Retry-After` seconds with the same Idempotency-Key: the ingress then reports "
    "the first attempt's outcome or publishes the same event ids (`event_ids`), never a second "
    "event. Without an Idempotency-Key a retry publishes a new event.",
)

DATABASE_UNAVAILABLE = ProblemType(
    "database-unavailable",
    503,
    "Bus database unavailable",
    "The bus's database (API keys, publication log) did not answer. Nothing was accepted; "
    "retry after the `Retry-After` seconds.",
)

STARTING = ProblemType(
    "starting",
    503,
    "Ingress starting",
    "The ingress is starting and cannot check keys yet. Retry in a few seconds.",
)

INVALID_PATH = ProblemType(
    "invalid-path",
    400,
    "Invalid path",
    "The request path holds a NUL byte (%00). No resource of the ingress has such a name; "
    "check how the URL is built.",
)

TOO_MANY_FAILURES = ProblemType(
    "too-many-failures",
    429,
    "Too many failed authentications",
    "Too many requests from this address (or with this key id) failed to authenticate. Wait "
    "for the number of seconds in Retry-After, then send a valid API key; valid keys are not "
    "slowed down meanwhile.",
)

INTERNAL_ERROR = ProblemType(
    "internal-error",
    500,
    "Internal error",
    "The ingress failed while handling the request; it is logged with its request id. "
    "Whether the event was published is unknown: retry with the same Idempotency-Key.",
)

UNKNOWN_SUBSCRIPTION = ProblemType(
    "unknown-subscription",
    404,
    "Unknown pull subscription",
    "The group in the path is not a pull delivery of the catalog. Pull deliveries are declared "
    'beside their agreement (`Delivery(mode="pull")` in schemas/subscriptions.py).',
)

NOT_YOUR_SUBSCRIPTION = ProblemType(
    "not-your-subscription",
    403,
    "Pull subscription of another system",
    "Only the system a pull delivery belongs to may fetch or acknowledge its events. Use that "
    "system's API key.",
)

STALE_CURSOR = ProblemType(
    "stale-cursor",
    409,
    "Stale cursor",
    "The cursor is unknown, or its batch was not acknowledged within the visibility timeout "
    "and its events are being delivered again. Fetch them again and acknowledge the new "
    "cursor; process events idempotently by their `id`.",
)

PULL_UNAVAILABLE = ProblemType(
    "pull-unavailable",
    503,
    "Event bus unavailable",
    "The event bus did not answer while fetching or acknowledging events. Nothing was lost: "
    "unacknowledged events are delivered again. Retry shortly.",
)

NOT_PDP_OFFICER = ProblemType(
    "not-pdp-officer",
    403,
    "Processing reports are for the PDP officer",
    "A person's processing record (UU 27/2022) is read only with the Diskominfotik PDP "
    "officer's own key, made with `bus keys create --system pdp-officer`; a system's key is "
    "refused.",
)

#: Every problem type the ingress answers with, by slug.
PROBLEM_TYPES = {
    kind.slug: kind
    for kind in (
        UNAUTHORIZED,
        NOT_OWNER,
        UNKNOWN_EVENT_TYPE,
        EVENT_NOT_FOUND,
        BODY_TOO_LARGE,
        UNSUPPORTED_MEDIA_TYPE,
        INVALID_DATA,
        BROKER_UNAVAILABLE,
        DATABASE_UNAVAILABLE,
        STARTING,
        INVALID_PATH,
        TOO_MANY_FAILURES,
        INTERNAL_ERROR,
        UNKNOWN_SUBSCRIPTION,
        NOT_YOUR_SUBSCRIPTION,
        STALE_CURSOR,
        PULL_UNAVAILABLE,
        NOT_PDP_OFFICER,
    )
}


class RefusalError(Exception):
    """A request the ingress refuses: a problem type, this request's detail, invalid fields."""

    def __init__(
        self,
        kind: ProblemType,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(kind.status, detail)
        self.kind, self.detail, self.errors, self.headers = kind, detail, list(errors), headers
        self.extensions = dict(extensions or {})

    @property
    def status(self) -> int:
        """The HTTP status code."""
        return self.kind.status

    def body(self) -> dict[str, Any]:
        """The problem details document."""
        body: dict[str, Any] = {
            "type": self.kind.uri,
            "title": self.kind.title,
            "status": self.kind.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = [{"path": e.path, "message": e.message} for e in self.errors]
        return body | self.extensions


def invalid(errors: Sequence[FieldError]) -> RefusalError:
    """A 422 refusal naming every invalid field (paths only in `detail`, never values)."""
    paths = list(dict.fromkeys(e.path for e in errors))
    shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
    noun = "field is" if len(paths) == 1 else "fields are"
    return INVALID_DATA.refuse(f"{len(paths)} {noun} invalid: {shown}", errors=errors)


_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_DIGIT_RUN = re.compile(r"\d{5}")


def loggable_path(path: str) -> str:
    """`path` for a log line, with any part that could be a sent value (not a name) hidden.

    Paths name schema fields, but an unexpected key is the client's own text: a segment that
    is not a plain name, or holds a run of digits (a NIK used as a key), is logged as `?`.
    """
    if path == "$":
        return path
    parts = []
    for segment in path.split("."):
        name, bracket, index = segment.partition("[")
        ok = _FIELD_NAME.fullmatch(name) is not None and not _DIGIT_RUN.search(name)
        parts.append((name if ok else "?") + bracket + index)
    return ".".join(parts)


def problem_response(
    body: dict[str, Any], status: int, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """`body` served as `application/problem+json`."""
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=MEDIA_TYPE
    )


def http_problem(status: int, detail: str) -> dict[str, Any]:
    """A problem for a status the routes did not choose (404 no route, 405): `about:blank`."""
    return {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
            "detail": detail}  # fmt: skip


def documented(*kinds: ProblemType) -> dict[str, Any]:
    """An OpenAPI `responses` entry for a status answered with these problem types."""
    return {
        "model": Problem,
        "description": " / ".join(f"{kind.title} ({kind.uri})" for kind in kinds) + ".",
    }


#: The refusals a publishing route may answer, for the OpenAPI document.
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: documented(UNAUTHORIZED),
    403: documented(NOT_OWNER),
    404: documented(UNKNOWN_EVENT_TYPE),
    413: documented(BODY_TOO_LARGE),
    415: documented(UNSUPPORTED_MEDIA_TYPE),
    422: documented(INVALID_DATA),
    503: documented(BROKER_UNAVAILABLE, DATABASE_UNAVAILABLE, STARTING),
}
