"""What the overlap check knows about an event type and each of its fields, beyond their names.

    vocabulary = Vocabulary.of(catalog.event_types)
    profile = vocabulary.profile(PendudukPindah.event_type())
    profile.field("nik").meanings       # frozenset({'NIK'}), declared in schemas/types.py

A field's profile holds its semantic type (declared with a `Meaning`, or inferred), the shape of
its example value (`"1471021205900003"` → `d16`), its JSON type class, and the concepts of its
name and description (`bus.governance.lexicon`). An undeclared field gets candidate semantic
types from what the catalog already knows: the patterns and example shapes of declared fields
(a 13-digit example is a NIB), and the other names of each semantic type (`nm_perusahaan` is a
`NamaUsaha`). The proposals of the reuse advisor are profiled the same way.
"""

from __future__ import annotations

import re
import typing
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic.fields import FieldInfo

from bus.catalog import PERSONAL_DATA, EventType
from bus.catalog.meaning import Meaning, declared_meanings
from bus.governance.lexicon import concepts

#: Weight of an identifier field (NIK, NIB, the event's key) in the coverage of a type.
IDENTIFIER_WEIGHT = 2.0
#: Weight of fields nearly every event has (`kode_wilayah`, `*_at` timestamps).
UBIQUITOUS_WEIGHT = 0.5

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


@dataclass(frozen=True)
class FieldProfile:
    """One field as the overlap check compares it."""

    name: str
    type_class: str
    description: str = ""
    declared: Meaning | None = None
    meanings: frozenset[str] = frozenset()
    inferred_from: str = ""  # "declared", "pattern", "example", "name" or "" (no meaning known)
    shape: str | None = None
    name_concepts: frozenset[str] = frozenset()
    text_concepts: frozenset[str] = frozenset()
    identifier: bool = False
    key: bool = False
    personal: bool = False
    weight: float = 1.0

    @property
    def inference(self) -> str:
        """`inferred from its example` for an inferred semantic type, `` when declared or none."""
        if not self.meanings or self.inferred_from == "declared":
            return ""
        return f"inferred from its {self.inferred_from}"

    @property
    def meaning_label(self) -> str:
        """`NIK`, `NIK (inferred from its example)`, or `` when no meaning is known."""
        label = "/".join(sorted(self.meanings))
        return f"{label} ({self.inference})" if self.inference else label


