"""``regwire stories``: a timeline of stories (near-duplicate articles of several sources clustered at ingest)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape

from .common import JsonOption, cli_context, cli_settings, console, emit_json, fail


def parse_when(value: str | None, option: str) -> datetime | None:
    """An ISO date or date-time (UTC when it names no zone); a bad or out-of-range value exits 2."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        # converted here, so that a value that leaves the calendar in UTC (0001-01-01T00:00+05:00) is refused here
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise fail(f"{option}: {value!r} is not an ISO date (YYYY-MM-DD)") from exc


def stories(
    jurisdiction: Annotated[str | None, typer.Option("--jurisdiction", help="ISO code, EU or INT")] = None,
    since: Annotated[str | None, typer.Option("--since", help="with articles on or after (YYYY-MM-DD)")] = None,
    until: Annotated[str | None, typer.Option("--until", help="with articles on or before (YYYY-MM-DD)")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    backfill: Annotated[bool, typer.Option("--backfill", help="first cluster the articles stored before stories "
                                                              "(the embedded store does it when opened)")] = False,
    as_json: JsonOption = False,
) -> None:
    """List stories, newest first: what changed, with how many sources reported it, first and last seen."""
    settings = cli_settings()
    start, end = parse_when(since, "--since"), parse_when(until, "--until")
    with cli_context(settings) as ctx:
        if backfill:
            clustered = ctx.store.backfill_stories()
            if not as_json:
                console.print(f"clustered {clustered} article(s) stored before stories")
        found = ctx.store.stories(jurisdiction=jurisdiction.upper() if jurisdiction else None, since=start,
                                  until=end, limit=limit)
    if as_json:
        emit_json([s.model_dump(mode="json") for s in found])
        return
    where = f" in {escape(jurisdiction.upper())}" if jurisdiction else ""
    console.print(f"[bold]{len(found)}[/bold] stor{'y' if len(found) == 1 else 'ies'}{where}")
    for story in found:
        first, last = story.first_seen.date().isoformat(), story.last_seen.date().isoformat()
        span = first if first == last else f"{first} → {last}"
        console.print(f"\n[cyan]{story.story_id[:12]}[/cyan] [bold]{escape(story.title)}[/bold]")
        console.print(f"  {span} · {story.size} article(s) from {len(story.sources)} source(s): "
                      f"{escape(', '.join(story.sources))}")
