"""The JSON routes under ``/api``: search, article, health, export and alert creation, each with a response schema."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..alerts.models import Alert, Mode
from ..errors import AlertDefinitionError, ArticleNotFoundError, QuerySyntaxError
from ..models import SearchResult, StoredArticle
from ..query import SearchQuery
from .export import MEDIA_TYPES, ExportFormat, export_lines
from .params import Limit, SearchParams, search_params
from .security import require_same_origin
from .state import BackendHolder

router = APIRouter(prefix="/api", tags=["search"])
Params = Annotated[SearchParams, Depends(search_params)]


class Health(BaseModel):
    status: str = Field(description='"ok" when the store answered')
    articles: int = Field(description="articles in the store")


class AlertRequest(BaseModel):
    """An alert on the search given in the query string; the same definition as ``regwire alerts add``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    owner: str
    channels: list[str] = Field(description="apprise URLs; secrets only as ${ENV_VAR} references")
    mode: Mode = Mode.IMMEDIATE
    updates: bool = False


class AlertCreated(BaseModel):
    created: bool
    alert: Alert


def holder_of(request: Request) -> BackendHolder:
    return request.app.state.holder


def _query(params: SearchParams, **kwargs: Any) -> SearchQuery:
    try:
        return params.query(**kwargs)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


def _search(request: Request, query: SearchQuery) -> SearchResult:
    try:
        return holder_of(request).store().search(query)
    except QuerySyntaxError as exc:
        raise HTTPException(400, str(exc)) from exc


@router.get("/health", response_model=Health)
def health(request: Request) -> Health:
    return Health(status="ok", articles=holder_of(request).store().count_articles())


@router.get("/search", response_model=SearchResult)
def api_search(request: Request, params: Params, limit: Limit = 20) -> SearchResult:
    """Articles matching the query and filters, with facet counts (``facets.day`` is the date histogram)."""
    return _search(request, _query(params, limit=limit))


@router.get("/articles/{article_id}", response_model=StoredArticle)
def api_article(request: Request, article_id: str) -> StoredArticle:
    try:
        return holder_of(request).store().get_article(article_id)
    except ArticleNotFoundError as exc:
        raise HTTPException(404, f"no article {article_id}") from exc


@router.get("/export.{fmt}", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}},
                             "description": "every hit of the search, streamed"}})
def export(request: Request, fmt: ExportFormat, params: Params) -> StreamingResponse:
    """The whole result set (from its first hit, up to 10,000) as CSV or NDJSON, streamed."""
    query = _query(params, offset=0)
    _search(request, query.model_copy(update={"limit": 0, "facets": False}))  # bad syntax: 400 before streaming
    lines = export_lines(holder_of(request).store(), query, fmt)
    return StreamingResponse(lines, media_type=MEDIA_TYPES[fmt], headers={
        "content-disposition": f'attachment; filename="regwire-search.{fmt.value}"'})


@router.post("/alerts", response_model=AlertCreated, status_code=201,
             dependencies=[Depends(require_same_origin)])
def create_alert(request: Request, body: AlertRequest, params: Params) -> AlertCreated:
    """Save the search in the query string as an alert (refused with 422 as ``regwire alerts add`` refuses it)."""
    from ..alerts.loader import add_alert

    try:
        data = {**body.model_dump(mode="json"), **params.alert_fields()}
        alert, created = add_alert(holder_of(request).backend().alert_store(), data)
    except (AlertDefinitionError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from exc
    return AlertCreated(created=created, alert=alert)
