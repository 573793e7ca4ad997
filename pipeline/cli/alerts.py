"""``regwire alerts``: manage saved-search alerts and inspect their delivery log.

Registered in :mod:`pipeline.cli` with ``app.add_typer(alerts_app, name="alerts")``. Exit codes as for the main CLI:
0 ok, 1 something failed (an unknown alert, a delivery that failed), 2 bad usage or a refused definition.
Definitions and the delivery log live next to the articles: ``REGWIRE_HOME/regwire.db``, or the search engine when
``REGWIRE_SEARCH_URL`` is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..alerts.channel_secrets import mask_channel
from ..alerts.models import Alert, DeliveryState, Mode
from .common import EXIT_FAILED, JsonOption, cli_context, cli_settings, console, emit_json, err_console, fail

if TYPE_CHECKING:  # the stores and senders load when a command runs, not for `regwire --help`
    from ..alerts.store import AlertStore
    from ..tasks import TaskContext

alerts_app = typer.Typer(help="Saved searches that notify Slack, Teams, email, webhooks… (via apprise).",
                         no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="the alert's name")]


@contextmanager
def _alert_store() -> Iterator[tuple[TaskContext, AlertStore]]:
    """The alert store next to the configured articles (SQLite file, or the search engine), with its context."""
    with cli_context(cli_settings()) as ctx:
        yield ctx, ctx.backend.alert_store()


def _describe(alert: Alert) -> str:
    parts = [repr(alert.q)] if alert.q else []
    for label, values in (("topic", alert.topics), ("jurisdiction", alert.jurisdictions),
                          ("source", alert.sources), ("language", alert.languages)):
        if values:
            parts.append(f"{label}: {'|'.join(values)}")
    if alert.min_relevance is not None:
        parts.append(f"relevance ≥ {alert.min_relevance:g}")
    return " · ".join(parts)


# -- add / load / remove --------------------------------------------------------------------------------------------

@alerts_app.command("add")
def alerts_add(
    name: NameArg,
    owner: Annotated[str, typer.Option("--owner", help="who answers for this alert")],
    channel: Annotated[list[str], typer.Option("--channel", help="apprise URL; secrets as ${ENV_VAR} (repeatable)")],
    query: Annotated[str, typer.Option("--query", "-q", help='words, "phrases", OR, -exclusion, prefix*')] = "",
    topic: Annotated[list[str] | None, typer.Option("--topic", help="tagged with this topic (repeatable)")] = None,
    jurisdiction: Annotated[list[str] | None, typer.Option(
        "--jurisdiction", help="a subject of the article: ISO code, EU or INT")] = None,
    include_mentions: Annotated[bool, typer.Option(
        "--include-mentions", help="--jurisdiction also matches articles that only mention it")] = False,
    source: Annotated[list[str] | None, typer.Option("--source", help="only this source (repeatable)")] = None,
    language: Annotated[list[str] | None, typer.Option("--language")] = None,
    min_relevance: Annotated[float | None, typer.Option("--min-relevance")] = None,
    mode: Annotated[Mode, typer.Option("--mode", help="immediate, or an hourly/daily digest")] = Mode.IMMEDIATE,
    updates: Annotated[bool, typer.Option("--updates/--no-updates", help="alert again when an article changes")]
    = False,
    disabled: Annotated[bool, typer.Option("--disabled", help="store it without evaluating it")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="overwrite an alert of the same name")] = False,
    as_json: JsonOption = False,
) -> None:
    """Add an alert (a saved search with channels). Bad definitions are refused (exit 2)."""
    data: dict[str, Any] = {
        "name": name, "owner": owner, "q": query, "topics": topic or [], "jurisdictions": jurisdiction or [],
        "include_mentions": include_mentions, "sources": source or [], "languages": language or [],
        "min_relevance": min_relevance,
        "channels": channel, "mode": mode, "updates": updates, "enabled": not disabled,
    }
    from ..alerts.loader import add_alert

    with _alert_store() as (_settings, store):
        alert, created = add_alert(store, data, replace=replace)
    if as_json:
        emit_json({"created": created, "alert": alert.shown()})
        return
    console.print(f"{'added' if created else 'replaced'} alert [bold]{escape(alert.name)}[/bold]: "
                  f"{escape(_describe(alert))} → {len(alert.channels)} channel(s), {alert.mode.value}")


@alerts_app.command("load")
def alerts_load(
    path: Annotated[Path, typer.Argument(help="YAML file with an 'alerts:' list")],
    prune: Annotated[bool, typer.Option("--prune", help="remove stored alerts that the file does not define")]
    = False,
    as_json: JsonOption = False,
) -> None:
    """Add or update every alert of a YAML file (all are checked before any is stored)."""
    from ..alerts.loader import load_alerts

    with _alert_store() as (_settings, store):
        alerts = load_alerts(path)
        existing = {a.name: a for a in store.list_alerts()}
        now = datetime.now(UTC)
        result: dict[str, list[str]] = {"added": [], "updated": [], "unchanged": [], "removed": []}
        for alert in alerts:
            if existing.get(alert.name) == alert:
                result["unchanged"].append(alert.name)
                continue
            store.save_alert(alert, now)
            result["added" if alert.name not in existing else "updated"].append(alert.name)
        if prune:
            for name in sorted(existing.keys() - {a.name for a in alerts}):
                store.remove_alert(name)
                result["removed"].append(name)
    if as_json:
        emit_json({"file": str(path), **result})
        return
    console.print(f"{escape(str(path))}: " + ", ".join(f"{len(v)} {k}" for k, v in result.items()))


@alerts_app.command("remove")
def alerts_remove(name: NameArg) -> None:
    """Remove an alert. Its delivery log is kept; deliveries still due are given up."""
    with _alert_store() as (_settings, store):
        store.remove_alert(name)
    console.print(f"removed alert {escape(name)}")


# -- list / show / log ----------------------------------------------------------------------------------------------

@alerts_app.command("list")
def alerts_list(as_json: JsonOption = False) -> None:
    """Every alert with its query, filters, mode and channels."""
    with _alert_store() as (_settings, store):
        alerts = store.list_alerts()
    if as_json:
        emit_json([a.shown() for a in alerts])
        return
    table = Table("name", "owner", "query and filters", "mode", "channels", "enabled", title="alerts")
    for a in alerts:
        table.add_row(escape(a.name), escape(a.owner), escape(_describe(a)),
                      a.mode.value + (" +updates" if a.updates else ""), str(len(a.channels)),
                      "yes" if a.enabled else "[dim]no[/dim]")
    console.print(table)


@alerts_app.command("show")
def alerts_show(name: NameArg, as_json: JsonOption = False) -> None:
    """One alert's definition and its delivery counts."""
    with _alert_store() as (_settings, store):
        alert = store.get_alert(name)
        log = store.deliveries(alert=name, limit=1_000_000)
    counts: dict[str, int] = {}
    for d in log:
        counts[d.state.value] = counts.get(d.state.value, 0) + 1
    if as_json:
        emit_json({"alert": alert.shown(), "deliveries": counts})
        return
    grid = Table.grid(padding=(0, 2))
    for key, value in (("name", alert.name), ("owner", alert.owner), ("query", alert.q or "—"),
                       ("topics", ", ".join(alert.topics) or "—"),
                       ("jurisdictions", ", ".join(alert.jurisdictions) or "—"),
                       ("sources", ", ".join(alert.sources) or "—"), ("languages", ", ".join(alert.languages) or "—"),
                       ("min relevance", alert.min_relevance if alert.min_relevance is not None else "—"),
                       ("mode", alert.mode.value), ("updates", "yes" if alert.updates else "no"),
                       ("enabled", "yes" if alert.enabled else "no"),
                       ("channels", "\n".join(alert.shown()["channels"])),
                       ("deliveries", ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "none yet")):
        grid.add_row(f"[dim]{key}[/dim]", escape(str(value)))
    console.print(grid)


