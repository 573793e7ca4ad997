"""The ``regwire`` command line. Exit codes: 0 ok, 1 some feeds failed, 2 bad usage or configuration."""

from __future__ import annotations

import json
import re
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..alerts import Alert, AppriseSender, open_alert_store
from ..errors import RegwireError
from ..models import FeedStatus
from ..query import SearchQuery, Sort
from ..runner import Pipeline, SourceReport
from ..settings import Settings, load_settings
from ..sources import Source, load_sources
from ..sources.schedule import reenable
from ..store import Store, open_store
from ..tagging import default_tagger
from .alerts import alerts_app
from .common import JsonOption, cli_errors, console, emit_json, err_console, fail
from .index import deadletter_app, index_app, kibana_app
from .serve import serve

app = typer.Typer(help="regwire: crypto-regulation news ingestion.", no_args_is_help=True)
sources_app = typer.Typer(help="Inspect and manage the configured sources.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
app.add_typer(alerts_app, name="alerts")
app.add_typer(index_app, name="index")
app.add_typer(deadletter_app, name="deadletter")
app.add_typer(kibana_app, name="kibana")
app.command()(serve)


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


SourcesOption = Annotated[Path | None, typer.Option("--sources", help="sources YAML (default: REGWIRE_SOURCES)")]


def _settings() -> Settings:
    with cli_errors():
        return load_settings()


def _store(settings: Settings) -> closing[Store]:
    """The store the settings select (embedded SQLite unless a search engine is configured), closed after use."""
    with cli_errors():
        return closing(open_store(settings))


# -- run ------------------------------------------------------------------------------------------------------------

def _summary_table(reports: list[SourceReport]) -> Table:
    table = Table(title="regwire run")
    table.add_column("source", no_wrap=True)
    for column in ("polled", "not modified", "new", "updated", "failed", "article errors"):
        table.add_column(column, justify="right")
    for r in reports:
        failed = f"[red]{r.failed}[/red]" if r.failed else "0"
        table.add_row(r.source, str(r.polled), str(r.not_modified), str(r.new), str(r.updated), failed,
                      str(r.item_errors))
    return table


def _report_json(reports: list[SourceReport]) -> list[dict[str, Any]]:
    return [{
        "source": r.source, "polled": r.polled, "not_modified": r.not_modified, "new": r.new, "updated": r.updated,
        "unchanged": r.unchanged, "failed": r.failed, "article_errors": r.item_errors, "skipped": r.skipped,
        "errors": r.errors, "changed_ids": r.changed_ids,
    } for r in reports]


@contextmanager
def _pipeline(settings: Settings) -> Iterator[Pipeline]:
    """A pipeline over the configured store, with the configured tagger; closed (store and fetcher) after use."""
    with cli_errors():
        tagger = default_tagger(settings.tagging.taxonomy)
    with _store(settings) as store:
        pipeline = Pipeline(settings, store, tagger=tagger)
        try:
            yield pipeline
        finally:
            pipeline.close()


def _run_once(pipeline: Pipeline, sources: list[Source], *, force: bool, quiet: bool) -> list[SourceReport]:
    with cli_errors():
        if quiet:
            return pipeline.run(sources, force=force)
        with console.status(f"polling {len(sources)} source(s)…"):
            return pipeline.run(sources, force=force)


@app.command()
def run(
    sources: SourcesOption = None,
    once: Annotated[bool, typer.Option("--once", help="one pass over due feeds, then exit")] = False,
    force: Annotated[bool, typer.Option("--force", help="poll every active feed now, due or not")] = False,
    as_json: JsonOption = False,
) -> None:
    """Poll due feeds, fetch and index new articles. Without --once, keep polling until interrupted."""
    settings = _settings()
    with cli_errors():
        configured = load_sources(sources or settings.sources)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    exit_code = 0
    try:
        with _pipeline(settings) as pipeline:
            while True:
                reports = _run_once(pipeline, configured, force=force, quiet=as_json)
                alerts = _evaluate_alerts(settings, pipeline.store, reports)
                exit_code = 1 if any(not r.ok for r in reports) or not alerts.get("ok", True) else 0
                _print_reports(reports, alerts, as_json)
                if once or stop.is_set():
                    break
                force = False
                # Sleep until the next feed is due (at most a minute, so new schedules are picked up).
                try:
                    upcoming = [s.next_poll for s in pipeline.store.feed_states()
                                if s.next_poll is not None and s.status is FeedStatus.ACTIVE]
                except RegwireError as exc:  # the store is unreachable: try again in a minute
                    err_console.print(f"[yellow]store[/yellow]: {escape(str(exc))}")
                    upcoming = []
                wait = min([(t - datetime.now(UTC)).total_seconds() for t in upcoming] + [60.0])
                if stop.wait(max(1.0, wait)):
                    break
    except KeyboardInterrupt:
        err_console.print("interrupted: stopped cleanly")
    finally:
        signal.signal(signal.SIGTERM, previous)
    raise typer.Exit(exit_code)


def _evaluate_alerts(settings: Settings, store: Store, reports: list[SourceReport], **kwargs: Any) -> dict[str, Any]:
    """Evaluate every alert on this pass's new and updated articles and deliver; also sends due retries.

    An alert failure is reported (and makes the exit code 1) but never stops the polling loop.
    """
    from ..alerts import AlertEvaluationError, evaluate_and_deliver

    ids = [article_id for r in reports for article_id in r.changed_ids]
    try:
        return evaluate_and_deliver(settings, store, ids, **kwargs).as_json()
    except AlertEvaluationError as exc:
        return {**exc.report.as_json(), "ok": False}
    except RegwireError as exc:
        return {"ok": False, "errors": [str(exc)]}


def _print_reports(reports: list[SourceReport], alerts: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json({"sources": _report_json(reports), "alerts": alerts})
        return
    console.print(_summary_table(reports))
    for r in reports:
        for error in r.errors:
            err_console.print(f"[yellow]{escape(r.source)}[/yellow]: {escape(error)}")
    if alerts.get("alerts") or alerts.get("errors"):
        console.print(f"alerts: {alerts.get('alerts', 0)} evaluated, {alerts.get('matches', 0)} match(es), "
                      f"{alerts.get('sent', 0)} sent, {alerts.get('failed', 0)} to retry, "
                      f"{alerts.get('given_up', 0)} given up")
    for error in alerts.get("errors", []):
        err_console.print(f"[yellow]alerts[/yellow]: {escape(error)}")


# -- search and show ------------------------------------------------------------------------------------------------

def _parse_day(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise fail(f"{option}: {value!r} is not an ISO date (YYYY-MM-DD)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_MARK = re.compile(r"</?mark>")


def snippet_markup(snippet: str) -> str:
    """An HTML-safe snippet (escaped text with <mark>) as rich markup."""
    import html

    parts = _MARK.split(snippet)
    tags = _MARK.findall(snippet)
    out = [escape(html.unescape(parts[0]))]
    for tag, part in zip(tags, parts[1:], strict=True):
        out.append("[bold yellow]" if tag == "<mark>" else "[/bold yellow]")
        out.append(escape(html.unescape(part)))
    return "".join(out)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help='words, "phrases", OR, -exclusion, prefix*')] = "",
    source: Annotated[list[str] | None, typer.Option("--source", help="only this source (repeatable)")] = None,
    topic: Annotated[list[str] | None, typer.Option("--topic", help="tagged with this topic (repeatable)")] = None,
    jurisdiction: Annotated[list[str] | None, typer.Option("--jurisdiction", help="ISO code, EU or INT")] = None,
    language: Annotated[list[str] | None, typer.Option("--language")] = None,
    min_relevance: Annotated[float | None, typer.Option("--min-relevance", min=0, max=1)] = None,
    since: Annotated[str | None, typer.Option("--since", help="published on or after (YYYY-MM-DD)")] = None,
    until: Annotated[str | None, typer.Option("--until", help="published on or before (YYYY-MM-DD)")] = None,
    sort: Annotated[Sort, typer.Option("--sort")] = Sort.RELEVANCE,
    limit: Annotated[int, typer.Option("--limit", min=0, max=10_000)] = 10,
    as_json: JsonOption = False,
) -> None:
    """Search stored articles."""
    settings = _settings()
    request = SearchQuery(
        q=query, sources=source or [], topics=topic or [], jurisdictions=[j.upper() for j in jurisdiction or []],
        languages=language or [], min_relevance=min_relevance, since=_parse_day(since, "--since"),
        until=_parse_day(until, "--until"), sort=sort, limit=limit,
    )
    with cli_errors(), _store(settings) as store:
        result = store.search(request)
    if as_json:
        emit_json(result.model_dump(mode="json"))
        return
    console.print(f"[bold]{result.total}[/bold] article(s) match {escape(repr(query))}")
    for hit in result.hits:
        date = hit.published.date().isoformat() if hit.published else "undated"
        tags = " ".join([*hit.jurisdictions, *hit.topics])
        console.print(f"\n[cyan]{hit.id[:12]}[/cyan] [bold]{escape(hit.title)}[/bold]")
        console.print(f"  {escape(hit.source)} · {date} · {escape(hit.url)}")
        if tags:
            console.print(f"  [magenta]{escape(tags)}[/magenta]"
                          + (f" · relevance {hit.relevance:.2f}" if hit.relevance is not None else ""))
        console.print(f"  {snippet_markup(hit.snippet)}")
    if result.facets and result.total:
        console.print()
        for name in ("source", "topic", "jurisdiction"):
            counts = result.facets.get(name) or {}
            if counts:
                console.print(f"[dim]{name}:[/dim] " + ", ".join(f"{escape(k)} ({v})" for k, v in counts.items()))


@app.command()
def show(
    article_id: Annotated[str, typer.Argument(metavar="ID", help="article id (a unique prefix is enough)")],
    versions: Annotated[bool, typer.Option("--versions", help="every stored version")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show one article with its metadata, tags and their evidence."""
    settings = _settings()
    with cli_errors(), _store(settings) as store:
        articles = store.article_versions(article_id) if versions else [store.get_article(article_id)]
    if as_json:
        emit_json([a.model_dump(mode="json") for a in articles] if versions else articles[0].model_dump(mode="json"))
        return
    for article in articles:
        console.rule(f"[bold]{escape(article.title)}[/bold]")
        meta = Table.grid(padding=(0, 2))
        for key, value in (
            ("id", article.id), ("version", article.version), ("url", article.canonical_url),
            ("source", article.source), ("published", article.published), ("fetched", article.fetched_at),
            ("authors", ", ".join(article.authors)), ("language", article.language),
            ("text from", article.text_origin), ("categories", ", ".join(article.categories + article.site_tags)),
        ):
            meta.add_row(f"[dim]{key}[/dim]", escape(str(value if value not in (None, "") else "—")))
        if article.tags is not None:
            tags = article.tags
            meta.add_row("[dim]relevance[/dim]", f"{tags.relevance:.2f}")
            meta.add_row("[dim]topics[/dim]", escape(", ".join(tags.topics) or "—"))
            meta.add_row("[dim]jurisdictions[/dim]", escape(
                ", ".join(tags.jurisdictions) + (f" (primary {tags.primary_jurisdiction})"
                                                 if tags.primary_jurisdiction else "")) or "—")
            meta.add_row("[dim]entities[/dim]", escape(", ".join(
                f"{e.name} ({e.type}{', ' + e.jurisdiction if e.jurisdiction else ''})" for e in tags.entities)) or "—")
        console.print(meta)
        if article.tags is not None and article.tags.matches:
            evidence = Table("label", "phrase", "where", "weight", title="evidence", title_justify="left")
            for m in article.tags.matches[:40]:
                evidence.add_row(escape(m.label), escape(m.phrase), f"{m.field}@{m.offset}", f"{m.weight:g}")
            console.print(evidence)
        console.print()
        console.print(escape(article.text))


# -- sources --------------------------------------------------------------------------------------------------------

@sources_app.command("list")
def sources_list(sources: SourcesOption = None, as_json: JsonOption = False) -> None:
    """Configured sources with each feed's state: status, errors, last error, next poll."""
    settings = _settings()
    with cli_errors():
        configured = load_sources(sources or settings.sources)
    with _store(settings) as store:
        states = {s.feed_url: s for s in store.feed_states()}
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
    from ..fetch import Fetcher
    from ..sources.feeds import parse_feed

    settings = _settings()
    with cli_errors():
        configured = load_sources(sources or settings.sources)
    rows: list[dict[str, Any]] = []
    if not offline:
        with Fetcher(settings) as fetcher:
            for source in configured:
                for feed in source.feeds:
                    try:
                        result = fetcher.get(feed, max_bytes=settings.http.max_feed_bytes)
                        items = parse_feed(result.content, result.final_url, result.headers.get("content-type"))
                        rows.append({"source": source.name, "feed": feed, "ok": True, "items": len(items),
                                     "error": None})
                    except RegwireError as exc:
                        rows.append({"source": source.name, "feed": feed, "ok": False, "items": 0, "error": str(exc)})
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
    raise typer.Exit(1 if failed else 0)


@sources_app.command("enable")
def sources_enable(
    name: Annotated[str, typer.Argument(help="a source name or a feed URL")],
    sources: SourcesOption = None,
) -> None:
    """Put suspended or disabled feeds back in rotation (due at once)."""
    settings = _settings()
    with cli_errors():
        configured = load_sources(sources or settings.sources)
    feeds = {f for s in configured if name in (s.name, *s.feeds) for f in (s.feeds if s.name == name else [name])}
    if not feeds:
        raise fail(f"no source or feed named {name!r} in the sources file")
    with _store(settings) as store:
        for state in store.feed_states():
            if state.feed_url in feeds:
                store.save_feed_state(reenable(state, datetime.now(UTC)))
                console.print(f"re-enabled {escape(state.feed_url)}")


# -- retag ----------------------------------------------------------------------------------------------------------

@app.command()
def retag(
    all_articles: Annotated[bool, typer.Option("--all", help="re-tag even articles tagged by this taxonomy")] = False,
) -> None:
    """Re-tag stored articles after a taxonomy change."""
    from rich.progress import Progress

    settings = _settings()
    with cli_errors():
        tagger = default_tagger(settings.tagging.taxonomy)
    with _store(settings) as store, Progress(console=console) as progress:
        task = progress.add_task("re-tagging", total=store.count_articles())
        changed = 0
        for article in store.iter_articles():
            if all_articles or article.tags is None or article.tags.taxonomy_version != tagger.version:
                store.set_tags(article.id, tagger.tag(article.title, article.text))
                changed += 1
            progress.advance(task)
    console.print(f"re-tagged {changed} article(s)")


# -- demo -----------------------------------------------------------------------------------------------------------

@app.command()
def demo(
    home: Annotated[Path | None, typer.Option("--home", help="data directory (default: a fresh temporary one)")] = None,
    query: Annotated[str, typer.Option("--query", help="the example search")] = "Kazakhstan",
) -> None:
    """Serve the bundled sample news site on 127.0.0.1, run the pipeline over it, and search the result. Offline."""
    from ..demo import LoopbackSite, Response, demo_sources_path

    home = home or Path(tempfile.mkdtemp(prefix="regwire-demo-"))
    with LoopbackSite() as site:
        # The demo site lives on loopback: exempt exactly that network from the SSRF guard, nothing wider.
        settings = load_settings(home=home, allow_networks="127.0.0.0/8", host_delay=0.05, sources=None,
                                 search_url=None)  # the demo always uses the embedded store
        demo_sources = demo_sources_path()
        with cli_errors():
            configured = load_sources(demo_sources, substitutions={"base_url": site.base_url})
        site.route("/hooks/alerts", Response(200, b"ok"))
        alert = _save_demo_alert(settings, site.url("/hooks/alerts").replace("http://", "json://"))
        console.print(f"sample news site at [link]{site.base_url}[/link]; data in {home}")
        console.print(f"saved alert {alert.name!r}: {alert.q!r} with topic {', '.join(alert.topics)} "
                      "→ the demo's webhook on 127.0.0.1")
        with _pipeline(settings) as pipeline:
            reports = _run_once(pipeline, configured, force=False, quiet=False)
            alerts = _evaluate_alerts(settings, pipeline.store, reports,
                                      sender=AppriseSender(allowed_hosts={"127.0.0.1"}))
        delivered = [json.loads(body) for path, body in site.posted if path == "/hooks/alerts"]
    console.print(_summary_table(reports))
    console.print(f"\n[bold]alert {alert.name!r}[/bold]: {alerts.get('matches', 0)} match(es), "
                  f"{len(delivered)} message(s) received by the webhook")
    for message in delivered:
        console.print(f"  [green]→[/green] {escape(message.get('title', ''))}")
    console.print(f"\n[bold]regwire search {query!r}[/bold]")
    with _store(settings) as store:
        result = store.search(SearchQuery(q=query, limit=5))
    console.print(f"{result.total} article(s) found")
    for hit in result.hits:
        console.print(f"  [cyan]{hit.id[:12]}[/cyan] [bold]{escape(hit.title)}[/bold] "
                      f"[magenta]{escape(' '.join(hit.jurisdictions + hit.topics))}[/magenta]")
        console.print(f"    {snippet_markup(hit.snippet)}")
    console.print(f"\nTry: REGWIRE_HOME={home} regwire search 'stablecoin OR CBDC' --jurisdiction HK")
    console.print(f"     REGWIRE_HOME={home} regwire show {result.hits[0].id[:12] if result.hits else 'ID'}")
    console.print(f"     REGWIRE_HOME={home} regwire alerts log")
    ok = all(r.ok for r in reports) and alerts.get("ok", False)
    raise typer.Exit(0 if ok else 1)


def _save_demo_alert(settings: Settings, webhook: str) -> Alert:
    alert = Alert(name="Kazakhstan crypto-to-cash", owner="demo analyst", q="Kazakhstan", topics=["fiat-ramp"],
                  channels=[webhook])
    with _store(settings) as store, closing(open_alert_store(settings, store)) as alert_store:
        alert_store.save_alert(alert, datetime.now(UTC))
    return alert


def main() -> None:
    app()


if __name__ == "__main__":
    main()
