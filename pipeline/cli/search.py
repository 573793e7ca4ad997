"""``regwire search``, ``regwire show`` and ``regwire retag``: read and re-tag the stored articles."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..query import SearchQuery, Sort
from ..settings import Settings
from .common import JsonOption, cli_context, cli_errors, cli_settings, console, emit_json, fail


def _parse_day(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        # in UTC here, so that a date at the edge of the calendar is refused now and not in the store
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError as exc:
        raise fail(f"{option}: {value!r} is not an ISO date (YYYY-MM-DD)") from exc
    except OverflowError as exc:
        raise fail(f"{option}: {value!r} is outside the dates that can be searched (years 1 to 9999 in UTC)") from exc


_MARK = re.compile(r"</?mark>")


def snippet_markup(snippet: str) -> str:
    """An HTML-safe snippet (escaped text with <mark>) as rich markup."""
    parts = _MARK.split(snippet)
    tags = _MARK.findall(snippet)
    out = [escape(html.unescape(parts[0]))]
    for tag, part in zip(tags, parts[1:], strict=True):
        out.append("[bold yellow]" if tag == "<mark>" else "[/bold yellow]")
        out.append(escape(html.unescape(part)))
    return "".join(out)


#: ``regwire search -bitcoin``: a word starting with "-" is an exclusion in the query, not an unknown option
SEARCH_CONTEXT = {"ignore_unknown_options": True}


def search(
    query: Annotated[list[str] | None, typer.Argument(
        metavar="QUERY", help='Lucene syntax: words (ANDed), AND/OR/NOT, -word, (groups), "phrases", "a b"~N, '
                              "prefix*, title:/text:/source:/author:/topic:/jurisdiction:/entity:/language:, "
                              "published:[2024-01-01 TO 2024-06-30]; several arguments are joined")] = None,
    source: Annotated[list[str] | None, typer.Option("--source", help="only this source (repeatable)")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="only sources of this kind in the sources file: outlet, "
                                                            "regulator, standard-setter")] = None,
    topic: Annotated[list[str] | None, typer.Option("--topic", help="tagged with this topic (repeatable)")] = None,
    jurisdiction: Annotated[list[str] | None, typer.Option(
        "--jurisdiction", help="a subject of the article: ISO code, EU or INT (repeatable)")] = None,
    include_mentions: Annotated[bool, typer.Option(
        "--include-mentions", help="--jurisdiction also matches articles that only mention it")] = False,
    language: Annotated[list[str] | None, typer.Option("--language")] = None,
    min_relevance: Annotated[float | None, typer.Option("--min-relevance", min=0, max=1)] = None,
    since: Annotated[str | None, typer.Option("--since", help="published on or after (YYYY-MM-DD)")] = None,
    until: Annotated[str | None, typer.Option("--until", help="published on or before (YYYY-MM-DD)")] = None,
    sort: Annotated[Sort, typer.Option("--sort")] = Sort.RELEVANCE,
    limit: Annotated[int, typer.Option("--limit", min=0, max=10_000)] = 10,
    as_json: JsonOption = False,
) -> None:
    """Search stored articles."""
    words = query or []
    unknown = next((w for w in words if w.startswith("--")), None)
    if unknown is not None:  # ignore_unknown_options let a mistyped option through: say so, do not search for it
        raise fail(f"no such option: {unknown.split('=', 1)[0]}")
    q = " ".join(words)
    settings = cli_settings()
    sources = _sources_of_kind(settings, kind, source or []) if kind else source or []
    request = SearchQuery(
        q=q, sources=sources, topics=topic or [], jurisdictions=[j.upper() for j in jurisdiction or []],
        include_mentions=include_mentions, languages=language or [], min_relevance=min_relevance,
        since=_parse_day(since, "--since"),
        until=_parse_day(until, "--until"), sort=sort, limit=limit,
    )
    with cli_errors():  # a bad query fails before the store is opened
        request.parsed()
    with cli_context(settings) as ctx:
        result = ctx.store.search(request)
    if as_json:
        emit_json(result.model_dump(mode="json"))
        return
    console.print(f"[bold]{result.total}[/bold] article(s) match {escape(repr(q))}")
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


def _sources_of_kind(settings: Settings, kind: str, named: list[str]) -> list[str]:
    """The sources file's sources of ``kind`` (among ``named`` when given): official sources apart from the press."""
    from ..sources import load_sources
    from .sources import KINDS

    if kind not in KINDS:
        raise fail(f"--kind must be one of {', '.join(KINDS)} (got {kind!r})")
    with cli_errors():
        of_kind = [s.name for s in load_sources(settings.sources) if s.kind == kind]
    chosen = [n for n in named if n in of_kind] if named else of_kind
    if not chosen:
        raise fail(f"no source of kind {kind!r} in the sources file" + (" among --source" if named else ""))
    return chosen


def show(
    article_id: Annotated[str, typer.Argument(metavar="ID", help="article id (a unique prefix is enough)")],
    versions: Annotated[bool, typer.Option("--versions", help="every stored version")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show one article with its metadata, tags and their evidence."""
    settings = cli_settings()
    with cli_context(settings) as ctx:
        articles = ctx.store.article_versions(article_id) if versions else [ctx.store.get_article(article_id)]
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
            ("related", " · ".join(link.title for link in article.related_links)),
        ):
            meta.add_row(f"[dim]{key}[/dim]", escape(str(value if value not in (None, "") else "—")))
        if article.tags is not None:
            tags = article.tags
            meta.add_row("[dim]relevance[/dim]", f"{tags.relevance:.2f}")
            meta.add_row("[dim]topics[/dim]", escape(", ".join(tags.topics) or "—"))
            meta.add_row("[dim]jurisdictions[/dim]", escape(
                ", ".join(tags.jurisdictions) + (f" (primary {tags.primary_jurisdiction})"
                                                 if tags.primary_jurisdiction else "")) or "—")
            meta.add_row("[dim]mentioned[/dim]", escape(", ".join(tags.mentioned_jurisdictions) or "—"))
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


def retag(
    all_articles: Annotated[bool, typer.Option("--all", help="re-tag even articles tagged by this taxonomy")] = False,
) -> None:
    """Re-tag stored articles after a taxonomy change."""
    from rich.progress import Progress

    settings = cli_settings()
    with cli_context(settings) as ctx, Progress(console=console) as progress:
        tagger, store = ctx.tagger, ctx.store
        assert tagger is not None
        task = progress.add_task("re-tagging", total=store.count_articles())
        changed = 0
        for article in store.iter_articles():
            if all_articles or article.tags is None or article.tags.taxonomy_version != tagger.version:
                store.set_tags(article.id, tagger.tag(article.title, article.text))
                changed += 1
            progress.advance(task)
    console.print(f"re-tagged {changed} article(s)")
