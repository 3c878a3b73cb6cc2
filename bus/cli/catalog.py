"""`bus catalog ...`: read the governed catalog, check it, lock the approved state, AsyncAPI,
advise on a proposed system, waive a deliberate overlap."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from bus.cli import _common
from bus.config import BusSettings
from bus.errors import BusError
from bus.governance.advice_report import advice_html, advice_markdown, advice_tables
from bus.governance.advisor import advise
from bus.governance.asyncapi import asyncapi_document
from bus.governance.check import check_catalog_module
from bus.governance.lockfile import (
    LockFile,
    PersonalDataWaiver,
    Waiver,
    default_lock_path,
    read_lock,
    write_lock,
)
from bus.governance.proposal import read_proposal

catalog_app = typer.Typer(help="The governed catalog: systems, event types, agreements.")


@catalog_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """List systems, event types and subscriptions."""
    loaded = _common.catalog(_common.settings())
    if as_json:
        _common.write_json(loaded.to_dict())
        return
    systems = _common.Listing("Systems", ("id", "OPD", "name"))
    for system in loaded.systems:
        systems.add(system.id, system.opd, system.name)
    types = _common.Listing(
        "Event types", ("type", "topic", "owner", "v", "key", "personal data"), identifiers=3
    )
    for et in loaded.event_types:
        types.add(
            et.type,
            et.topic,
            et.owner,
            str(et.version),
            et.key,
            ", ".join(sorted(et.personal_fields)),
        )
    subs = _common.Listing(
        "Subscriptions (data-sharing agreements)",
        ("system", "event type", "purpose"),
        identifiers=2,
    )
    for sub in loaded.subscriptions:
        subs.add(sub.system, sub.event_type, sub.purpose)
    for listing in (systems, types, subs):
        listing.print()


def _lock_path(loaded: BusSettings, lock: Path | None) -> Path:
    if lock is not None:
        return lock
    if loaded.catalog_lock_path:
        return Path(loaded.catalog_lock_path)
    return default_lock_path(loaded.catalog_module)


LockOption = Annotated[
    Path | None,
    typer.Option(
        "--lock", help="Lock file of the approved catalog [default: catalog.lock.json beside it]."
    ),
]
ThresholdOption = Annotated[
    float | None,
    typer.Option(
        "--threshold", min=0.0, max=1.0, help="Overlap similarity threshold [default: 0.6]."
    ),
]


@catalog_app.command("check")
def check(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    lock: LockOption = None,
    threshold: ThresholdOption = None,
    strict: Annotated[bool, typer.Option(help="Fail on warnings too.")] = False,
) -> None:
    """Check consistency, compatibility against the lock file and overlap; exit 1 on an error."""
    loaded = _common.settings()
    path = _lock_path(loaded, lock)
    outcome = check_catalog_module(
        loaded.catalog_module,
        path,
        overlap_threshold=loaded.catalog_overlap_threshold if threshold is None else threshold,
    )
    report = outcome.report
    if as_json:
        _common.write_json(report.to_dict())
    else:
        summary = f"checked against {path}"
        if outcome.catalog is not None:
            c = outcome.catalog
            summary = (
                f"{len(c.systems)} systems, {len(c.event_types)} event types, "
                f"{len(c.subscriptions)} subscriptions, {summary}"
            )
        report.render(_common.out, summary=summary)
    if not report.ok or (strict and report.warnings):
        raise typer.Exit(1)


@catalog_app.command("lock")
def lock_(
    lock: LockOption = None,
    threshold: ThresholdOption = None,
    force: Annotated[
        bool, typer.Option(help="Record the catalog even though the check fails (GCIO override).")
    ] = False,
) -> None:
    """Record the current catalog as approved in the lock file (after review)."""
    loaded = _common.settings()
    path = _lock_path(loaded, lock)
    outcome = check_catalog_module(
        loaded.catalog_module,
        path,
        overlap_threshold=loaded.catalog_overlap_threshold if threshold is None else threshold,
    )
    report = outcome.report
    if outcome.catalog is None or not outcome.lock_readable:
        report.render(_common.err)
        _common.err.print("[bold red]error:[/] cannot lock: fix the catalog or the lock file first")
        raise typer.Exit(1)
    if not report.ok and not force:
        report.render(_common.err)
        _common.err.print(
            "[bold red]error:[/] refusing to lock a catalog that fails the check; fix it, or "
            "record a GCIO-approved breaking change with --force",
            highlight=False,
        )
        raise typer.Exit(1)
    previous = outcome.lock or LockFile()
    baselines = {f.event_type for f in report.errors if f.event_type}
    approved = previous.approve(outcome.catalog, baselines=baselines)
    if not write_lock(approved, path):
        _common.out.print(f"lock file {path} is already up to date")
        return
    revisions = sum(len(e.revisions) for e in approved.event_types.values())
    _common.out.print(
        f"wrote {path}: {len(approved.event_types)} event type versions, {revisions} "
        f"revisions, {len(approved.subscriptions)} agreements"
        + (" (forced: breaking changes recorded as baselines)" if baselines else ""),
        highlight=False,
    )


@catalog_app.command("waive-personal")
def waive_personal(
    event_type: Annotated[
        str, typer.Argument(help="Event type, e.g. id.go.riau.bapenda.pkb.dibayar.")
    ],
    field: Annotated[str, typer.Argument(help="The field that looks personal but is not.")],
    reason: Annotated[str, typer.Option(help="Why the field is not personal data.")],
    approver: Annotated[
        str, typer.Option(help="Who reviewed it (GCIO, data protection officer: name, role).")
    ],
    lock: LockOption = None,
) -> None:
    """Record a reviewed waiver: this field looks personal but is not (kept in the lock file)."""
    loaded = _common.settings()
    path = _lock_path(loaded, lock)
    found = _common.catalog(loaded)
    with _common.bus_errors():
        et = found.event_type(event_type)
        if field not in et.data.model_fields:
            raise BusError(f"{et.type} has no field {field!r}")
        if not reason.strip() or not approver.strip():
            raise BusError("--reason and --approver must not be empty")
        previous = read_lock(path) or LockFile()
    waiver = PersonalDataWaiver(
        et.type,
        field,
        reason=reason.strip(),
        approver=approver.strip(),
        approved_on=date.today().isoformat(),
    )
    write_lock(previous.waive_personal_data(waiver), path)
    _common.out.print(
        f"recorded in {path}: {et.type} {field} is not personal data", highlight=False
    )


@catalog_app.command("asyncapi")
def asyncapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the AsyncAPI 3.0.0 document of every channel, message, schema and owner."""
    loaded = _common.settings()
    document = asyncapi_document(_common.catalog(loaded), loaded)
    if output is None:
        _common.write_json(document)
        return
    output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _common.out.print(f"wrote {output}", highlight=False)


