"""What the ingress refuses, and how: `RefusalError` and the documented error bodies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from bus.errors import FieldError

__all__ = ["RESPONSES", "FieldProblem", "Problem", "RefusalError", "ValidationProblem", "invalid"]


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


def invalid(errors: Sequence[FieldError]) -> RefusalError:
    """A 422 refusal naming every invalid field."""
    return RefusalError(422, {"errors": [{"path": e.path, "message": e.message} for e in errors]})


_PROBLEM = {"model": Problem}
#: The refusals a publishing route may answer, for the OpenAPI document.
RESPONSES: dict[int | str, dict[str, Any]] = {
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
