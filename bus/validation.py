"""Validate event data against its event type, turning pydantic errors into `FieldError`s.

Bytes are validated in one step (`model_validate_json`), never parsed to a dict first: it is
the fastest path and it reports JSON syntax errors with a position.

Messages are written for the developer of the sending system, who may never have seen Python:
"must be 13 digits", not "String should match pattern '^\\d{13}$'". They never quote the value
that was sent, which may be personal data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from bus.catalog import EventData, EventType
from bus.errors import FieldError, SchemaValidationError

__all__ = ["describe_errors", "field_errors", "validate_data"]

_DATE = "a date as YYYY-MM-DD, e.g. 2026-11-02"
_DATETIME = "a date and time in ISO 8601 with its time zone, e.g. 2026-11-02T09:15:00+07:00"

#: Messages by pydantic error type; `{…}` is filled from the error's context.
_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this schema; remove it",
    "string_type": "must be a string (text in double quotes)",
    "string_too_short": "must be at least {min_length} characters long",
    "string_too_long": "must be at most {max_length} characters long",
    "too_short": "must have at least {min_length} item(s)",
    "too_long": "must have at most {max_length} items",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number, without a fractional part",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "greater_than": "must be more than {gt}",
    "greater_than_equal": "must be {ge} or more",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be {le} or less",
    "enum": "must be one of {expected}",
    "literal_error": "must be one of {expected}",
    "date_type": f"must be {_DATE}",
    "date_parsing": f"must be {_DATE}",
    "date_from_datetime_parsing": f"must be {_DATE}",
    "date_from_datetime_inexact": f"must be a date without a time, {_DATE}",
    "datetime_type": f"must be {_DATETIME}",
    "datetime_parsing": f"must be {_DATETIME}",
    "datetime_from_date_parsing": f"must be {_DATETIME}",
    "timezone_aware": "must include its time zone, e.g. +07:00 for WIB",
    "json_invalid": "is not valid JSON: {error}",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON array",
    "none_required": "must be null",
}

_DIGITS = re.compile(r"\^?\\d\{(\d+)(?:,(\d+))?\}\$?")
_CHOICES = re.compile(r"\^?\(([\w.-]+(?:\|[\w.-]+)+)\)\$?")


def describe_errors(
    errors: Iterable[Mapping[str, Any]], example: Mapping[str, Any] | None = None
) -> list[FieldError]:
    """One `FieldError` per pydantic error dict: a dotted path and a message for people.

    `example` (the event type's catalog example) shows what a value of an unusual format
    looks like.
    """
    found = []
    for err in errors:
        path = ""
        for part in err["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        found.append(FieldError(path=path or "$", message=_message(err, example)))
    return found


def field_errors(
    exc: ValidationError, example: Mapping[str, Any] | None = None
) -> list[FieldError]:
    """One `FieldError` per pydantic error: a dotted path, and no input value (may be personal)."""
    return describe_errors(exc.errors(include_url=False, include_input=False), example)


def _message(err: Mapping[str, Any], example: Mapping[str, Any] | None) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "string_pattern_mismatch":
        return _pattern_message(str(ctx.get("pattern", "")), _example_at(example, err["loc"]))
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    template = _MESSAGES.get(kind)
    if template is not None:
        try:
            return template.format(**ctx)
        except (KeyError, IndexError):
            pass
    # A type without a message of its own: pydantic's, in the same voice as ours.
    msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    msg = msg.replace("Input should be", "must be").replace("Input should", "must")
    return msg[:1].lower() + msg[1:]


def _pattern_message(pattern: str, example: object) -> str:
    if match := _DIGITS.fullmatch(pattern):
        low, high = match.groups()
        return f"must be {low} digits" if high is None else f"must be {low} to {high} digits"
    if match := _CHOICES.fullmatch(pattern):
        *first, last = match[1].split("|")
        return "must be one of " + ", ".join(f"'{c}'" for c in first) + f" or '{last}'"
    if isinstance(example, str):
        return f"does not have the expected format; it must look like '{example}'"
    return "does not have the expected format; see this field's description in the schema"


def _example_at(example: Mapping[str, Any] | None, loc: Iterable[int | str]) -> object:
    value: object = example
    for part in loc:
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and isinstance(part, int) and value:
            value = value[min(part, len(value) - 1)]
        else:
            return None
    return value


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
        raise SchemaValidationError(
            event_type.type, field_errors(exc, event_type.example)
        ) from None
