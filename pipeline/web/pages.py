"""The HTML routes: the search page, the article page and the "save as alert" form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ..alerts.models import Mode
from ..errors import AlertDefinitionError, ArticleNotFoundError, QuerySyntaxError
from ..models import SearchHit, SearchResult
from ..query import Sort
from .histogram import build_histogram
from .params import MAX_OFFSET, PAGE_SIZE, SearchParams, search_params
from .present import evidence, highlight, query_terms, safe_href, safe_snippet
from .security import require_same_origin
from .state import BackendHolder
from .templates import render

FACETS = ("topic", "jurisdiction", "source", "language")
SORT_LABELS = {Sort.RELEVANCE: "relevance", Sort.DATE: "newest"}
#: the largest "save as alert" form accepted
MAX_FORM_BYTES = 16_384

router = APIRouter(include_in_schema=False)
Params = Annotated[SearchParams, Depends(search_params)]


def base_of(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def holder_of(request: Request) -> BackendHolder:
    return request.app.state.holder


@dataclass(slots=True)
class AlertForm:
    name: str = ""
    owner: str = ""
    channel: str = ""
    mode: str = Mode.IMMEDIATE.value
    error: str | None = None


@dataclass(slots=True)
class Pager:
    page: int = 1
    pages: int = 0
    previous: str | None = None
    next: str | None = None
    links: list[dict[str, Any]] = field(default_factory=list)


def build_pager(params: SearchParams, total: int, base: str) -> Pager:
    """Page count and links: first, last and two either side of the current page (within the result window)."""
    reachable = min(total, MAX_OFFSET)
    pages = max(1, -(-reachable // PAGE_SIZE))
    page = params.offset // PAGE_SIZE + 1

    def href(number: int) -> str:
        return base + "/" + params.query_string(offset=(number - 1) * PAGE_SIZE)

    shown = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    links: list[dict[str, Any]] = []
    for number in shown:
        if links and number - links[-1]["page"] > 1:
            links.append({"page": None, "href": None})
        links.append({"page": number, "href": None if number == page else href(number)})
    return Pager(page=page, pages=pages, links=links,
                 previous=href(page - 1) if page > 1 else None,
                 next=href(page + 1) if page < pages else None)


def facet_options(result: SearchResult | None, params: SearchParams) -> list[dict[str, Any]]:
    """Each facet's values with counts; a selected value stays listed (and can be unticked) even at zero hits."""
    facets = []
    for name in FACETS:
        counts = dict((result.facets.get(name) if result else None) or {})
        selected = getattr(params, name)
        for value in selected:
            counts.setdefault(value, 0)
        facets.append({"name": name, "options": [{"value": v, "count": n, "checked": v in selected}
                                                for v, n in counts.items()]})
    return facets


def _alert_summary(params: SearchParams) -> str:
    fields = params.without_bad_values().alert_fields()
    parts = [repr(fields["q"])] if fields["q"] else []
    for label in ("topics", "jurisdictions", "sources", "languages"):
        if fields[label]:
            parts.append(f"{label}: {' | '.join(fields[label])}")
    if fields["min_relevance"] is not None:
        parts.append(f"relevance ≥ {fields['min_relevance']:g}")
    return " · ".join(parts) or "every new article"


def _run_search(request: Request, params: SearchParams) -> tuple[SearchParams, SearchResult | None, str | None]:
    """(params searched, result, error): a bad date or relevance is reported and left out, bad syntax is reported."""
    error = None
    try:
        query = params.query()
    except ValueError as exc:
        error, params = str(exc), params.without_bad_values()
        query = params.query()
    try:
        return params, holder_of(request).store().search(query), error
    except QuerySyntaxError as exc:
        return params, None, str(exc)


