"""The parsed query: a small typed tree that every backend translates (SQLite FTS5 + SQL, the engines' query DSL).

The parser (:mod:`pipeline.query.parse`) has already resolved Lucene's surface syntax: implicit AND, ``+``/``-``,
``NOT``, groups and ``field:(...)`` are gone; ANDs and ORs are flattened; values are normalised (jurisdictions upper
case, topics and languages lower case, dates turned into half-open UTC intervals).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

#: the text fields a word or phrase searches when the query names none
DEFAULT_TEXT_FIELDS = ("title", "text")
#: query-string field → the article fields it searches (title and text are full-text; the others exact values)
TEXT_FIELDS = {"title": ("title",), "text": ("text",)}
KEYWORD_FIELDS = ("source", "author", "topic", "jurisdiction", "entity", "language")
DATE_FIELDS = ("published",)
FIELDS = (*TEXT_FIELDS, *KEYWORD_FIELDS, *DATE_FIELDS)


@dataclass(frozen=True, slots=True)
class Words:
    """Words in title and/or text: one word, a phrase (``"travel rule"``), words within ``slop`` of each other in
    any order (``"travel rule"~3``), or a prefix of a word's stem (``regul*``)."""

    fields: tuple[str, ...]
    #: the words, lower-cased and separated by single spaces (never empty)
    text: str
    slop: int | None = None
    prefix: bool = False

    @property
    def words(self) -> list[str]:
        return self.text.split(" ")


@dataclass(frozen=True, slots=True)
class Value:
    """An exact value of a keyword field (``source:coindesk``, ``author:"Helen Partz"``), or a prefix of one;
    matched case-insensitively."""

    field: str
    value: str
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class DateRange:
    """``gte <= field < lt`` (either bound may be open), in UTC."""

    field: str
    gte: datetime | None
    lt: datetime | None


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


Node = Words | Value | DateRange | And | Or | Not


def positive_words(node: Node | None) -> Iterator[Words]:
    """The word clauses a matching article contains (those under a NOT are left out), in query order."""
    if isinstance(node, Words):
        yield node
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from positive_words(child)
