"""`bus acl plan|apply`: make the cluster's ACLs the catalog's, deny by default."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bus.acl import (
    BUS_PRINCIPAL,
    AclBinding,
    AclPlan,
    acl_bindings,
    apply_acl_plan,
    cluster_acls,
    plan_acls,
)
from bus.cli import _common
from bus.config import BusSettings

acl_app = typer.Typer(help="ACLs from the catalog: owners write, agreed consumers read.")

BusPrincipalOption = Annotated[
    str,
    typer.Option(
        "--bus-principal",
        help="Principal of the bus's own services (ingress, relay, monitor); '' for none.",
    ),
]


@acl_app.command("plan")
def plan(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="List the catalog's bindings without asking a cluster."),
    ] = False,
    bus_principal: BusPrincipalOption = BUS_PRINCIPAL,
) -> None:
    """Show what `apply` would change on the cluster: bindings to add, keep and remove."""
    if offline:
        bindings = _bindings(bus_principal)
        if as_json:
            _common.write_json([binding.to_dict() for binding in bindings])
            return
        for binding in bindings:
            _print(str(binding))
        _print(f"{len(bindings)} ALLOW bindings; with an authorizer, everything else is denied.")
        return
    settings = _common.admin_settings()
    found = _plan(settings, bus_principal)
    if as_json:
        _common.write_json(found.to_dict())
        return
    _show(found, settings)


@acl_app.command("apply")
def apply(
    allow_delete: Annotated[
        bool,
        typer.Option(
            "--allow-delete",
            help="Also delete bindings the catalog no longer implies (revoked agreements).",
        ),
    ] = False,
    bus_principal: BusPrincipalOption = BUS_PRINCIPAL,
) -> None:
    """Create the missing bindings; remove the extra ones only with --allow-delete."""
    settings = _common.admin_settings()
    found = _plan(settings, bus_principal, "apply ACLs")
    _show(found, settings)
    with _common.bus_errors():
        applied = asyncio.run(apply_acl_plan(found, settings, allow_delete=allow_delete))
    _print(
        f"Applied to {settings.bootstrap_servers}: {applied.created} added, "
        f"{applied.removed} removed."
    )
    if applied.left:
        _common.err.print(
            f"[bold yellow]warning:[/] {len(applied.left)} bindings the catalog no longer "
            "implies still grant access; run `bus acl apply --allow-delete` to remove them.",
            highlight=False,
        )


def _plan(settings: BusSettings, bus_principal: str, purpose: str = "read ACLs") -> AclPlan:
    desired = _bindings(bus_principal)
    with _common.bus_errors():
        return plan_acls(desired, asyncio.run(cluster_acls(settings, purpose)))


def _show(found: AclPlan, settings: BusSettings) -> None:
    _print(
        f"ACL plan for {settings.bootstrap_servers}: {len(found.add)} to add, "
        f"{len(found.keep)} to keep, {len(found.remove)} to remove"
    )
    for binding in found.add:
        _print(f"  + {binding}")
    for binding in found.remove:
        _print(f"  - {binding}  (not in the catalog; removed only with --allow-delete)")
    for line in found.unmanaged:
        _print(f"  ? {line}  (not managed by the bus; left alone)")
    if found.empty:
        _print("No changes: the cluster's ACLs match the catalog.")


def _print(line: str) -> None:
    _common.out.print(line, markup=False, highlight=False)


def _bindings(bus_principal: str) -> list[AclBinding]:
    catalog = _common.catalog(_common.settings())
    with _common.bus_errors():
        return acl_bindings(catalog, bus_principal=bus_principal or None)
