"""``regwire index``, ``regwire deadletter`` and ``regwire kibana``: search-engine maintenance commands.

Registered in :mod:`pipeline.cli` with ``app.add_typer``. Exit codes as for the main CLI: 0 ok, 1 something failed
(a dead letter still rejected, a Kibana object not imported), 2 bad usage or configuration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer
from rich.markup import escape
from rich.table import Table

from ..errors import ConfigError, RegwireError
from ..settings import load_settings
from .common import JsonOption, cli_errors, console, emit_json

if TYPE_CHECKING:  # the engine store loads its clients when a command runs, not when the CLI starts
    from ..store.engine.store import SearchEngineStore

index_app = typer.Typer(help="Search-engine indices: status and zero-downtime migration.", no_args_is_help=True)
deadletter_app = typer.Typer(help="Articles the search engine rejected.", no_args_is_help=True)
kibana_app = typer.Typer(help="Kibana saved objects (data view, saved searches, dashboard).", no_args_is_help=True)

#: the saved objects shipped as package data (data view, saved searches, dashboard)
KIBANA_DIR = Path(str(resources.files("pipeline") / "kibana"))


@kibana_app.callback()
def _kibana() -> None:
    """Kibana saved objects (data view, saved searches, dashboard)."""  # a group even with one command


@contextmanager
def _engine_store() -> Iterator[SearchEngineStore]:
    """The configured search-engine store; configuration errors exit 2, engine errors exit 1."""
    with cli_errors():
        settings = load_settings()
        if not settings.search.url:
            raise ConfigError("these commands need a search engine: set REGWIRE_SEARCH_URL (and _ENGINE)")
        from ..store.engine.store import open_search_store

        store = open_search_store(settings)
    try:
        with cli_errors():
            yield store
    finally:
        store.close()


# -- index ----------------------------------------------------------------------------------------------------------


@index_app.command("status")
def index_status(as_json: JsonOption = False) -> None:
    """Alias, physical index, counts, pending dead letters and whether the mapping is current."""
    with _engine_store() as store:
        status = store.status()
    if as_json:
        emit_json(status)
        return
    table = Table(title=f"regwire index ({status['engine']})", show_header=False)
    for key, value in status.items():
        table.add_row(key, escape(str(value)))
    console.print(table)
    if not status["mapping_up_to_date"]:
        console.print("[yellow]the live mapping lacks fields: run `regwire index migrate`[/yellow]")


@index_app.command("migrate")
def index_migrate(
    delete_old: Annotated[bool, typer.Option("--delete-old", help="delete the previous index once verified")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create the next versioned index from the current template, reindex, verify counts, swap the alias.

    Writers may keep running: what reaches the old index during the copy is caught up after the swap.
    """
    with _engine_store() as store:
        report = store.migrate(delete_old=delete_old)
    if as_json:
        emit_json(dataclasses.asdict(report))
        return
    console.print(f"migrated {report.old_index} → {report.new_index}: {report.copied} copied, {report.caught_up}"
                  f" caught up after the swap, {report.new_count} in the new index ({report.seconds}s)")


# -- dead letters ---------------------------------------------------------------------------------------------------


@deadletter_app.command("list")
def deadletter_list(
    state: Annotated[str, typer.Option("--state", help="pending, resolved or all")] = "pending",
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    as_json: JsonOption = False,
) -> None:
    """Articles the engine rejected (mapping or parse errors), newest first, with the reason."""
    with _engine_store() as store:
        letters = store.deadletters(None if state == "all" else state, limit=limit)
    if as_json:
        emit_json([dataclasses.asdict(d) for d in letters])
        return
    table = Table(title=f"dead letters ({state})")
    for column in ("id", "url", "status", "reason", "attempts", "failed at"):
        table.add_column(column)
    for d in letters:
        table.add_row(d.article_id[:12], escape(d.canonical_url or ""), str(d.status),
                      escape(f"{d.error_type}: {d.reason}"[:160]), str(d.attempts), d.failed_at or "")
    console.print(table)


