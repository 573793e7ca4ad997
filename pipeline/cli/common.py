"""What every ``regwire`` sub-command shares: consoles, the --json option, settings and the task context, and library
errors mapped to exit codes."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import ConfigError, QuerySyntaxError, RegwireError
from ..settings import Settings, load_settings

console = Console()
err_console = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="stable JSON output for scripts")]
SourcesOption = Annotated[Path | None, typer.Option("--sources", help="sources YAML (default: REGWIRE_SOURCES)")]

#: exit codes: 0 ok, 1 some work failed (feeds, deliveries, a missing article), 2 bad usage or configuration
EXIT_FAILED, EXIT_USAGE = 1, 2


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    # soft_wrap: one line per line of the message, whatever the terminal's width (scripts grep it)
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
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


def cli_settings(**overrides: Any) -> Settings:
    """The environment's settings (with overrides); a bad value, or a home that is not a writable directory, exits 2
    naming the variable. Configures logging."""
    from ..logs import configure_logging

    with cli_errors():
        settings = load_settings(**overrides)
        settings.prepare_home()
    configure_logging(json=settings.log_json, level=getattr(logging, settings.log_level))
    return settings


@contextmanager
def cli_context(settings: Settings, **parts: Any) -> Iterator[Any]:
    """A task context (:func:`pipeline.tasks.task_context`) whose library errors exit as the CLI's do."""
    from ..tasks import task_context

    with cli_errors(), task_context(settings, **parts) as ctx:
        yield ctx


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
