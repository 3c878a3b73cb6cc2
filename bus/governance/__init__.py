"""Catalog governance: compatibility against the approved lock file, overlap, AsyncAPI.

    report = check_catalog(catalog, read_lock(default_lock_path("schemas")))
    if not report.ok: ...

`bus catalog check`, `bus catalog lock` and `bus catalog asyncapi` are thin commands over this
package; docs/governance.md explains the rules.
"""

from bus.governance.asyncapi import asyncapi_document
from bus.governance.check import CheckOutcome, check_catalog, check_catalog_module
from bus.governance.compatibility import (
    CompatibilityMode,
    Incompatibility,
    check_compatibility,
    check_evolution,
    parse_mode,
)
from bus.governance.lockfile import (
    LockedEventType,
    LockFile,
    Revision,
    default_lock_path,
    read_lock,
    schema_hash,
    write_lock,
)
from bus.governance.overlap import (
    DuplicateSubscription,
    Overlap,
    Similarity,
    find_duplicate_subscriptions,
    find_overlaps,
    similarity,
)
from bus.governance.report import Finding, Report, Severity

__all__ = [
    "CheckOutcome",
    "CompatibilityMode",
    "DuplicateSubscription",
    "Finding",
    "Incompatibility",
    "LockFile",
    "LockedEventType",
    "Overlap",
    "Report",
    "Revision",
    "Severity",
    "Similarity",
    "asyncapi_document",
    "check_catalog",
    "check_catalog_module",
    "check_compatibility",
    "check_evolution",
    "default_lock_path",
    "find_duplicate_subscriptions",
    "find_overlaps",
    "parse_mode",
    "read_lock",
    "schema_hash",
    "similarity",
    "write_lock",
]