@deadletter_app.command("retry")
def deadletter_retry(
    ids: Annotated[list[str] | None, typer.Argument(help="dead-letter ids (default: every pending one)")] = None,
) -> None:
    """Write pending dead letters again (after a mapping fix or a migration)."""
    with _engine_store() as store:
        report = store.retry_deadletters(ids or None)
    console.print(f"{len(report.resolved)} resolved, {len(report.failed)} still rejected")
    for d in report.failed:
        console.print(f"  {d.article_id[:12]} {escape(d.canonical_url or '')}: {escape(d.reason[:200])}")
    if report.failed:
        raise typer.Exit(1)


# -- kibana ---------------------------------------------------------------------------------------------------------


def saved_objects(directory: Path) -> bytes:
    """Every ``*.ndjson`` in ``directory`` as one NDJSON stream (files in name order)."""
    files = sorted(directory.glob("*.ndjson"))
    if not files:
        raise ConfigError(f"no *.ndjson saved objects in {directory}")
    lines = [line for f in files for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    return ("\n".join(lines) + "\n").encode("utf-8")


def import_saved_objects(url: str, ndjson: bytes, *, api_key: str | None = None, space: str | None = None,
                         username: str | None = None, password: str | None = None,
                         transport: httpx.BaseTransport | None = None, timeout: float = 60.0) -> dict[str, Any]:
    """POST to Kibana's saved-objects import API with ``overwrite=true``; returns Kibana's JSON answer."""
    base = url.rstrip("/") + (f"/s/{space}" if space else "")
    headers = {"kbn-xsrf": "regwire"}
    if api_key:
        headers["Authorization"] = f"ApiKey {api_key}"
    auth = (username, password or "") if username and not api_key else None
    with httpx.Client(transport=transport, timeout=timeout, auth=auth) as client:
        resp = client.post(f"{base}/api/saved_objects/_import", params={"overwrite": "true"}, headers=headers,
                           files={"file": ("regwire.ndjson", ndjson, "application/ndjson")})
    try:
        body = resp.json()
    except ValueError:
        body = {"message": resp.text[:500]}
    if resp.status_code >= 400:
        raise RegwireError(f"Kibana import failed: HTTP {resp.status_code}: {body.get('message', body)}")
    return body


@kibana_app.command("import")
def kibana_import(
    url: Annotated[str, typer.Option("--url", help="Kibana base URL, e.g. http://localhost:5601")],
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="REGWIRE_KIBANA_API_KEY",
                                                help="an Elasticsearch API key (encoded form)")] = None,
    username: Annotated[str | None, typer.Option("--username", envvar="REGWIRE_KIBANA_USERNAME")] = None,
    password: Annotated[str | None, typer.Option("--password", envvar="REGWIRE_KIBANA_PASSWORD")] = None,
    space: Annotated[str | None, typer.Option("--space", help="Kibana space id (default space when unset)")] = None,
    directory: Annotated[Path, typer.Option("--dir", help="folder of *.ndjson saved objects")] = KIBANA_DIR,
    as_json: JsonOption = False,
) -> None:
    """Import regwire's Kibana saved objects (overwriting), reporting the result for every object."""
    with cli_errors():
        try:
            body = import_saved_objects(url, saved_objects(directory), api_key=api_key, space=space,
                                        username=username, password=password)
        except httpx.HTTPError as exc:
            raise RegwireError(f"Kibana at {url}: {type(exc).__name__}: {exc}") from exc
    if as_json:
        emit_json(body)
    else:
        table = Table(title=f"Kibana import into {url}")
        for column in ("type", "id", "title", "result"):
            table.add_column(column)
        for ok in body.get("successResults", []):
            title = (ok.get("meta") or {}).get("title", "")
            table.add_row(ok.get("type", ""), ok.get("id", ""), escape(title), "[green]ok[/green]")
        for err in body.get("errors", []):
            title = err.get("title") or (err.get("meta") or {}).get("title", "")
            reason = (err.get("error") or {}).get("type", "error")
            table.add_row(err.get("type", ""), err.get("id", ""), escape(title), f"[red]{escape(reason)}[/red]")
        console.print(table)
        console.print(f"{body.get('successCount', 0)} object(s) imported, {len(body.get('errors', []))} failed")
    if not body.get("success", False) or body.get("errors"):
        raise typer.Exit(1)
