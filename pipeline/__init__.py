"""regwire: news ingestion for crypto-regulation intelligence.

The pipeline reads from the package tree, one folder per stage: ``sources/`` (what to watch, feeds, schedule) →
``fetch/`` (guarded, polite HTTP) → ``extract/`` (trafilatura) → ``tagging/`` → ``store/`` (SQLite FTS5 or
Elasticsearch/OpenSearch, behind one backend factory) → ``alerts/``. ``tasks/`` is the one task layer the command line
(``cli/``) and the Airflow DAGs run; :mod:`pipeline.airflow_helper` is the only module that imports Airflow.

The public names below are imported lazily (PEP 562): ``import pipeline`` costs almost nothing, so the command line,
Airflow's DAG parsing and every task start fast, and pay only for the stages they use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

__version__ = "0.1.0"

#: public name → the module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys([
        "AlertDefinitionError", "AlertEvaluationError", "AlertNotFoundError", "AlertStoreError",
        "ArticleNotFoundError", "BlockedURLError", "ConfigError", "DeadlineExceededError", "DeliveryError",
        "ExtractionError", "FeedParseError", "FetchError", "HTTPStatusError", "IndexMigrationError",
        "QuerySyntaxError", "RegwireError", "ResponseTooLargeError", "RobotsDisallowedError", "SearchEngineError",
        "SearchEngineRequestError", "SearchEngineUnavailableError", "SourcePollError", "SourcesFileError",
        "StoreError", "TaxonomyError", "TooManyRedirectsError", "TransportError"
    ], ".errors"),
    **dict.fromkeys(["Settings", "load_settings"], ".settings"),
    **dict.fromkeys([
        "Article", "FeedItem", "FeedState", "FeedStatus", "SearchHit", "SearchResult", "StoredArticle"
    ], ".models"),
    **dict.fromkeys(["Source", "load_sources", "parse_feed"], ".sources"),
    **dict.fromkeys(["Fetcher"], ".fetch"),
    **dict.fromkeys(["extract_article"], ".extract"),
    **dict.fromkeys(["Tagger", "Tags", "tag_article"], ".tagging"),
    **dict.fromkeys(["ArticleWrite", "Backend", "SQLiteStore", "Store", "open_backend"], ".store"),
    **dict.fromkeys(["SearchQuery", "parse_query"], ".query"),
    **dict.fromkeys([
        "SourceReport", "TaskContext", "poll_source", "poll_sources", "publish_changes", "task_context"
    ], ".tasks"),
    **dict.fromkeys(["article_id", "canonicalize_url"], ".urls"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "AlertDefinitionError",
    "AlertEvaluationError",
    "AlertNotFoundError",
    "AlertStoreError",
    "Article",
    "ArticleNotFoundError",
    "ArticleWrite",
    "Backend",
    "BlockedURLError",
    "ConfigError",
    "DeadlineExceededError",
    "DeliveryError",
    "ExtractionError",
    "FeedItem",
    "FeedParseError",
    "FeedState",
    "FeedStatus",
    "FetchError",
    "Fetcher",
    "HTTPStatusError",
    "IndexMigrationError",
    "QuerySyntaxError",
    "RegwireError",
    "ResponseTooLargeError",
    "RobotsDisallowedError",
    "SQLiteStore",
    "SearchEngineError",
    "SearchEngineRequestError",
    "SearchEngineUnavailableError",
    "SearchHit",
    "SearchQuery",
    "SearchResult",
    "Settings",
    "Source",
    "SourcePollError",
    "SourceReport",
    "SourcesFileError",
    "Store",
    "StoreError",
    "StoredArticle",
    "Tagger",
    "Tags",
    "TaskContext",
    "TaxonomyError",
    "TooManyRedirectsError",
    "TransportError",
    "__version__",
    "article_id",
    "canonicalize_url",
    "extract_article",
    "load_settings",
    "load_sources",
    "open_backend",
    "parse_feed",
    "parse_query",
    "poll_source",
    "poll_sources",
    "publish_changes",
    "tag_article",
    "task_context",
]



if TYPE_CHECKING:  # the same names, eagerly, for type checkers and IDEs
    from .errors import (
        AlertDefinitionError,
        AlertEvaluationError,
        AlertNotFoundError,
        AlertStoreError,
        ArticleNotFoundError,
        BlockedURLError,
        ConfigError,
        DeadlineExceededError,
        DeliveryError,
        ExtractionError,
        FeedParseError,
        FetchError,
        HTTPStatusError,
        IndexMigrationError,
        QuerySyntaxError,
        RegwireError,
        ResponseTooLargeError,
        RobotsDisallowedError,
        SearchEngineError,
        SearchEngineRequestError,
        SearchEngineUnavailableError,
        SourcePollError,
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
    from .settings import Settings, load_settings
    from .sources import Source, load_sources, parse_feed
    from .store import ArticleWrite, Backend, SQLiteStore, Store, open_backend
    from .tagging import Tagger, Tags, tag_article
    from .tasks import SourceReport, TaskContext, poll_source, poll_sources, publish_changes, task_context
    from .urls import article_id, canonicalize_url
