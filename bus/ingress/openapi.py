"""The ingress's OpenAPI document, completed with what the catalog and the settings declare."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.ingress.problems import MEDIA_TYPE

__all__ = ["openapi_document"]


def openapi_document(app: FastAPI, catalog: Catalog, settings: BusSettings) -> dict[str, Any]:
    """The OpenAPI document of `app`: every event type's data schema and the batch limit."""
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    refs, definitions = models_json_schema(
        [(et.data, "validation") for et in catalog.event_types],
        ref_template="#/components/schemas/{model}",
    )
    document.setdefault("components", {}).setdefault("schemas", {}).update(
        definitions.get("$defs", {})
    )
    single = document["paths"]["/v1/events/{event_type}"]["post"]["requestBody"]
    single["content"]["application/json"]["schema"] = {
        "oneOf": [refs[(et.data, "validation")] for et in catalog.event_types]
    }
    types = sorted(et.type for et in catalog.event_types)
    single["description"] += " Event types: " + ", ".join(types)
    batch = document["paths"]["/v1/events:batch"]["post"]["requestBody"]
    batch["description"] = f"At most {settings.ingress_max_batch_events} events; " + (
        batch["description"][0].lower() + batch["description"][1:]
    )
    _problems_as_problem_json(document)
    return document


def _problems_as_problem_json(document: dict[str, Any]) -> None:
    """Declare every `Problem` response as `application/problem+json`, as it is served."""
    problem = {"$ref": "#/components/schemas/Problem"}
    for operations in document["paths"].values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if content.get("application/json", {}).get("schema") == problem:
                    content[MEDIA_TYPE] = content.pop("application/json")
