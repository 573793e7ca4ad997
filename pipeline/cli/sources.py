"""``regwire sources``: the configured sources with each feed's state; check and re-enable feeds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import RegwireError
from ..sources import load_sources
from ..sources.schedule import reenable
from .common import JsonOption, SourcesOption, cli_context, cli_errors, cli_settings, console, emit_json, fail

sources_app = typer.Typer(help="Inspect and manage the configured sources.", no_args_is_help=True)


@sources_app.command("list")
def sources_list(sources: SourcesOption = None, as_json: JsonOption = False) -> None:
    """Configured sources with each feed's state: status, errors, last error, next poll."""
    settings = cli_settings()
    with cli_errors():
        configured = load_sources(sources or settings.sources)
    with cli_context(settings) as ctx:
        states = {s.feed_url: s for s in ctx.store.feed_states()}
    rows: list[dict[str, Any]] = []
    for source in configured:
        for feed in source.feeds:
            state = states.get(feed)
            rows.append({
                "source": source.name, "feed": feed, "enabled": source.enabled,
                "status": state.status.value if state else "never polled",
                "consecutive_errors": state.consecutive_errors if state else 0,
                "last_error": state.last_error if state else None,
                "last_status": state.last_status if state else None,
                "last_polled": state.last_polled.isoformat() if state and state.last_polled else None,
                "next_poll": state.next_poll.isoformat() if state and state.next_poll else None,
                "poll_interval": source.poll_interval or settings.schedule.default_poll_interval,
                # articles waiting for a retry after a transient failure, and those given up (URL → reason)
                "articles_retrying": len(state.retrying) if state else 0,
                "articles_given_up": dict(state.given_up) if state else {},
            })
    if as_json:
        emit_json(rows)
        return
    table = Table("source", "feed", "status", "errors", "last polled", "next poll", "last error")
    for row in rows:
        status = row["status"]
        colour = {"active": "green", "suspended": "yellow", "disabled": "red"}.get(status, "dim")
        table.add_row(escape(row["source"]) + ("" if row["enabled"] else " [dim](off)[/dim]"), escape(row["feed"]),
                      f"[{colour}]{status}[/{colour}]", str(row["consecutive_errors"]),
                      (row["last_polled"] or "—")[:19], (row["next_poll"] or "—")[:19],
                      escape(row["last_error"] or ""))
    console.print(table)


@sources_app.command("check")
def sources_check(
    sources: SourcesOption = None,
    offline: Annotated[bool, typer.Option("--offline", help="only validate the file, fetch nothing")] = False,
    as_json: JsonOption = False,
) -> None:
    """Validate the sources file, then fetch and parse each feed once (nothing is stored)."""
    from ..sources.feeds import parse_feed_items

    settings = cli_settings()
    with cli_errors():
        configured = load_sources(sources or settings.sources)
    rows: list[dict[str, Any]] = []
    if not offline:
        with cli_context(settings) as ctx:
            for source in configured:
                for feed in source.feeds:
                    try:
                        result = ctx.fetcher.get(feed, max_bytes=settings.http.max_feed_bytes)
                        parsed = parse_feed_items(result.content, result.final_url,
                                                  result.headers.get("content-type"))
                        rows.append({"source": source.name, "feed": feed, "ok": True, "items": len(parsed.items),
                                     "error": None, "skipped": [str(e) for e in parsed.skipped]})
                    except RegwireError as exc:
                        rows.append({"source": source.name, "feed": feed, "ok": False, "items": 0, "error": str(exc),
                                     "skipped": []})
    failed = any(not r["ok"] for r in rows)
    if as_json:
        emit_json({"file": str(sources or settings.sources or "default"), "sources": len(configured), "feeds": rows})
    else:
        console.print(f"[green]valid[/green]: {len(configured)} source(s), "
                      f"{sum(len(s.feeds) for s in configured)} feed(s)")
        for r in rows:
            mark = "[green]ok[/green]" if r["ok"] else "[red]failed[/red]"
            console.print(f"  {mark} {escape(r['source'])} {escape(r['feed'])} "
                          + (f"{r['items']} item(s)" if r["ok"] else escape(r["error"])))
            for skipped in r["skipped"]:
                console.print(f"    [yellow]item skipped[/yellow] {escape(skipped)}")
    raise typer.Exit(1 if failed else 0)


@sources_app.command("enable")
def sources_enable(
    name: Annotated[str, typer.Argument(help="a source name or a feed URL")],
    sources: SourcesOption = None,
) -> None:
    """Put suspended or disabled feeds back in rotation (due at once)."""
    settings = cli_settings()
    with cli_errors():
        configured = load_sources(sources or settings.sources)
    feeds = {f for s in configured if name in (s.name, *s.feeds) for f in (s.feeds if s.name == name else [name])}
    if not feeds:
        raise fail(f"no source or feed named {name!r} in the sources file")
    with cli_context(settings) as ctx:
        for state in ctx.store.feed_states():
            if state.feed_url in feeds:
                ctx.store.save_feed_state(reenable(state, datetime.now(UTC)))
                console.print(f"re-enabled {escape(state.feed_url)}")
