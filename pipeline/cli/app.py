"""The ``regwire`` application: every command registered on one typer app."""

from __future__ import annotations

from typing import Annotated

import typer

from .alerts import alerts_app
from .demo import demo
from .index import deadletter_app, index_app, kibana_app
from .run import run
from .search import SEARCH_CONTEXT, retag, search, show
from .serve import serve
from .sources import sources_app
from .stories import stories

app = typer.Typer(help="regwire: crypto-regulation news ingestion.", no_args_is_help=True)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"regwire {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    """regwire: crypto-regulation news ingestion."""


for command in (run, search, show, retag, stories, demo, serve):
    app.command(context_settings=SEARCH_CONTEXT if command is search else None)(command)
app.add_typer(sources_app, name="sources")
app.add_typer(alerts_app, name="alerts")
app.add_typer(index_app, name="index")
app.add_typer(deadletter_app, name="deadletter")
app.add_typer(kibana_app, name="kibana")


def main() -> None:
    app()
