"""``regwire sources``: the configured sources with each feed's state; check and re-enable feeds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, get_args

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import RegwireError
from ..sources import load_sources
from ..sources.config import SourceKind
from ..sources.schedule import reenable
from .common import JsonOption, SourcesOption, cli_context, cli_errors, cli_settings, console, emit_json, fail

sources_app = typer.Typer(help="Inspect and manage the configured sources.", no_args_is_help=True)


KINDS: tuple[str, ...] = get_args(SourceKind)
KindOption = Annotated[str | None, typer.Option("--kind", help="only sources of this kind: outlet, regulator, "
                                                                "standard-setter")]


def _interval(source: Any, state: Any, settings: Any) -> tuple[int, str]:
    """The feed's current interval and why: what the last poll decided, else what the first one will start from."""
    if state is not None and state.poll_interval is not None:
        return state.poll_interval, state.interval_reason or ""
    from ..sources.adaptive import fixed_interval

    fixed = fixed_interval(source, settings.schedule)
    if fixed is not None:
        return fixed.seconds, fixed.reason
    return settings.schedule.default_poll_interval, "never polled: starts at the default, then adapts"


@sources_app.command("list")
def sources_list(sources: SourcesOption = None, kind: KindOption = None, as_json: JsonOption = False) -> None:
    """Configured sources with each feed's state: status, errors, current interval and why, next poll."""
    from ..sources.adaptive import human_seconds

    if kind is not None and kind not in KINDS:
        raise fail(f"--kind must be one of {', '.join(KINDS)} (got {kind!r})")
    settings = cli_settings()
    with cli_errors():
        configured = [s for s in load_sources(sources or settings.sources) if kind is None or s.kind == kind]
    with cli_context(settings) as ctx:
        states = {s.feed_url: s for s in ctx.store.feed_states()}
    rows: list[dict[str, Any]] = []
    for source in configured:
        for feed in source.urls:
            state = states.get(feed)
            interval, why = _interval(source, state, settings)
            rows.append({
                "source": source.name, "feed": feed, "enabled": source.enabled, "kind": source.kind,
                "type": "feed" if feed in source.feeds else "sitemap", "unverified": source.unverified,
                "status": state.status.value if state else "never polled",
                "consecutive_errors": state.consecutive_errors if state else 0,
                "last_error": state.last_error if state else None,
                "last_status": state.last_status if state else None,
                "last_polled": state.last_polled.isoformat() if state and state.last_polled else None,
                "next_poll": state.next_poll.isoformat() if state and state.next_poll else None,
                "poll_interval": interval, "interval_reason": why,
                # articles waiting for a retry after a transient failure, and those given up (URL → reason)
                "articles_retrying": len(state.retrying) if state else 0,
                "articles_given_up": dict(state.given_up) if state else {},
            })
    if as_json:
        emit_json(rows)
        return
    table = Table("source", "feed", "status", "errors", "interval", "why", "next poll", "last error")
    for row in rows:
        status = row["status"]
        colour = {"active": "green", "suspended": "yellow", "disabled": "red"}.get(status, "dim")
        label = (escape(row["source"]) + ("" if row["enabled"] else " [dim](off)[/dim]")
                 + (" [yellow](unverified)[/yellow]" if row["unverified"] else ""))
        feed = escape(row["feed"]) + (" [dim](sitemap)[/dim]" if row["type"] == "sitemap" else "")
        table.add_row(label, feed, f"[{colour}]{status}[/{colour}]", str(row["consecutive_errors"]),
                      human_seconds(row["poll_interval"]), escape(row["interval_reason"]),
                      (row["next_poll"] or "—")[:19], escape(row["last_error"] or ""))
    console.print(table)


@sources_app.command("check")
def sources_check(
    sources: SourcesOption = None,
    offline: Annotated[bool, typer.Option("--offline", help="only validate the file, fetch nothing")] = False,
    as_json: JsonOption = False,
) -> None:
    """Validate the sources file, then fetch and parse each feed and sitemap once (nothing is stored)."""
    settings = cli_settings()
    with cli_errors():
        configured = load_sources(sources or settings.sources)
    rows: list[dict[str, Any]] = []
    if not offline:
        with cli_context(settings) as ctx:
            for source in configured:
                for feed in source.urls:
                    try:
                        items, skipped = _check_one(ctx, source, feed)
                        rows.append({"source": source.name, "feed": feed, "ok": True, "items": items,
                                     "error": None, "skipped": skipped})
                    except RegwireError as exc:
                        rows.append({"source": source.name, "feed": feed, "ok": False, "items": 0, "error": str(exc),
                                     "skipped": []})
    failed = any(not r["ok"] for r in rows)
    if as_json:
        emit_json({"file": str(sources or settings.sources or "default"), "sources": len(configured), "feeds": rows})
    else:
        console.print(f"[green]valid[/green]: {len(configured)} source(s), "
                      f"{sum(len(s.feeds) for s in configured)} feed(s), "
                      f"{sum(len(s.sitemaps) for s in configured)} sitemap(s)")
        for r in rows:
            mark = "[green]ok[/green]" if r["ok"] else "[red]failed[/red]"
            console.print(f"  {mark} {escape(r['source'])} {escape(r['feed'])} "
                          + (f"{r['items']} item(s)" if r["ok"] else escape(r["error"])))
            for skipped in r["skipped"]:
                console.print(f"    [yellow]item skipped[/yellow] {escape(skipped)}")
    raise typer.Exit(1 if failed else 0)


