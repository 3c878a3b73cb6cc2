"""The lock file: the catalog state the GCIO approved, committed next to the catalog.

    schemas/catalog.lock.json
    {
      "event_types": {
        "id.go.riau.dpmptsp.izin.terbit": {
          "v1": {"owner": "dpmptsp.sicantik", "key": "nomor_izin", "topic": "...",
                 "revisions": [{"revision": 1, "sha256": "...", "schema": {...}}], ...}
        }
      },
      "subscriptions": {"bapenda.sipd -> id.go.riau.dpmptsp.izin.terbit": {...}},
      "waivers": {"id.go.riau.x.y.z ~ id.go.riau.dpmptsp.izin.terbit": {"reason": "...",
                  "approver": "...", "approved_on": "2026-12-01"}}
    }

Every approved schema revision of every major version is kept, so compatibility can be
checked against the latest one or, in `_TRANSITIVE` modes, against all of them. The file is
written sorted and indented so that a pull request shows exactly what changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bus.catalog import Catalog, EventType, Subscription
from bus.errors import LockFileError

#: Version of the lock file layout, bumped on incompatible layout changes.
LOCK_FORMAT = 1
LOCK_FILE_NAME = "catalog.lock.json"
_COMMENT = (
    "Approved state of the OPD Bus catalog. Written by `bus catalog lock` after GCIO review; "
    "do not edit by hand."
)


def canonical_schema(schema: Any) -> Any:
    """`schema` with `required` lists sorted, so reordering fields is not a new revision."""
    if isinstance(schema, dict):
        return {
            key: sorted(value)
            if key == "required" and isinstance(value, list)
            else canonical_schema(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [canonical_schema(item) for item in schema]
    return schema


def schema_hash(schema: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a schema: the identity of one revision."""
    text = json.dumps(
        canonical_schema(dict(schema)), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Revision:
    """One approved schema of one major version.

    `baseline` marks a revision approved despite a failed check (`bus catalog lock --force`):
    transitive checks look back only as far as the latest baseline.
    """

    revision: int
    schema: dict[str, Any]
    sha256: str
    baseline: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The revision as stored in the lock file."""
        stored: dict[str, Any] = {
            "revision": self.revision,
            "sha256": self.sha256,
            "schema": canonical_schema(self.schema),
        }
        if self.baseline:
            stored["baseline"] = True
        return stored


@dataclass(frozen=True)
class LockedEventType:
    """The approved state of one event type at one major version."""

    type: str
    version: int
    topic: str
    owner: str
    key: str
    compatibility: str
    personal_fields: tuple[str, ...]
    topic_settings: dict[str, Any]
    revisions: tuple[Revision, ...]

    @property
    def latest(self) -> Revision:
        """The most recently approved revision."""
        return self.revisions[-1]

    @property
    def lineage(self) -> tuple[Revision, ...]:
        """Revisions a transitive check compares against: from the latest baseline on."""
        start = 0
        for index, revision in enumerate(self.revisions):
            if revision.baseline:
                start = index
        return self.revisions[start:]

    def to_dict(self) -> dict[str, Any]:
        """The entry as stored in the lock file."""
        return {
            "topic": self.topic,
            "owner": self.owner,
            "key": self.key,
            "compatibility": self.compatibility,
            "personal_fields": sorted(self.personal_fields),
            "topic_settings": dict(sorted(self.topic_settings.items())),
            "revisions": [r.to_dict() for r in self.revisions],
        }


@dataclass(frozen=True)
class LockedSubscription:
    """The approved terms of one data-sharing agreement."""

    system: str
    event_type: str
    purpose: str
    legal_basis: str
    fields: tuple[str, ...] | None
    pseudonymous: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """`<system> -> <event type>`, the agreement's key in the lock file."""
        return subscription_name(self.system, self.event_type)

    def to_dict(self) -> dict[str, Any]:
        """The agreement as stored in the lock file (`fields: null` = the default grant)."""
        stored: dict[str, Any] = {
            "system": self.system,
            "event_type": self.event_type,
            "purpose": self.purpose,
            "legal_basis": self.legal_basis,
            "fields": sorted(self.fields) if self.fields is not None else None,
        }
        if self.pseudonymous:
            stored["pseudonymous"] = sorted(self.pseudonymous)
        return stored


@dataclass(frozen=True)
class PersonalDataWaiver:
    """A reviewed decision that a field which looks personal is not (e.g. a 16-digit code)."""

    event_type: str
    field: str
    reason: str
    approver: str
    approved_on: str

    def to_dict(self) -> dict[str, str]:
        """The waiver as stored in the lock file."""
        return {"reason": self.reason, "approver": self.approver, "approved_on": self.approved_on}


@dataclass(frozen=True)
class Waiver:
    """A deliberate overlap the GCIO accepted: which two types, why, who approved it, when."""

    event_type: str
    similar_to: str
    reason: str
    approver: str
    approved_on: str

    @property
    def name(self) -> str:
        """`<event type> ~ <similar type>`, the waiver's key in the lock file."""
        return waiver_name(self.event_type, self.similar_to)

    def covers(self, a: str, b: str) -> bool:
        """True when this waiver is for the overlap of `a` and `b`, in either order."""
        return {a, b} == {self.event_type, self.similar_to}

    def to_dict(self) -> dict[str, Any]:
        """The waiver as stored in the lock file."""
        return {
            "event_type": self.event_type,
            "similar_to": self.similar_to,
            "reason": self.reason,
            "approver": self.approver,
            "approved_on": self.approved_on,
        }


def waiver_name(event_type: str, similar_to: str) -> str:
    """The key of an overlap waiver in the lock file."""
    return f"{event_type} ~ {similar_to}"


def subscription_name(system: str, event_type: str) -> str:
    """The key of an agreement in the lock file."""
    return f"{system} -> {event_type}"


@dataclass(frozen=True)
class LockFile:
    """Every approved event type version and agreement."""

    event_types: dict[tuple[str, int], LockedEventType] = field(default_factory=dict)
    subscriptions: dict[str, LockedSubscription] = field(default_factory=dict)
    waivers: dict[str, Waiver] = field(default_factory=dict)
    #: Reviewed "this field looks personal but is not" decisions, by (event type, field).
    personal_data_waivers: dict[tuple[str, str], PersonalDataWaiver] = field(default_factory=dict)

    def waive_personal_data(self, waiver: PersonalDataWaiver) -> LockFile:
        """This lock file with `waiver` recorded (replacing an earlier one for the same field)."""
        key = (waiver.event_type, waiver.field)
        return replace(self, personal_data_waivers={**self.personal_data_waivers, key: waiver})

    def locked(self, event_type: EventType) -> LockedEventType | None:
        """The approved state of this event type's major version, if it was ever approved."""
        return self.event_types.get((event_type.type, event_type.version))

    def waiver_for(self, a: str, b: str) -> Waiver | None:
        """The approved waiver for the overlap of event types `a` and `b`, if there is one."""
        return next((w for w in self.waivers.values() if w.covers(a, b)), None)

    def waive(self, waiver: Waiver) -> LockFile:
        """A new lock file that also records `waiver` (replacing one for the same pair)."""
        kept = {
            name: w
            for name, w in self.waivers.items()
            if not w.covers(waiver.event_type, waiver.similar_to)
        }
        return replace(self, waivers={**kept, waiver.name: waiver})

    def integrity_problems(self) -> list[str]:
        """Revisions whose stored hash does not match their schema (edited by hand)."""
        problems = []
        for (type_, version), entry in sorted(self.event_types.items()):
            for revision in entry.revisions:
                if schema_hash(revision.schema) != revision.sha256:
                    problems.append(
                        f"{type_} v{version} revision {revision.revision}: sha256 does not "
                        "match the stored schema; the lock file was edited by hand"
                    )
        return problems

    def approve(self, catalog: Catalog, *, baselines: Iterable[str] = ()) -> LockFile:
        """A new lock file recording `catalog` as approved.

        A changed schema becomes a new revision of its major version (a `baseline` when its
        event type is named in `baselines`, i.e. approved despite a failed check); event types
        and agreements no longer in the catalog are dropped, and so are waivers naming them.
        """
        forced = set(baselines)
        event_types: dict[tuple[str, int], LockedEventType] = {}
        for et in catalog.event_types:
            previous = self.locked(et)
            schema = canonical_schema(et.json_schema())
            digest = schema_hash(schema)
            revisions: tuple[Revision, ...] = previous.revisions if previous else ()
            if not revisions or revisions[-1].sha256 != digest:
                revisions += (
                    Revision(
                        revision=len(revisions) + 1,
                        schema=schema,
                        sha256=digest,
                        baseline=bool(revisions) and et.type in forced,
                    ),
                )
            event_types[(et.type, et.version)] = LockedEventType(
                type=et.type,
                version=et.version,
                topic=et.topic,
                owner=et.owner,
                key=et.key,
                compatibility=et.compatibility,
                personal_fields=tuple(sorted(et.personal_fields)),
                topic_settings=topic_settings_of(et),
                revisions=revisions,
            )
        subscriptions = {
            subscription_name(s.system, s.event_type): locked_subscription(s)
            for s in catalog.subscriptions
        }
        declared = {et.type for et in catalog.event_types}
        waivers = {
            name: w for name, w in self.waivers.items() if {w.event_type, w.similar_to} <= declared
        }
        return replace(self, event_types=event_types, subscriptions=subscriptions, waivers=waivers)

    def to_dict(self) -> dict[str, Any]:
        """The whole lock file as a JSON-ready document."""
        types: dict[str, dict[str, Any]] = {}
        for (type_, version), entry in self.event_types.items():
            types.setdefault(type_, {})[f"v{version}"] = entry.to_dict()
        document: dict[str, Any] = {
            "comment": _COMMENT,
            "format": LOCK_FORMAT,
            "event_types": types,
            "subscriptions": {name: s.to_dict() for name, s in self.subscriptions.items()},
        }
        if self.waivers:  # absent when empty, so older lock files read and write unchanged
            document["waivers"] = {name: w.to_dict() for name, w in self.waivers.items()}
        if self.personal_data_waivers:
            waived: dict[str, dict[str, Any]] = {}
            for (type_, name), personal in self.personal_data_waivers.items():
                waived.setdefault(type_, {})[name] = personal.to_dict()
            document["personal_data_waivers"] = waived
        return document

    def to_json(self) -> str:
        """Sorted, indented JSON ending in a newline: the same state always gives the same bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, document: Any) -> LockFile:
        """Parse a lock document; `LockFileError` names what is malformed."""
        try:
            if not isinstance(document, dict):
                raise TypeError("the document is not a JSON object")
            if document.get("format") != LOCK_FORMAT:
                raise ValueError(f"format {document.get('format')!r} is not {LOCK_FORMAT}")
            event_types = {}
            for type_, versions in document.get("event_types", {}).items():
                for major, entry in versions.items():
                    version = int(major.removeprefix("v"))
                    event_types[(type_, version)] = LockedEventType(
                        type=type_,
                        version=version,
                        topic=entry["topic"],
                        owner=entry["owner"],
                        key=entry["key"],
                        compatibility=entry["compatibility"],
                        personal_fields=tuple(entry["personal_fields"]),
                        topic_settings=dict(entry["topic_settings"]),
                        revisions=tuple(
                            Revision(
                                revision=int(r["revision"]),
                                schema=dict(r["schema"]),
                                sha256=r["sha256"],
                                baseline=bool(r.get("baseline", False)),
                            )
                            for r in entry["revisions"]
                        ),
                    )
                    if not event_types[(type_, version)].revisions:
                        raise ValueError(f"{type_} {major} has no revision")
            subscriptions = {
                name: LockedSubscription(
                    system=s["system"],
                    event_type=s["event_type"],
                    purpose=s["purpose"],
                    legal_basis=s["legal_basis"],
                    fields=tuple(s["fields"]) if s["fields"] is not None else None,
                    pseudonymous=tuple(s.get("pseudonymous", ())),
                )
                for name, s in document.get("subscriptions", {}).items()
            }
            waivers = {}
            for name, w in document.get("waivers", {}).items():
                waiver = Waiver(
                    event_type=str(w["event_type"]),
                    similar_to=str(w["similar_to"]),
                    reason=str(w["reason"]),
                    approver=str(w["approver"]),
                    approved_on=str(w["approved_on"]),
                )
                if not waiver.reason.strip() or not waiver.approver.strip():
                    raise ValueError(f"waiver {name!r} needs a reason and an approver")
                waivers[name] = waiver
            personal_data_waivers = {
                (type_, name): PersonalDataWaiver(
                    type_,
                    name,
                    reason=str(w["reason"]),
                    approver=str(w["approver"]),
                    approved_on=str(w["approved_on"]),
                )
                for type_, fields in document.get("personal_data_waivers", {}).items()
                for name, w in fields.items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise LockFileError(f"lock file is malformed: {detail}") from None
        return cls(
            event_types=event_types,
            subscriptions=subscriptions,
            waivers=waivers,
            personal_data_waivers=personal_data_waivers,
        )


def topic_settings_of(event_type: EventType) -> dict[str, Any]:
    """The topic settings recorded in the lock file."""
    ts = event_type.topic_settings
    return {
        "partitions": ts.partitions,
        "replication_factor": ts.replication_factor,
        "retention_ms": ts.retention_ms,
        "cleanup_policy": ts.cleanup_policy,
        "min_insync_replicas": ts.min_insync_replicas,
    }


def locked_subscription(subscription: Subscription) -> LockedSubscription:
    """The terms of an agreement as the lock file records them."""
    return LockedSubscription(
        system=subscription.system,
        event_type=subscription.event_type,
        purpose=subscription.purpose,
        legal_basis=subscription.legal_basis,
        fields=tuple(sorted(subscription.fields)) if subscription.fields is not None else None,
        pseudonymous=tuple(sorted(subscription.pseudonymous)),
    )


def default_lock_path(catalog_module: str) -> Path:
    """`catalog.lock.json` next to the catalog module (e.g. `schemas/catalog.lock.json`)."""
    import importlib.util

    spec = importlib.util.find_spec(catalog_module)
    if spec is None or spec.origin is None:
        return Path(LOCK_FILE_NAME)
    return Path(spec.origin).parent / LOCK_FILE_NAME


def read_lock(path: Path) -> LockFile | None:
    """The lock file at `path`, or None when there is none yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LockFileError(f"cannot read lock file {path}: {exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LockFileError(f"lock file {path} is not JSON: {exc}") from None
    return LockFile.from_dict(document)


def write_lock(lock: LockFile, path: Path) -> bool:
    """Write `lock` to `path`; returns False (and writes nothing) when it is unchanged."""
    text = lock.to_json()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return True
