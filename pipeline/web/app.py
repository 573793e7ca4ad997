"""FastAPI app factory for the search API and page (see :mod:`pipeline.web`)."""

from __future__ import annotations

import html
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import Markup
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..errors import ArticleNotFoundError, QuerySyntaxError
from ..metrics import registry_for
from ..models import StoredArticle
from ..query import SearchQuery, Sort
from ..store.backend import Backend
from ..store.base import Store
from .templates import render

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
#: no length cap here: the query parser's (MAX_QUERY_CHARS) answers 400 with the position, as for any bad query
Q = Annotated[str, Query()]
Many = Annotated[list[str] | None, Query()]
#: dates come from <input type="date">: "" means no bound; parsed by _parse_day so the page can show the error
Day = Annotated[str, Query(max_length=32)]
Limit = Annotated[int, Query(ge=0, le=MAX_PAGE_SIZE)]
Offset = Annotated[int, Query(ge=0)]
FACETS = ("topic", "jurisdiction", "source")
#: characters of article text shown around each piece of tag evidence
EVIDENCE_CONTEXT = 80


def safe_snippet(snippet: str) -> Markup:
    """A store snippet as markup: everything escaped (again) except the ``<mark>`` highlighting.

    Snippets are HTML-safe by the store contract; this does not trust that: the text is unescaped once and escaped
    again, so an unescaped ``<img>`` from a backend still renders as text.
    """
    escaped = html.escape(html.unescape(snippet), quote=True)
    return Markup(escaped.replace("&lt;mark&gt;", "<mark>").replace("&lt;/mark&gt;", "</mark>"))


def safe_href(url: str | None) -> str | None:
    """Only http(s) links are rendered as links (no ``javascript:`` from a feed)."""
    if url and url.lower().startswith(("http://", "https://")):
        return url
    return None


def evidence(article: StoredArticle) -> list[dict[str, Any]]:
    """Each tag match with the words around it in the title or text, for the detail page."""
    rows = []
    for match in (article.tags.matches if article.tags else []):
        source = article.title if match.field == "title" else article.text
        start, end = match.offset, match.offset + len(match.phrase)
        if not (0 <= start <= len(source)):
            start, end = 0, 0
        rows.append({
            "label": match.label, "phrase": match.phrase, "field": match.field, "weight": match.weight,
            "before": source[max(0, start - EVIDENCE_CONTEXT):start], "found": source[start:end],
            "after": source[end:end + EVIDENCE_CONTEXT],
        })
    return rows


def _day(value: date | None, end: bool = False) -> datetime | None:
    if value is None:
        return None
    return datetime.combine(value, time.max if end else time.min, tzinfo=UTC)


