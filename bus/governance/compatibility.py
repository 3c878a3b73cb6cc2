"""Schema compatibility, Confluent-style: can one version of an event's data read the other's?

    >>> check_compatibility(old_schema, new_schema, CompatibilityMode.BACKWARD)
    [Incompatibility(path='$.nama', rule='field-removed', ...)]

The check works on the generated JSON Schemas (draft 2020-12, `$ref`s into `$defs` resolved)
and asks one question per direction: does every document the *writer* schema allows also
validate against the *reader* schema?

- `BACKWARD`: the new schema reads data written with the old one (consumers upgrade first).
- `FORWARD`: the old schema reads data written with the new one (producers upgrade first).
- `FULL`: both. The `_TRANSITIVE` forms check against every approved revision, not only the
  latest; `NONE` checks nothing.

Event models are closed content models (`additionalProperties: false`), so, as under
Confluent's rules: adding an optional field is backward compatible but not forward compatible,
and removing any field is forward compatible (if it was optional) but never backward compatible.
Reasons are phrased as the change from the old schema to the new one, whichever direction found
them ("field removed", "enum value added", ...).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bus.errors import CatalogError

Schema = dict[str, Any]


class CompatibilityMode(StrEnum):
    """The evolution rule of one event type, named as in Confluent Schema Registry."""

    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"

    @property
    def backward(self) -> bool:
        """New schemas must read data written with approved ones."""
        return self.name.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        """Approved schemas must read data written with new ones."""
        return self.name.startswith(("FORWARD", "FULL"))

    @property
    def transitive(self) -> bool:
        """Checked against every approved revision rather than the latest only."""
        return self.name.endswith("_TRANSITIVE")


def parse_mode(value: str) -> CompatibilityMode:
    """The mode named by `value`; a `CatalogError` listing the valid names otherwise."""
    try:
        return CompatibilityMode(value)
    except ValueError:
        valid = ", ".join(m.value for m in CompatibilityMode)
        raise CatalogError(f"compatibility {value!r} is not a mode; use one of: {valid}") from None


@dataclass(frozen=True)
class Incompatibility:
    """One reason why data of one schema version cannot be read with another."""

    path: str
    rule: str
    message: str
    direction: str  # "backward" (new reads old) or "forward" (old reads new)


def check_compatibility(old: Schema, new: Schema, mode: CompatibilityMode) -> list[Incompatibility]:
    """Every reason why `new` may not follow `old` under `mode` (empty when it may)."""
    found: list[Incompatibility] = []
    if mode.backward:
        found += _Comparison(reader_root=new, writer_root=old, reader_is_new=True).run()
    if mode.forward:
        found += _Comparison(reader_root=old, writer_root=new, reader_is_new=False).run()
    return _unique(found)


def check_evolution(
    approved: Sequence[Schema], new: Schema, mode: CompatibilityMode
) -> list[tuple[int, Incompatibility]]:
    """Check `new` against the approved revisions `mode` names: the latest, or all if transitive.

    Returns `(index into approved, incompatibility)` pairs so a report can say which revision
    the new schema cannot follow.
    """
    if not approved or mode is CompatibilityMode.NONE:
        return []
    indexes = range(len(approved)) if mode.transitive else [len(approved) - 1]
    found: list[tuple[int, Incompatibility]] = []
    for index in indexes:
        found += [(index, i) for i in check_compatibility(approved[index], new, mode)]
    return found


def _unique(found: Iterable[Incompatibility]) -> list[Incompatibility]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for item in found:
        marker = (item.path, item.rule, item.message)
        if marker not in seen:
            seen.add(marker)
            out.append(item)
    return out


# The comparison ---------------------------------------------------------------------------

# Keywords that describe but do not constrain: changing them never breaks a reader.
_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$comment",
        "$schema",
        "$id",
        "$defs",
        "definitions",
    }
)
# Keywords this module reasons about; any other keyword that differs is reported as a change
# the checker cannot prove safe, rather than silently accepted.
_UNDERSTOOD = _ANNOTATIONS | {
    "$ref",
    "type",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "prefixItems",
    "maxLength",
    "minLength",
    "pattern",
    "format",
    "maximum",
    "minimum",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "multipleOf",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
}
_UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties")
_LOWER_BOUNDS = ("minLength", "minItems", "minProperties")
_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    type(None): "null",
    list: "array",
    dict: "object",
}


class _Comparison:
    """Does every document valid under `writer_root` validate under `reader_root`?

    `reader_is_new` says which of the two is the proposed schema, so that reasons can be
    phrased as the change from old to new.
    """

    def __init__(self, *, reader_root: Schema, writer_root: Schema, reader_is_new: bool) -> None:
        self.reader_root = reader_root
        self.writer_root = writer_root
        self.reader_is_new = reader_is_new
        self.direction = "backward" if reader_is_new else "forward"
        self._active: set[tuple[str, str]] = set()

    def run(self) -> list[Incompatibility]:
        return self.compare(self.reader_root, self.writer_root, "$")

    # -- phrasing

    def _say(
        self, path: str, backward: tuple[str, str], forward: tuple[str, str]
    ) -> Incompatibility:
        """One incompatibility, phrased for the direction in which it was found."""
        rule, message = backward if self.reader_is_new else forward
        return Incompatibility(path, rule, message, self.direction)

    def _both(self, path: str, rule: str, message: str) -> Incompatibility:
        return Incompatibility(path, rule, message, self.direction)

    def _old_new(self, reader_value: Any, writer_value: Any) -> tuple[Any, Any]:
        return (writer_value, reader_value) if self.reader_is_new else (reader_value, writer_value)

    # -- structure

    def compare(self, reader: Any, writer: Any, path: str) -> list[Incompatibility]:
        """Reasons why some document valid under `writer` is invalid under `reader`."""
        if writer is False or reader is True or reader == {}:
            return []
        marker = (str(_ref_of(reader)), str(_ref_of(writer)))
        if marker != ("None", "None"):
            if marker in self._active:  # a recursive model: this pair is already being compared
                return []
            self._active.add(marker)
        try:
            return self._compare_union(
                _branches(reader, self.reader_root), _branches(writer, self.writer_root), path
            )
        finally:
            self._active.discard(marker)

    def _compare_union(
        self, readers: list[Schema], writers: list[Schema], path: str
    ) -> list[Incompatibility]:
        found: list[Incompatibility] = []
        for writer in writers:
            kind = _kind(writer)
            candidates = [r for r in readers if _accepts_kind(_kind(r), kind)]
            if not candidates:
                found.append(self._type_mismatch(readers, writer, path))
                continue
            best: list[Incompatibility] | None = None
            for reader in candidates:
                problems = self._compare_single(reader, writer, path)
                if best is None or len(problems) < len(best):
                    best = problems
                if not problems:
                    break
            found += best or []
        return found

    def _type_mismatch(self, readers: list[Schema], writer: Schema, path: str) -> Incompatibility:
        kind = _kind(writer)
        reader_kinds = [_kind(r) for r in readers]
        if kind == "null":
            return self._say(
                path,
                (
                    "nullable-removed",
                    "no longer nullable: data written with the old schema may be null",
                ),
                ("nullable-added", "became nullable: consumers on the old schema reject null"),
            )
        if kind == "number" and "integer" in reader_kinds:
            return self._say(
                path,
                (
                    "type-narrowed",
                    "type narrowed from number to integer: old data may be fractional",
                ),
                (
                    "type-widened",
                    "type widened from integer to number: consumers on the old schema reject "
                    "fractional values",
                ),
            )
        old, new = self._old_new(_describe_kinds(reader_kinds), _describe_kinds([kind]))
        return self._both(path, "type-changed", f"type changed from {old} to {new}")

    def _compare_single(self, reader: Schema, writer: Schema, path: str) -> list[Incompatibility]:
        found = self._compare_enums(reader, writer, path)
        if found is not None:
            return found
        kind = _kind(reader)
        if kind == "string":
            found = self._compare_string(reader, writer, path)
        elif kind in ("integer", "number"):
            found = self._compare_number(reader, writer, path)
        elif kind == "array":
            found = self._compare_array(reader, writer, path)
        elif kind == "object":
            found = self._compare_object(reader, writer, path)
        else:
            found = []
        return found + self._compare_unknown(reader, writer, path)

    def _compare_unknown(self, reader: Schema, writer: Schema, path: str) -> list[Incompatibility]:
        found = []
        for keyword, value in reader.items():
            if keyword in _UNDERSTOOD or keyword.startswith("x-"):
                continue
            if writer.get(keyword) != value:
                found.append(
                    self._both(
                        path,
                        "constraint-changed",
                        f"keyword {keyword!r} changed; the checker cannot prove it compatible",
                    )
                )
        return found

    # -- enums

    def _compare_enums(
        self, reader: Schema, writer: Schema, path: str
    ) -> list[Incompatibility] | None:
        reader_values, writer_values = _enum(reader), _enum(writer)
        if reader_values is not None:
            if writer_values is None:
                return [
                    self._say(
                        path,
                        ("constraint-tightened", f"restricted to the values {reader_values}"),
                        (
                            "constraint-loosened",
                            f"no longer restricted to the values {reader_values}: consumers on "
                            "the old schema reject others",
                        ),
                    )
                ]
            missing = [v for v in writer_values if v not in reader_values]
            if not missing:
                return []
            return [
                self._say(
                    path,
                    (
                        "enum-value-removed",
                        f"enum value(s) {missing} removed: old data may hold them",
                    ),
                    (
                        "enum-value-added",
                        f"enum value(s) {missing} added: consumers on the old schema reject them",
                    ),
                )
            ]
        if writer_values is not None:
            # A finite writer: exact answer by checking each value against the reader.
            refused = [v for v in writer_values if _refuses(reader, v)]
            if not refused:
                return []
            return [
                self._say(
                    path,
                    ("constraint-tightened", f"no longer accepts the value(s) {refused}"),
                    (
                        "constraint-loosened",
                        f"accepts value(s) {refused} that consumers on the old schema reject",
                    ),
                )
            ]
        return None

    # -- scalars

    def _bound(self, path: str, keyword: str, reader: Any, writer: Any) -> Incompatibility:
        old, new = self._old_new(reader, writer)
        if self.reader_is_new:
            told = (
                f"{keyword} {new} added"
                if old is None
                else f"{keyword} tightened from {old} to {new}"
            )
            return self._both(path, "constraint-tightened", told)
        told = (
            f"{keyword} {old} removed" if new is None else f"{keyword} loosened from {old} to {new}"
        )
        return self._both(
            path, "constraint-loosened", f"{told}: consumers on the old schema reject such values"
        )

    def _compare_bounds(self, reader: Schema, writer: Schema, path: str) -> list[Incompatibility]:
        found = []
        for keyword in _UPPER_BOUNDS:
            if keyword in reader and (keyword not in writer or reader[keyword] < writer[keyword]):
                found.append(self._bound(path, keyword, reader[keyword], writer.get(keyword)))
        for keyword in _LOWER_BOUNDS:
            if keyword in reader and (keyword not in writer or reader[keyword] > writer[keyword]):
                found.append(self._bound(path, keyword, reader[keyword], writer.get(keyword)))
        return found

    def _compare_string(self, reader: Schema, writer: Schema, path: str) -> list[Incompatibility]:
        found = self._compare_bounds(reader, writer, path)
        for keyword in ("pattern", "format"):
            if keyword not in reader or reader[keyword] == writer.get(keyword):
                continue
            if keyword in writer:
                old, new = self._old_new(reader[keyword], writer[keyword])
                found.append(
                    self._both(
                        path, "constraint-changed", f"{keyword} changed from {old!r} to {new!r}"
                    )
                )
            else:
                found.append(self._bound(path, keyword, repr(reader[keyword]), None))
        return found

    def _compare_number(self, reader: Schema, writer: Schema, path: str) -> list[Incompatibility]:
        found = []
        r_upper, w_upper = _upper(reader), _upper(writer)
        if r_upper < w_upper:
            found.append(self._bound(path, "maximum", _show(reader, "max"), _show(writer, "max")))
        r_lower, w_lower = _lower(reader), _lower(writer)
        if r_lower > w_lower:
            found.append(self._bound(path, "minimum", _show(reader, "min"), _show(writer, "min")))
        step = reader.get("multipleOf")
        if step is not None:
            writer_step = writer.get("multipleOf")
            if writer_step is None or not _is_multiple(writer_step, step):
                found.append(self._bound(path, "multipleOf", step, writer_step))
        return found

    # -- containers

    def _compare_array(self, reader: Schema, writer: Schema, path: str) -> list[Incompatibility]:
        found = self._compare_bounds(reader, writer, path)
        if reader.get("uniqueItems") and not writer.get("uniqueItems"):
            found.append(self._bound(path, "uniqueItems", True, None))
        reader_prefix, writer_prefix = reader.get("prefixItems", []), writer.get("prefixItems", [])
        for index, item in enumerate(reader_prefix):
            if index < len(writer_prefix):
                found += self.compare(item, writer_prefix[index], f"{path}[{index}]")
        if "items" in reader:
            found += self.compare(reader["items"], writer.get("items", {}), f"{path}[*]")
        return found

    def _compare_object(self, reader: Schema, writer: Schema, path: str) -> list[Incompatibility]:
        found = self._compare_bounds(reader, writer, path)
        reader_props: Schema = reader.get("properties", {})
        writer_props: Schema = writer.get("properties", {})
        reader_extra = reader.get("additionalProperties", True)
        writer_extra = writer.get("additionalProperties", True)
        for name, writer_prop in writer_props.items():
            where = _join(path, name)
            if name in reader_props:
                found += self.compare(reader_props[name], writer_prop, where)
            elif reader_extra is False:
                if writer_prop is False:
                    continue
                found.append(
                    self._say(
                        where,
                        (
                            "field-removed",
                            f"field {name!r} removed: data written with the old schema may "
                            "carry it, and the closed model rejects it",
                        ),
                        (
                            "field-added",
                            f"field {name!r} added: consumers on the old schema (closed model) "
                            "reject data carrying it",
                        ),
                    )
                )
            elif isinstance(reader_extra, dict):
                found += self.compare(reader_extra, writer_prop, where)
        for name, reader_prop in reader_props.items():
            if name in writer_props or writer_extra is False:
                continue
            where = _join(path, name)
            if writer_extra is True:
                if _resolve(reader_prop, self.reader_root) in ({}, True):
                    continue
                found.append(
                    self._say(
                        where,
                        (
                            "field-added-to-open-model",
                            f"field {name!r} added to an open model: old data may carry it "
                            "with any value",
                        ),
                        (
                            "field-removed-from-open-model",
                            f"field {name!r} removed from an open model: new data may carry it "
                            "with any value",
                        ),
                    )
                )
            else:
                found += self.compare(reader_prop, writer_extra, where)
        if reader_extra is False and writer_extra is not False:
            found.append(
                self._say(
                    path,
                    ("content-model-closed", "model closed: old data may carry other fields"),
                    (
                        "content-model-opened",
                        "model opened: consumers on the old schema reject other fields",
                    ),
                )
            )
        elif isinstance(reader_extra, dict) and writer_extra is not False:
            writer_rest = {} if writer_extra is True else writer_extra
            found += self.compare(reader_extra, writer_rest, f"{path}.*")
        found += self._compare_required(reader, writer, reader_props, writer_props, path)
        return found

    def _compare_required(
        self, reader: Schema, writer: Schema, reader_props: Schema, writer_props: Schema, path: str
    ) -> list[Incompatibility]:
        found = []
        writer_required = set(writer.get("required", []))
        for name in reader.get("required", []):
            if name in writer_required:
                continue
            prop = reader_props.get(name, {})
            if _has_default(prop, self.reader_root):
                continue  # Confluent: a required field with a default is filled in on read
            where = _join(path, name)
            if name in writer_props:
                found.append(
                    self._say(
                        where,
                        (
                            "field-made-required",
                            f"field {name!r} became required: old data may lack it",
                        ),
                        (
                            "field-made-optional",
                            f"field {name!r} became optional: consumers on the old schema "
                            "require it",
                        ),
                    )
                )
            else:
                found.append(
                    self._say(
                        where,
                        (
                            "required-field-added",
                            f"new required field {name!r} has no default: old data lacks it",
                        ),
                        (
                            "required-field-removed",
                            f"required field {name!r} removed: consumers on the old schema "
                            "require it",
                        ),
                    )
                )
        return found


# Schema helpers -------------------------------------------------------------------------


def _ref_of(schema: Any) -> str | None:
    return schema.get("$ref") if isinstance(schema, dict) else None


def _resolve(schema: Any, root: Schema) -> Any:
    """Follow `$ref`s into `root`; keywords next to a `$ref` are kept (draft 2020-12)."""
    hops = 0
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise CatalogError(f"cannot resolve $ref {ref!r}: only local references are supported")
        target: Any = root
        for escaped in filter(None, ref[1:].split("/")):
            part = escaped.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise CatalogError(f"cannot resolve $ref {ref!r}: {part!r} not found")
            target = target[part]
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **siblings} if isinstance(target, dict) else target
        hops += 1
        if hops > 64:
            raise CatalogError(f"cannot resolve $ref {ref!r}: reference cycle")
    return schema


def _branches(schema: Any, root: Schema) -> list[Schema]:
    """The alternatives a schema allows: `anyOf`/`oneOf` members and `type` lists split apart."""
    schema = _resolve(schema, root)
    if schema is True:
        return [{}]
    if schema is False:
        return []
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            return [b for member in schema[keyword] for b in _branches(member, root)]
    if "allOf" in schema:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for member in schema["allOf"]:
            merged.update(_resolve(member, root))
        return _branches(merged, root)
    types = schema.get("type")
    if isinstance(types, list):
        return [{**schema, "type": t} for t in types]
    values = _enum(schema)
    if types is None and values is not None:
        kinds = sorted({_JSON_TYPES.get(type(v), "any") for v in values})
        if len(kinds) > 1:
            return [
                {**schema, "type": k, "enum": [v for v in values if _JSON_TYPES.get(type(v)) == k]}
                for k in kinds
            ]
    return [schema]


def _kind(schema: Schema) -> str | None:
    """The JSON type one branch allows, or None when it allows any type."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return declared
    values = _enum(schema)
    if values:
        return _JSON_TYPES.get(type(values[0]))
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return None


