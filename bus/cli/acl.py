"""`bus acl plan|apply`: the Kafka ACL bindings the catalog implies, deny by default."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bus.acl import BUS_PRINCIPAL, AclBinding, acl_bindings, apply_acls
from bus.cli import _common

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
    bus_principal: BusPrincipalOption = BUS_PRINCIPAL,
) -> None:
    """Print every ACL binding the catalog implies, sorted; anything not listed is denied."""
    bindings = _bindings(bus_principal)
    if as_json:
        _common.write_json([binding.to_dict() for binding in bindings])
        return
    for binding in bindings:
        _common.out.print(str(binding), markup=False, highlight=False)
    _common.out.print(
        f"{len(bindings)} ALLOW bindings; with an authorizer, everything else is denied.",
        markup=False,
        highlight=False,
    )


@acl_app.command("apply")
def apply(bus_principal: BusPrincipalOption = BUS_PRINCIPAL) -> None:
    """Create the bindings on the cluster (it needs an authorizer); existing ones are kept."""
    bindings = _bindings(bus_principal)
    settings = _common.admin_settings()
    with _common.bus_errors():
        count = asyncio.run(apply_acls(bindings, settings))
    _common.out.print(f"Applied {count} ACL bindings to {settings.bootstrap_servers}.")


def _bindings(bus_principal: str) -> list[AclBinding]:
    catalog = _common.catalog(_common.settings())
    with _common.bus_errors():
        return acl_bindings(catalog, bus_principal=bus_principal or None)
