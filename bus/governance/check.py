"""`bus catalog check`: the GCIO's first reviewer, run by CI on every pull request.

    report = check_catalog(catalog, lock)
    report.ok        # False when any change breaks a consumer, changes an owner, or copies data

It compares the catalog with the approved lock file, event type by event type: compatibility of
the schema under the type's mode, and the governance facts a schema check cannot see (owner,
key, personal-data markings, partitions). Then it looks for overlap between owners and for
duplicated agreements. Things only the reviewer should notice (a new type awaiting approval, a
compatible change not yet locked) are warnings and do not fail the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bus.catalog import Catalog, EventType, load_catalog
from bus.errors import CatalogError, LockFileError
from bus.governance.compatibility import check_evolution, parse_mode
from bus.governance.lockfile import (
    LockedEventType,
    LockFile,
    locked_subscription,
    read_lock,
    schema_hash,
    subscription_name,
)
from bus.governance.overlap import (
    DEFAULT_THRESHOLD,
    find_duplicate_subscriptions,
    find_overlaps,
)
from bus.governance.personal_data import unmarked_personal_data
from bus.governance.profile import EventProfile
from bus.governance.report import Finding, Report, Severity

ERROR, WARNING = Severity.ERROR, Severity.WARNING


def catalog_error_findings(exc: CatalogError) -> list[Finding]:
    """A `CatalogError` (raised while building the catalog) as one finding per problem."""
    text = str(exc)
    _, _, rest = text.partition(":\n  - ")
    if not rest:
        loading = text.startswith("cannot import") or "has no `catalog" in text
        return [Finding(ERROR, "catalog-not-loaded" if loading else "catalog-inconsistent", text)]
    return [Finding(ERROR, "catalog-inconsistent", p.strip()) for p in rest.split("\n  - ")]


def check_catalog(
    catalog: Catalog,
    lock: LockFile | None,
    *,
    overlap_threshold: float = DEFAULT_THRESHOLD,
) -> Report:
    """Check `catalog` against the approved `lock` (None: nothing approved yet)."""
    report = Report()
    if lock is None:
        report.add(
            Finding(
                WARNING,
                "no-lock-file",
                "no lock file: nothing is approved yet; run `bus catalog lock` after review",
            )
        )
        lock = LockFile()
    for problem in lock.integrity_problems():
        report.add(Finding(ERROR, "lock-tampered", problem))
    for et in catalog.event_types:
        report.extend(_check_event_type(catalog, et, lock))
    declared = {(et.type, et.version) for et in catalog.event_types}
    for (type_, version), entry in sorted(lock.event_types.items()):
        if (type_, version) not in declared:
            report.add(
                Finding(
                    ERROR,
                    "event-type-removed",
                    f"approved v{version} (topic {entry.topic}) is no longer declared; its "
                    "consumers depend on it. Retiring it needs an approved "
                    "`bus catalog lock --force`",
                    event_type=type_,
                )
            )
    report.extend(unmarked_personal_data(catalog, lock))
    report.extend(_check_overlaps(catalog, lock, overlap_threshold))
    report.extend(_check_subscriptions(catalog, lock, overlap_threshold))
    return report


def _check_event_type(catalog: Catalog, et: EventType, lock: LockFile) -> list[Finding]:
    found: list[Finding] = []

    def add(severity: Severity, rule: str, message: str, path: str | None = None) -> None:
        found.append(Finding(severity, rule, message, event_type=et.type, path=path))

    try:
        mode = parse_mode(et.compatibility)
    except CatalogError as exc:
        add(ERROR, "unknown-compatibility-mode", str(exc))
        return found
    locked = lock.locked(et)
    if locked is None:
        majors = sorted(v for (t, v) in lock.event_types if t == et.type)
        if majors:
            add(
                WARNING,
                "new-major-version",
                f"new major version v{et.version} on topic {et.topic} starts a new lineage "
                f"(approved: {', '.join(f'v{v}' for v in majors)}); awaiting approval",
            )
        else:
            add(WARNING, "not-approved", f"new event type on topic {et.topic}; awaiting approval")
        return found
    found += _governance_changes(catalog, et, locked)
    if locked.compatibility != mode.value:
        add(
            WARNING,
            "compatibility-changed",
            f"compatibility changed from {locked.compatibility} to {mode.value}",
        )
    if schema_hash(et.json_schema()) == locked.latest.sha256:
        return found
    history = locked.lineage
    problems = check_evolution([r.schema for r in history], et.json_schema(), mode)
    for index, problem in problems:
        add(
            ERROR,
            problem.rule,
            f"{problem.message} ({mode.value}: breaks {problem.direction} compatibility with "
            f"approved revision {history[index].revision})",
            path=problem.path,
        )
    if not problems:
        add(
            WARNING,
            "not-approved-revision",
            f"schema changed compatibly ({mode.value}) since approved revision "
            f"{locked.latest.revision}; record it with `bus catalog lock` once approved",
        )
    return found


def _governance_changes(catalog: Catalog, et: EventType, locked: LockedEventType) -> list[Finding]:
    found: list[Finding] = []

    def add(severity: Severity, rule: str, message: str, path: str | None = None) -> None:
        found.append(Finding(severity, rule, message, event_type=et.type, path=path))

    if et.owner != locked.owner:
        add(
            ERROR,
            "owner-changed",
            f"owner changed from {locked.owner} to {et.owner}: ownership moves only by a "
            "GCIO decision; a new owner publishes a new event type",
        )
    if et.key != locked.key:
        add(
            ERROR,
            "key-changed",
            f"key changed from {locked.key!r} to {et.key!r}: per-key order and compaction of "
            "existing data break; publish a new major version instead",
            path=f"$.{et.key}",
        )
    was_personal, is_personal = set(locked.personal_fields), set(et.personal_fields)
    for name in sorted(was_personal - is_personal):
        add(
            ERROR,
            "personal-data-unmarked",
            f"field {name!r} is no longer marked as personal data: agreements with the default "
            "grant would start receiving it",
            path=f"$.{name}",
        )
    for name in sorted(is_personal - was_personal):
        losing = [s.system for s in catalog.subscribers_of(et.type) if s.fields is None]
        add(
            WARNING,
            "personal-data-marked",
            f"field {name!r} is now personal data: default-grant subscribers "
            f"{losing or 'none'} no longer receive it",
            path=f"$.{name}",
        )
    was, now = locked.topic_settings.get("partitions"), et.topic_settings.partitions
    if isinstance(was, int) and now < was:
        add(
            ERROR,
            "partitions-decreased",
            f"partitions decreased from {was} to {now}: Kafka cannot shrink a topic",
        )
    elif isinstance(was, int) and now > was:
        add(
            WARNING,
            "partitions-increased",
            f"partitions increased from {was} to {now}: keys move to other partitions, so "
            "order per key is not kept across the change",
        )
    return found


def _check_overlaps(catalog: Catalog, lock: LockFile, threshold: float) -> list[Finding]:
    found = []
    waived = set()
    for pair in find_overlaps(catalog.event_types, threshold=threshold):
        overlap = pair
        if _is_locked(lock, pair.event_type) and not _is_locked(lock, pair.similar_to):
            # Report the overlap on the proposal, the side that is not approved yet.
            overlap = pair.reversed()
        proposed = overlap.event_type
        waiver = lock.waiver_for(*overlap.pair)
        if waiver is not None:
            waived.add(waiver.name)
            found.append(
                Finding(
                    WARNING,
                    "overlap-waived",
                    f"{overlap.describe()}\nwaived on {waiver.approved_on} by {waiver.approver}: "
                    f"{waiver.reason}",
                    event_type=proposed.type,
                )
            )
            continue
        approved = _is_locked(lock, proposed)
        found.append(
            Finding(
                WARNING if approved else ERROR,
                "overlap",
                overlap.describe() + ("\n(both approved earlier)" if approved else ""),
                event_type=proposed.type,
            )
        )
    for name in sorted(set(lock.waivers) - waived):
        found.append(
            Finding(
                WARNING,
                "waiver-unused",
                f"waiver {name} no longer matches an overlap; `bus catalog lock` drops it once "
                "either type is gone",
                event_type=lock.waivers[name].event_type,
            )
        )
    return found


def _is_locked(lock: LockFile, profile: EventProfile) -> bool:
    return (profile.type, profile.version) in lock.event_types


def _check_subscriptions(catalog: Catalog, lock: LockFile, threshold: float) -> list[Finding]:
    found = []
    for dup in find_duplicate_subscriptions(
        catalog.subscriptions, catalog.event_types, threshold=threshold
    ):
        name = subscription_name(dup.subscription.system, dup.subscription.event_type)
        approved = name in lock.subscriptions
        found.append(
            Finding(
                WARNING if approved else ERROR,
                "duplicate-subscription",
                f"agreement {name} duplicates {dup.existing.system} -> "
                f"{dup.existing.event_type}: {dup.reason}",
                event_type=dup.subscription.event_type,
            )
        )
    for sub in catalog.subscriptions:
        name = subscription_name(sub.system, sub.event_type)
        terms = lock.subscriptions.get(name)
        if terms is None:
            found.append(
                Finding(
                    WARNING,
                    "agreement-not-approved",
                    f"new agreement {name}; awaiting approval",
                    event_type=sub.event_type,
                )
            )
        elif terms != locked_subscription(sub):
            changed = [
                f
                for f in ("purpose", "legal_basis", "fields", "pseudonymous")
                if getattr(terms, f) != getattr(locked_subscription(sub), f)
            ]
            found.append(
                Finding(
                    WARNING,
                    "agreement-changed",
                    f"agreement {name} changed ({', '.join(changed)}) since approval",
                    event_type=sub.event_type,
                )
            )
    declared = {subscription_name(s.system, s.event_type) for s in catalog.subscriptions}
    for name in sorted(set(lock.subscriptions) - declared):
        found.append(
            Finding(
                WARNING,
                "agreement-revoked",
                f"approved agreement {name} is no longer declared",
                event_type=lock.subscriptions[name].event_type,
            )
        )
    return found


@dataclass(frozen=True)
class CheckOutcome:
    """What a full check produced: the catalog and lock when they could be read, and the report."""

    catalog: Catalog | None
    lock: LockFile | None
    lock_readable: bool
    report: Report


def check_catalog_module(
    module: str, lock_path: Path, *, overlap_threshold: float = DEFAULT_THRESHOLD
) -> CheckOutcome:
    """Load the catalog module and the lock file, and check one against the other.

    A catalog that cannot be built (inconsistent references, a bad declaration) and a lock file
    that cannot be read are reported as errors rather than raised, so CI shows every problem.
    """
    report = Report()
    try:
        catalog = load_catalog(module)
    except CatalogError as exc:
        report.extend(catalog_error_findings(exc))
        return CheckOutcome(None, None, lock_readable=False, report=report)
    try:
        lock = read_lock(lock_path)
    except LockFileError as exc:
        report.add(Finding(ERROR, "lock-unreadable", str(exc)))
        return CheckOutcome(catalog, None, lock_readable=False, report=report)
    report.extend(check_catalog(catalog, lock, overlap_threshold=overlap_threshold).findings)
    return CheckOutcome(catalog, lock, lock_readable=True, report=report)