@catalog_app.command("propose")
def propose(
    proposal: Annotated[
        Path, typer.Argument(help="The proposed system, a TOML file (see examples/proposals/).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the advice as JSON.")] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            "-o",
            help="Also write a self-contained report: FILE.html or FILE.md (Markdown).",
        ),
    ] = None,
    threshold: ThresholdOption = None,
) -> None:
    """Advise on a proposed system: what it can subscribe to, what is new, what would overlap."""
    loaded = _common.settings()
    found = _common.catalog(loaded)
    with _common.bus_errors():
        read = read_proposal(proposal)
    advice = advise(
        read, found, threshold=loaded.catalog_overlap_threshold if threshold is None else threshold
    )
    if report is not None:
        if report.suffix.lower() not in (".html", ".htm", ".md", ".markdown"):
            _common.err.print(
                f"[bold red]error:[/] --report {report}: the name must end in .html or .md",
                highlight=False,
            )
            raise typer.Exit(2)
        text = (
            advice_html(advice)
            if report.suffix.lower() in (".html", ".htm")
            else (advice_markdown(advice))
        )
        report.write_text(text, encoding="utf-8")
    if as_json:
        _common.write_json(advice.to_dict())
    else:
        for part in advice_tables(advice):
            _common.out.print(part, highlight=False)
        if report is not None:
            _common.out.print(f"wrote {report}", highlight=False)


@catalog_app.command("waive")
def waive(
    event_type: Annotated[str, typer.Argument(help="The overlapping (usually proposed) type.")],
    similar_to: Annotated[str, typer.Argument(help="The type it overlaps.")],
    reason: Annotated[str, typer.Option(help="Why the overlap is deliberate.")],
    approver: Annotated[str, typer.Option(help="Who at the GCIO approved it (name, role).")],
    lock: LockOption = None,
) -> None:
    """Record a GCIO-approved deliberate overlap in the lock file; `check` then only warns."""
    loaded = _common.settings()
    found = _common.catalog(loaded)
    path = _lock_path(loaded, lock)
    declared = {et.type for et in found.event_types}
    problems = [f"{t} is not an event type of the catalog" for t in (event_type, similar_to)]
    problems = [
        p for t, p in zip((event_type, similar_to), problems, strict=True) if t not in declared
    ]
    if not reason.strip() or not approver.strip():
        problems.append("--reason and --approver must not be empty")
    if problems:
        _common.err.print(f"[bold red]error:[/] {'; '.join(problems)}", highlight=False)
        raise typer.Exit(1)
    with _common.bus_errors():
        previous = read_lock(path) or LockFile()
    waiver = Waiver(
        event_type=event_type,
        similar_to=similar_to,
        reason=reason.strip(),
        approver=approver.strip(),
        approved_on=date.today().isoformat(),
    )
    write_lock(previous.waive(waiver), path)
    _common.out.print(f"recorded waiver {waiver.name} in {path}", highlight=False)
