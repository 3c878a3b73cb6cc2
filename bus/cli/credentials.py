"""`bus credentials issue`: a system's own Kafka identity (a SCRAM user), made by the admin."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer

from bus.cli import _common

credentials_app = typer.Typer(help="Kafka credentials of systems: one SCRAM user each.")


@credentials_app.command("issue")
def issue(
    system: Annotated[str, typer.Argument(help="The system id (its SCRAM user name).")],
    password_file: Annotated[
        Path | None,
        typer.Option(help="Write the password here (owner-only) instead of printing it once."),
    ] = None,
) -> None:
    """Create or replace the system's SCRAM-SHA-512 user with a new random password."""
    from bus.acl.principals import SERVICE_USER
    from bus.broker.scram import new_password, set_scram_users

    settings = _common.admin_settings()
    catalog = _common.catalog(settings)
    with _common.bus_errors():
        if system != SERVICE_USER:
            catalog.system(system)  # UnknownSystemError for a typo
        password = new_password()
        asyncio.run(set_scram_users({system: password}, settings))
    if password_file is not None:
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(password + "\n")
        where = f"its password is in {password_file}"
    else:
        _common.out.print(password, markup=False, highlight=False)
        where = "its password is printed above, once: hand it over as a secret"
    _common.err.print(
        f"SCRAM user {system!r} set on {settings.bootstrap_servers}; {where}. The system "
        f"connects with BUS_SASL_USERNAME={system} and BUS_SASL_PASSWORD_FILE.",
        highlight=False,
        markup=False,
    )
