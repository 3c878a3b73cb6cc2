"""The `bus` command line: one Typer sub-app per concern, each in its own module."""

from __future__ import annotations

import typer

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
from bus.cli.project import project
from bus.cli.topics import topics_app
from bus.cli.trace import trace

app = typer.Typer(
    name="bus",
    help="OPD Bus: Riau's event bus for sharing data between regional agencies (OPD).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(catalog_app, name="catalog")
app.add_typer(adapter_app, name="adapter")
app.add_typer(dlq_app, name="dlq")
app.add_typer(outbox_app, name="outbox")
app.add_typer(keys_app, name="keys")
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
