"""The search parameters every route shares (page, API, export, save-as-alert) and their URL round trip.

One :class:`SearchParams` is read from the query string by the :func:`search_params` dependency; it builds the store's
:class:`~pipeline.query.SearchQuery` and the query string back (permalinks, pagination, "← search", export links).
Dates are plain ``YYYY-MM-DD`` strings as ``<input type="date">`` sends them ("" means no bound); they and the
relevance are parsed here so that the page can show a bad value instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query

from ..query import SearchQuery, Sort

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
#: the deepest result the engines page to (their max_result_window); the embedded store follows the same rule
MAX_OFFSET = 10_000
#: a backstop only: the query parser's own cap (shorter) answers 400 with the position, as for any bad query
MAX_QUERY_CHARS = 20_000
MAX_ENTITIES = 10

QueryText = Annotated[str, Query(max_length=MAX_QUERY_CHARS, description="query string (Lucene syntax)")]
Many = Annotated[list[str] | None, Query()]
Day = Annotated[str, Query(max_length=32, description="YYYY-MM-DD; empty means no bound")]
Relevance = Annotated[str, Query(max_length=16, description="minimum tag relevance, 0 to 1; empty means any")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Limit = Annotated[int, Query(ge=0, le=MAX_PAGE_SIZE)]


def parse_day(value: str, name: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from exc


def parse_relevance(value: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise ValueError(f"min_relevance: {value!r} is not a number") from exc
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"min_relevance: {value!r} must be between 0 and 1")
    return number


def _bound(value: date | None, end: bool = False) -> datetime | None:
    return None if value is None else datetime.combine(value, time.max if end else time.min, tzinfo=UTC)


def _clean(values: list[str] | None) -> list[str]:
    return [v.strip() for v in (values or []) if v.strip()]


@dataclass(frozen=True, slots=True)
class SearchParams:
    """What the user asked for, as typed (strings kept so the form shows them back)."""

    q: str = ""
    topic: list[str] = field(default_factory=list)
    jurisdiction: list[str] = field(default_factory=list)
    #: widen the jurisdiction filter from subjects to passing mentions as well
    include_mentions: bool = False
    source: list[str] = field(default_factory=list)
    language: list[str] = field(default_factory=list)
    #: entity names (any of them): searched as the query language's ``entity:"name"``
    entity: list[str] = field(default_factory=list)
    since: str = ""
    until: str = ""
    min_relevance: str = ""
    sort: Sort = Sort.RELEVANCE
    offset: int = 0

    def query(self, *, limit: int = PAGE_SIZE, offset: int | None = None, facets: bool = True) -> SearchQuery:
        """The store's query; raises ValueError naming the parameter when a date or the relevance is bad, or when
        the page would end beyond the result window."""
        start = self.offset if offset is None else offset
        if start + limit > MAX_OFFSET:
            raise ValueError(f"offset: results end at {MAX_OFFSET}; offset + limit is {start + limit}")
        return SearchQuery(
            q=self.full_query(), topics=self.topic, jurisdictions=self.jurisdiction,
            include_mentions=self.include_mentions, sources=self.source,
            languages=self.language, since=_bound(parse_day(self.since, "since")),
            until=_bound(parse_day(self.until, "until"), end=True), min_relevance=parse_relevance(self.min_relevance),
            sort=self.sort, limit=limit, offset=self.offset if offset is None else offset, facets=facets)

    def full_query(self) -> str:
        """The query string with the entity filter added as a Lucene clause (the store filters entities through
        the query language's ``entity:`` field on every backend)."""
        if not self.entity:
            return self.q
        names = " OR ".join('entity:"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
                            for name in self.entity)
        return f"({self.q}) AND ({names})" if self.q else f"({names})"

    def without_bad_values(self) -> SearchParams:
        """The same search with any unparsable date or relevance dropped (the page still shows results)."""
        checks = {"since": lambda v: parse_day(v, "since"), "until": lambda v: parse_day(v, "until"),
                  "min_relevance": parse_relevance}
        changes: dict[str, Any] = {}
        for name, check in checks.items():
            try:
                check(getattr(self, name))
            except ValueError:
                changes[name] = ""
        if self.offset + PAGE_SIZE > MAX_OFFSET:
            changes["offset"] = 0
        return replace(self, **changes)

    def pairs(self, *, offset: bool = True) -> list[tuple[str, str]]:
        """The query string pairs that reproduce this search (empty values left out)."""
        out: list[tuple[str, str]] = [("q", self.q)] if self.q else []
        for name in ("topic", "jurisdiction", "source", "language", "entity"):
            out.extend((name, v) for v in getattr(self, name))
        if self.include_mentions:
            out.append(("include_mentions", "true"))
        out.extend((name, getattr(self, name)) for name in ("since", "until", "min_relevance") if getattr(self, name))
        if self.sort is not Sort.RELEVANCE:
            out.append(("sort", self.sort.value))
        if offset and self.offset:
            out.append(("offset", str(self.offset)))
        return out

    def query_string(self, **changes: Any) -> str:
        """``?…`` for this search with some parameters changed (``offset=0`` drops it)."""
        pairs = replace(self, **changes).pairs() if changes else self.pairs()
        return "?" + urlencode(pairs) if pairs else ""

    def alert_fields(self) -> dict[str, Any]:
        """The alert definition fields this search carries (dates and sort are not part of an alert)."""
        return {"q": self.full_query(), "topics": self.topic, "jurisdictions": self.jurisdiction,
                "include_mentions": self.include_mentions, "sources": self.source, "languages": self.language,
                "min_relevance": parse_relevance(self.min_relevance)}


def search_params(q: QueryText = "", topic: Many = None, jurisdiction: Many = None, source: Many = None,
                  language: Many = None, entity: Many = None, since: Day = "", until: Day = "",
                  min_relevance: Relevance = "", sort: Sort = Sort.RELEVANCE, offset: Offset = 0,
                  include_mentions: bool = False) -> SearchParams:
    """FastAPI dependency: the search parameters of the request's query string."""
    return SearchParams(q=q.strip(), topic=_clean(topic), jurisdiction=[j.upper() for j in _clean(jurisdiction)],
                        include_mentions=include_mentions,
                        source=_clean(source), language=_clean(language), entity=_clean(entity)[:MAX_ENTITIES],
                        since=since.strip(), until=until.strip(),
                        min_relevance=min_relevance.strip(), sort=sort, offset=offset)