@alerts_app.command("log")
def alerts_log(
    name: Annotated[str | None, typer.Argument(metavar="[NAME]", help="only this alert")] = None,
    state: Annotated[DeliveryState | None, typer.Option("--state")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    as_json: JsonOption = False,
) -> None:
    """The delivery log, newest first: what was sent, what is retried when, and why deliveries were given up."""
    with _alert_store() as (_settings, store):
        rows = store.deliveries(alert=name, state=state, limit=limit)
    if as_json:
        emit_json([r.as_json() for r in rows])
        return
    table = Table("id", "alert", "article", "channel", "state", "tries", "when", "reason", title="alert deliveries")
    colours = {"sent": "green", "pending": "cyan", "failed": "yellow", "given_up": "red", "unknown": "magenta"}
    for r in rows:
        when = r.sent_at if r.state is DeliveryState.SENT else r.next_try
        colour = colours[r.state.value]
        table.add_row(r.id, escape(r.alert), escape(f"{r.article.title[:50]} ({r.article_id[:8]} v{r.version_key})"),
                      escape(mask_channel(r.channel).split("?")[0]), f"[{colour}]{r.state.value}[/{colour}]",
                      str(r.attempts),
                      when.isoformat()[:19] if when else "—", escape(r.last_error or ""))
    console.print(table)


@alerts_app.command("resend")
def alerts_resend(
    ids: Annotated[list[str], typer.Argument(metavar="ID...", help="delivery ids (alerts log --json)")],
    as_json: JsonOption = False,
) -> None:
    """Queue deliveries whose outcome is unknown (or that were given up) again; the next delivery run sends them.
    Check the receiver first: an 'unknown' delivery may have arrived. The message keeps its idempotency key."""
    with _alert_store() as (_ctx, store):
        closed = {d.id: d for state in (DeliveryState.UNKNOWN, DeliveryState.GIVEN_UP)
                  for d in store.deliveries(state=state, limit=1_000_000)}
        missing = [i for i in ids if i not in closed]
        if missing:
            raise fail(f"no delivery with id {missing[0]!r} in state unknown or given_up (see alerts log)",
                       EXIT_FAILED)
        store.mark_failed(list(dict.fromkeys(ids)), "queued again by hand (alerts resend)", datetime.now(UTC))
    if as_json:
        emit_json({"queued": list(dict.fromkeys(ids))})
        return
    console.print(f"queued {len(set(ids))} delivery(ies) again; `regwire alerts deliver` sends them now")


# -- test / deliver -------------------------------------------------------------------------------------------------

@alerts_app.command("test")
def alerts_test(
    name: NameArg,
    days: Annotated[int, typer.Option("--days", min=1, help="articles published in the last N days")] = 7,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 20,
    as_json: JsonOption = False,
) -> None:
    """Run an alert over the last N days and print what it would have sent. Nothing is sent or recorded."""
    from ..alerts.render import article_message, digest_message, plain_snippet, snapshot

    with _alert_store() as (ctx, alert_store):
        alert = alert_store.get_alert(name)
        since = datetime.now(UTC) - timedelta(days=days)
        result = ctx.store.search(alert.search_query(since=since, limit=limit))
        articles = [snapshot(ctx.store.get_article(hit.id), alert, plain_snippet(hit.snippet))
                    for hit in result.hits]
    if alert.mode.is_digest:
        messages = [digest_message(alert, articles)] if articles else []
    else:
        messages = [article_message(alert, a) for a in articles]
    if as_json:
        emit_json({"alert": alert.name, "since": since.isoformat(), "total": result.total,
                    "channels": alert.shown()["channels"],
                    "messages": [{"title": m.title, "body": m.body} for m in messages]})
        return
    console.print(f"[bold]{result.total}[/bold] article(s) in the last {days} day(s) match "
                  f"[bold]{escape(alert.name)}[/bold]; would send {len(messages)} message(s) to "
                  f"{len(alert.channels)} channel(s)")
    for m in messages:
        console.rule(escape(m.title))
        console.print(escape(m.body))


@alerts_app.command("deliver")
def alerts_deliver(as_json: JsonOption = False) -> None:
    """Send what is due now: digests whose hour or day ended, and failed deliveries whose retry time came."""
    from ..tasks import deliver_alerts

    with _alert_store() as (ctx, _store):
        report = deliver_alerts(ctx)
    if as_json:
        emit_json(report.as_json())
    else:
        console.print(f"sent {report.sent}, failed {report.failed} (will retry), given up {report.given_up}, "
                      f"outcome unknown {report.unknown} (not resent)")
        for error in report.errors:
            err_console.print(f"[yellow]{escape(error)}[/yellow]")
    raise typer.Exit(0 if report.ok else 1)
