"""A search request: the query string (see :mod:`pipeline.query.parse`) and its filters, understood by every store
backend."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from .parse import parse_query
from .tree import Node


class Sort(StrEnum):
    RELEVANCE = "relevance"
    DATE = "date"


class SearchQuery(BaseModel):
    """A search: query string plus filters. The same object is understood by every store backend."""

    model_config = ConfigDict(extra="forbid")

    q: str = ""
    sources: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    #: subject jurisdictions (whose authorities or rules the story is about)
    jurisdictions: list[str] = Field(default_factory=list)
    #: widen ``jurisdictions`` to articles that only mention one of them (comparisons, background, other stories)
    include_mentions: bool = False
    min_relevance: float | None = Field(default=None, ge=0, le=1)
    since: datetime | None = None
    until: datetime | None = None
    ids: list[str] | None = None  #: restrict to these article ids (alerts evaluate one batch)
    sort: Sort = Sort.RELEVANCE
    limit: int = Field(default=20, ge=0, le=10_000)
    offset: int = Field(default=0, ge=0)
    facets: bool = True

    def parsed(self) -> Node | None:
        """The query string's tree (None when empty); raises :class:`~pipeline.errors.QuerySyntaxError`."""
        return parse_query(self.q)