@dataclass(frozen=True)
class EventProfile:
    """One event type (declared in the catalog, or proposed) as the overlap check compares it."""

    type: str
    owner: str
    version: int
    description: str
    key: str
    fields: tuple[FieldProfile, ...]
    concepts: frozenset[str]
    topic: str = ""

    def field(self, name: str) -> FieldProfile:
        """The profile of the field called `name`."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def key_field(self) -> FieldProfile | None:
        """The field the event is keyed by (what it is about), if it is a top-level field."""
        return next((f for f in self.fields if f.key), None)

    @property
    def entity(self) -> str | None:
        """What the key identifies (`resident`, `business`), when its semantic type says so."""
        key = self.key_field
        if key is None:
            return None
        known = declared_meanings()
        entities = {known[m.upper()].identifies for m in key.meanings if m.upper() in known}
        return "/".join(sorted(e for e in entities if e)) or None


@dataclass
class Vocabulary:
    """What the catalog teaches about semantic types: their patterns, example shapes and names."""

    by_pattern: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_shape: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    type_classes: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def of(cls, event_types: Iterable[EventType]) -> Vocabulary:
        """Learn each declared semantic type's patterns and example shapes from `event_types`."""
        vocabulary = cls()
        for et in event_types:
            schema = et.json_schema()
            defs = schema.get("$defs", {})
            example = et.example
            for name, info in et.data.model_fields.items():
                meaning = meaning_of(info)
                if meaning is None:
                    continue
                prop = _non_null(_resolve(schema.get("properties", {}).get(name, {}), defs), defs)
                vocabulary.type_classes[meaning.name].add(
                    type_class(prop, defs).removeprefix("array:")
                )
                if prop.get("type") == "array":
                    prop = _resolve(prop.get("items", {}), defs)
                    values = example.get(name) or []
                else:
                    values = [example.get(name)]
                if "pattern" in prop:
                    vocabulary.by_pattern[prop["pattern"]].add(meaning.name)
                for value in values if isinstance(values, list) else []:
                    shape = value_shape(value)
                    if shape is not None and distinctive(shape):
                        vocabulary.by_shape[shape].add(meaning.name)
        return vocabulary

    def infer(
        self, name: str, *, type_class: str = "any", pattern: str | None, example: Any
    ) -> tuple[frozenset[str], str]:
        """Candidate semantic types of an undeclared field, and what they were inferred from.

        A name suggests a semantic type only for a field of a JSON type that type was seen
        with in the catalog: `tanggal_sp2d` is a date, not an SP2D number.
        """
        base = type_class.removeprefix("array:")
        by_name = {
            m
            for m in meanings_named_by(name)
            if base == "any" or base in self.type_classes.get(m, {base})
        }
        by_shape: set[str] = set()
        source = ""
        if pattern is not None and pattern in self.by_pattern:
            by_shape, source = set(self.by_pattern[pattern]), "pattern"
        else:
            shape = value_shape(example)
            if shape is not None and shape in self.by_shape:
                by_shape, source = set(self.by_shape[shape]), "example"
        if by_name and by_shape:
            both = by_name & by_shape
            return frozenset(both or by_name | by_shape), f"name and {source}"
        if by_shape:
            return frozenset(by_shape), source
        if by_name:
            return frozenset(by_name), "name"
        return frozenset(), ""

    def profile(self, event_type: EventType) -> EventProfile:
        """The profile of a declared event type, every field with its meaning."""
        schema = event_type.json_schema()
        defs = schema.get("$defs", {})
        example = event_type.example
        fields = []
        for name, info in event_type.data.model_fields.items():
            prop = _non_null(_resolve(schema.get("properties", {}).get(name, {}), defs), defs)
            items = _resolve(prop.get("items", {}), defs) if prop.get("type") == "array" else {}
            fields.append(
                self.field_profile(
                    name,
                    type_class=type_class(prop, defs),
                    description=str(prop.get("description") or info.description or ""),
                    declared=meaning_of(info),
                    pattern=prop.get("pattern") or items.get("pattern"),
                    example=_first(example.get(name)),
                    key=name == event_type.key,
                    personal=bool(prop.get(PERSONAL_DATA)) or name in event_type.personal_fields,
                )
            )
        return EventProfile(
            type=event_type.type,
            owner=event_type.owner,
            version=event_type.version,
            description=event_type.description,
            key=event_type.key,
            fields=tuple(fields),
            concepts=event_concepts(event_type.type, event_type.description),
            topic=event_type.topic,
        )

    def field_profile(
        self,
        name: str,
        *,
        type_class: str = "any",
        description: str = "",
        declared: Meaning | None = None,
        pattern: str | None = None,
        example: Any = None,
        key: bool = False,
        personal: bool = False,
    ) -> FieldProfile:
        """The profile of one field, declared or proposed."""
        if declared is not None:
            meanings, source = frozenset({declared.name}), "declared"
        else:
            meanings, source = self.infer(
                name, type_class=type_class, pattern=pattern, example=example
            )
        known = declared_meanings()
        identifier = any(known[m.upper()].is_identifier for m in meanings if m.upper() in known)
        name_concepts = concepts(name)
        ubiquitous = name_concepts == {"kode", "wilayah"} or (
            type_class == "datetime" and name.endswith("_at")
        )
        weight = (
            IDENTIFIER_WEIGHT if identifier or key else UBIQUITOUS_WEIGHT if ubiquitous else 1.0
        )
        return FieldProfile(
            name=name,
            type_class=type_class,
            description=description,
            declared=declared,
            meanings=meanings,
            inferred_from=source,
            shape=value_shape(example) if example is not None else _shape_of_class(type_class),
            name_concepts=name_concepts,
            text_concepts=concepts(description),
            identifier=identifier,
            key=key,
            personal=personal,
            weight=weight,
        )


def event_concepts(type_: str, description: str) -> frozenset[str]:
    """Concepts of an event type's entity and event words and of its description."""
    parts = type_.removeprefix("id.go.riau.").split(".")
    return concepts(" ".join(parts[1:]) + " " + description)