def _accepts_kind(reader: str | None, writer: str | None) -> bool:
    if reader is None:
        return True
    return reader == writer or (reader == "number" and writer == "integer")


def _describe_kinds(kinds: Sequence[str | None]) -> str:
    names = sorted({k or "any" for k in kinds})
    return " or ".join(names) or "nothing"


def _enum(schema: Schema) -> list[Any] | None:
    if "enum" in schema:
        return list(schema["enum"])
    if "const" in schema:
        return [schema["const"]]
    return None


def _has_default(schema: Any, root: Schema) -> bool:
    return isinstance(schema, dict) and (
        "default" in schema or "default" in (_resolve(schema, root) or {})
    )


def _join(path: str, name: str) -> str:
    return (
        f"{path}.{name}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f"{path}[{name!r}]"
    )


def _upper(schema: Schema) -> tuple[float, int]:
    """The upper bound as (value, 0 if exclusive else 1): smaller tuples are tighter."""
    bounds = [(math.inf, 1)]
    if "maximum" in schema:
        bounds.append((schema["maximum"], 1))
    if "exclusiveMaximum" in schema:
        bounds.append((schema["exclusiveMaximum"], 0))
    return min(bounds)


def _lower(schema: Schema) -> tuple[float, int]:
    """The lower bound as (value, 1 if exclusive else 0): larger tuples are tighter."""
    bounds = [(-math.inf, 0)]
    if "minimum" in schema:
        bounds.append((schema["minimum"], 0))
    if "exclusiveMinimum" in schema:
        bounds.append((schema["exclusiveMinimum"], 1))
    return max(bounds)


