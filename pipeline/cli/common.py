"""What every ``regwire`` sub-command shares: consoles, the --json option, and library errors → exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import ConfigError, QuerySyntaxError, RegwireError

console = Console()
err_console = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="stable JSON output for scripts")]

#: exit codes: 0 ok, 1 some work failed (feeds, deliveries, a missing article), 2 bad usage or configuration
EXIT_FAILED, EXIT_USAGE = 1, 2


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Map library errors to exit codes: configuration and usage → 2, anything else → 1."""
    try:
        yield
    except (ConfigError, QuerySyntaxError) as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    except RegwireError as exc:
        raise fail(str(exc), EXIT_FAILED) from exc


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
