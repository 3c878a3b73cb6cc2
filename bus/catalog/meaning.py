"""What a field means, declared beside its type: the catalog's semantic types.

    NIK = Annotated[
        str,
        Field(pattern=r"^\\d{16}$"),
        Meaning("NIK", "a resident's national identity number", identifies="resident"),
    ]

pydantic ignores a `Meaning` in `Annotated`: it changes neither validation nor the JSON
Schema (so not the lock file either), but the governance checks read it to tell a copy of
another agency's data from a look-alike whose fields only share a name or a shape. A StrEnum
declares its meaning as a `__meaning__` class attribute instead.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Every meaning declared so far, by upper-case name (filled as type modules are imported).
_DECLARED: dict[str, Meaning] = {}


@dataclass(frozen=True)
class Meaning:
    """A semantic type: its name, what it is, and the entity it identifies (for identifiers).

    `words` are other names agencies use for it (`"no ktp"`, `"nomor induk kependudukan"`), in
    Indonesian or English; the overlap check and the reuse advisor recognise undeclared fields
    and proposed data items by them.
    """

    name: str
    about: str
    identifies: str | None = None
    words: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        known = _DECLARED.setdefault(self.name.upper(), self)
        if known != self:
            raise ValueError(f"semantic type {self.name!r} is declared twice, differently")

    @property
    def is_identifier(self) -> bool:
        """True when a value names one entity (a resident, a business), not a quantity or text."""
        return self.identifies is not None


def declared_meanings() -> dict[str, Meaning]:
    """Every semantic type declared so far, by upper-case name."""
    return dict(_DECLARED)


def meaning_named(name: str) -> Meaning | None:
    """The semantic type called `name` (any case), if one is declared."""
    return _DECLARED.get(name.upper())


__all__ = ["Meaning", "declared_meanings", "meaning_named"]
