"""The parsed query (:mod:`pipeline.query.tree`) as Elasticsearch/OpenSearch query DSL, with the embedded store's
matching rules (the same body on both engines, for ``_search`` and for percolator queries).

- a word or a phrase: ``multi_match`` (``type: phrase`` for several words) over ``title^5`` and ``text``;
- ``regul*``: ``multi_match`` ``type: bool_prefix``, which analyses the prefix like FTS5 does (a prefix of the
  word's stem: ``regulations*`` finds "regulation");
- ``"a b"~N``: ``intervals`` (``max_gaps: N``, ``ordered: false``), FTS5's ``NEAR``;
- keyword fields: ``term``/``prefix`` with ``case_insensitive``; dates: ``range`` (``gte``/``lt``);
- AND/OR/NOT: ``bool`` (``must`` and ``filter`` / ``should`` / ``must_not``); a ``bool`` with only ``must_not``
  matches every other document, as a pure exclusion does in the embedded store.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from ..query.tree import And, DateRange, Node, Not, Or, Value, Words

TITLE_BOOST = 5.0
#: keyword field of the query language → field of the article document
KEYWORD_FIELDS = {"source": "source", "author": "authors", "topic": "topics", "jurisdiction": "jurisdictions",
                  "entity": "entities.name", "language": "language"}


def engine_query(tree: Node | None) -> dict[str, Any] | None:
    """The query clause for a tree (None when the query is empty)."""
    return None if tree is None else _clause(tree)


def _clause(node: Node) -> dict[str, Any]:
    if isinstance(node, Words):
        return words_clause(node)
    if isinstance(node, Value):
        kind = "prefix" if node.prefix else "term"
        return {kind: {KEYWORD_FIELDS[node.field]: {"value": node.value, "case_insensitive": True}}}
    if isinstance(node, DateRange):
        bounds = {k: v.astimezone(UTC).isoformat() for k, v in (("gte", node.gte), ("lt", node.lt)) if v is not None}
        return {"range": {node.field: bounds}}
    if isinstance(node, Not):
        return {"bool": {"must_not": [_clause(node.child)]}}
    if isinstance(node, Or):
        return {"bool": {"should": [_clause(c) for c in node.children], "minimum_should_match": 1}}
    return _all_of(node)


def _all_of(node: And) -> dict[str, Any]:
    """AND: text in ``must`` (it scores), exact values and dates in ``filter``, negations in ``must_not``."""
    body: dict[str, list[dict[str, Any]]] = {"must": [], "filter": [], "must_not": []}
    for child in node.children:
        if isinstance(child, Not):
            body["must_not"].append(_clause(child.child))
        elif isinstance(child, Value | DateRange):
            body["filter"].append(_clause(child))
        else:
            body["must"].append(_clause(child))
    return {"bool": {k: v for k, v in body.items() if v}}


def _boosted(fields: tuple[str, ...]) -> list[str]:
    return [f"{f}^{TITLE_BOOST:g}" if f == "title" else f for f in fields]


def words_clause(node: Words) -> dict[str, Any]:
    if node.slop is not None:
        # unordered is the default on both engines (OpenSearch deprecates the "ordered" flag, ES has no "mode")
        rule = {"match": {"query": node.text, "max_gaps": node.slop}}
        per_field = [{"intervals": {f: {**rule, "boost": TITLE_BOOST if f == "title" else 1.0}}}
                     for f in node.fields]
        return per_field[0] if len(per_field) == 1 else {"bool": {"should": per_field, "minimum_should_match": 1}}
    if node.prefix:
        return {"multi_match": {"query": node.text, "type": "bool_prefix", "fields": _boosted(node.fields)}}
    if len(node.words) > 1:
        return {"multi_match": {"query": node.text, "type": "phrase", "fields": _boosted(node.fields)}}
    return {"multi_match": {"query": node.text, "fields": _boosted(node.fields), "operator": "and"}}
