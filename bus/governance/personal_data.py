"""The gate for unmarked personal data: a field that looks personal must be marked `personal()`.

    findings = unmarked_personal_data(catalog, lock)

A field looks personal by its name (`nik`, `no_kk`, `nama`, `alamat`, `tanggal_lahir`,
`telepon`, `email` and their usual variants, `bus.privacy.shapes`), by its type (a semantic
type about a person: NIK, NoKK, NIP, NamaOrang, Alamat; or a NIK or No. KK description), or by
its pattern (exactly 16 digits). Such a
field that is not marked `personal()` would be masked nowhere and granted to every default-grant
agreement, so it fails the check, on new and approved event types alike, unless a reviewed
waiver for it is recorded in the lock file (`bus catalog waive-personal`).
"""

from __future__ import annotations

from typing import Any

from bus.catalog import Catalog, EventType
from bus.catalog.meaning import Meaning
from bus.governance.lockfile import LockFile
from bus.governance.profile import meaning_of
from bus.governance.report import Finding, Severity
from bus.privacy import looks_personal_name, sixteen_digit_pattern

__all__ = ["PERSONAL_MEANINGS", "personal_data_reason", "unmarked_personal_data"]

_PERSONAL_TYPES = ("nomor induk kependudukan", "kartu keluarga")
#: Semantic types (`bus.catalog.meaning`) whose values are about one person.
PERSONAL_MEANINGS = frozenset({"NIK", "NoKK", "NIP", "NamaOrang", "Alamat"})


def personal_data_reason(
    name: str, schema: dict[str, Any], meaning: Meaning | None = None
) -> str | None:
    """Why a field named `name` with JSON Schema `schema` (and semantic type) looks personal."""
    if looks_personal_name(name):
        return f"its name {name!r} is a personal-data name"
    if meaning is not None and meaning.name in PERSONAL_MEANINGS:
        return f"its type is {meaning.name}, {meaning.about}"
    description = str(schema.get("description", "")).lower()
    if any(kind in description for kind in _PERSONAL_TYPES):
        return "its type is a NIK or No. KK"
    for candidate in (schema, schema.get("items") or {}, *schema.get("anyOf", ())):
        if isinstance(candidate, dict) and sixteen_digit_pattern(candidate.get("pattern")):
            return "its pattern accepts exactly 16 digits, the shape of a NIK or No. KK"
    return None


def unmarked_personal_data(catalog: Catalog, lock: LockFile | None) -> list[Finding]:
    """An error for every field that looks personal, is not marked, and has no waiver."""
    waivers = lock.personal_data_waivers if lock is not None else {}
    found = []
    for et in catalog.event_types:
        properties = et.json_schema().get("properties", {})
        for name, info in et.data.model_fields.items():
            if name in et.personal_fields or (et.type, name) in waivers:
                continue
            reason = personal_data_reason(name, properties.get(name, {}), meaning_of(info))
            if reason is not None:
                found.append(_finding(et, name, reason))
    return found


def _finding(et: EventType, name: str, reason: str) -> Finding:
    return Finding(
        Severity.ERROR,
        "personal-data-not-marked",
        f"field {name!r} looks like personal data ({reason}) but is not marked: declare it "
        f"`{name}: ... = personal(...)` so that logs mask it and only an agreement that names "
        f"it receives it; if it is not personal data, record a reviewed waiver with "
        f"`bus catalog waive-personal {et.type} {name} --reason ... --approver ...`",
        event_type=et.type,
        path=f"$.{name}",
    )
