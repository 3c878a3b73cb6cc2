"""`GET /problems/{slug}`: the explanation behind every problem type's `type` URI."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse

from bus.ingress.problems import PROBLEM_TYPES, http_problem, problem_response

__all__ = ["router"]

router = APIRouter(tags=["problems"])


@router.get("/problems/{slug}", summary="What a problem type means and what to do about it")
async def problem_type(slug: str) -> Response:
    """The title, status and explanation of one problem type, as plain text."""
    kind = PROBLEM_TYPES.get(slug)
    if kind is None:
        known = ", ".join(sorted(PROBLEM_TYPES))
        return problem_response(http_problem(404, f"the problem types are: {known}"), 404)
    return PlainTextResponse(f"{kind.title} (HTTP {kind.status})\n\n{kind.about}\n")
