"""Validate event data against its event type, turning pydantic errors into `FieldError`s.

Bytes are validated in one step (`model_validate_json`), never parsed to a dict first: it is
the fastest path and it reports JSON syntax errors with a position.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from bus.catalog import EventData, EventType
from bus.errors import FieldError, SchemaValidationError


def field_errors(exc: ValidationError) -> list[FieldError]:
    """One `FieldError` per pydantic error: a dotted path, and no input value (may be personal)."""
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        path = ""
        for part in err["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        errors.append(FieldError(path=path or "$", message=err["msg"]))
    return errors


def validate_data(
    event_type: EventType, data: EventData | Mapping[str, Any] | bytes | str
) -> EventData:
    """Return `data` as the event type's model, or raise `SchemaValidationError`."""
    model = event_type.data
    if isinstance(data, model):
        return data  # already validated when it was constructed
    try:
        if isinstance(data, bytes | str):
            return model.model_validate_json(data)
        if isinstance(data, EventData):
            # Another model instance (e.g. an older version's class): check it field by field.
            return model.model_validate(data.model_dump(mode="json"))
        return model.model_validate(data)
    except ValidationError as exc:
        raise SchemaValidationError(event_type.type, field_errors(exc)) from None
