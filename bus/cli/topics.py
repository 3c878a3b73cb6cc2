"""`bus topics plan|apply`: the catalog's topics on the broker, never destructive unasked."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bus.cli import _common
from bus.topics import AppliedChanges, TopicPlan, apply_plan, consumers_by_topic, plan_topics

topics_app = typer.Typer(help="Topics from the catalog: plan the difference, then apply it.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@topics_app.command("plan")
def plan(as_json: JsonOption = False) -> None:
    """Print what `bus topics apply` would change; exit 1 if a change needs --allow-delete."""
    settings = _common.admin_settings()
    catalog = _common.catalog(settings)
    with _common.bus_errors():
        found = asyncio.run(
            plan_topics(catalog.event_types, settings, consumers=consumers_by_topic(catalog))
        )
    if as_json:
        _common.write_json(found.to_dict())
    else:
        _print_plan(found, settings.bootstrap_servers)
    if found.errors:
        raise typer.Exit(1)


@topics_app.command("apply")
def apply(
    allow_delete: Annotated[
        bool,
        typer.Option(
            "--allow-delete",
            help="Also delete topics the catalog dropped and recreate topics it shrank "
            "(their events are lost).",
        ),
    ] = False,
    allow_add_partitions: Annotated[
        bool,
        typer.Option(
            "--allow-add-partitions",
            help="Also add partitions (moves keys to other partitions: per-key order breaks "
            "for events in flight); grows the consumers' retry and dead-letter topics too.",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and change nothing.")
    ] = False,
) -> None:
    """Create topics and alter configs (add partitions, delete only when allowed) to match."""
    settings = _common.admin_settings()
    catalog = _common.catalog(settings)
    with _common.bus_errors():
        found = asyncio.run(
            plan_topics(catalog.event_types, settings, consumers=consumers_by_topic(catalog))
        )
        _print_plan(found, settings.bootstrap_servers)
        if dry_run or found.empty:
            return
        if allow_add_partitions:
            for warning in found.warnings:
                _common.err.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
        changes = asyncio.run(
            apply_plan(
                found,
                settings,
                allow_delete=allow_delete,
                allow_add_partitions=allow_add_partitions,
            )
        )
    _print_applied(changes, found, allow_delete)


def _print_plan(plan: TopicPlan, where: str) -> None:
    say = _say
    brokers = "1 broker" if plan.brokers == 1 else f"{plan.brokers} brokers"
    say(f"Topic plan for {where} ({brokers}; replication factor and min ISR clamped to it)")
    for spec in plan.create:
        configs = " ".join(f"{k}={v}" for k, v in sorted(spec.configs.items()))
        say(
            f"  + create      {spec.name}  partitions={spec.partitions} "
            f"replication={spec.replication_factor} {configs}"
        )
    for change in plan.add_partitions:
        say(
            f"  ~ partitions  {change.topic}  {change.current} → {change.wanted}  "
            "moves keys to other partitions: needs --allow-add-partitions"
        )
    for change in plan.failure_partitions:
        say(
            f"  ~ partitions  {change.topic}  {change.current} → {change.wanted}  "
            "grown with its source topic (with --allow-add-partitions)"
        )
    for config in plan.alter_configs:
        current = config.current if config.current is not None else "(broker default)"
        say(f"  ~ config      {config.topic}  {config.name}: {current} → {config.wanted}")
    for change in plan.shrink:
        say(
            f"  ! shrink      {change.topic}  {change.current} → {change.wanted}  "
            "Kafka cannot remove partitions: needs --allow-delete (delete and recreate, "
            "losing its events)"
        )
    for name in plan.delete:
        say(f"  - delete      {name}  not in the catalog (deleted only with --allow-delete)")
    if plan.configs_unknown:
        say(
            f"  ? config      unknown for {', '.join(plan.configs_unknown)}: "
            f"{plan.configs_unknown_reason}"
        )
    for note in plan.notes:
        say(f"  note: {note}")
    if plan.empty:
        say("No changes: the broker's topics match the catalog.")


def _print_applied(changes: AppliedChanges, plan: TopicPlan, allow_delete: bool) -> None:
    _say(f"Applied: {changes.summary()}.")
    if plan.delete and not allow_delete:
        _say(f"Kept {', '.join(plan.delete)}: pass --allow-delete to delete them.")


def _say(line: str) -> None:
    _common.out.print(line, markup=False, highlight=False)