def _parse_day(value: str, name: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from exc


def _clean(values: list[str] | None) -> list[str]:
    return [v for v in (values or []) if v.strip()]


def create_app(backend_factory: Callable[[], Backend], *, title: str = "regwire news search") -> FastAPI:  # noqa: C901 -- routes being split out (issue 13)
    """The search app over the backend ``backend_factory`` opens (once, on first use; stores are thread-safe)."""
    lock = threading.Lock()
    holder: dict[str, Backend] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        with lock:
            if "backend" in holder:
                holder.pop("backend").close()

    app = FastAPI(title=title, docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None,
                  lifespan=lifespan)

    def backend() -> Backend:
        with lock:
            if "backend" not in holder:
                holder["backend"] = backend_factory()
            return holder["backend"]

    def store() -> Store:
        return backend().articles

    metrics = registry_for(backend)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        """Prometheus metrics read from the store's feed state and the alert delivery log."""
        return Response(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    def build_query(q: str, topic: list[str] | None, jurisdiction: list[str] | None, source: list[str] | None,
                    language: list[str] | None, since_text: str, until_text: str, sort: Sort, limit: int,
                    offset: int, include_mentions: bool = False) -> SearchQuery:
        """The SearchQuery for request parameters; raises ValueError on a bad date."""
        since, until = _parse_day(since_text, "since"), _parse_day(until_text, "until")
        return SearchQuery(q=q.strip(), topics=_clean(topic), jurisdictions=_clean(jurisdiction),
                           include_mentions=include_mentions, sources=_clean(source), languages=_clean(language),
                           since=_day(since), until=_day(until, end=True), sort=sort, limit=limit, offset=offset)

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "articles": store().count_articles()}

    @app.get("/api/search")
    def api_search(q: Q = "", topic: Many = None, jurisdiction: Many = None, source: Many = None,
                   language: Many = None, since: Day = "", until: Day = "", sort: Sort = Sort.RELEVANCE,
                   limit: Limit = PAGE_SIZE, offset: Offset = 0, include_mentions: bool = False) -> JSONResponse:
        try:
            query = build_query(q, topic, jurisdiction, source, language, since, until, sort, limit, offset,
                                include_mentions)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        try:
            result = store().search(query)
        except QuerySyntaxError as exc:
            raise HTTPException(400, str(exc)) from exc
        return JSONResponse(result.model_dump(mode="json"))

    @app.get("/api/articles/{article_id}")
    def api_article(article_id: str) -> JSONResponse:
        try:
            article = store().get_article(article_id)
        except ArticleNotFoundError as exc:
            raise HTTPException(404, f"no article {article_id}") from exc
        return JSONResponse(article.model_dump(mode="json"))

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request, q: Q = "", topic: Many = None, jurisdiction: Many = None, source: Many = None,
             since: Day = "", until: Day = "", sort: Sort = Sort.RELEVANCE,
             offset: Offset = 0) -> HTMLResponse:
        base = request.scope.get("root_path", "").rstrip("/")
        error, result = None, None
        try:
            query = build_query(q, topic, jurisdiction, source, None, since, until, sort, PAGE_SIZE, offset)
        except ValueError as exc:  # a bad date: show the form with the error, search without the dates
            error = str(exc)
            query = build_query(q, topic, jurisdiction, source, None, "", "", sort, PAGE_SIZE, offset)
        try:
            result = store().search(query)
        except QuerySyntaxError as exc:
            error = str(exc)
            result = None
        selected = {"topic": query.topics, "jurisdiction": query.jurisdictions, "source": query.sources}
        facets = []
        for name in FACETS:
            counts = dict((result.facets.get(name) if result else None) or {})
            for value in selected[name]:  # a selected value stays visible (and un-checkable) even at zero hits
                counts.setdefault(value, 0)
            facets.append({"name": name, "options": [{"value": v, "count": n, "checked": v in selected[name]}
                                                    for v, n in counts.items()]})
        params = [("q", query.q), *[(k, v) for k, vs in selected.items() for v in vs],
                  ("since", since.strip()), ("until", until.strip()), ("sort", sort.value)]
        pages = {}
        if result and offset > 0:
            pages["previous"] = f"{base}/?" + urlencode([*params, ("offset", max(0, offset - PAGE_SIZE))])
        if result and offset + PAGE_SIZE < result.total:
            pages["next"] = f"{base}/?" + urlencode([*params, ("offset", offset + PAGE_SIZE)])
        hits = [{"hit": h, "snippet": safe_snippet(h.snippet), "href": f"{base}/articles/{h.id}"}
                for h in (result.hits if result else [])]
        body = render("search.html", base=base, title=title, q=query.q, since=since.strip(), until=until.strip(),
                      sort=sort.value, error=error, result=result, hits=hits, facets=facets, pages=pages, offset=offset)
        return HTMLResponse(body, status_code=400 if error else 200)

    @app.get("/articles/{article_id}", response_class=HTMLResponse)
    def article_page(request: Request, article_id: str) -> HTMLResponse:
        base = request.scope.get("root_path", "").rstrip("/")
        try:
            article = store().get_article(article_id)
        except ArticleNotFoundError:
            return HTMLResponse(render("missing.html", base=base, title=title, article_id=article_id),
                                status_code=404)
        paragraphs = [p for p in article.text.split("\n") if p.strip()]
        return HTMLResponse(render("article.html", base=base, title=title, article=article,
                                   href=safe_href(article.canonical_url), paragraphs=paragraphs,
                                   evidence=evidence(article)))

    return app
