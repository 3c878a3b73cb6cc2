"""`POST /v1/pdp/report`: a data subject's processing report for the Diskominfotik officer.

The officer authenticates with an API key of their own (`bus keys create --system
pdp-officer`), never a system's: a system key gets 403. The NIK travels in the JSON body, not
the URL, so that it reaches no access log; the answer is JSON, or CSV for `Accept: text/csv`.
Every report is written to the audit log under the officer's name and key id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bus.catalog import Catalog
from bus.errors import BusError, FieldError
from bus.ingress.problems import INVALID_DATA, NOT_PDP_OFFICER, invalid
from bus.pdp import PDP_OFFICER, ensure_schema
from bus.validation import field_errors

if TYPE_CHECKING:
    from bus.ingress.service import Ingress

__all__ = ["ReportRequest", "pdp_router"]


class ReportRequest(BaseModel):
    """Body of `POST /v1/pdp/report`."""

    model_config = ConfigDict(extra="forbid")

    nik: str = Field(pattern=r"^\d{16}$", description="The data subject's NIK, 16 digits.")
    requested_by: str = Field(
        min_length=1, max_length=200, description="The officer handling the request (audited)."
    )


def pdp_router(ingress: Ingress, catalog: Catalog) -> APIRouter:
    """The PDP officer's routes over the ingress's authentication and database."""
    from bus.pdp.report import processing_report

    router = APIRouter(prefix="/v1/pdp", tags=["personal data"])

    @router.post("/report", summary="Processing report of one person (PDP officer only)")
    async def report(request: Request) -> Response:
        if await ingress.principal(request) != PDP_OFFICER:
            raise NOT_PDP_OFFICER.refuse("this key is a system's; use the PDP officer's key")
        try:
            body = ReportRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise invalid(field_errors(exc)) from None
        actor = f"{body.requested_by} (key {request.state.key_id})"
        try:
            async with ingress.pool.acquire() as conn:
                await ensure_schema(conn)
                found = await processing_report(conn, body.nik, catalog, actor=actor)
        except BusError as exc:
            raise INVALID_DATA.refuse(str(exc), errors=[FieldError("nik", str(exc))]) from None
        if "text/csv" in request.headers.get("accept", ""):
            return Response(found.csv(), media_type="text/csv; charset=utf-8")
        document: dict[str, Any] = found.to_dict()
        return JSONResponse(document)

    return router
