"""Assertions on the ingress's RFC 9457 problem details, for tests of any HTTP client."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol


class _Response(Protocol):
    status_code: int
    headers: Any
    text: str

    def json(self) -> Any: ...


def assert_problem(
    response: _Response, status: int, type: str, *, extensions: Collection[str] = ()
) -> dict[str, Any]:
    """Assert `response` is problem details of `type` with `status`; return its body.

    Every member is checked: `type`, `title`, `status`, a non-empty `detail`, `errors` (a list
    of `{path, message}`) exactly when the status is 422, and the `extensions` members named.
    """
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body: dict[str, Any] = response.json()
    members = {"type", "title", "status", "detail", *extensions}
    members |= {"errors"} if status == 422 else set()
    assert set(body) == members, body
    assert (body["type"], body["status"]) == (type, status), body
    assert isinstance(body["title"], str) and body["title"], body
    assert isinstance(body["detail"], str) and body["detail"], body
    if status == 422:
        assert body["errors"], body
        assert all(set(e) == {"path", "message"} for e in body["errors"]), body
    return body