def _check_one(ctx: Any, source: Any, url: str) -> tuple[int, list[str]]:
    """Entries in one feed or sitemap (a sitemap index counts its children), fetched as a poll would, and the feed
    items that would be skipped (each naming the item and field)."""
    if url in source.feeds:
        from ..sources.feeds import parse_feed_items

        result = ctx.fetcher.get(url, max_bytes=ctx.settings.http.max_feed_bytes)
        parsed = parse_feed_items(result.content, result.final_url, result.headers.get("content-type"))
        return len(parsed.items), [str(e) for e in parsed.skipped]
    from ..sources.sitemaps import inflate, parse_sitemap

    result = ctx.fetcher.get(url, max_bytes=ctx.settings.http.max_feed_bytes, obey_robots=True)
    return len(parse_sitemap(inflate(result.content, url, ctx.settings.http.max_feed_bytes), url).entries), []


@sources_app.command("enable")
def sources_enable(
    name: Annotated[str, typer.Argument(help="a source name or a feed URL")],
    sources: SourcesOption = None,
) -> None:
    """Put suspended or disabled feeds back in rotation (due at once)."""
    settings = cli_settings()
    with cli_errors():
        configured = load_sources(sources or settings.sources)
    feeds = {f for s in configured if name in (s.name, *s.urls) for f in (s.urls if s.name == name else [name])}
    if not feeds:
        raise fail(f"no source or feed named {name!r} in the sources file")
    with cli_context(settings) as ctx:
        for state in ctx.store.feed_states():
            if state.feed_url in feeds:
                ctx.store.save_feed_state(reenable(state, datetime.now(UTC)))
                console.print(f"re-enabled {escape(state.feed_url)}")


@sources_app.command("discover")
def sources_discover(
    url: Annotated[str, typer.Argument(help="a site's page (its home page, usually)")],
    as_json: JsonOption = False,
) -> None:
    """Find a site's feeds (<link rel=alternate>) and sitemaps (robots.txt), check each once, print a sources entry."""
    from ..sources.discover import as_yaml, discover

    settings = cli_settings()
    with cli_context(settings) as ctx:
        found = discover(ctx.fetcher, url, max_bytes=settings.http.max_feed_bytes)
    if as_json:
        emit_json(found.as_json())
    else:
        typer.echo(as_yaml(found), nl=False)
    if not any(f.use for f in (*found.feeds, *found.sitemaps)):
        raise typer.Exit(1)


@sources_app.command("websub")
def sources_websub(
    callback: Annotated[str | None, typer.Option("--callback", help="public base URL of the app serving /websub/ "
                                                 "(default REGWIRE_WEBSUB_CALLBACK)")] = None,
    sources: SourcesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Subscribe to the WebSub hubs the feeds advertise and renew leases that end within a day (run it daily, with
    ``regwire serve`` answering the hubs at the callback URL)."""
    settings = cli_settings()
    base = callback or settings.schedule.websub_callback
    if not base or not base.startswith(("http://", "https://")):
        raise fail("no callback URL: pass --callback https://your-host or set REGWIRE_WEBSUB_CALLBACK")
    from ..store.websub import SubscriptionStore
    from ..tasks.websub import renew_websub_leases, subscribe_source

    with cli_errors():
        configured = [s for s in load_sources(sources or settings.sources) if s.enabled]
        with cli_context(settings) as ctx:
            renewed = renew_websub_leases(ctx, base)
            for source in configured:
                subscribe_source(ctx, source, base)
        store = SubscriptionStore.in_home(settings.home)
        rows: list[dict[str, Any]] = [{"source": s.source, "topic": s.topic, "hub": s.hub, "state": s.state,
                 "expires": s.expires_at.isoformat() if s.expires_at else None, "reason": s.reason,
                 "notifications": s.notifications, "ignored": s.rejected} for s in store.all()]
        store.close()
    if as_json:
        emit_json({"renewed": [s.topic for s in renewed], "subscriptions": rows})
        return
    table = Table("source", "topic", "hub", "state", "lease ends", "pushes", "ignored")
    for r in rows:
        table.add_row(escape(r["source"]), escape(r["topic"]), escape(r["hub"]),
                      escape(r["state"] + (f" ({r['reason']})" if r["reason"] else "")), r["expires"] or "-",
                      str(r["notifications"]), str(r["ignored"]))
    console.print(table)
