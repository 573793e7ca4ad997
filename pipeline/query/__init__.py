"""The search query language (Lucene syntax through luqum) and search requests.

One parsed tree (:mod:`pipeline.query.tree`) is translated by each backend: SQLite FTS5 + SQL
(:mod:`pipeline.store.sqlite_query`) and the Elasticsearch/OpenSearch query DSL (:mod:`pipeline.store.engine.queries`).
"""

from .parse import MAX_QUERY_CHARS, parse_query
from .request import SearchQuery, Sort
from .tree import FIELDS, And, DateRange, Node, Not, Or, Value, Words, positive_words

__all__ = ["FIELDS", "MAX_QUERY_CHARS", "And", "DateRange", "Node", "Not", "Or", "SearchQuery", "Sort", "Value",
           "Words", "parse_query", "positive_words"]