def meaning_of(info: FieldInfo) -> Meaning | None:
    """The `Meaning` declared on a field's type, looking through `X | None` and `list[X]`."""
    for item in info.metadata:
        if isinstance(item, Meaning):
            return item
    return _meaning_in(info.annotation)


def _meaning_in(annotation: Any) -> Meaning | None:
    declared = getattr(annotation, "__meaning__", None)
    if isinstance(declared, Meaning):
        return declared
    if typing.get_origin(annotation) is typing.Annotated:
        for item in annotation.__metadata__:
            if isinstance(item, Meaning):
                return item
            if isinstance(item, FieldInfo):
                found = meaning_of(item)
                if found is not None:
                    return found
    for arg in typing.get_args(annotation):
        found = _meaning_in(arg)
        if found is not None:
            return found
    return None


def meanings_named_by(name: str) -> set[str]:
    """Semantic types one of whose names is wholly in `name` (the longest such names win)."""
    have = concepts(name)
    best: dict[str, int] = {}
    for meaning in declared_meanings().values():
        for phrase in meaning.words:
            wanted = concepts(phrase)
            if wanted and wanted <= have:
                best[meaning.name] = max(best.get(meaning.name, 0), len(wanted))
    if not best:
        return set()
    longest = max(best.values())
    return {name for name, size in best.items() if size == longest}


def value_shape(value: Any) -> str | None:
    """The shape of an example value: `d16` for 16 digits, `d2.d2` for `14.08`, `text`, `date`."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        inner = value_shape(value[0]) if value else None
        return f"[{inner}]" if inner else "[]"
    if isinstance(value, Mapping):
        return "object"
    text = str(value).strip()
    if _DATE.match(text):
        return "date"
    if _DATETIME.match(text):
        return "datetime"
    if len(re.findall(r"[A-Za-z]{2,}", text)) >= 3 and len(text.split()) >= 3:
        return "text"
    return "".join(_token_shape(token) for token in _TOKENS.findall(text))


_TOKENS = re.compile(r"\d+|[A-Z]+(?![a-z])|[A-Z][a-z]+|[a-z]+|\s+|.")


def _token_shape(token: str) -> str:
    if token.isdigit():
        return f"d{len(token)}"
    if token.isspace():
        return " "
    if token.isalpha():
        return "A" if token.isupper() else "Aa" if token[0].isupper() else "a"
    return token


def distinctive(shape: str) -> bool:
    """True for shapes that say what a value is (digits in a layout), not free text or numbers."""
    return "d" in shape and shape not in {"date", "datetime", "integer", "number", "boolean"}


def type_class(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> str:
    """The coarse JSON type two fields must share to carry the same data."""
    declared = schema.get("type")
    if declared is None and "enum" in schema:
        declared = "string" if all(isinstance(v, str) for v in schema["enum"]) else "any"
    if declared == "string":
        return {"date": "date", "date-time": "datetime"}.get(schema.get("format", ""), "string")
    if declared in ("integer", "number"):
        return "number"
    if declared == "array":
        items = _non_null(_resolve(schema.get("items", {}), defs or {}), defs or {})
        return f"array:{type_class(items, defs)}"
    if isinstance(declared, str):
        return declared
    return "any"


def _shape_of_class(type_class: str) -> str | None:
    return type_class if type_class in {"date", "datetime", "boolean"} else None


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _resolve(schema: Any, defs: dict[str, Any]) -> dict[str, Any]:
    while isinstance(schema, dict) and "$ref" in schema:
        target = defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema if isinstance(schema, dict) else {}


def _non_null(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of an optional field (`X | None`), or the schema itself."""
    branches = schema.get("anyOf") or schema.get("oneOf")
    if not branches:
        return schema
    kept = [_resolve(b, defs) for b in branches if _resolve(b, defs).get("type") != "null"]
    return kept[0] if len(kept) == 1 else schema


__all__ = [
    "EventProfile",
    "FieldProfile",
    "Vocabulary",
    "distinctive",
    "event_concepts",
    "meaning_of",
    "meanings_named_by",
    "type_class",
    "value_shape",
]
