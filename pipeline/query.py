"""Search requests: the query-string language and its filters, shared by every store backend.

Query strings: words are ANDed; ``"exact phrase"``; ``a OR b``; ``-word`` / ``-"phrase"`` exclude; ``regul*`` is a
prefix. Matching is case- and accent-insensitive and stemmed (English) on every backend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from .errors import QuerySyntaxError

_TOKEN = re.compile(r'\s*(-?)(?:"([^"]*)"|(\S+))')
_WORD = re.compile(r"\w+\*?")


@dataclass(frozen=True, slots=True)
class Term:
    text: str
    phrase: bool = False
    prefix: bool = False


@dataclass(slots=True)
class ParsedQuery:
    #: every group must match; a group matches when any of its terms does
    must: list[list[Term]] = field(default_factory=list)
    must_not: list[Term] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.must and not self.must_not


def parse_query(text: str) -> ParsedQuery:
    """Parse a query string; raises :class:`QuerySyntaxError` on an unbalanced quote or a dangling OR."""
    if text.count('"') % 2:
        raise QuerySyntaxError(f"unbalanced quote in query {text!r}")
    parsed = ParsedQuery()
    pending_or = False
    for match in _TOKEN.finditer(text):
        negate, phrase, word = match.group(1) == "-", match.group(2), match.group(3)
        if word == "OR" and not negate:
            if not parsed.must or pending_or:
                raise QuerySyntaxError(f"'OR' needs a term on each side in query {text!r}")
            pending_or = True
            continue
        term = _term(phrase, word)
        if term is None:
            continue
        if negate:
            if pending_or:
                raise QuerySyntaxError(f"'OR' cannot join an exclusion in query {text!r}")
            parsed.must_not.append(term)
        elif pending_or:
            parsed.must[-1].append(term)
            pending_or = False
        else:
            parsed.must.append([term])
    if pending_or:
        raise QuerySyntaxError(f"'OR' needs a term on each side in query {text!r}")
    return parsed


def _term(phrase: str | None, word: str | None) -> Term | None:
    if phrase is not None:
        words = " ".join(_WORD.findall(phrase)).replace("*", "")
        return Term(words, phrase=True) if words else None
    tokens = _WORD.findall(word or "")
    if not tokens:
        return None
    if len(tokens) > 1:  # "crypto-to-cash" and friends: match the words as a phrase, as analysers split them
        return Term(" ".join(w.rstrip("*") for w in tokens), phrase=True)
    token = tokens[0]
    return Term(token.rstrip("*"), prefix=token.endswith("*"))


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

    def parsed(self) -> ParsedQuery:
        return parse_query(self.q)
