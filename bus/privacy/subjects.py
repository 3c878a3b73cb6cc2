"""Data subjects: which events are about which person, indexed by a keyed token of their NIK.

    subject_token("1471021205900003")                     # "sub_9a3e…": the index key
    subjects_in("id.go.riau.disdukcapil.penduduk.pindah", record_value)   # ("sub_9a3e…",)

The subject fields of an event type are its personal fields that hold a NIK or No. KK (a NIK
type, a 16-digit pattern, or a `nik`-like name). Every `Catalog` registers them when it is built,
so the publication log can index an event by its subjects without parsing events of types that
have none. The index stores tokens (an HMAC under the pseudonym key), never the NIK itself.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from bus.privacy.keys import current_keys
from bus.privacy.shapes import looks_personal_name, sixteen_digit_pattern

__all__ = [
    "SUBJECT_FIELDS",
    "register_subject_fields",
    "subject_fields",
    "subject_token",
    "subjects_in",
    "subjects_of",
]

#: Event type → the fields of its data that identify a person by NIK or No. KK.
SUBJECT_FIELDS: dict[str, tuple[str, ...]] = {}


def subject_fields(properties: Mapping[str, Any], personal: Iterable[str]) -> tuple[str, ...]:
    """The personal fields among a JSON Schema's `properties` that hold a NIK or No. KK."""
    found = []
    for name in sorted(personal):
        schema = properties.get(name) or {}
        described = str(schema.get("description", "")).lower()
        if (
            sixteen_digit_pattern(schema.get("pattern"))
            or "nomor induk kependudukan" in described
            or "kartu keluarga" in described
            or (looks_personal_name(name) and ("nik" in name.split("_") or "kk" in name))
        ):
            found.append(name)
    return tuple(found)


def register_subject_fields(event_type: str, fields: tuple[str, ...]) -> None:
    """Record the subject fields of `event_type` (called by every `Catalog`)."""
    if fields:
        SUBJECT_FIELDS[event_type] = fields
    else:
        SUBJECT_FIELDS.pop(event_type, None)


def subject_token(nik: str) -> str:
    """The index token of a NIK: an HMAC under the pseudonym key, stable across restarts."""
    key = current_keys().derived("subject-index")
    return "sub_" + hmac.new(key, nik.strip().encode(), hashlib.sha256).hexdigest()[:40]


def subjects_of(event_type: str, data: object) -> tuple[str, ...]:
    """The subject tokens of validated event data (attributes or a mapping)."""
    fields = SUBJECT_FIELDS.get(event_type)
    if not fields:
        return ()
    if isinstance(data, Mapping):
        values = [data.get(name) for name in fields]
    else:
        values = [getattr(data, name, None) for name in fields]
    # A pseudonym (a retried record of a pseudonymous grant) is no NIK: it indexes nothing.
    return tuple(sorted({subject_token(str(v)) for v in values if v and not _pseudonym(v)}))


def _pseudonym(value: object) -> bool:
    return isinstance(value, str) and value.startswith("psn_")


def subjects_in(event_type: str, value: bytes | None) -> tuple[str, ...]:
    """The subject tokens of an event's record value; () for types without subject fields."""
    if not value or event_type not in SUBJECT_FIELDS:
        return ()
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return ()
    return subjects_of(event_type, data) if isinstance(data, dict) else ()