def _show(schema: Schema, side: str) -> str | None:
    keywords = ("maximum", "exclusiveMaximum") if side == "max" else ("minimum", "exclusiveMinimum")
    shown = [
        f"{k}={schema[k]}" if k.startswith("exclusive") else str(schema[k])
        for k in keywords
        if k in schema
    ]
    return ", ".join(shown) or None


def _is_multiple(value: float, step: float) -> bool:
    ratio = value / step
    return math.isclose(ratio, round(ratio))


def _refuses(reader: Schema, value: Any) -> bool:
    """True when `reader` rejects one concrete value (used for finite writers such as enums)."""
    kind = _kind(reader)
    if kind is not None and not _accepts_kind(kind, _JSON_TYPES.get(type(value))):
        return True
    if isinstance(value, str):
        if len(value) > reader.get("maxLength", math.inf) or len(value) < reader.get(
            "minLength", 0
        ):
            return True
        pattern = reader.get("pattern")
        if pattern is not None and re.search(pattern, value) is None:
            return True
    elif isinstance(value, int | float) and not isinstance(value, bool):
        upper, upper_inclusive = _upper(reader)
        lower, lower_exclusive = _lower(reader)
        if value > upper or (value == upper and not upper_inclusive):
            return True
        if value < lower or (value == lower and lower_exclusive):
            return True
    return False
