"""The parsed query (:mod:`pipeline.query.tree`) as SQLite: an FTS5 MATCH expression for what FTS5 can say, SQL for
the rest.

FTS5 matches words, phrases, prefixes (``"regul" *``), ``NEAR`` groups and column filters, joined by AND/OR/NOT
(binary: ``a NOT b``). Keyword fields, dates and negations that stand alone are SQL conditions on the ``articles``
row ``a``, where a nested FTS5 part becomes ``a.rowid [NOT] IN (SELECT rowid FROM articles_fts WHERE ... MATCH ?)``.
The positive FTS5 part of the top-level AND stays one MATCH, so BM25 ranking and snippets see it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..query.tree import DateRange, Node, Not, Or, Value, Words

_IN_FTS = "a.rowid IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?)"
_NOT_IN_FTS = "a.rowid NOT IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?)"
#: keyword field → SQL condition on one value (``{op}`` is ``= ?`` or ``LIKE ? ESCAPE '\\'`` for a prefix)
_KEYWORD_SQL = {
    "source": "lower(a.source) {op}",
    "language": "coalesce(a.language, '') {op}",  # never NULL, so that NOT language:en keeps undetected ones
    "author": "EXISTS (SELECT 1 FROM json_each(a.doc, '$.authors') WHERE lower(value) {op})",
    "entity": "EXISTS (SELECT 1 FROM json_each(a.doc, '$.tags.entities')"
              " WHERE lower(json_extract(value, '$.name')) {op})",
    "topic": "a.id IN (SELECT article_id FROM article_tags WHERE kind = 'topic' AND value {op})",
    "jurisdiction": "a.id IN (SELECT article_id FROM article_tags WHERE kind = 'jurisdiction' AND value {op})",
}


@dataclass(slots=True)
class SQLiteQuery:
    """A query as SQLite: rows match ``match`` (FTS5; None = no text condition) and every ``where`` condition."""

    match: str | None = None
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)


@dataclass(slots=True)
class _Part:
    match: str | None = None
    #: ``match`` must NOT match (a NOT over pure FTS5); only when ``where`` is empty
    excluded: bool = False
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def condition(self) -> tuple[str, list[Any]]:
        """The whole part as one SQL condition."""
        sql, params = list(self.where), list(self.params)
        if self.match is not None:
            sql.insert(0, _NOT_IN_FTS if self.excluded else _IN_FTS)
            params.insert(0, self.match)
        return "(" + " AND ".join(sql) + ")", params


def fts_query(tree: Node | None) -> SQLiteQuery:
    """The query tree as (MATCH expression, WHERE conditions, parameters)."""
    if tree is None:
        return SQLiteQuery()
    part = _part(tree)
    if part.excluded:
        sql, params = part.condition()
        return SQLiteQuery(None, [sql], params)
    return SQLiteQuery(part.match, part.where, part.params)


def _part(node: Node) -> _Part:
    if isinstance(node, Words):
        return _Part(match=words_expression(node))
    if isinstance(node, Value):
        return _value(node)
    if isinstance(node, DateRange):
        return _date_range(node)
    if isinstance(node, Not):
        inner = _part(node.child)
        if not inner.where:
            return _Part(match=inner.match, excluded=not inner.excluded)
        sql, params = inner.condition()
        return _Part(where=[f"NOT {sql}"], params=params)
    if isinstance(node, Or):
        return _any_of([_part(child) for child in node.children])
    return _all_of([_part(child) for child in node.children])


def _all_of(parts: list[_Part]) -> _Part:
    """AND: positive FTS5 parts join in one MATCH (minus the excluded ones); the SQL conditions are ANDed."""
    positive = [p.match for p in parts if p.match is not None and not p.excluded]
    excluded = [p.match for p in parts if p.match is not None and p.excluded]
    out = _Part()
    for part in parts:
        out.where.extend(part.where)
        out.params.extend(part.params)
    if positive:
        out.match = _join(" AND ", positive)
        if excluded:
            out.match = f"({out.match}) NOT ({_join(' OR ', excluded)})"
    elif excluded:
        out.where.append(_NOT_IN_FTS)
        out.params.append(_join(" OR ", excluded))
    return out


def _any_of(parts: list[_Part]) -> _Part:
    if all(not p.where and not p.excluded for p in parts):
        return _Part(match=_join(" OR ", [p.match for p in parts if p.match is not None]))
    sql, params = [], []
    for part in parts:
        condition, values = part.condition()
        sql.append(condition)
        params.extend(values)
    return _Part(where=["(" + " OR ".join(sql) + ")"], params=params)


def _join(operator: str, expressions: list[str]) -> str:
    return expressions[0] if len(expressions) == 1 else operator.join(f"({e})" for e in expressions)


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def words_expression(node: Words) -> str:
    """FTS5 for one word clause: ``"word"``, ``"a phrase"``, ``"regul" *``, or ``NEAR("a" "b", N)``, with a column
    filter when it searches one field only.

    ``"a b"~N`` means at most N other words between the words, in any order: FTS5's NEAR counts the tokens between
    the first and the last phrase, which includes the middle words themselves, hence N + (words - 2)."""
    words = node.words
    if node.slop is not None:
        expression = "NEAR(" + " ".join(_quoted(w) for w in words) + f", {node.slop + len(words) - 2})"
    else:
        expression = _quoted(node.text) + (" *" if node.prefix else "")
    if set(node.fields) == {"title", "text"}:
        return expression
    return "{" + " ".join(node.fields) + "} : " + expression


def _value(node: Value) -> _Part:
    if node.prefix:
        escaped = node.value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        op, param = "LIKE ? ESCAPE '\\'", escaped + "%"
    else:
        op, param = "= ?", node.value if node.field in ("topic", "jurisdiction") else node.value.lower()
    if node.field in ("topic", "jurisdiction") and node.prefix:
        op = "LIKE ? ESCAPE '\\'"  # LIKE folds ASCII case, so JURISDICTION:k* finds KZ
    return _Part(where=[_KEYWORD_SQL[node.field].format(op=op)], params=[param])


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _date_range(node: DateRange) -> _Part:
    where, params = ["a.published IS NOT NULL"], []
    if node.gte is not None:
        where.append("a.published >= ?")
        params.append(_iso(node.gte))
    if node.lt is not None:
        where.append("a.published < ?")
        params.append(_iso(node.lt))
    return _Part(where=["(" + " AND ".join(where) + ")"], params=params)
