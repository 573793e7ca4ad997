"""regwire: news ingestion for crypto-regulation intelligence.

The library never imports Airflow; the DAGs in ``dags/`` only wire these calls (through
:mod:`pipeline.airflow_helper`, the one module that imports Airflow).

The public names below are imported lazily (PEP 562): ``import pipeline`` costs almost nothing, so the command line,
Airflow's DAG parsing and every task start fast, and pay only for the stages they use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name → the module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys([
        "ArticleNotFoundError", "BlockedURLError", "ConfigError", "DeadlineExceededError", "ExtractionError",
        "FeedParseError", "FetchError", "HTTPStatusError", "QuerySyntaxError", "RegwireError",
        "ResponseTooLargeError", "RobotsDisallowedError", "SourcesFileError", "StoreError", "TaxonomyError",
        "TooManyRedirectsError", "TransportError"
    ], ".errors"),
    **dict.fromkeys(["extract_article"], ".extract"),
    **dict.fromkeys(["parse_feed"], ".sources"),
    **dict.fromkeys(["Fetcher"], ".fetch"),
    **dict.fromkeys([
        "Article", "FeedItem", "FeedState", "FeedStatus", "SearchHit", "SearchResult", "StoredArticle"
    ], ".models"),
    **dict.fromkeys(["SearchQuery", "parse_query"], ".query"),
    **dict.fromkeys(["Pipeline", "SourceReport"], ".runner"),
    **dict.fromkeys(["Settings", "load_settings"], ".settings"),
    **dict.fromkeys(["Source", "load_sources"], ".sources"),
    **dict.fromkeys(["ArticleWrite", "SQLiteStore", "Store", "open_store"], ".store"),
    **dict.fromkeys(["Tagger", "Tags", "tag_article"], ".tagging"),
    **dict.fromkeys(["article_id", "canonicalize_url"], ".urls"),
}

__all__ = [
    "Article",
    "ArticleNotFoundError",
    "ArticleWrite",
    "BlockedURLError",
    "ConfigError",
    "DeadlineExceededError",
    "ExtractionError",
    "FeedItem",
    "FeedParseError",
    "FeedState",
    "FeedStatus",
    "FetchError",
    "Fetcher",
    "HTTPStatusError",
    "Pipeline",
    "QuerySyntaxError",
    "RegwireError",
    "ResponseTooLargeError",
    "RobotsDisallowedError",
    "SQLiteStore",
    "SearchHit",
    "SearchQuery",
    "SearchResult",
    "Settings",
    "Source",
    "SourceReport",
    "SourcesFileError",
    "Store",
    "StoreError",
    "StoredArticle",
    "Tagger",
    "Tags",
    "TaxonomyError",
    "TooManyRedirectsError",
    "TransportError",
    "__version__",
    "article_id",
    "canonicalize_url",
    "extract_article",
    "load_settings",
    "load_sources",
    "open_store",
    "parse_feed",
    "parse_query",
    "tag_article",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # the same names, eagerly, for type checkers and IDEs
    from .errors import (
        ArticleNotFoundError,
        BlockedURLError,
        ConfigError,
        DeadlineExceededError,
        ExtractionError,
        FeedParseError,
        FetchError,
        HTTPStatusError,
        QuerySyntaxError,
        RegwireError,
        ResponseTooLargeError,
        RobotsDisallowedError,
        SourcesFileError,
        StoreError,
        TaxonomyError,
        TooManyRedirectsError,
        TransportError,
    )
    from .extract import extract_article
    from .fetch import Fetcher
    from .models import Article, FeedItem, FeedState, FeedStatus, SearchHit, SearchResult, StoredArticle
    from .query import SearchQuery, parse_query
    from .runner import Pipeline, SourceReport
    from .settings import Settings, load_settings
    from .sources import Source, load_sources, parse_feed
    from .store import ArticleWrite, SQLiteStore, Store, open_store
    from .tagging import Tagger, Tags, tag_article
    from .urls import article_id, canonicalize_url