def search_view(request: Request, params: SearchParams, *, notice: str | None = None,
                alert_form: AlertForm | None = None) -> HTMLResponse:
    base = base_of(request)
    searched, result, error = _run_search(request, params)
    qs = params.query_string(offset=0)
    here = params.query_string()  # the article's "← search" comes back to this page of results
    hits = story_cards(result.hits if result else [], f"{base}/articles/", here)
    form = alert_form or AlertForm()
    body = render(
        "search.html", base=base, title=request.app.title, params=params, error=error, notice=notice,
        result=result, hits=hits, facets=facet_options(result, searched),
        pager=build_pager(searched, result.total, base) if result else Pager(),
        histogram=build_histogram(result.facets.get("day") if result else None, searched, base),
        exports={fmt: f"{base}/api/export.{fmt}{qs}" for fmt in ("csv", "ndjson")},
        permalink=base + "/" + params.query_string(), sorts=[{"value": s.value, "label": SORT_LABELS.get(s, s.value)}
                                                            for s in Sort],
        alert_form=form, alert_error=form.error, alert_summary=_alert_summary(params), modes=[m.value for m in Mode])
    status = 400 if error or form.error else 200
    return HTMLResponse(body, status_code=status)


@router.get("/", response_class=HTMLResponse)
def search_page(request: Request, params: Params) -> HTMLResponse:
    saved = request.query_params.get("alert_saved")
    return search_view(request, params, notice=f"Alert {saved!r} saved." if saved else None)


@router.get("/articles/{article_id}", response_class=HTMLResponse)
def article_page(request: Request, article_id: str, params: Params) -> HTMLResponse:
    base = base_of(request)
    back = base + "/" + params.query_string()
    try:
        article = holder_of(request).store().get_article(article_id)
    except ArticleNotFoundError:
        return HTMLResponse(render("missing.html", base=base, title=request.app.title, article_id=article_id,
                                   back=back), status_code=404)
    terms = query_terms(params.q)
    paragraphs = [highlight(p, terms) for p in article.text.split("\n") if p.strip()]
    return HTMLResponse(render(
        "article.html", base=base, title=request.app.title, article=article, back=back,
        title_marked=highlight(article.title or "(untitled)", terms), href=safe_href(article.canonical_url),
        paragraphs=paragraphs, evidence=evidence(article)))


async def _form_fields(request: Request) -> dict[str, str]:
    """The urlencoded form body (no multipart parser needed for four text fields)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise AlertDefinitionError(f"the form is larger than {MAX_FORM_BYTES} bytes")
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


@router.post("/alerts", response_class=HTMLResponse, dependencies=[Depends(require_same_origin)])
async def save_alert(request: Request, params: Params) -> Any:
    """Create the alert ``regwire alerts add`` would for the current search; back to the search on success."""
    from ..alerts.loader import add_alert

    form = AlertForm()
    try:
        fields = await _form_fields(request)
        form = AlertForm(name=fields.get("name", "").strip(), owner=fields.get("owner", "").strip(),
                         channel=fields.get("channel", "").strip(), mode=fields.get("mode", Mode.IMMEDIATE.value))
        data = {"name": form.name, "owner": form.owner, "channels": [form.channel] if form.channel else [],
                "mode": form.mode, **params.alert_fields()}
        store = holder_of(request).backend().alert_store()
        alert, _created = add_alert(store, data)
    except (AlertDefinitionError, ValueError) as exc:
        form.error = str(exc)
        return search_view(request, params, alert_form=form)
    target = base_of(request) + "/?" + urlencode([*params.pairs(offset=False), ("alert_saved", alert.name)])
    return RedirectResponse(target, status_code=303)


def story_cards(hits: Sequence[SearchHit], article_base: str, here: str) -> list[dict[str, Any]]:
    """One card per story on the page: the first hit of a story carries the others of this page under "also"."""
    cards: list[dict[str, Any]] = []
    by_story: dict[str, dict[str, Any]] = {}
    for hit in hits:
        row = {"hit": hit, "snippet": safe_snippet(hit.snippet), "href": f"{article_base}{hit.id}{here}", "also": []}
        story = hit.story_id or hit.id
        if story in by_story:
            by_story[story]["also"].append(row)
        else:
            by_story[story] = row
            cards.append(row)
    return cards
