"""The `bus` command line: one Typer sub-app per concern, each in its own module."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from bus.cli.acl import acl_app
from bus.cli.adapter import adapter_app
from bus.cli.catalog import catalog_app
from bus.cli.certs import certs
from bus.cli.credentials import credentials_app
from bus.cli.dev import dev
from bus.cli.dlq import dlq_app
from bus.cli.ingress import ingress
from bus.cli.keys import keys_app
from bus.cli.lag import lag
from bus.cli.monitor import monitor
from bus.cli.outbox import outbox_app
from bus.cli.pdp import pdp_app
from bus.cli.project import project
from bus.cli.topics import topics_app
from bus.cli.trace import trace


class BusCommands(TyperGroup):
    """The `bus` command tree; each option's value is shown by name (`--port PORT`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _name_values(self)


def _name_values(command: TyperCommand | TyperGroup) -> None:
    # Typer labels values with Python types (`<str>`, `<list[str]>`, `<float range>`); a name
    # says what to type. Set here, once the whole tree exists, where a command set none.
    for param in command.params:
        if not isinstance(param, TyperArgument | TyperOption) or param.metavar is not None:
            continue
        if isinstance(param, TyperOption) and (param.is_flag or param.count):
            continue  # takes no value
        described = param.type_descriptor
        choices = described.choices if described.is_choice else None
        # A choice shows its values (`--broker auto|kafka|…`), anything else its name.
        param.metavar = (
            "|".join(str(c) for c in choices) if choices else (param.name or "value").upper()
        )
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            if isinstance(sub, TyperCommand | TyperGroup):
                _name_values(sub)


app = typer.Typer(
    cls=BusCommands,
    name="bus",
    help="OPD Bus: Riau's event bus for sharing data between regional agencies (OPD).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help screens: rich's panels label every flag with a type (`--help <bool>`) and
    # read `[default: …]` in a help text as markup, dropping it.
    rich_markup_mode=None,
)
app.add_typer(catalog_app, name="catalog")
app.add_typer(adapter_app, name="adapter")
app.add_typer(dlq_app, name="dlq")
app.add_typer(outbox_app, name="outbox")
app.add_typer(keys_app, name="keys")
app.add_typer(pdp_app, name="pdp")
app.command()(ingress)
app.add_typer(topics_app, name="topics")
app.add_typer(acl_app, name="acl")
app.add_typer(credentials_app, name="credentials")
app.command()(certs)
app.command()(dev)
app.command()(lag)
app.command()(monitor)
app.command()(project)
app.command()(trace)


def main() -> None:
    """Entry point of the `bus` console script."""
    app()
