"""A proposed system, as an OPD describes it to the GCIO before building anything.

    proposal = read_proposal(Path("examples/proposals/dinsos-siks.toml"))

The file is TOML (`tomllib`, in the standard library), because a PHP or Java team can write it
by hand without a new tool:

    [system]
    id = "dinsos.siks"
    opd = "Dinas Sosial"
    name = "SIKS Riau: social welfare information system"
    purpose = "Keep the register of social-assistance recipients up to date."
    legal_basis = "UU 11/2009 (Kesejahteraan Sosial)"

    [[needs]]                      # the data the system needs, one item each
    name = "kabupaten_tujuan"
    description = "Regency or city a recipient moved to"
    semantic_type = "KodeWilayah"  # optional: a semantic type of schemas/types.py

    [[publishes]]                  # the events it would publish
    type = "id.go.riau.dinsos.bansos.disalurkan"
    description = "Bansos disalurkan: social assistance was paid to a recipient."
    key = "nomor_kks"
    [[publishes.fields]]
    name = "nomor_kks"
    type = "string"                # string, integer, number, boolean, date, datetime, array
    semantic_type = "..."          # optional, as above
    example = "KKS-1471-000123"    # optional: its shape is compared too
    personal = false

A mistake is reported with its place in the file and the reason, all at once.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bus.catalog.meaning import declared_meanings, meaning_named
from bus.errors import CatalogError

#: JSON types a proposed field may declare, as the overlap check's type classes.
FIELD_TYPES = {
    "string": "string",
    "integer": "number",
    "number": "number",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "array": "array:any",
    "object": "object",
    "any": "any",
}


class ProposalError(CatalogError):
    """A proposal file that cannot be read, with every problem and where it is."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ProposedSystem(_Strict):
    """Who proposes the system and why."""

    id: str = Field(pattern=r"^[a-z0-9]+(\.[a-z0-9_]+)+$", description="e.g. `dinsos.siks`")
    opd: str = Field(min_length=2)
    name: str = Field(min_length=2)
    purpose: str = Field(min_length=10)
    legal_basis: str = ""


class Item(_Strict):
    """One piece of data: a needed item, or a field of a proposed event."""

    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    semantic_type: str | None = None
    type: str = "any"
    example: Any = None
    personal: bool = False

    @field_validator("semantic_type")
    @classmethod
    def _known_semantic_type(cls, value: str | None) -> str | None:
        if value is not None and meaning_named(value) is None:
            known = ", ".join(sorted(m.name for m in declared_meanings().values()))
            raise ValueError(f"unknown semantic type {value!r}; known: {known}")
        return value

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in FIELD_TYPES:
            raise ValueError(f"type {value!r} is not one of {', '.join(FIELD_TYPES)}")
        return value


class ProposedEvent(_Strict):
    """An event type the proposed system would publish."""

    type: str = Field(pattern=r"^id\.go\.riau\.[a-z0-9]+(\.[a-z0-9_]+){2,}$")
    description: str = Field(min_length=10)
    key: str
    version: int = Field(default=1, ge=1)
    fields: list[Item] = Field(min_length=1)

    @model_validator(mode="after")
    def _key_is_a_field(self) -> ProposedEvent:
        if self.key not in {f.name for f in self.fields}:
            raise ValueError(f"key {self.key!r} is not one of the event's fields")
        return self


class Proposal(_Strict):
    """A proposed system: who and why, the data it needs, and the events it would publish."""

    system: ProposedSystem
    needs: list[Item] = Field(default_factory=list)
    publishes: list[ProposedEvent] = Field(default_factory=list)


def parse_proposal(text: str, *, source: str = "proposal") -> Proposal:
    """Parse a proposal's TOML text; `ProposalError` lists every problem with its place."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProposalError(f"{source} is not valid TOML: {exc}") from None
    try:
        return Proposal.model_validate(document)
    except ValidationError as exc:
        problems = [
            f"{_place(error['loc'])}: {error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        ]
        raise ProposalError(
            f"{source} is not a valid proposal:\n  - " + "\n  - ".join(problems)
        ) from None


def read_proposal(path: Path) -> Proposal:
    """Read and check the proposal file at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProposalError(f"cannot read proposal {path}: {exc.strerror or exc}") from None
    return parse_proposal(text, source=str(path))


def _place(loc: tuple[int | str, ...]) -> str:
    """`publishes[0].fields[2].type`: where a problem is, as it reads in the file."""
    place = ""
    for part in loc:
        place += f"[{part}]" if isinstance(part, int) else f".{part}" if place else str(part)
    return place or "(file)"


__all__ = [
    "FIELD_TYPES",
    "Item",
    "Proposal",
    "ProposalError",
    "ProposedEvent",
    "ProposedSystem",
    "parse_proposal",
    "read_proposal",
]
