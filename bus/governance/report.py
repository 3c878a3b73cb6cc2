"""What a governance check found: errors that fail CI and warnings that only inform.

Every check (catalog consistency, compatibility against the lock file, overlap) reports
`Finding`s; a `Report` collects them, renders them for a reviewer and as JSON for machines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.markup import escape


class Severity(StrEnum):
    """Whether a finding fails the check (`error`) or is shown for the reviewer (`warning`)."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One thing the check found: where (event type, JSON path), which rule, and why."""

    severity: Severity
    rule: str
    message: str
    event_type: str | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The finding as the JSON object printed by `bus catalog check --json`."""
        return {
            "event_type": self.event_type,
            "path": self.path,
            "rule": self.rule,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = " ".join(part for part in (self.event_type, self.path) if part)
        return (
            f"{where}: {self.message} [{self.rule}]" if where else f"{self.message} [{self.rule}]"
        )


@dataclass
class Report:
    """Every finding of one check run, in the order they were found."""

    findings: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        """Record one finding."""
        self.findings.append(finding)

    def extend(self, findings: Iterable[Finding]) -> None:
        """Record several findings."""
        self.findings.extend(findings)

    @property
    def errors(self) -> list[Finding]:
        """Findings that fail the check."""
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        """Findings shown to the reviewer that do not fail the check."""
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings do not fail a check)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """`{"ok": ..., "errors": [...], "warnings": [...]}` for `bus catalog check --json`."""
        return {
            "ok": self.ok,
            "errors": [f.to_dict() for f in self.errors],
            "warnings": [f.to_dict() for f in self.warnings],
        }

    def render(self, console: Console, *, summary: str = "") -> None:
        """Print the findings grouped by event type, errors first, then a verdict line.

        Lines rather than a table: CI logs are narrow and a table would cut the reasons short.
        """
        for findings, mark in (
            (self.errors, "[bold red]error[/]"),
            (self.warnings, "[yellow]warning[/]"),
        ):
            for f in findings:
                where = " ".join(part for part in (f.event_type, f.path) if part) or "catalog"
                console.print(f"{mark} [bold]{escape(where)}[/] [dim]{f.rule}[/]", highlight=False)
                for line in f.message.splitlines():
                    console.print(f"    {escape(line)}", highlight=False)
        verdict = (
            "[bold green]catalog OK[/]" if self.ok else f"[bold red]{len(self.errors)} error(s)[/]"
        )
        extra = f", {len(self.warnings)} warning(s)" if self.warnings else ""
        tail = f": {escape(summary)}" if summary else ""
        console.print(f"{verdict}{extra}{tail}", highlight=False)
