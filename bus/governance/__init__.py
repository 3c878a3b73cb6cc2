"""Catalog governance: compatibility against the approved lock file, overlap, reuse, AsyncAPI.

    report = check_catalog(catalog, read_lock(default_lock_path("schemas")))
    if not report.ok: ...
    advice = advise(read_proposal(path), catalog)   # before a new system is built

`bus catalog check`, `lock`, `waive`, `propose` and `asyncapi` are thin commands over this
package; docs/governance.md explains the rules.
"""

from bus.governance.advice_report import advice_html, advice_markdown
from bus.governance.advisor import Advice, AgreementRequest, advise
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
    Waiver,
    default_lock_path,
    read_lock,
    schema_hash,
    write_lock,
)
from bus.governance.overlap import (
    DuplicateSubscription,
    FieldMatch,
    Overlap,
    Similarity,
    find_duplicate_subscriptions,
    find_overlaps,
    profiles,
    similarity,
)
from bus.governance.profile import EventProfile, FieldProfile, Vocabulary
from bus.governance.proposal import Proposal, ProposalError, read_proposal
from bus.governance.report import Finding, Report, Severity

__all__ = [
    "Advice",
    "AgreementRequest",
    "CheckOutcome",
    "CompatibilityMode",
    "DuplicateSubscription",
    "EventProfile",
    "FieldMatch",
    "FieldProfile",
    "Finding",
    "Incompatibility",
    "LockFile",
    "LockedEventType",
    "Overlap",
    "Proposal",
    "ProposalError",
    "Report",
    "Revision",
    "Severity",
    "Similarity",
    "Vocabulary",
    "Waiver",
    "advice_html",
    "advice_markdown",
    "advise",
    "asyncapi_document",
    "check_catalog",
    "check_catalog_module",
    "check_compatibility",
    "check_evolution",
    "default_lock_path",
    "find_duplicate_subscriptions",
    "find_overlaps",
    "parse_mode",
    "profiles",
    "read_lock",
    "read_proposal",
    "schema_hash",
    "similarity",
    "write_lock",
]
